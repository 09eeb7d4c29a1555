"""One notebook execution: what it needs (`Task`), what comes back (`Outcome`), running it with papermill
(`execute_task`), and running it in a process of its own (`execute_isolated`, ``python -m`` this module).

`execute_task` owns the process it runs in: papermill changes the process's
working directory (nteract/papermill#473), the task's environment is set in
``os.environ`` and the process's file descriptors point at the execution's log
while the kernel runs. A local pool worker runs one task at a time, so it calls
`execute_task` directly; a Dask worker runs several tasks in threads of one
process, so each of its tasks starts `execute_isolated`: a child process with
the notebook's folder as its working directory and its own environment and log.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...atomic import WRITES_ENV
from ...errors import one_line
from .quiet import KERNEL_ARGUMENTS, KERNEL_ENV, LOG_ENV, fds_to

KERNEL_NAME = "python3"
#: Starts of one kernel before its execution fails. A kernel that dies before its first reply ran no cell; the
#: usual cause is a port jupyter_client chose for it, taken by another process (another kernel starting at the
#: same moment) before the kernel bound it: "Address already in use" in the execution's log.
KERNEL_START_TRIES = 3


@dataclass(frozen=True)
class Task:
    """What a worker needs to execute one notebook (plain data: it crosses process boundaries)."""

    id: str
    source: str
    output: str
    parameters: dict[str, Any]
    cwd: str
    env: dict[str, str]
    cell_timeout_s: float | None = None  # papermill's execution_timeout: a cell running longer fails the execution


@dataclass(frozen=True)
class Outcome:
    """A worker's answer; failures come back as data, so no exception has to be pickled."""

    id: str
    ok: bool
    seconds: float
    notebook: str  # the executed notebook (the `.failed.ipynb` one on failure)
    log: str  # the execution's log file (the kernel's and the libraries' messages)
    error: str = ""
    published: tuple[str, ...] = ()  # what the kernel published (`atomic.note_published`)


def execute_task(task: Task) -> Outcome:
    """Run one notebook with papermill in this process; the result is published atomically.

    papermill writes the notebook cell by cell into a temp name; on success it
    replaces ``<id>.ipynb``, on failure (a cell raised, or ran past the cell
    timeout) it becomes ``<id>.failed.ipynb`` and the last good ``<id>.ipynb``
    stays as it was.
    """
    import papermill
    from nbclient.exceptions import CellTimeoutError
    from papermill.exceptions import PapermillExecutionError

    output = Path(task.output)
    running = output.with_name(f".{task.id}.running.ipynb")
    failed = output.with_name(f"{task.id}.failed.ipynb")
    log_file = output.with_name(f"{task.id}.log")
    listing = output.with_name(f".{task.id}.published")
    output.parent.mkdir(parents=True, exist_ok=True)
    log_file.unlink(missing_ok=True)  # the log of this execution only
    listing.unlink(missing_ok=True)
    os.environ.update(KERNEL_ENV)  # a quiet kernel: no C++ INFO logs, no progress bars
    os.environ.update(task.env)
    os.environ[LOG_ENV] = str(log_file)
    os.environ[WRITES_ENV] = str(listing)  # the kernel lists what it publishes there (`atomic.note_published`)
    # The kernel named "python3" must be this environment's (the Makefile installs its kernelspec
    # with --sys-prefix): JUPYTER_PATH is searched before the user's own kernelspecs.
    ours = str(Path(sys.prefix) / "share" / "jupyter")
    others = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p and p != ours]
    os.environ["JUPYTER_PATH"] = os.pathsep.join([ours, *others])
    start = time.perf_counter()
    try:
        with fds_to(log_file):
            for attempt in range(1, KERNEL_START_TRIES + 1):
                try:
                    papermill.execute_notebook(
                        task.source,
                        str(running),
                        parameters=task.parameters,
                        kernel_name=KERNEL_NAME,
                        cwd=task.cwd,
                        progress_bar=False,
                        execution_timeout=task.cell_timeout_s,
                        extra_arguments=KERNEL_ARGUMENTS,
                    )
                    break
                except RuntimeError as exc:
                    if attempt == KERNEL_START_TRIES or not _died_before_any_cell(exc, running):
                        raise
                    os.write(2, f"{task.id}: the kernel died before it started ({one_line(exc)}); starting it "
                                f"again (try {attempt + 1} of {KERNEL_START_TRIES})\n".encode())  # into the log
    except PapermillExecutionError as exc:
        error = f"cell {exc.cell_index} (In [{exc.exec_count}]) raised {exc.ename}: {exc.evalue}"
        return _failure(task, running, failed, log_file, start, error)
    except CellTimeoutError:
        error = (f"cell {_last_started_cell(running)} exceeded the {task.cell_timeout_s:g} s cell timeout "
                 "(the profile's cell_timeout_s, or --cell-timeout): its kernel was stopped")
        return _failure(task, running, failed, log_file, start, error)
    except Exception as exc:  # kernel death, bad parameters: anything papermill raises must come back as data
        return _failure(task, running, failed, log_file, start, f"{type(exc).__name__}: {one_line(exc)}")
    os.replace(running, output)
    failed.unlink(missing_ok=True)
    published = tuple(listing.read_text(encoding="utf-8").splitlines()) if listing.is_file() else ()
    listing.unlink(missing_ok=True)
    return Outcome(task.id, True, time.perf_counter() - start, str(output), str(log_file), published=published)


