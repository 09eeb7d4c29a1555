"""The calibration's design: which simulated studies are run, how many of each, in which batches.

One file (``params/calibration/<profile>.yaml``) is read by the report's plan
(one notebook execution per batch of replicates), by every replicate (which
seeds it runs) and by the calibration page (which results it reads), so a
count changes in one place. Light on imports: the plan reads it without
starting TensorFlow.

Scenarios, each a set of simulated studies with known effects:

* ``null``: no genotype and no line effect — only days and libraries differ;
* ``line``: no genotype effect, but a per-line signature shared by every
  library of a cell line (the confound of this study: one patient line
  against two sister lines). ``line_units`` measures it in units of the
  between-control-library difference; ``matched`` takes the build's own;
* ``power``: a planted genotype effect (``effect_scale``) and no line effect;
* ``size``: the null at a larger simulated size, to show that the null's AUC
  distribution does not move with the replicates' reduced size.

A scenario may instead name a fitted ``world`` (``params/worlds.yaml``): world
L (a line effect, no LMNA effect) plays the ``line`` role, world G (an LMNA
effect, no line effect) the ``power`` role, each with the effect scales fitted
to the paper's Table 1. ``table1: true`` makes its replicates also train Model
A on the original split and Model B on the paper's splits, so the paper's
Table 1 can be shown beside each world. A ``donors`` scenario (role
``donors``, a ``world`` and ``donors: D``) simulates a study with D donors per
genotype, each its own iPSC line, and holds donors out (`tl.donors`): how many
donors a genotype claim would need.

Replicate k of every scenario uses simulation seed ``first_seed + k``:
scenarios share their random draws (common random numbers), so a curve over
line scales compares like with like.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..paths import calibration_dir
from ..sim.params import SIM_SIZES
from ..sim.worlds import WORLDS

#: The roles a scenario can play on the calibration page.
ROLES: tuple[str, ...] = ("null", "line", "power", "size", "donors")
#: Replicates needed for an empirical p to reach 0.05: with n replicates the smallest p is 1 / (n + 1).
MIN_REPLICATES_FOR_P05 = 19
MATCHED = "matched"
#: A replicate's folder holds this file once it finished.
RESULT_FILE = "result.json"


@dataclass(frozen=True)
class Scenario:
    """One kind of simulated study and how many replicates of it are run."""

    name: str
    role: str
    effect_scale: float  # multiplies the planted genotype effect (0: none)
    line_units: float | str  # line effect in between-control-library units, or MATCHED to the build's data
    replicates: int
    data: str  # simulation size (`sim.params.SIM_SIZES`)
    world: str | None = None  # a fitted world of `sim.worlds` whose scales replace effect_scale and line_units
    table1: bool = False  # also train the paper's Table 1 rows (Model A original, Model B on the paper's splits)
    donors: int = 0  # donors per genotype of a donors scenario's studies (0: the 12-library study itself)


@dataclass(frozen=True)
class Batch:
    """Replicates one notebook execution runs (kernel start and imports are paid once per batch)."""

    scenario: str
    seeds: tuple[int, ...]

    @property
    def id(self) -> str:
        return f"{self.scenario}_s{self.seeds[0]}-{self.seeds[-1]}"


@dataclass(frozen=True)
class CalibrationDesign:
    path: Path
    scenarios: tuple[Scenario, ...]
    batch_size: int
    first_seed: int

    def scenario(self, name: str) -> Scenario:
        for c in self.scenarios:
            if c.name == name:
                return c
        raise InputError(f"calibration design {self.path}: no scenario {name!r} "
                         f"(it has {', '.join(c.name for c in self.scenarios)})")

    def seeds(self, scenario: Scenario) -> tuple[int, ...]:
        return tuple(range(self.first_seed, self.first_seed + scenario.replicates))

    def batches(self) -> list[Batch]:
        """Every scenario's seeds cut into batches of at most `batch_size`."""
        out = []
        for c in self.scenarios:
            seeds = self.seeds(c)
            out += [Batch(c.name, seeds[i : i + self.batch_size]) for i in range(0, len(seeds), self.batch_size)]
        return out

    def replicates(self) -> int:
        return sum(c.replicates for c in self.scenarios)


