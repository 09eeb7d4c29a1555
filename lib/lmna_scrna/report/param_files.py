"""Parameter files of the plan: YAML mappings, split files (a split's identity) and sweep files.

Kept apart from `plan` so a split or sweep file can be read (by notebooks,
tests and the plan alike) with one set of checks and messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError, one_line
from ..paths import require_file
from ..pp.splits import split_identity


@dataclass(frozen=True)
class Sweep:
    """A sweep file: the split every run uses and each run's parameter overrides."""

    path: Path
    split: dict[str, Any]  # the split file's identity: split (kind), test_day, val_day
    split_name: str
    split_file: Path
    runs: dict[str, dict[str, Any]]  # each run's overrides, over the sweep's `protocol`
    protocol: dict[str, Any] = field(default_factory=dict)  # settings every run shares (e.g. dropout 0.0)


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


def load_sweep(path: str | Path) -> Sweep:
    """Read a sweep file: ``params_file`` (the split, relative to the sweep file), ``runs`` and an optional
    ``protocol`` (settings shared by every run; a run's own value wins)."""
    path = Path(path).resolve()
    data = read_yaml(path)
    if "params_file" not in data or not isinstance(data.get("runs"), dict) or not data["runs"]:
        raise InputError(f"sweep file {path} needs `params_file` (the split) and a non-empty `runs` mapping")
    split_file = (path.parent / data["params_file"]).resolve()
    protocol = data.get("protocol") or {}
    if not isinstance(protocol, dict):
        raise InputError(f"sweep file {path}: `protocol` must map parameter names to values")
    runs = {str(name): {**protocol, **(values or {})} for name, values in data["runs"].items()}
    split, name = read_split_file(split_file)
    return Sweep(path=path, split=split, split_name=name, split_file=split_file, runs=runs, protocol=dict(protocol))


def read_split_file(path: Path) -> tuple[dict[str, Any], str]:
    """A split parameter file's identity (split, test_day, val_day) and the name that follows from it."""
    return split_identity(read_yaml(path), where=f"split file {path}")


def sweep_run_name(run: str) -> str:
    """Execution id and run folder of a sweep run ("A_d1_e20_b128_relu_adam" → "sweep_A_d1_…")."""
    return f"sweep_{run}"
