"""Execute the report's notebooks with papermill: plan, content-hash cache, parallel executors.

A profile (``params/profiles/<name>.yaml``) lists every notebook execution.
The runner turns it into a dependency graph and gives each execution a key:
a hash of its notebook, its parameters, the parameter files it reads, the
library's source, the data's fingerprint and the keys of the executions it
depends on. An execution runs only when its key differs from the one recorded
at its last success, and because keys chain through the graph, changing one
split's parameter file re-executes exactly what lies downstream of it.

Profile schema (paths are relative to the profile file)::

    data: smoke                  # scale of the simulated data used when --data is not given
    parameters: {profile: smoke, seeds: [42]}   # given to every execution
    stages: {train: {epochs: 3}}                # given to every execution of a stage
    executions:
      - id: prepare_original
        notebook: 01_prepare                    # notebooks/01_prepare.ipynb
        params_file: ../splits/original.yaml    # merged like `papermill -f`
        parameters: {}                          # this execution's own overrides
        after: []                               # explicit extra dependencies
      - id: sweep
        notebook: 03_train_A
        sweep_file: ../sweeps/sweep_A.yaml      # one execution per run listed there (id sweep_<run>)

Parameters are merged in this order, later winning: the split's params_file,
the sweep run's settings, the profile's ``parameters``, its ``stages`` entry,
the execution's own ``parameters``. A parameter whose name ends in ``_file``
is a path: it is passed absolute and its content is part of the key.

Dependencies are inferred from the stage of each notebook: an execution waits
for the executions of the stages it reads (`STAGE_READS`) that work on the same
``split_name``; a `GLOBAL_STAGES` execution (the comparison) waits for all of them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from . import __version__
from .atomic import write_text_atomic
from .errors import InputError, LmnaError, one_line
from .paths import PROJECT_ROOT, default_raw_dir, default_sheet_path, outputs_dir, params_dir

log = logging.getLogger(__name__)

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
LIBRARY_DIR = Path(__file__).resolve().parent
KERNEL_NAME = "python3"

#: Stage of each project notebook (a profile may name the stage of any other notebook).
NOTEBOOK_STAGES: dict[str, str] = {
    "01_prepare": "prepare",
    "02_split_scheme": "explore",
    "03_train_A": "train",
    "04_train_B": "train",
    "05_sweep": "sweep",
    "06_compare": "compare",
}
#: Which earlier stages' outputs each stage reads (prepare → train → sweep → compare).
STAGE_READS: dict[str, tuple[str, ...]] = {
    "prepare": (),
    "explore": ("prepare",),
    "train": ("prepare",),
    "sweep": ("prepare", "train"),
    "compare": ("prepare", "explore", "train", "sweep"),
}
#: Stages that read every split's results rather than their own split's.
GLOBAL_STAGES: frozenset[str] = frozenset({"compare"})


class NotebookFailed(LmnaError):
    """A notebook raised; the message names the kept partial notebook and the failing cell."""


@dataclass(frozen=True)
class Execution:
    """One papermill run of one notebook with one parameter set."""

    id: str
    notebook: Path
    stage: str
    parameters: dict[str, Any] = field(hash=False)
    files: tuple[Path, ...] = ()  # parameter files read (their content is part of the key)
    after: tuple[str, ...] = ()  # ids this execution waits for


@dataclass(frozen=True)
class Profile:
    """A parsed profile: executions in a valid execution (topological) order."""

    name: str
    path: Path
    data: str
    executions: tuple[Execution, ...]

    def by_id(self) -> dict[str, Execution]:
        return {e.id: e for e in self.executions}


@dataclass(frozen=True)
class Sweep:
    """A sweep file: the split every run uses and each run's parameter overrides."""

    path: Path
    split: dict[str, Any]
    split_file: Path
    runs: dict[str, dict[str, Any]]


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
    error: str = ""


# --------------------------------------------------------------------------- parameter files


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"parameter file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise InputError(f"parameter file {path} is not UTF-8 text ({one_line(exc)})") from None
    except yaml.YAMLError as exc:
        raise InputError(f"parameter file {path} is not valid YAML: {one_line(exc)}") from None
    if not isinstance(data, dict):
        raise InputError(f"parameter file {path} must hold a mapping of names to values")
    return data


def profile_path(profile: str | Path) -> Path:
    """A profile name ("smoke") means params/profiles/smoke.yaml; a path is taken as is."""
    path = Path(profile)
    if path.suffix in (".yaml", ".yml"):
        return path.resolve()
    return params_dir() / "profiles" / f"{profile}.yaml"