def replicate_dir(scenario: str, sim_seed: int) -> Path:
    """outputs/calibration/<scenario>/s<seed>/ (its result.json marks a finished replicate)."""
    return calibration_dir(scenario) / f"s{sim_seed}"


def load_design(path: str | Path) -> CalibrationDesign:
    """Read and check a calibration design file; every error names the file and the field."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"calibration design {path} cannot be read: {exc}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("scenarios"), list) or not spec["scenarios"]:
        raise InputError(f"calibration design {path}: needs a non-empty `scenarios` list")
    batch_size = _positive_int(spec.get("batch_size", 10), "batch_size", path)
    first_seed = _positive_int(spec.get("first_seed", 1), "first_seed", path)
    scenarios = tuple(_scenario(c, i, path) for i, c in enumerate(spec["scenarios"], start=1))
    names = [c.name for c in scenarios]
    if len(set(names)) != len(names):
        raise InputError(f"calibration design {path}: scenario names must be unique (got {', '.join(names)})")
    if "null" not in {c.role for c in scenarios}:
        raise InputError(f"calibration design {path}: needs a scenario with role `null`")
    return CalibrationDesign(path, scenarios, batch_size, first_seed)


def _scenario(entry: Any, number: int, path: Path) -> Scenario:
    where = f"calibration design {path}, scenario {number}"
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
        raise InputError(f"{where}: needs a `name`")
    where = f"{where} ({entry['name']})"
    role = entry.get("role")
    if role not in ROLES:
        raise InputError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
    effect = _scale(entry.get("effect_scale", 0.0), "effect_scale", where)
    units = entry.get("line_units", 0.0)
    if units != MATCHED:
        units = _scale(units, "line_units", where)
    world = entry.get("world")
    if world is not None:
        roles = {"L": "line", "G": "power"}
        if world not in WORLDS:
            raise InputError(f"{where}: world {world!r} is not one of {', '.join(WORLDS)}")
        if role not in (roles[world], "donors") or "effect_scale" in entry or "line_units" in entry:
            raise InputError(f"{where}: world {world} plays role {roles[world]} and takes its effects from the "
                             "worlds file (no effect_scale or line_units)")
    table1 = entry.get("table1", False)
    if not isinstance(table1, bool):
        raise InputError(f"{where}: table1={table1!r} must be true or false")
    if role in ("null", "size") and (effect != 0 or units != 0):
        raise InputError(f"{where}: a {role} scenario has effect_scale 0 and line_units 0")
    data = entry.get("data", "calibration")
    if data not in SIM_SIZES:
        raise InputError(f"{where}: data {data!r} is not a simulation size ({', '.join(SIM_SIZES)})")
    donors = entry.get("donors", 0)
    if (role == "donors") != bool(donors) or (role == "donors" and world is None):
        raise InputError(f"{where}: a donors scenario has role donors, a world and `donors` (donors per genotype)")
    if donors:
        donors = _positive_int(donors, "donors", where)
    replicates = _positive_int(entry.get("replicates"), "replicates", where)
    return Scenario(entry["name"], role, effect, units, replicates, data, world, table1, donors)


def _scale(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise InputError(f"{where}: {name}={value!r} must be a finite number >= 0")
    return float(value)


def _positive_int(value: Any, name: str, where: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{where}: {name}={value!r} must be an integer >= 1")
    return value


def load_result(scenario: str, sim_seed: int) -> dict[str, Any]:
    """A finished replicate's result.json; a missing one names the execution that writes it."""
    path = replicate_dir(scenario, sim_seed) / RESULT_FILE
    if not path.is_file():
        raise InputError(f"calibration replicate {path} does not exist: run its 07_calibration_replicate execution")
    return json.loads(path.read_text())
