"""Atomic outputs: a target is either the complete new result or the untouched old one."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import lmna_scrna
from lmna_scrna.atomic import atomic_path, write_text_atomic


def test_success_replaces_target_with_readable_file(tmp_path):
    target = tmp_path / "sub" / "result.json"
    previous = os.umask(0o022)
    try:
        write_text_atomic(target, "new")
    finally:
        os.umask(previous)
    assert target.read_text() == "new"
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode == 0o644, oct(mode)
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]


def test_failure_keeps_old_result_and_leaves_no_temp(tmp_path):
    target = tmp_path / "result.h5ad"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.suffix == ".h5ad" and tmp.parent == tmp_path
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.h5ad"]



def test_exclusive_lock_excludes_real_processes_and_leaves_no_file(tmp_path):
    """Three processes increment one counter under the lock, which each release removes: none is lost."""
    lock, counter = tmp_path / "x.lock", tmp_path / "counter"
    counter.write_text("0")
    script = (
        "import sys\nfrom pathlib import Path\nfrom lmna_scrna.atomic import exclusive\n"
        "lock, counter = Path(sys.argv[1]), Path(sys.argv[2])\n"
        "for _ in range(150):\n"
        "    with exclusive(lock):\n"
        "        counter.write_text(str(int(counter.read_text() or 0) + 1))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(lmna_scrna.__file__).parents[1])}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(lock), str(counter)], env=env) for _ in range(3)]

    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert counter.read_text() == "450"
    assert not lock.exists()