def load_sweep(path: str | Path) -> Sweep:
    """Read a sweep file: ``params_file`` (the split, relative to the sweep file) and ``runs``."""
    path = Path(path).resolve()
    data = _read_yaml(path)
    if "params_file" not in data or not isinstance(data.get("runs"), dict) or not data["runs"]:
        raise InputError(f"sweep file {path} needs `params_file` (the split) and a non-empty `runs` mapping")
    split_file = (path.parent / data["params_file"]).resolve()
    runs = {str(name): dict(values or {}) for name, values in data["runs"].items()}
    return Sweep(path=path, split=_read_yaml(split_file), split_file=split_file, runs=runs)


def sweep_run_name(run: str) -> str:
    """Execution id and run folder of a sweep run ("A_d1_e20_b128_relu_adam" → "sweep_A_d1_…")."""
    return f"sweep_{run}"


def _resolve_file_parameters(params: dict[str, Any], base: Path) -> tuple[dict[str, Any], list[Path]]:
    """Make every ``*_file`` parameter an absolute path; return them as inputs too."""
    out, files = dict(params), []
    for name, value in params.items():
        if name.endswith("_file") and value is not None:
            path = (base / str(value)).resolve()
            if not path.is_file():
                raise InputError(f"parameter {name}: file {path} does not exist")
            out[name] = str(path)
            files.append(path)
    return out, files


# --------------------------------------------------------------------------- profile → plan


def load_profile(profile: str | Path, notebooks_dir: Path = NOTEBOOKS_DIR) -> Profile:
    """Parse a profile into executions with resolved parameters and dependencies, in run order."""
    path = profile_path(profile)
    if not path.is_file():
        available = sorted(p.stem for p in (params_dir() / "profiles").glob("*.yaml"))
        raise InputError(f"profile {profile!r}: {path} does not exist (available: {', '.join(available) or 'none'})")
    spec = _read_yaml(path)
    entries = spec.get("executions")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"profile {path} has no `executions` list")
    executions: list[Execution] = []
    for entry in entries:
        executions.extend(_expand_entry(entry, spec, path, notebooks_dir))
    _check_unique_ids(executions, path)
    executions = _with_inferred_dependencies(executions, path)
    return Profile(
        name=path.stem,
        path=path,
        data=str(spec.get("data", path.stem)),
        executions=tuple(_topological(executions, path)),
    )


def _expand_entry(entry: Any, spec: dict[str, Any], path: Path, notebooks_dir: Path) -> list[Execution]:
    """One profile entry → one execution, or one per run of its ``sweep_file``."""
    if not isinstance(entry, dict) or "id" not in entry or "notebook" not in entry:
        raise InputError(f"profile {path}: every execution needs `id` and `notebook` (got {entry!r})")
    name = str(entry["notebook"]).removesuffix(".ipynb")
    notebook = notebooks_dir / f"{name}.ipynb"
    if not notebook.is_file():
        raise InputError(f"profile {path}, execution {entry['id']}: notebook {notebook} does not exist")
    stage = entry.get("stage", NOTEBOOK_STAGES.get(name))
    if stage not in STAGE_READS:
        raise InputError(
            f"profile {path}, execution {entry['id']}: stage {stage!r} unknown; give `stage:` one of {', '.join(STAGE_READS)}"
        )
    base = path.parent
    split_params: dict[str, Any] = {}
    files: list[Path] = []
    if entry.get("params_file"):
        split_file = (base / entry["params_file"]).resolve()
        split_params = _read_yaml(split_file)
        files.append(split_file)
    variants: dict[str, dict[str, Any]] = {str(entry["id"]): {}}
    if entry.get("sweep_file"):
        sweep = load_sweep(base / entry["sweep_file"])
        split_params = {**sweep.split, **split_params}
        files += [sweep.path, sweep.split_file]
        variants = {sweep_run_name(run): {**values, "run_name": sweep_run_name(run)} for run, values in sweep.runs.items()}
    executions = []
    for exec_id, variant in variants.items():
        merged = {
            **split_params,
            **variant,
            **(spec.get("parameters") or {}),
            **((spec.get("stages") or {}).get(stage) or {}),
            **(entry.get("parameters") or {}),
        }
        params, param_files = _resolve_file_parameters(merged, base)
        executions.append(
            Execution(
                id=exec_id,
                notebook=notebook,
                stage=stage,
                parameters=params,
                files=tuple(files + param_files),
                after=tuple(str(a) for a in entry.get("after") or ()),
            )
        )
    return executions


def _check_unique_ids(executions: list[Execution], path: Path) -> None:
    seen: set[str] = set()
    for e in executions:
        if e.id in seen:
            raise InputError(f"profile {path}: execution id {e.id!r} is used twice")
        seen.add(e.id)


