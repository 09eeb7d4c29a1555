"""Where library noise goes: a notebook's log file under the runner, the console when a person runs it.

Under `lmna-scrna report` each execution gets ``outputs/notebooks/<id>.log``.
The worker points its own file descriptors there while papermill runs, so the
kernel it starts inherits them: TensorFlow's C++ and absl lines, the kernel's
transport warning and papermill's own messages land in the log, not on the
terminal. Inside the kernel, `notebook_logging` sends Python logging,
warnings and anything else written to ``sys.stderr`` to the same file, so the
executed notebook (and the book made from it) keeps only its results.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Environment variable naming the log file of the execution a kernel runs (set by the runner).
LOG_ENV = "LMNA_NOTEBOOK_LOG"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Environment of a notebook kernel under the runner: C++ logs above INFO only, no progress bars
#: (a bar redrawn in a notebook output is a stack of lines on the page).
KERNEL_ENV: dict[str, str] = {"TF_CPP_MIN_LOG_LEVEL": "2", "TQDM_DISABLE": "1"}

#: Arguments of a notebook kernel under the runner. ipykernel would copy what is written to the process's
#: file descriptors (TensorFlow's C++ logs) into the notebook: it stays in the log instead. `tqdm.auto` would
#: draw ipywidgets, which ignore TQDM_DISABLE and need a script from a CDN to render: the plain bar is
#: used, before any library imports it, and TQDM_DISABLE silences it.
KERNEL_ARGUMENTS: list[str] = [
    "--IPKernelApp.capture_fd_output=False",
    "--IPKernelApp.exec_lines=import tqdm.auto, tqdm.std; tqdm.auto.tqdm, tqdm.auto.trange = tqdm.std.tqdm, tqdm.std.trange",
]


@contextmanager
def fds_to(path: Path) -> Iterator[None]:
    """Point this process's stdout and stderr file descriptors (and its children's) at `path`, then restore them."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with open(path, "a", buffering=1) as target:
        try:
            for fd in saved:
                os.dup2(target.fileno(), fd)
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)


def notebook_logging(level: int = logging.INFO) -> Path | None:
    """Set up a notebook's logging: its log file under the runner (returned), else the notebook's stderr.

    Under the runner, ``sys.stderr`` itself is redirected, so Python warnings,
    TensorFlow's and absl's Python loggers and any library that prints to
    stderr go to the log instead of into the executed notebook.
    """
    target = os.environ.get(LOG_ENV)
    if not target:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
        return None
    stream = open(target, "a", buffering=1)  # noqa: SIM115 - stays open as the kernel's stderr
    sys.stderr = stream
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=stream, force=True)
    for name in ("tensorflow", "absl", "py.warnings"):
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
    logging.captureWarnings(True)
    return Path(target)
