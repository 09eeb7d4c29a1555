"""Match the calibration replicates' library and line effects to this build's data, and say how.

A null is only a fair yardstick if its studies differ between libraries and
lines as much as the build's data do. Simulated data carry the truth in
``ground_truth.json``. Real data give the library effect (two control
libraries of the same day differ by library alone) but not the line effect,
which is confounded with genotype by the study's design; there the matched
line difference is taken equal to the between-control-library difference,
an assumption the calibration page states, beside the sensitivity curve over
line scales that shows what follows if it is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.tenx import read_gsm
from ..sim.params import LIBRARY_BATCH_LOG_SD, LINE_LOG_SD
from ..sim.worlds import world
from .calibration_design import MATCHED, Scenario

#: Line difference assumed for real data, in units of the between-control-library difference.
REAL_DATA_LINE_UNITS = 1.0


@dataclass(frozen=True)
class MatchedEffects:
    library_effect_scale: float
    line_effect_scale: float  # the simulator's knob
    line_units: float  # the same, in units of the between-control-library difference
    how: str
    effect_scale: float = 0.0  # the simulator's patient knob


def line_scale_for_units(units: float, library_effect_scale: float) -> float:
    """The simulator's line knob that makes the between-line difference `units` between-library differences.

    Both are gene-wise normal signatures, so their differences scale with
    their sds: line sd × line scale = units × library sd × library scale (a
    library scale of 0 is measured against the default library effect).
    """
    library = library_effect_scale if library_effect_scale > 0 else 1.0
    return float(units * library * LIBRARY_BATCH_LOG_SD / LINE_LOG_SD)


def line_units_for_scale(line_effect_scale: float, library_effect_scale: float) -> float:
    return float(line_effect_scale / line_scale_for_units(1.0, library_effect_scale))


def matched_effects(raw_dir: Path, scenario: Scenario) -> MatchedEffects:
    """The library and line effects a scenario's replicates simulate, for this build's data."""
    library, how = matched_library_scale(raw_dir)
    if scenario.world is not None:
        fitted = world(scenario.world, scenario.data)
        units = line_units_for_scale(fitted.line_effect_scale, library)
        return MatchedEffects(library, fitted.line_effect_scale, units,
                              f"Library effects at scale {library:.3g} ({how}); {fitted.words}, fitted to the paper's "
                              f"Table 1 at the {fitted.fitted_size} size: LMNA effect scale {fitted.effect_scale:.3g}, "
                              f"line effect {units:.3g} between-control-library differences.", fitted.effect_scale)
    if scenario.line_units != MATCHED:
        units = float(scenario.line_units)
        line_how = "line effect set by the design"
    else:
        truth = Path(raw_dir) / "ground_truth.json"
        if truth.is_file():
            units = line_units_for_scale(float(json.loads(truth.read_text()).get("line_effect_scale", 0.0)), library)
            line_how = "line effect matched to the simulator's truth of this build's data"
        else:
            units = REAL_DATA_LINE_UNITS
            line_how = ("line effect assumed equal to the between-control-library difference (real data cannot "
                        "separate line from genotype)")
    return MatchedEffects(library, line_scale_for_units(units, library), units,
                          f"Library effects at scale {library:.3g} ({how}); {line_how}: {units:.3g} "
                          "between-control-library differences.", scenario.effect_scale)


#: The two control libraries of one day (day 9, replicates A and B) whose difference is library effect alone.
CONTROL_PAIR: tuple[str, str] = ("GSM8325049", "GSM8325050")
#: Genes need this many counts in each library's pseudobulk for their log ratio to be mostly library, not sampling.
MIN_PSEUDOBULK_COUNTS = 200


def matched_library_scale(raw_dir: Path, pair: tuple[str, str] = CONTROL_PAIR) -> tuple[float, str]:
    """The library-effect scale calibration replicates should use for this build's data, and how it was set.

    Simulated data carry their true scale in ``ground_truth.json``. For real
    data it is estimated from two control libraries of the same day: the
    robust variance of their pseudobulk log ratios over well-expressed genes,
    less the sampling and cell-composition noise measured between random
    halves of each library, is set against what the simulator's library
    signatures give at scale 1 (√2 · `LIBRARY_BATCH_LOG_SD` in sd).
    """
    truth = Path(raw_dir) / "ground_truth.json"
    if truth.is_file():
        scale = float(json.loads(truth.read_text()).get("library_effect_scale", 1.0))
        return scale, "the simulator's own library-effect scale (the truth of this build's data)"
    counts = [read_gsm(raw_dir, gsm).X for gsm in pair]
    a, b = (np.asarray(x.sum(axis=0)).ravel() for x in counts)
    keep = (a >= MIN_PSEUDOBULK_COUNTS) & (b >= MIN_PSEUDOBULK_COUNTS)
    if keep.sum() < 100:
        raise InputError(f"{pair[0]} and {pair[1]} in {raw_dir} share too few well-expressed genes to estimate library effects")
    between = _robust_var(_log_ratio(a, b, keep))
    # Sampling and cell-composition noise, from random halves of each library: a half-vs-half ratio
    # carries twice the noise variance of one full library, and a full-vs-full ratio two libraries' worth.
    rng = np.random.default_rng(0)
    halves = []
    for x in counts:
        order = rng.permutation(x.shape[0])
        first, second = (np.asarray(x[order[i::2]].sum(axis=0)).ravel() for i in (0, 1))
        halves.append(_robust_var(_log_ratio(first, second, keep)))
    noise = sum(halves) / 4
    scale = float(np.sqrt(max(between - noise, 0.0)) / (np.sqrt(2) * LIBRARY_BATCH_LOG_SD))
    return scale, f"estimated from {pair[0]} and {pair[1]} (two day-9 control libraries) of this build's data"


def _log_ratio(a: np.ndarray, b: np.ndarray, keep: np.ndarray) -> np.ndarray:
    return np.log(a[keep] / a.sum()) - np.log(b[keep] / b.sum())


def _robust_var(values: np.ndarray) -> float:
    """Variance from the median absolute deviation (a few genes with real differences do not dominate)."""
    return float((1.4826 * np.median(np.abs(values - np.median(values)))) ** 2)
