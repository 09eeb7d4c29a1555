"""Atomic file output: a result either exists complete or not at all.

An interrupted or failed run must never leave a half-written file that looks
finished, nor destroy the previous good result, so every writer goes through
`atomic_path`: write to a temp name beside the target, then `os.replace`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError, one_line


@contextmanager
def atomic_path(target: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; move it onto `target` only on success.

    The temp name keeps the target's suffix (or `suffix`) because some writers
    (anndata, matplotlib, keras) choose the format from it. A target that
    cannot be written (a folder, under a file, a full disk) raises InputError
    naming it, so the CLI prints one line.
    """
    target = Path(target)
    if target.is_dir():
        raise InputError(f"cannot write {target}: it is a folder")
    ext = suffix if suffix is not None else target.suffix
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".part{ext}", dir=target.parent)
    except OSError as exc:
        raise InputError(f"cannot write {target}: {one_line(exc)}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the result the permissions of a normally created file.
        tmp_path.chmod(0o666 & ~_umask())
        os.replace(tmp_path, target)
    except OSError as exc:  # a full disk or quota while writing: the target is left as it was
        raise InputError(f"cannot write {target}: {one_line(exc)}") from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    """The process umask (only readable by setting it, so set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(target: str | Path, text: str) -> Path:
    """Write a small text file (JSON, CSV, YAML) atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)
    return Path(target)
