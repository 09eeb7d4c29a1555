"""Execute a plan's notebooks with papermill: local process pool or a Dask cluster.

Only stale executions run (see `ledger`); each is submitted once its
dependencies have finished, up to the executor's capacity. papermill writes a
notebook cell by cell into a temp name that replaces ``<id>.ipynb`` only on
success; a failure keeps ``<id>.failed.ipynb``, stops new submissions, and
raises `NotebookFailed` naming it, the failing cell and the execution's log
file (``<id>.log``), where everything the kernel and its libraries printed goes
(see `quiet`): the terminal shows only the runner's progress.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ... import __version__, threads
from ...atomic import WRITES_ENV
from ...errors import LmnaError
from ...io.simulation import resolve_raw_dir
from ...paths import outputs_dir, shown_path
from .executors import check_executor, open_executor
from .ledger import (
    CHANGED,
    NEW,
    data_fingerprint,
    execution_keys,
    library_fingerprint,
    load_ledger,
    notebooks_out_dir,
    published_results,
    record_results,
    save_ledger,
    why_stale,
)
from .plan import Execution, Profile, load_profile
from .quiet import KERNEL_ARGUMENTS, KERNEL_ENV, LOG_ENV, fds_to

log = logging.getLogger(__name__)

KERNEL_NAME = "python3"


class NotebookFailed(LmnaError):
    """A notebook raised; the message names the kept partial notebook and the failing cell."""



@dataclass(frozen=True)
class Task:
    """What a worker needs to execute one notebook (plain data: it crosses process boundaries)."""

    id: str
    source: str
    output: str
    parameters: dict[str, Any]
    cwd: str
    env: dict[str, str]


@dataclass(frozen=True)
class Outcome:
    """A worker's answer; failures come back as data, so no exception has to be pickled."""

    id: str
    ok: bool
    seconds: float
    notebook: str  # the executed notebook (the `.failed.ipynb` one on failure)
    log: str  # the execution's log file (the kernel's and the libraries' messages); "" under Dask
    error: str = ""
    published: tuple[str, ...] = ()  # what the kernel published (`atomic.note_published`)