def _with_inferred_dependencies(executions: list[Execution], path: Path) -> list[Execution]:
    """Add the stage-order dependencies to each execution's explicit ``after`` list."""
    ids = {e.id for e in executions}
    out = []
    for e in executions:
        unknown = [a for a in e.after if a not in ids]
        if unknown:
            raise InputError(f"profile {path}, execution {e.id}: `after` names unknown id(s) {', '.join(unknown)}")
        reads = STAGE_READS[e.stage]
        inferred = [
            u.id
            for u in executions
            if u.stage in reads
            and (e.stage in GLOBAL_STAGES or u.parameters.get("split_name") == e.parameters.get("split_name"))
        ]
        after = tuple(dict.fromkeys([*e.after, *inferred]))
        out.append(Execution(e.id, e.notebook, e.stage, e.parameters, e.files, after))
    return out


def _topological(executions: list[Execution], path: Path) -> list[Execution]:
    """Kahn's algorithm, keeping the profile's order among executions that are ready together."""
    pending = {e.id: e for e in executions}
    done: set[str] = set()
    order: list[Execution] = []
    while pending:
        ready = [e for e in pending.values() if set(e.after) <= done]
        if not ready:
            raise InputError(f"profile {path}: dependency cycle among {', '.join(sorted(pending))}")
        for e in ready:
            order.append(e)
            done.add(e.id)
            del pending[e.id]
    return order


# --------------------------------------------------------------------------- content keys


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def library_fingerprint() -> str:
    """Hash of the package's source: notebooks are thin, so the library is an input of every one."""
    digest = hashlib.sha256()
    for source in sorted(LIBRARY_DIR.rglob("*.py")):
        digest.update(source.relative_to(LIBRARY_DIR).as_posix().encode() + b"\0")
        digest.update(source.read_bytes())
    return digest.hexdigest()


def data_fingerprint(data_dir: Path) -> str:
    """Identity of the raw data and the sample sheet (cheap: tenx.file_fingerprint of each file)."""
    from .tenx import file_fingerprint

    files = sorted(p for p in Path(data_dir).rglob("*") if p.is_file())
    if not files:
        raise InputError(f"raw-data folder {data_dir} is empty or does not exist")
    return file_fingerprint([*files, default_sheet_path()])


def execution_keys(profile: Profile, context: str) -> dict[str, str]:
    """Key of every execution: its own inputs plus its dependencies' keys (so changes propagate)."""
    keys: dict[str, str] = {}
    for e in profile.executions:
        payload = {
            "notebook": _sha256_file(e.notebook),
            "parameters": {k: v for k, v in e.parameters.items() if not k.endswith("_file")},
            "files": sorted(_sha256_file(f) for f in e.files),
            "after": {a: keys[a] for a in sorted(e.after)},
            "context": context,
        }
        keys[e.id] = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return keys


# --------------------------------------------------------------------------- ledger


def notebooks_out_dir() -> Path:
    """Executed notebooks: outputs/notebooks/<id>.ipynb (the book copies them from here)."""
    return outputs_dir() / "notebooks"


def ledger_path() -> Path:
    return notebooks_out_dir() / "ledger.json"


def load_ledger() -> dict[str, Any]:
    """The record of past successes: {"executions": {id: {...}}, "report": {last report run}}."""
    path = ledger_path()
    if not path.is_file():
        return {"executions": {}, "report": {}}
    return json.loads(path.read_text())


def _save_ledger(ledger: dict[str, Any]) -> None:
    write_text_atomic(ledger_path(), json.dumps(ledger, indent=2, sort_keys=True) + "\n")


def _is_fresh(exec_id: str, key: str, ledger: dict[str, Any]) -> bool:
    entry = ledger["executions"].get(exec_id)
    return bool(entry) and entry["key"] == key and (notebooks_out_dir() / f"{exec_id}.ipynb").is_file()


# --------------------------------------------------------------------------- worker side


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
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            task.source,
            str(running),
            parameters=task.parameters,
            kernel_name=KERNEL_NAME,
            cwd=task.cwd,
            progress_bar=False,
        )
    except PapermillExecutionError as exc:
        error = f"cell {exc.cell_index} (In [{exc.exec_count}]) raised {exc.ename}: {exc.evalue}"
        return _failure(task, running, failed, start, error)
    except Exception as exc:  # kernel death, bad parameters: anything papermill raises must come back as data
        return _failure(task, running, failed, start, f"{type(exc).__name__}: {exc}")
    os.replace(running, output)
    failed.unlink(missing_ok=True)
    return Outcome(task.id, True, time.perf_counter() - start, str(output))


def _failure(task: Task, running: Path, failed: Path, start: float, error: str) -> Outcome:
    if running.exists():
        os.replace(running, failed)
    return Outcome(task.id, False, time.perf_counter() - start, str(failed), error)


