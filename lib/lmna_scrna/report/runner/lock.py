"""One report per outputs folder: a second `report` or `book` on the same folder is refused at once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from ...atomic import exclusive
from ...errors import InputError, one_line
from ...paths import outputs_dir


@contextmanager
def report_lock() -> Iterator[None]:
    """Hold the outputs folder for one `report` or `book`: a second one is refused at once, naming the first.

    A folder that cannot be written (read-only, or a file) is refused here,
    before any notebook runs, rather than in a worker halfway through.
    """
    root = outputs_dir()
    if root.exists() and not root.is_dir():
        raise InputError(f"outputs folder {root} is a file, not a folder: set LMNA_OUTPUTS to a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-check.{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise InputError(f"outputs folder {root} cannot be written ({one_line(exc.strerror or exc)}): "
                         "make it writable or set LMNA_OUTPUTS to another folder") from None
    with exclusive(root / ".report.lock", refuse=f"outputs folder {root}",
                   busy=f"another report ({{holder}}) is running on {root}: wait for it to finish"):
        yield
