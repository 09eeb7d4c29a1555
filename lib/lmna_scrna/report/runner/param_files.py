"""Parameter files of the plan: YAML mappings, profiles (with `inherits`), split files and sweep files,
and the executions' parameters that a sweep run, a grid point or a calibration batch gives.

Kept apart from `plan` so a split or sweep file can be read (by notebooks,
tests and the plan alike) with one set of checks and messages.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ...errors import InputError, one_line
from ...paths import params_dir, require_file
from ...pp.splits import SCHEMES, split_identity
from ...tl.calibration_design import load_design


@dataclass(frozen=True)
class Sweep:
    """A sweep file: the split every run uses and each run's parameter overrides."""

    path: Path
    split: dict[str, Any]  # the split file's identity: scheme, test_day, val_day
    split_name: str
    split_file: Path
    runs: dict[str, dict[str, Any]]  # each run's overrides, over the sweep's `protocol`
    protocol: dict[str, Any] = field(default_factory=dict)  # settings every run shares (e.g. dropout 0.0)
    builds_on: Path | None = None  # the sweep whose best run (validation AUC) each run here starts from: B on A


def read_yaml(path: Path) -> dict[str, Any]:
    require_file(path, "parameter file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise InputError(f"parameter file {path} is not UTF-8 text ({one_line(exc)})") from None
    except yaml.YAMLError as exc:
        raise InputError(f"parameter file {path} is not valid YAML: {one_line(exc)}") from None
    if not isinstance(data, dict):
        raise InputError(f"parameter file {path} must hold a mapping of names to values")
    return data


#: The keys a profile may hold (`plan` documents their meaning).
PROFILE_KEYS: tuple[str, ...] = ("inherits", "sim_size", "cell_timeout_s", "parameters", "stages", "executions")


def read_profile(path: Path, _children: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A profile's mapping with its ``inherits`` chain merged in, so a profile states only how it differs.

    ``inherits: full`` names a profile of the same folder (so relative paths keep their meaning);
    `merge_profile` says how the two combine.
    """
    path = Path(path).resolve()
    if path in _children:
        chain = " -> ".join(p.stem for p in (*_children, path))
        raise InputError(f"profile {_children[0]}: `inherits` goes round in a cycle ({chain})")
    spec = read_yaml(path)
    unknown = sorted(set(spec) - set(PROFILE_KEYS))
    if unknown:
        renamed = "; `data` is now `sim_size`" if "data" in unknown else ""
        raise InputError(f"profile {path}: unknown key(s) {', '.join(unknown)} "
                         f"(a profile holds {', '.join(PROFILE_KEYS)}{renamed})")
    parent_name = spec.pop("inherits", None)
    if parent_name is None:
        return spec
    if not isinstance(parent_name, str) or not parent_name or "/" in parent_name:
        raise InputError(f"profile {path}: `inherits` must name a profile of the same folder (e.g. `inherits: full`)")
    parent = path.parent / f"{parent_name.removesuffix('.yaml')}.yaml"
    if not parent.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.yaml") if p != path)
        raise InputError(
            f"profile {path}: `inherits: {parent_name}` but {parent} does not exist (profiles there: {', '.join(available) or 'none'})"
        )
    return merge_profile(read_profile(parent, (*_children, path)), spec)


def merge_profile(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """The child over its parent: mappings merge key by key (deeply), ``executions`` entry by entry
    matched on ``id`` (a new id is appended), and any other value of the child replaces the parent's."""
    merged = dict(parent)
    for key, value in child.items():
        if key == "executions" and isinstance(value, list) and isinstance(parent.get(key), list):
            merged[key] = _merge_executions(parent[key], value)
        else:
            merged[key] = _deep_merge(parent.get(key), value)
    return merged


def _deep_merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _deep_merge(base.get(k), v) for k, v in over.items()}}
    return over


def _merge_executions(base: list[Any], over: list[Any]) -> list[Any]:
    """Entries of the child with a parent's id change that entry in place; others follow, in the child's order."""
    merged = list(base)
    position = {entry["id"]: i for i, entry in enumerate(base) if isinstance(entry, dict) and "id" in entry}
    for entry in over:
        i = position.get(entry.get("id")) if isinstance(entry, dict) else None
        if i is None:
            merged.append(entry)
        else:
            merged[i] = _deep_merge(merged[i], entry)
    return merged


def load_sweep(path: str | Path) -> Sweep:
    """Read a sweep file: ``params_file`` (the split, relative to the sweep file), ``runs``, an optional
    ``protocol`` (settings shared by every run; a run's own value wins) and an optional ``builds_on``
    (another sweep file, relative to this one: each run then overrides the configuration of that sweep's
    best run, which is known only once that sweep has run; `tables.sweep_variant_config`)."""
    path = Path(path).resolve()
    data = read_yaml(path)
    if "params_file" not in data or not isinstance(data.get("runs"), dict) or not data["runs"]:
        raise InputError(f"sweep file {path} needs `params_file` (the split) and a non-empty `runs` mapping")
    split_file = (path.parent / data["params_file"]).resolve()
    protocol = data.get("protocol") or {}
    if not isinstance(protocol, dict):
        raise InputError(f"sweep file {path}: `protocol` must map parameter names to values")
    runs = {str(name): {**protocol, **(values or {})} for name, values in data["runs"].items()}
    builds_on = (path.parent / data["builds_on"]).resolve() if data.get("builds_on") else None
    if builds_on is not None and not builds_on.is_file():
        raise InputError(f"sweep file {path}: `builds_on: {data['builds_on']}` but {builds_on} does not exist")
    split, name = read_split_file(split_file)
    return Sweep(path=path, split=split, split_name=name, split_file=split_file, runs=runs, protocol=dict(protocol),
                 builds_on=builds_on)


