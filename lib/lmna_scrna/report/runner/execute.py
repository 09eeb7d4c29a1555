"""Execute a plan's notebooks with papermill: local process pool or a Dask cluster.

Only stale executions run (`why` says which and why; `dry_run` prints it
without running anything); each is submitted once its dependencies have
finished, up to the executor's capacity. papermill writes a notebook cell by
cell into a temp name that replaces ``<id>.ipynb`` only on success (`task`); a
failure (a cell raised, or ran past the cell timeout) keeps
``<id>.failed.ipynb``, stops new submissions, and raises `NotebookFailed`
naming it, the failing cell and the execution's log file (``<id>.log``), where
everything the kernel and its libraries printed goes (see `quiet`): the
terminal shows only the runner's progress.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ... import __version__, threads
from ...errors import LmnaError
from ...io.digests import memo_untouched
from ...paths import default_raw_dir, outputs_dir, shown_path
from ...sim.dataset import resolve_raw_dir
from .executors import check_executor, open_executor
from .ledger import (
    LedgerDamaged,
    data_fingerprint,
    environment_fingerprint,
    keyed_inputs,
    library_fingerprint,
    load_ledger,
    notebooks_out_dir,
    published_results,
    read_ledger,
    record_results,
    save_ledger,
)
from .param_files import check_cell_timeout
from .plan import Execution, Profile, load_profile
from .task import Outcome, Task
from .why import check_ids, decide, dry_run_lines

log = logging.getLogger(__name__)



class NotebookFailed(LmnaError):
    """A notebook raised; the message names the kept partial notebook and the failing cell."""


def _task(e: Execution, runtime: Mapping[str, Any], kernel_threads: int, cell_timeout_s: float) -> Task:
    return Task(
        id=e.id,
        source=str(e.notebook),
        output=str(notebooks_out_dir() / f"{e.id}.ipynb"),
        parameters={**e.parameters, **e.runtime(runtime)},
        cwd=str(e.notebook.parent),
        env={**threads.thread_env(kernel_threads), "LMNA_OUTPUTS": str(outputs_dir())},
        cell_timeout_s=cell_timeout_s,
    )


def key_context(data_id: str) -> str:
    """What every key hashes besides an execution's own inputs: the data, the library's source, the version
    and the installed packages."""
    return json.dumps({"data": data_id, "library": library_fingerprint(), "version": __version__,
                       "environment": environment_fingerprint()})


def execute_profile(
    profile: Profile,
    data_dir: Path,
    jobs: int = 1,
    scheduler: str | None = None,
    only: Collection[str] = (),
    force: Collection[str] = (),
    cell_timeout_s: float | None = None,
) -> list[Outcome]:
    """Execute the stale executions of a profile in dependency order, up to `jobs` at once.

    `only` and `force` narrow the run to those executions and the stale ones
    they need (`why.decide`); `cell_timeout_s` overrides the profile's. Returns
    the outcomes of the executions run (an empty list when none was stale). On
    the first failure no new notebook starts, those running finish, and
    `NotebookFailed` names the partial notebook and the failing cell.
    """
    started = time.perf_counter()
    jobs = check_executor(jobs, scheduler)
    check_ids(profile, only, "--only")
    check_ids(profile, force, "--force")
    timeout = check_cell_timeout(cell_timeout_s, "--cell-timeout") if cell_timeout_s is not None else profile.cell_timeout_s
    data_id = data_fingerprint(data_dir)
    keyed = keyed_inputs(profile, key_context(data_id))
    ledger = load_ledger()
    verdicts = decide(profile, keyed, ledger, only, force)
    dropped = [i for i in ledger["report"].get("executions", []) if i not in keyed]
    if ledger["report"].get("profile") == profile.name and dropped:  # a split or sweep file removed, not silently
        log.warning("%d execution(s) of the last report of profile %s are no longer planned (their split, sweep or "
                    "profile entry is gone): %s", len(dropped), profile.name, ", ".join(dropped))
    for v in verdicts:
        if v.reason and v.surprising:
            log.warning("%s runs again: %s", v.id, v.reason)
        elif v.reason:
            log.debug("%s %s: %s", v.id, "runs" if v.runs else "is held", v.reason)
    by_id = profile.by_id()
    todo = {v.id: by_id[v.id] for v in verdicts if v.runs}
    held = sum(1 for v in verdicts if v.reason and not v.runs)
    log.info(
        "profile %s: %d executions, %d unchanged since their last success, %d to run%s",
        profile.name, len(verdicts), sum(v.reason is None for v in verdicts), len(todo),
        f", {held} stale left for a later report (outside --only/--force)" if held else "",
    )
    runtime = {"raw_dir": str(data_dir)}
    outcomes: list[Outcome] = []
    if todo:
        with open_executor(jobs, scheduler) as (executor, capacity, kernel_threads, run), logging_redirect_tqdm():
            log.info("%d notebook(s) at once, %d thread(s) each, cells stopped after %g s", capacity, kernel_threads,
                     timeout)
            tasks = {e.id: _task(e, runtime, kernel_threads, timeout) for e in todo.values()}
            outcomes = _run_graph(todo, keyed, ledger, tasks, executor, capacity, run)
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


def dry_run(
    profile: Profile,
    data_dir: Path | None,
    only: Collection[str] = (),
    force: Collection[str] = (),
) -> list[str]:
    """What `execute_profile` would run and why, one line per execution; runs and writes nothing.

    `data_dir` None means the profile's simulated data, which is not simulated
    here: if it is not there yet, every execution is keyed on data to come. A
    damaged ledger is read as an empty one, not set aside.
    """
    check_ids(profile, only, "--only")
    check_ids(profile, force, "--force")
    if data_dir is None:
        simulated = default_raw_dir(profile.sim_size)
        data_dir = simulated if simulated.is_dir() and any(simulated.iterdir()) else None
    else:
        data_dir = resolve_raw_dir(data_dir, profile.sim_size)
    with memo_untouched():
        data_id = data_fingerprint(data_dir) if data_dir is not None else "not simulated yet"
        keyed = keyed_inputs(profile, key_context(data_id))
        try:
            ledger = read_ledger()
        except LedgerDamaged as exc:
            log.warning("%s: the report would set it aside and re-check every execution", exc)
            ledger = {"executions": {}, "report": {}}
        return dry_run_lines(decide(profile, keyed, ledger, only, force), profile, data_dir)


def _run_graph(
    todo: dict[str, Execution],
    keyed: Mapping[str, tuple[str, dict[str, Any]]],
    ledger: dict[str, Any],
    tasks: Mapping[str, Task],
    executor: Executor,
    capacity: int,
    run: Callable[[Task], Outcome],
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
                    running[executor.submit(run, tasks[e.id])] = waiting.pop(e.id)
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
                    key, inputs = keyed[e.id]
                    ledger["executions"][e.id] = {
                        "key": key,
                        "inputs": inputs,  # what the key hashed: a dry run names the one that changed
                        "run": uuid.uuid4().hex,  # this success; an execution downstream records which one it read
                        "upstream": {a: (ledger["executions"].get(a) or {}).get("run") for a in e.after},
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
                    log.error("FAILED %s after %.1f s: %s (log: %s)", e.id, outcome.seconds, outcome.error,
                              shown_path(outcome.log))
                    failures.append(outcome)
    if failures:
        first = failures[0]
        skipped = f"; {len(waiting)} execution(s) not started" if waiting else ""
        raise NotebookFailed(f"notebook {first.notebook} failed: {first.error}; its log: {first.log}{skipped}")
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
    only: Collection[str] = (),
    force: Collection[str] = (),
    cell_timeout_s: float | None = None,
) -> Path:
    """Execute a profile's notebooks (only the stale ones, narrowed by `only` and `force`); return the
    executed-notebooks folder.

    Every option is checked before the data is simulated. The book is built
    from that folder by `report.book.build_book` (the CLI's ``report`` does both).
    """
    jobs = check_executor(jobs, scheduler)
    loaded = load_profile(profile)
    check_ids(loaded, only, "--only")
    check_ids(loaded, force, "--force")
    if cell_timeout_s is not None:
        check_cell_timeout(cell_timeout_s, "--cell-timeout")
    raw = resolve_raw_dir(data_dir, loaded.sim_size)
    start = time.perf_counter()
    outcomes = execute_profile(loaded, raw, jobs=jobs, scheduler=scheduler, only=only, force=force,
                               cell_timeout_s=cell_timeout_s)
    log.info("executed %d notebook(s) in %.1f s", len(outcomes), time.perf_counter() - start)
    return notebooks_out_dir()
