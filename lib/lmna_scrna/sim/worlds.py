"""The simulator's two fitted worlds, read from ``params/worlds.yaml`` (written by `lmna-scrna fit-worlds`).

The paper's Table 1 can be reproduced by two opposite truths: an LMNA effect
and no line effect (world **G**), or a line effect and no LMNA effect (world
**L**). `tl.world_fit` fits one knob of the simulator per world so that the
report's protocol lands on the paper's numbers, and commits the result here
with the command that refits it. Everything that simulates a world (the
default data, the calibration's world scenarios, the donors page) reads its
scales from this file, never from a typed number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..paths import params_dir, require_file
from .params import GENERATOR_VERSION

#: The two worlds: which effect each plants, and the knob the fit moves.
WORLDS: dict[str, str] = {"G": "effect_scale", "L": "line_effect_scale"}
WORLD_WORDS: dict[str, str] = {
    "G": "world G (an LMNA effect, no line effect)",
    "L": "world L (a line effect, no LMNA effect)",
}
#: The size whose fit every other size falls back to (the size the world replicates run at).
FALLBACK_SIZE = "calibration"


def worlds_path() -> Path:
    return params_dir() / "worlds.yaml"


@dataclass(frozen=True)
class World:
    """One fitted world at one simulation size: the simulator's effect scales, and the size they were fitted at."""

    name: str
    effect_scale: float
    line_effect_scale: float
    fitted_size: str

    @property
    def words(self) -> str:
        return WORLD_WORDS[self.name]


def load_worlds(path: Path | None = None) -> dict[str, Any]:
    """The committed fit; refused when it was made by another generator version (the scales would not hold)."""
    path = require_file(path or worlds_path(), "fitted worlds file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"fitted worlds file {path} cannot be read: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("fits"), dict) or not data["fits"]:
        raise InputError(f"fitted worlds file {path}: needs a `fits` mapping (refit: lmna-scrna fit-worlds)")
    if data.get("generator_version") != GENERATOR_VERSION:
        raise InputError(
            f"fitted worlds file {path} was fitted with simulator {data.get('generator_version')!r}, this is "
            f"{GENERATOR_VERSION!r}: refit with `{data.get('refit', 'lmna-scrna fit-worlds')}`"
        )
    return data


def world(name: str, size: str, path: Path | None = None) -> World:
    """World `name`'s effect scales for data of `size`: its own fit, else the fit at `FALLBACK_SIZE`."""
    if name not in WORLDS:
        raise InputError(f"unknown world {name!r}; expected one of {', '.join(WORLDS)}")
    fits = load_worlds(path)["fits"]
    fitted = size if size in fits else FALLBACK_SIZE
    try:
        entry = fits[fitted]["worlds"][name]
        return World(name, float(entry["effect_scale"]), float(entry["line_effect_scale"]), fitted)
    except (KeyError, TypeError, ValueError):
        raise InputError(f"fitted worlds file {path or worlds_path()}: no fit of world {name} at size {fitted}") from None


def default_world(size: str, path: Path | None = None) -> World:
    """The world the default simulated data are drawn from (the file's `default_world`)."""
    return world(str(load_worlds(path).get("default_world", "G")), size, path)