def read_split_file(path: Path) -> tuple[dict[str, Any], str]:
    """A split parameter file's identity (scheme, test_day, val_day) and the name that follows from it."""
    return split_identity(read_yaml(path), where=f"split file {path}")


def split_files(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """Name → identity of every split file of `folder` (default params/splits): the report's splits.

    The one list of splits: the plan's per-split executions, the tables and the
    book read it, so a new split file is all a new split takes. Ordered by scheme
    (as `SCHEMES` lists them), then test day, then validation day.
    """
    found = {name: identity for name, (identity, _) in _split_folder(folder or params_dir() / "splits").items()}
    order = list(SCHEMES)

    def rank(item: tuple[str, dict[str, Any]]) -> tuple[int, int, int]:
        identity = item[1]
        return (order.index(identity["scheme"]), identity.get("test_day") or 0, identity.get("val_day") or 0)

    return dict(sorted(found.items(), key=rank))


def _split_folder(folder: Path) -> dict[str, tuple[dict[str, Any], Path]]:
    """Name → (identity, file) of each split file of a folder. A file must be named after the split it defines:
    a copy whose days were edited but not its name would otherwise merge into another split, unseen."""
    found: dict[str, tuple[dict[str, Any], Path]] = {}
    for path in sorted(folder.glob("*.yaml")):
        identity, name = read_split_file(path)
        if path.stem != name:
            raise InputError(f"split file {path} defines split {name} (scheme {identity['scheme']}, test_day "
                             f"{identity['test_day']}, val_day {identity['val_day']}): rename it {name}.yaml or fix its days")
        found[name] = (identity, path)
    return found


#: Where a profile's split files are, from the profile's folder (params/profiles → params/splits).
SPLITS_FROM_PROFILES = Path("..") / "splits"


def per_split(entry: Any, profile: Path) -> list[Any]:
    """An ``each_split: true`` entry as one entry per split file (id ``<id>_<split>``, in `split_files` order).

    So a new split file is all a new split takes: its prepare and training
    executions follow from it, as its tables and pages do. Other entries pass through.
    """
    if not isinstance(entry, dict) or not entry.get("each_split"):
        return [entry]
    folder = (profile.parent / SPLITS_FROM_PROFILES).resolve()
    paths = {name: path for name, (_, path) in _split_folder(folder).items()}
    rest = {k: v for k, v in entry.items() if k != "each_split"}
    return [{**rest, "id": f"{entry.get('id')}_{name}", "params_file": str(paths[name])} for name in split_files(folder)]


#: What the execution id and run folder of every sweep run start with (a page title tells a sweep run by it).
SWEEP_PREFIX = "sweep_"


def sweep_run_name(run: str) -> str:
    """Execution id and run folder of a sweep run ("A_d1_e20_b128_relu_adam" → "sweep_A_d1_…")."""
    return f"{SWEEP_PREFIX}{run}"


def sweep_run_parameters(sweep: Sweep, run: str) -> dict[str, Any]:
    """A sweep run's settings and run name; for a sweep that builds on another, which file and run to resolve
    at run time (its base configuration is the other sweep's best run, unknown until that sweep has run)."""
    if sweep.builds_on is None:
        return {**sweep.runs[run], "run_name": sweep_run_name(run)}
    return {"sweep_file": str(sweep.path), "sweep_run": run, "run_name": sweep_run_name(run)}


def grid_points(exec_id: str, grid: Any, path: Path) -> dict[str, dict[str, Any]]:
    """Every combination of a ``grid`` mapping (name → list of values), keyed by an id naming it."""
    if not isinstance(grid, dict) or not grid or not all(isinstance(v, list) and v for v in grid.values()):
        raise InputError(f"profile {path}, execution {exec_id}: `grid` must map names to non-empty lists")
    names = list(grid)
    return {
        "_".join([exec_id, *(f"{n}{v}" for n, v in zip(names, values))]): dict(zip(names, values))
        for values in itertools.product(*(grid[n] for n in names))
    }


def calibration_batches(exec_id: str, design_file: str, base: Path) -> dict[str, dict[str, Any]]:
    """One execution per batch of calibration replicates of the design (id <exec_id>_<scenario>_s<first>-<last>)."""
    design = load_design(base / design_file)
    return {
        f"{exec_id}_{batch.id}": {"calibration_file": design_file, "scenario": batch.scenario,
                                  "sim_seeds": list(batch.seeds)}
        for batch in design.batches()
    }


def resolve_file_parameters(params: dict[str, Any], base: Path) -> tuple[dict[str, Any], list[Path]]:
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


def check_cell_timeout(value: Any, where: str) -> float:
    """A per-cell timeout in seconds: a positive number, refused otherwise naming where it was given."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
        raise InputError(f"{where} must be a positive number of seconds (got {value!r})")
    return float(value)
