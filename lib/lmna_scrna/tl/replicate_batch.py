"""Run (or reuse) one batch of simulated-study replicates of a design's scenario, one result.json each.

A scenario either runs the report's leave-one-day-out protocol on the
12-library study (`calibration.run_replicate`) or, with ``donors: D``, a
D-donors-per-genotype study with donors held out (`donors.run_donor_replicate`).
Both are stored the same way, so the design file's ``replicates`` and
``batch_size`` raise either count for a cluster, and an interrupted batch
resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..atomic import write_text_atomic
from ..config import PrepParams, TrainConfig
from . import calibration, donors
from .calibration import ReplicateSpec, spec_record
from .calibration_design import RESULT_FILE, Scenario, replicate_dir
from .networks import Networks

__all__ = ["run_batch"]

log = logging.getLogger(__name__)


def run_batch(
    scenario: Scenario,
    sim_seeds: Sequence[int],
    library_effect_scale: float,
    line_effect_scale: float,
    prep: PrepParams = PrepParams(),
    config: TrainConfig = TrainConfig(),
    seeds: Sequence[int] = (42,),
    effect_scale: float | None = None,
) -> list[dict[str, Any]]:
    """Run (or reuse) the replicates of one scenario for these simulation seeds, one result.json each.

    A stored result is reused only if it was made with the same spec, network,
    training seeds and preprocessing. ``effect_scale`` (a fitted world's)
    replaces the scenario's own. A donors scenario trains one seed, the first of `seeds`.
    """
    patient = scenario.effect_scale if effect_scale is None else effect_scale
    results, networks = [], Networks()
    for sim_seed in tqdm(sim_seeds, desc=f"{scenario.name} replicates", unit="replicate"):
        spec = ReplicateSpec(scenario.name, int(sim_seed), scenario.data, patient, line_effect_scale,
                             library_effect_scale, scenario.table1)
        expected, run = _replicate(scenario, spec, prep, config, seeds, networks)
        folder = replicate_dir(scenario.name, int(sim_seed))
        stored = _stored(folder, expected)
        if stored is None:
            text = json.dumps(run(), indent=1) + "\n"
            write_text_atomic(folder / RESULT_FILE, text)
            stored = json.loads(text)  # what a later reuse reads back (tuples as lists)
            log.info("replicate %s s%d: mean AUC %.3f", scenario.name, sim_seed, stored["mean_auc"])
        results.append(stored)
    return results


def _replicate(
    scenario: Scenario, spec: ReplicateSpec, prep: PrepParams, config: TrainConfig, seeds: Sequence[int],
    networks: Networks,
) -> tuple[dict[str, Any], Callable[[], dict[str, Any]]]:
    """The spec a stored result must match, and the call that makes a new one, for this scenario's kind."""
    if scenario.donors:
        d, seeded = scenario.donors, dataclasses.replace(config, seed=int(seeds[0]))
        args = (d, spec.sim_seed, spec.effect_scale, spec.line_effect_scale, spec.data)
        return (donors.donor_spec_record(*args, prep, seeded),
                lambda: donors.run_donor_replicate(*args, prep, seeded, networks))
    return (spec_record(spec, prep, config, seeds),
            lambda: calibration.run_replicate(spec, prep, config, seeds, networks))


def _stored(folder: Path, spec: dict[str, Any]) -> dict[str, Any] | None:
    path = folder / RESULT_FILE
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return result if result.get("spec") == json.loads(json.dumps(spec)) else None