def execute_task(task: Task) -> Outcome:
    """Run one notebook with papermill (in a worker process); the result is published atomically.

    papermill writes the notebook cell by cell into a temp name; on success it
    replaces ``<id>.ipynb``, on failure it becomes ``<id>.failed.ipynb`` and the
    last good ``<id>.ipynb`` stays as it was.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    os.environ.update(task.env)
    # The kernel named "python3" must be this environment's (the Makefile installs its kernelspec
    # with --sys-prefix): JUPYTER_PATH is searched before the user's own kernelspecs.
    ours = str(Path(sys.prefix) / "share" / "jupyter")
    others = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p and p != ours]
    os.environ["JUPYTER_PATH"] = os.pathsep.join([ours, *others])
    output = Path(task.output)
    running = output.with_name(f".{task.id}.running.ipynb")
    failed = output.with_name(f"{task.id}.failed.ipynb")
    log_file = output.with_name(f"{task.id}.log")
    listing = output.with_name(f".{task.id}.published")
    output.parent.mkdir(parents=True, exist_ok=True)
    log_file.unlink(missing_ok=True)  # the log of this execution only
    listing.unlink(missing_ok=True)
    # A process-pool worker runs one task at a time in its main thread: its descriptors and environment can be
    # the task's. A Dask worker runs tasks in threads that share them, so there the kernel's output stays in
    # the notebook (the book drops its stderr) rather than mixing several executions in one log.
    private = threading.current_thread() is threading.main_thread()
    if private:
        os.environ[LOG_ENV] = str(log_file)
    # The kernel lists what it publishes (`atomic.note_published`) in a file of this execution's own, set in
    # the kernel itself: a Dask worker's threads share one environment.
    listed = f"--IPKernelApp.exec_lines=import os; os.environ[{WRITES_ENV!r}] = {str(listing)!r}"
    start = time.perf_counter()
    try:
        with fds_to(log_file) if private else nullcontext():
            papermill.execute_notebook(
                task.source,
                str(running),
                parameters=task.parameters,
                kernel_name=KERNEL_NAME,
                cwd=task.cwd,
                progress_bar=False,
                extra_arguments=[*KERNEL_ARGUMENTS, listed],
            )
    except PapermillExecutionError as exc:
        error = f"cell {exc.cell_index} (In [{exc.exec_count}]) raised {exc.ename}: {exc.evalue}"
        return _failure(task, running, failed, log_file if private else None, start, error)
    except Exception as exc:  # kernel death, bad parameters: anything papermill raises must come back as data
        return _failure(task, running, failed, log_file if private else None, start, f"{type(exc).__name__}: {exc}")
    os.replace(running, output)
    failed.unlink(missing_ok=True)
    published = tuple(listing.read_text(encoding="utf-8").splitlines()) if listing.is_file() else ()
    listing.unlink(missing_ok=True)
    return Outcome(task.id, True, time.perf_counter() - start, str(output), str(log_file) if private else "",
                   published=published)


def _failure(task: Task, running: Path, failed: Path, log_file: Path | None, start: float, error: str) -> Outcome:
    if running.exists():
        os.replace(running, failed)
    return Outcome(task.id, False, time.perf_counter() - start, str(failed), str(log_file or ""), error)


def _task(e: Execution, runtime: Mapping[str, Any], kernel_threads: int) -> Task:
    return Task(
        id=e.id,
        source=str(e.notebook),
        output=str(notebooks_out_dir() / f"{e.id}.ipynb"),
        parameters={**e.parameters, **e.runtime(runtime)},
        cwd=str(e.notebook.parent),
        env={**KERNEL_ENV, **threads.thread_env(kernel_threads), "LMNA_OUTPUTS": str(outputs_dir())},
    )


def execute_profile(
    profile: Profile,
    data_dir: Path,
    jobs: int = 1,
    scheduler: str | None = None,
) -> list[Outcome]:
    """Execute the stale executions of a profile in dependency order, up to `jobs` at once.

    Returns the outcomes of the executions run (an empty list when all were
    fresh). On the first failure no new notebook starts, those running finish,
    and `NotebookFailed` names the partial notebook and the failing cell.
    """
    started = time.perf_counter()
    jobs = check_executor(jobs, scheduler)
    data_id = data_fingerprint(data_dir)
    context = json.dumps({"data": data_id, "library": library_fingerprint(), "version": __version__})
    keys = execution_keys(profile, context)
    ledger = load_ledger()
    todo = stale_executions(profile, keys, ledger)
    dropped = [i for i in ledger["report"].get("executions", []) if i not in keys]
    if ledger["report"].get("profile") == profile.name and dropped:  # a split or sweep file removed, not silently
        log.warning("%d execution(s) of the last report of profile %s are no longer planned (their split, sweep or "
                    "profile entry is gone): %s", len(dropped), profile.name, ", ".join(dropped))
    log.info(
        "profile %s: %d executions, %d unchanged since their last success, %d to run",
        profile.name, len(profile.executions), len(profile.executions) - len(todo), len(todo),
    )
    runtime = {"raw_dir": str(data_dir)}
    outcomes: list[Outcome] = []
    if todo:
        with open_executor(jobs, scheduler) as (executor, capacity, kernel_threads), logging_redirect_tqdm():
            log.info("%d notebook(s) at once, %d thread(s) each", capacity, kernel_threads)
            outcomes = _run_graph(todo, keys, ledger, runtime, executor, capacity, kernel_threads)
    ledger["report"] = {
        "profile": profile.name,
        "data_dir": str(data_dir),
        "data_fingerprint": data_id,
        "version": __version__,
        "executions": [e.id for e in profile.executions],
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "executed": [o.id for o in outcomes],
    }
    save_ledger(ledger)
    return outcomes


def stale_executions(profile: Profile, keys: dict[str, str], ledger: dict[str, Any]) -> dict[str, Execution]:
    """The executions to run: the stale ones (`ledger.why_stale`) and everything downstream of them, since an
    execution that runs again may publish other results than those its dependents read."""
    todo: dict[str, Execution] = {}
    for e in profile.executions:  # in run order: dependencies first
        reason = why_stale(e.id, keys[e.id], ledger)
        upstream = next((a for a in e.after if a in todo), None)
        if reason not in (None, NEW, CHANGED):
            log.warning("%s runs again: %s", e.id, reason)
        elif reason is None and upstream is not None:
            log.debug("%s runs again: %s runs again", e.id, upstream)
        if reason is not None or upstream is not None:
            todo[e.id] = e
    return todo


def _run_graph(
    todo: dict[str, Execution],
    keys: dict[str, str],
    ledger: dict[str, Any],
    runtime: Mapping[str, Any],
    executor: Executor,
    capacity: int,
    kernel_threads: int,
) -> list[Outcome]:
    """Submit each execution once its dependencies are done; record every success in the ledger."""
    waiting = dict(todo)
    running: dict[Future[Outcome], Execution] = {}
    outcomes: list[Outcome] = []
    failures: list[Outcome] = []
    with tqdm(total=len(todo), desc="notebooks", unit="nb") as bar:
        while waiting or running:
            if not failures:
                for e in [e for e in waiting.values() if not any(a in waiting or a in _ids(running) for a in e.after)]:
                    if len(running) >= capacity:
                        break
                    log.debug("start  %s (%s)", e.id, e.notebook.name)
                    running[executor.submit(execute_task, _task(e, runtime, kernel_threads))] = waiting.pop(e.id)
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                e = running.pop(future)
                outcome = future.result()
                outcomes.append(outcome)
                bar.update()
                if outcome.ok:
                    startup = startup_seconds(Path(outcome.notebook), outcome.seconds)
                    log.info("done   %s in %.1f s (kernel start %.1f s, imports %.1f s)", e.id, outcome.seconds,
                             startup["kernel_start_s"], startup["imports_s"])
                    ledger["executions"][e.id] = {
                        "key": keys[e.id],
                        "notebook": e.notebook.name,
                        "stage": e.stage,
                        "split": e.split,
                        "parameters": e.parameters,
                        "params_file": str(e.params_file) if e.params_file else None,
                        "seconds": round(outcome.seconds, 1),
                        **startup,
                        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    }
                    record_results(ledger, e.id, published_results(outcome.published))
                    save_ledger(ledger)
                else:
                    log.error("FAILED %s after %.1f s: %s%s", e.id, outcome.seconds, outcome.error,
                              f" (log: {shown_path(outcome.log)})" if outcome.log else "")
                    failures.append(outcome)
    if failures:
        first = failures[0]
        skipped = f"; {len(waiting)} execution(s) not started" if waiting else ""
        log_note = f"; its log: {first.log}" if first.log else ""
        raise NotebookFailed(f"notebook {first.notebook} failed: {first.error}{log_note}{skipped}")
    return outcomes


def startup_seconds(notebook: Path, wall: float) -> dict[str, float]:
    """What an execution paid before its first result: kernel start (the wall time outside every cell:
    launching the kernel, papermill's own work) and imports (the first code cell after the parameters)."""
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    timed = [c for c in cells if c.cell_type == "code" and "duration" in c.metadata.get("papermill", {})]
    in_cells = sum(float(c.metadata["papermill"]["duration"] or 0.0) for c in timed)
    setup = [c for c in timed if not {"parameters", "injected-parameters"} & set(c.metadata.get("tags", []))]
    imports = float(setup[0].metadata["papermill"]["duration"] or 0.0) if setup else 0.0
    return {"kernel_start_s": round(max(wall - in_cells, 0.0), 1), "imports_s": round(imports, 1)}


def _ids(running: dict[Future[Outcome], Execution]) -> set[str]:
    return {e.id for e in running.values()}


def run_report(
    profile: str | Path = "full",
    data_dir: Path | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
) -> Path:
    """Execute a profile's notebooks (only the stale ones); return the executed-notebooks folder.

    The book is built from that folder by `report.book.build_book` (the CLI's ``report`` does both).
    """
    jobs = check_executor(jobs, scheduler)
    loaded = load_profile(profile)
    raw = resolve_raw_dir(data_dir, loaded.sim_size)
    start = time.perf_counter()
    outcomes = execute_profile(loaded, raw, jobs=jobs, scheduler=scheduler)
    log.info("executed %d notebook(s) in %.1f s", len(outcomes), time.perf_counter() - start)
    return notebooks_out_dir()
