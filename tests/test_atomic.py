"""Atomic outputs: a target is either the complete new result or the untouched old one."""

from __future__ import annotations

import os
import stat

import pytest

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