def _died_before_any_cell(exc: RuntimeError, running: Path) -> bool:
    """Did the kernel die while starting, so that no cell ran and starting it again repeats nothing?"""
    return "before replying to kernel_info" in str(exc) and _last_started_cell(running) == "?"


def _last_started_cell(notebook: Path) -> str:
    """Index of the last cell papermill started in a partial notebook (the one a timeout stopped), as
    `PapermillExecutionError.cell_index` counts; "?" if the notebook cannot say."""
    import nbformat

    try:
        cells = nbformat.read(notebook, as_version=4).cells
    except Exception:  # no partial notebook: the kernel never started a cell
        return "?"
    started = [i for i, c in enumerate(cells) if (c.metadata.get("papermill") or {}).get("start_time")]
    return str(started[-1]) if started else "?"


def _failure(task: Task, running: Path, failed: Path, log_file: Path, start: float, error: str) -> Outcome:
    if running.exists():
        os.replace(running, failed)
    return Outcome(task.id, False, time.perf_counter() - start, str(failed), str(log_file), error)


def execute_isolated(task: Task) -> Outcome:
    """`execute_task` in a child process of its own (``python -m`` this module), started in the notebook's
    folder with the task's environment: what a Dask worker thread runs, so that no two executions share a
    working directory, an environment or file descriptors. A child that dies comes back as a failure."""
    start = time.perf_counter()
    log_file = Path(task.output).with_name(f"{task.id}.log")
    try:
        child = subprocess.run(
            [sys.executable, "-m", __name__],
            input=json.dumps(dataclasses.asdict(task)),
            cwd=task.cwd,
            env={**os.environ, **task.env},
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:  # the worker cannot see the notebook's folder (not the same file system?)
        return Outcome(task.id, False, time.perf_counter() - start, task.output, str(log_file),
                       f"its process could not start in {task.cwd} on this worker ({one_line(exc.strerror or exc)})")
    lines = child.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if child.returncode == 0 and lines else None
    except json.JSONDecodeError:
        answer = None
    if isinstance(answer, dict):
        return Outcome(**{**answer, "published": tuple(answer.get("published", ()))})
    said = one_line(child.stderr.strip().splitlines()[-1]) if child.stderr.strip() else "no message"
    return Outcome(task.id, False, time.perf_counter() - start, task.output, str(log_file),
                   f"its process exited with status {child.returncode} ({said})")


def main() -> int:
    """Read a `Task` as JSON on stdin, execute it, print its `Outcome` as JSON on the last line of stdout."""
    task = Task(**json.loads(sys.stdin.read()))
    print(json.dumps(dataclasses.asdict(execute_task(task))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