# --------------------------------------------------------------------------- scheduling


@contextmanager
def open_executor(jobs: int, scheduler: str | None) -> Iterator[tuple[Executor, int]]:
    """A concurrent.futures executor and how many tasks to keep in flight on it.

    ``scheduler`` is the address of a running Dask scheduler: its client's
    executor runs the same task function on the cluster's workers. Otherwise a
    pool of ``jobs`` local processes ("spawn", so no worker inherits the
    parent's threads or open kernels).
    """
    if scheduler:
        from distributed import Client

        with Client(scheduler) as client:
            capacity = max(1, sum(client.nthreads().values()))
            with client.get_executor(pure=False) as executor:
                yield executor, capacity
        return
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1 (got {jobs})")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as executor:
        yield executor, jobs


def _task(e: Execution, runtime: Mapping[str, Any]) -> Task:
    return Task(
        id=e.id,
        source=str(e.notebook),
        output=str(notebooks_out_dir() / f"{e.id}.ipynb"),
        parameters={**e.parameters, **runtime},
        cwd=str(e.notebook.parent),
        env={"LMNA_OUTPUTS": str(outputs_dir()), "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")},
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
    data_id = data_fingerprint(data_dir)
    context = json.dumps({"data": data_id, "library": library_fingerprint(), "version": __version__})
    keys = execution_keys(profile, context)
    ledger = load_ledger()
    todo = {e.id: e for e in profile.executions if not _is_fresh(e.id, keys[e.id], ledger)}
    log.info(
        "profile %s: %d executions, %d unchanged since their last success, %d to run",
        profile.name, len(profile.executions), len(profile.executions) - len(todo), len(todo),
    )
    runtime = {"raw_dir": str(data_dir)}
    outcomes: list[Outcome] = []
    if todo:
        with open_executor(jobs, scheduler) as (executor, capacity), logging_redirect_tqdm():
            outcomes = _run_graph(todo, keys, ledger, runtime, executor, capacity)
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
    _save_ledger(ledger)
    return outcomes


def _run_graph(
    todo: dict[str, Execution],
    keys: dict[str, str],
    ledger: dict[str, Any],
    runtime: Mapping[str, Any],
    executor: Executor,
    capacity: int,
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
                    log.info("start  %s (%s)", e.id, e.notebook.name)
                    running[executor.submit(execute_task, _task(e, runtime))] = waiting.pop(e.id)
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                e = running.pop(future)
                outcome = future.result()
                outcomes.append(outcome)
                bar.update()
                if outcome.ok:
                    log.info("done   %s in %.1f s", e.id, outcome.seconds)
                    ledger["executions"][e.id] = {
                        "key": keys[e.id],
                        "notebook": e.notebook.name,
                        "stage": e.stage,
                        "parameters": e.parameters,
                        "seconds": round(outcome.seconds, 1),
                        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    }
                    _save_ledger(ledger)
                else:
                    log.error("FAILED %s after %.1f s: %s", e.id, outcome.seconds, outcome.error)
                    failures.append(outcome)
    if failures:
        first = failures[0]
        skipped = f"; {len(waiting)} execution(s) not started" if waiting else ""
        raise NotebookFailed(f"notebook {first.notebook} failed: {first.error}{skipped}")
    return outcomes


def _ids(running: dict[Future[Outcome], Execution]) -> set[str]:
    return {e.id for e in running.values()}


# --------------------------------------------------------------------------- entry point


def resolve_data_dir(profile: Profile, data_dir: Path | None) -> Path:
    """The raw data: the folder given, or the profile's simulated data (written once, then reused)."""
    if data_dir is not None:
        data_dir = Path(data_dir).resolve()
        if not data_dir.is_dir():
            raise InputError(f"--data {data_dir} is not a folder")
        return data_dir
    from .simulate import simulate

    log.info("no --data given: using the simulated %r data set", profile.data)
    return Path(simulate(default_raw_dir(profile.data), profile=profile.data)).resolve()


def run_report(
    profile: str | Path = "full",
    data_dir: Path | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    build: bool = True,
) -> Path:
    """Execute a profile's notebooks (only the stale ones), then build the book.

    Returns the book's index.html, or the executed-notebooks folder when `build` is False.
    """
    loaded = load_profile(profile)
    raw = resolve_data_dir(loaded, data_dir)
    start = time.perf_counter()
    outcomes = execute_profile(loaded, raw, jobs=jobs, scheduler=scheduler)
    log.info("executed %d notebook(s) in %.1f s", len(outcomes), time.perf_counter() - start)
    if not build:
        return notebooks_out_dir()
    from .book import build_book

    return build_book()
