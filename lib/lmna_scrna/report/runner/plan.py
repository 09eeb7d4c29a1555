"""Plan the report: a profile and its sweeps → notebook executions and their dependency graph.

A profile (``params/profiles/<name>.yaml``) lists every notebook execution.
This module turns it into executions, each with the parameters its notebook
declares and the executions it waits for; `ledger` keys them and `execute`
runs the stale ones.

Profile schema (paths are relative to the profile file)::

    inherits: full               # optional: start from full.yaml of the same folder, state what differs
    sim_size: smoke              # size of the simulated data used when --data is not given
    cell_timeout_s: 600          # a cell running longer fails its execution (default 3600; --cell-timeout)
    parameters: {cells_per_gsm: 100}            # given to every notebook that declares them
    stages: {train: {epochs: 3}}                # given to every execution of a stage
    executions:
      - id: prepare_original
        notebook: 01_prepare                    # notebooks/01_prepare.ipynb
        params_file: ../splits/original.yaml    # merged like `papermill -f`
        parameters: {}                          # this execution's own overrides
        after: []                               # explicit extra dependencies
      - id: train_A
        notebook: 03_train_A
        each_split: true                        # one execution per file of ../splits (id train_A_<split>)
      - id: sweep
        notebook: 03_train_A
        sweep_file: ../sweeps/sweep_A.yaml      # one execution per run listed there (id sweep_<run>)
      - id: sweep_B
        notebook: 04_train_B
        sweep_file: ../sweeps/sweep_B.yaml      # `builds_on: sweep_A.yaml`: one execution per run, after
                                                # every run of sweep_A.yaml (the best of them is its base)
      - id: points
        notebook: 07_calibration_replicate
        grid: {scenario: [a, b], sim_seeds: [[1], [2]]}   # one execution per combination
                                                # (id points_scenarioa_sim_seeds[1], …)
      - id: replicates
        notebook: 07_calibration_replicate
        calibration_file: ../calibration/full.yaml   # one execution per batch of replicates it lists
                                                # (id replicates_null_s1-10, …; `tl.calibration_design`)

A profile that ``inherits`` is merged over its parent (`param_files.merge_profile`):
mappings key by key, ``executions`` entry by entry matched on ``id`` (a new id is
appended), any other value replaced. A missing parent, a cycle of ``inherits`` or an
unknown key is an error.

Parameters are merged in this order, later winning: the split's params_file,
the sweep run's or grid point's settings, the profile's ``parameters``, its ``stages`` entry,
the execution's own ``parameters``. A notebook receives only the names its
``parameters`` cell declares (papermill's `inspect_notebook`): the split file's
and the profile-wide values go to the notebooks that declare them (a name no
notebook of the profile declares is an error), while a sweep run's, a stage's
and an execution's own values must be declared by the notebook they are given
to. A parameter whose name ends in ``_file`` is a path: it is passed absolute
and its content is part of the key.

A sweep run's settings are its parameters. A sweep file that ``builds_on``
another sweep (Model B on the best Model A run) cannot give settings before
that sweep has run: its executions get the sweep file and run instead
(``sweep_file``, ``sweep_run``; the notebook resolves the configuration with
`tables.sweep_variant_config`) and wait for every execution of the sweep it
builds on, whose keys are part of theirs.

A split file defines a split by its scheme and days (`pp.splits.split_identity`);
its name follows from them. Dependencies are inferred from the stage of each
notebook: an execution waits for the executions of the stages it reads
(`STAGE_READS`) on the same split; a `GLOBAL_STAGES` execution (the
comparison) waits for all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ...config import PrepParams, TrainConfig, check_seeds
from ...errors import InputError
from ...paths import PROJECT_ROOT, params_dir
from .param_files import (
    calibration_batches,
    check_cell_timeout,
    grid_points,
    load_sweep,
    per_split,
    read_profile,
    read_split_file,
    resolve_file_parameters,
    sweep_run_name,
    sweep_run_parameters,
)

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"

#: Stage of each project notebook (a profile may name the stage of any other notebook).
NOTEBOOK_STAGES: dict[str, str] = {
    "01_prepare": "prepare",
    "02_split_scheme": "explore",
    "03_train_A": "train",
    "04_train_B": "train",
    "05_sweep": "sweep",
    "06_compare": "compare",
    "07_calibration_replicate": "simulate",
    "07_calibration": "calibrate",
    "08_worlds": "calibrate",
    "09_donors": "donors",
}
#: Which earlier stages' outputs each stage reads (prepare → train → sweep → compare → calibrate).
STAGE_READS: dict[str, tuple[str, ...]] = {
    "prepare": (),
    "explore": ("prepare",),
    "train": ("prepare",),
    "sweep": ("prepare", "train"),
    "compare": ("prepare", "explore", "train", "sweep"),
    "simulate": (),  # a calibration replicate makes its own data
    "calibrate": ("prepare", "train", "compare", "simulate"),
    "donors": ("simulate",),  # simulated studies only: no run of this build
}
#: Stages that read every split's results rather than their own split's.
GLOBAL_STAGES: frozenset[str] = frozenset({"compare", "calibrate", "donors"})
#: The keys an execution entry may hold (the schema above).
ENTRY_KEYS: frozenset[str] = frozenset(
    {"id", "notebook", "stage", "params_file", "each_split", "sweep_file", "grid", "calibration_file", "parameters",
     "after"}
)


@dataclass(frozen=True)
class Execution:
    """One papermill run of one notebook with one parameter set."""

    id: str
    notebook: Path
    stage: str
    parameters: dict[str, Any] = field(hash=False)
    files: tuple[Path, ...] = ()  # parameter files read (their content is part of the key)
    after: tuple[str, ...] = ()  # ids this execution waits for
    split: str | None = None  # name of the split it works on (from its split file), None for global ones
    accepts: frozenset[str] = frozenset()  # the names its notebook's parameters cell declares
    params_file: Path | None = None  # the split file merged like `papermill -f` (shown in its page's command)

    def runtime(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Values known only at run time (the raw-data folder), kept to the names the notebook declares."""
        return {k: v for k, v in values.items() if k in self.accepts}


