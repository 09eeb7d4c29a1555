"""One calibration replicate: simulate a study with a known effect, run the report's protocol, score it.

With 12 libraries a day-matched AUC of 0.8 could come from library effects
alone. The simulator knows the truth, so the protocol can be run on data with
no genotype effect (the null) and with scaled effects (power): how often would
the report's own decision rules claim a genotype signal? Each replicate is one
notebook execution (`07_calibration_replicate`), so the runner's process pool
or Dask cluster runs them side by side and its ledger skips finished ones.

The protocol is the report's: the leave-one-day-out folds, preprocessing
fitted on training libraries, Model A, and the two decisions the report makes —
the fold interval of the day-matched test AUC excluding 0.5 (`inference.RULE`
applied to AUC − 0.5), and the pooled library ranking's exact permutation
p-value at or below `ALPHA`.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_text_atomic
from ..config import PrepParams, TrainConfig
from ..errors import InputError
from ..io.sim_params import LIBRARY_BATCH_LOG_SD
from ..io.simulation import simulate
from ..io.study import load_samples
from ..io.tenx import read_gsm
from ..pp.assemble import prepare_split
from ..pp.splits import leave_one_day_out
from .inference import fold_interval, gsm_auc, ranking_permutation_test
from .runs import load_run, run_name
from .train import train_run

log = logging.getLogger(__name__)

#: Significance level of the library-ranking decision.
ALPHA = 0.05
#: Simulation size of every replicate (`io.sim_params.PROFILES`).
SIM_PROFILE = "calibration"
RESULT_FILE = "result.json"


def replicate_id(effect_scale: float, sim_seed: int, library_effect_scale: float = 1.0) -> str:
    """Folder name of a replicate, e.g. "e0.25_l1_s3"."""
    return f"e{effect_scale:g}_l{library_effect_scale:g}_s{sim_seed}"


def run_replicate(
    out_dir: Path,
    effect_scale: float,
    sim_seed: int,
    library_effect_scale: float = 1.0,
    prep: PrepParams = PrepParams(),
    config: TrainConfig = TrainConfig(),
    seeds: tuple[int, ...] = (42,),
) -> dict[str, Any]:
    """Simulate, prepare every leave-one-day-out fold, train Model A, score; write and return the result.

    Bulky intermediates (raw files, cache, processed splits) are removed once
    scored; ``result.json`` is written last, so its presence marks a finished
    replicate.
    """
    out_dir = Path(out_dir)
    raw = simulate(out_dir / "data", profile=SIM_PROFILE, seed=sim_seed, effect_scale=effect_scale,
                   library_effect_scale=library_effect_scale)
    sheet = load_samples()
    folds = []
    for fold in leave_one_day_out(sheet):
        path = prepare_split(raw, fold, sheet, prep, out_dir / "processed" / f"{fold.name}.h5ad", cache_dir=out_dir / "cache")
        run = load_run(train_run(path, run_name(fold.name, "A"), config, seeds=seeds, out_dir=out_dir / "runs"))
        folds.append(_fold_result(fold.name, run))
    result = {
        "effect_scale": effect_scale, "library_effect_scale": library_effect_scale, "sim_seed": sim_seed,
        "folds": folds, **decide(folds),
    }
    for bulky in ("data", "cache", "processed"):
        shutil.rmtree(out_dir / bulky, ignore_errors=True)
    write_text_atomic(out_dir / RESULT_FILE, json.dumps(result, indent=2) + "\n")
    log.info("replicate %s: mean AUC %.3f, ranking p %.3f", out_dir.name, result["mean_auc"], result["ranking_p"])
    return result


def _fold_result(split: str, run: dict[str, Any]) -> dict[str, Any]:
    """A fold's test AUC (mean over seeds) and its libraries' scores (mean patient probability)."""
    rows = [g for m in run["metrics"].values() for g in m["gsm"]]
    gsms = sorted({r["gsm"] for r in rows})
    scores = [float(np.mean([r["mean_p"] for r in rows if r["gsm"] == g])) for g in gsms]
    labels = [int(next(r["y_true"] for r in rows if r["gsm"] == g)) for g in gsms]
    return {
        "split": split,
        "test_auc": float(np.mean([m["test_auc"] for m in run["metrics"].values()])),
        "gsms": gsms, "scores": scores, "labels": labels,
        "gsm_auc": gsm_auc(np.array(scores), np.array(labels)),
    }


def decide(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's two decisions on one set of folds: AUC interval above 0.5; library ranking p ≤ ALPHA."""
    auc = fold_interval([f["test_auc"] for f in folds])
    ranking = ranking_permutation_test([(np.array(f["scores"]), np.array(f["labels"])) for f in folds])
    return {
        "mean_auc": auc.mean, "auc_ci_lo": auc.lo, "auc_ci_hi": auc.hi,
        "auc_decision": bool(auc.lo > 0.5),
        "ranking_pairs_right": ranking.pairs_right, "ranking_pairs_total": ranking.pairs_total,
        "ranking_p": ranking.p_value, "ranking_decision": bool(ranking.p_value <= ALPHA),
    }


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


def load_result(out_dir: Path) -> dict[str, Any]:
    path = Path(out_dir) / RESULT_FILE
    if not path.is_file():
        raise InputError(f"calibration replicate {path} does not exist: run its 07_calibration_replicate execution")
    return json.loads(path.read_text())
