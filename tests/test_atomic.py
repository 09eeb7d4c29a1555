"""Atomic outputs: a target is either the complete new result or the untouched old one."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import lmna_scrna
from lmna_scrna.atomic import _host, atomic_path, exclusive, remove_unheld, write_text_atomic
from lmna_scrna.errors import InputError


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


def test_full_disk_while_writing_is_one_line_and_keeps_the_old_result(tmp_path):
    from lmna_scrna.atomic import atomic_path

    target = tmp_path / "result.h5ad"
    target.write_text("old")
    with pytest.raises(InputError, match=r"cannot write .*result\.h5ad: \[Errno 28\]") as err:
        with atomic_path(target), open("/dev/full", "wb") as full:  # the kernel answers ENOSPC, as a full disk does
            full.write(b"x" * 10)
            full.flush()
    assert "\n" not in str(err.value)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["result.h5ad"]


def test_next_write_removes_a_killed_writers_temp_file_but_not_a_live_ones(tmp_path, dead_pid):
    target = tmp_path / "result.h5ad"
    stale = tmp_path / f".result.h5ad.{_host()}-{dead_pid}.k1ll3d00.part.h5ad"
    live = tmp_path / f".result.h5ad.{_host()}-{os.getppid()}.w0rk1ng0.part.h5ad"  # a running process's
    remote = tmp_path / f".result.h5ad.otherhost-{dead_pid}.k1ll3d00.part.h5ad"  # its PID means nothing here
    other = tmp_path / f".other.h5ad.{_host()}-{dead_pid}.k1ll3d00.part.h5ad"  # another output's
    for path in (stale, live, remote, other):
        path.write_text("half")

    write_text_atomic(target, "new")

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, live.name, remote.name, other.name])


def test_temp_names_carry_the_writers_pid(tmp_path):
    with atomic_path(tmp_path / "t.json") as tmp:
        assert tmp.name.startswith(f".t.json.{_host()}-{os.getpid()}.")


def test_a_lock_that_cannot_be_written_is_one_error_and_leaves_no_file(no_space):
    lock = no_space / ".R.lock"
    with pytest.raises(InputError, match=rf"^cannot write {re.escape(str(lock))}: \[Errno 28\] No space left on device$"):
        with exclusive(lock, refuse="run R"):
            pytest.fail("entered without a lock")
    assert sorted(p.name for p in no_space.iterdir()) == ["filler"]


def test_remove_unheld_spares_a_held_lock_and_removes_a_dead_holders(tmp_path):
    held, dead = tmp_path / "held.lock", tmp_path / "dead.lock"
    dead.write_text("host x, PID 1")  # what a SIGKILLed holder leaves: the file, not the flock
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(held)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        remove_unheld(held)
        remove_unheld(dead)
        remove_unheld(tmp_path / "absent.lock")
        assert held.exists() and not dead.exists()
    finally:
        holder.kill()
        holder.wait()


_HOLD_LOCK = """
import sys, time
from lmna_scrna.atomic import exclusive
with exclusive(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""