@dataclass(frozen=True)
class Profile:
    """A parsed profile: executions in a valid execution (topological) order."""

    name: str
    path: Path
    sim_size: str  # of the simulated data, when no raw-data folder is given
    executions: tuple[Execution, ...]
    cell_timeout_s: float = 3600.0  # papermill's execution_timeout: a hung kernel fails its execution (not keyed)

    def by_id(self) -> dict[str, Execution]:
        return {e.id: e for e in self.executions}


def profile_path(profile: str | Path) -> Path:
    """A profile name ("smoke") means params/profiles/smoke.yaml; a path is taken as is."""
    path = Path(profile)
    if path.suffix in (".yaml", ".yml"):
        return path.resolve()
    return params_dir() / "profiles" / f"{profile}.yaml"


@cache
def notebook_parameters(notebook: Path) -> frozenset[str]:
    """The names a notebook's ``parameters`` cell declares (its signature, in papermill's terms)."""
    import papermill

    return frozenset(papermill.inspect_notebook(str(notebook)))


# --------------------------------------------------------------------------- profile → plan


def load_profile(profile: str | Path, notebooks_dir: Path = NOTEBOOKS_DIR) -> Profile:
    """Parse a profile into executions with resolved parameters and dependencies, in run order."""
    path = profile_path(profile)
    if not path.is_file():
        available = sorted(p.stem for p in (params_dir() / "profiles").glob("*.yaml"))
        raise InputError(f"profile {profile!r}: {path} does not exist (available: {', '.join(available) or 'none'})")
    spec = read_profile(path)
    entries = spec.get("executions")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"profile {path} has no `executions` list")
    executions: list[Execution] = []
    for entry in (one for listed in entries for one in per_split(listed, path)):
        executions.extend(_expand_entry(entry, spec, path, notebooks_dir))
    _check_unique_ids(executions, path)
    _check_offered_names(executions, spec, path)
    _check_values(executions, path)
    executions = _with_inferred_dependencies(executions, path)
    return Profile(
        name=path.stem,
        path=path,
        sim_size=str(spec.get("sim_size", path.stem)),
        executions=tuple(_topological(executions, path)),
        cell_timeout_s=check_cell_timeout(spec.get("cell_timeout_s", Profile.cell_timeout_s),
                                          f"profile {path}: cell_timeout_s"),
    )


def _expand_entry(entry: Any, spec: dict[str, Any], path: Path, notebooks_dir: Path) -> list[Execution]:
    """One profile entry → one execution, one per run of its ``sweep_file``, or one per point of its ``grid``."""
    if not isinstance(entry, dict) or "id" not in entry or "notebook" not in entry:
        raise InputError(f"profile {path}: every execution needs `id` and `notebook` (got {entry!r})")
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        raise InputError(
            f"profile {path}, execution {entry['id']}: unknown key(s) {', '.join(unknown)} (an execution holds {', '.join(sorted(ENTRY_KEYS))})"
        )
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
    split: str | None = None
    split_file: Path | None = None
    files: list[Path] = []
    if entry.get("params_file"):
        split_file = (base / entry["params_file"]).resolve()
        split_params, split = read_split_file(split_file)
        files.append(split_file)
    variants: dict[str, dict[str, Any]] = {str(entry["id"]): {}}
    after = [str(a) for a in entry.get("after") or ()]
    if entry.get("sweep_file"):
        sweep = load_sweep(base / entry["sweep_file"])
        if split is None:
            split_params, split, split_file = sweep.split, sweep.split_name, sweep.split_file
        files += [sweep.path, sweep.split_file]
        variants = {sweep_run_name(run): sweep_run_parameters(sweep, run) for run in sweep.runs}
        if sweep.builds_on is not None:
            after += [sweep_run_name(run) for run in load_sweep(sweep.builds_on).runs]
    if entry.get("grid"):
        variants = grid_points(str(entry["id"]), entry["grid"], path)
    if entry.get("calibration_file"):
        variants = calibration_batches(str(entry["id"]), str(entry["calibration_file"]), base)
    accepts = notebook_parameters(notebook)
    own = {**((spec.get("stages") or {}).get(stage) or {}), **(entry.get("parameters") or {})}
    executions = []
    for exec_id, variant in variants.items():
        undeclared = sorted((set(variant) | set(own)) - accepts)
        if undeclared:
            raise InputError(
                f"profile {path}, execution {exec_id}: notebook {notebook.name} declares no parameter "
                f"{', '.join(undeclared)} (it declares {', '.join(sorted(accepts))})"
            )
        merged = {**split_params, **variant, **(spec.get("parameters") or {}), **own}
        merged = {k: v for k, v in merged.items() if k in accepts}
        params, param_files = resolve_file_parameters(merged, base)
        executions.append(
            Execution(
                id=exec_id,
                notebook=notebook,
                stage=stage,
                parameters=params,
                files=tuple(files + param_files),
                after=tuple(after),
                split=split,
                accepts=accepts,
                params_file=split_file,
            )
        )
    return executions


def _check_offered_names(executions: list[Execution], spec: dict[str, Any], path: Path) -> None:
    """A profile-wide parameter that no notebook of the profile declares is a typo, not a no-op."""
    declared = frozenset().union(*(e.accepts for e in executions))
    unknown = sorted(set(spec.get("parameters") or {}) - declared)
    if unknown:
        raise InputError(
            f"profile {path}: parameter(s) {', '.join(unknown)} of `parameters` are declared by none of its notebooks"
        )


#: The keys that define a split (`pp.splits.split_identity`): they name it, whichever notebook reads them.
SPLIT_IDENTITY = frozenset({"scheme", "test_day", "val_day"})


def _check_values(executions: list[Execution], path: Path) -> None:
    """Refuse, before anything runs, what a notebook would refuse only after minutes of upstream work: a split
    file's key that no notebook of the profile declares (it would be dropped), and hyperparameters
    (`TrainConfig`, `PrepParams`, seeds) of the wrong type or out of range."""
    declared = frozenset().union(*(e.accepts for e in executions))
    for split_file in sorted({e.params_file for e in executions if e.params_file is not None}):
        unknown = sorted(set(read_split_file(split_file)[0]) - declared - SPLIT_IDENTITY)
        if unknown:
            raise InputError(f"split file {split_file}: key(s) {', '.join(unknown)} are declared by none of the "
                             f"notebooks of profile {path}")
    for e in executions:
        try:
            for kind in (TrainConfig, PrepParams):
                given = {f.name: e.parameters[f.name] for f in dataclasses.fields(kind) if f.name in e.parameters}
                if given:
                    kind(**given).check()
            if "seeds" in e.parameters:
                check_seeds(e.parameters["seeds"])
        except (InputError, TypeError) as exc:
            raise InputError(f"profile {path}, execution {e.id}: {exc}") from None


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
            raise InputError(
                f"profile {path}, execution {e.id}: `after` (or the sweep its sweep file builds on) names unknown "
                f"id(s) {', '.join(unknown)}"
            )
        reads = STAGE_READS[e.stage]
        inferred = [
            u.id
            for u in executions
            if u.stage in reads
            and (e.stage in GLOBAL_STAGES or u.split == e.split)
        ]
        out.append(dataclasses.replace(e, after=tuple(dict.fromkeys([*e.after, *inferred]))))
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


