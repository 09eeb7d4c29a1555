"""The run folder: the one place that writes, publishes and reads ``outputs/runs/<run>/``.

Layout (summary.json last, so its presence marks a finished run)::

    config.json            hyperparameters, seeds, data path, dataset fingerprint, split, cell counts, and
                           provenance (`provenance.compact`: key package versions, CPU, threads, commit)
    summary.json           mean, sd, values over seeds of every scalar metric, + baseline metrics
    seed_<s>/model.keras   weights restored from the best validation-AUC epoch
    seed_<s>/history.csv   per-epoch train/validation loss, geno_auc, geno_acc (+ day_* for B)
    seed_<s>/predictions.parquet   test cells: cell, gsm, condition, day, y_true, z_geno (logit), p_geno
                           (+ y_day, z_day_*, p_day_* for B); probabilities computed from the logits in float64
    seed_<s>/metrics.json  see evaluate.genotype_metrics (+ day metrics for B, best_epoch, epochs_run, train_seconds)
    baseline/{metrics.json, predictions.parquet}   logistic regression on the same features and split
    baseline/pseudobulk.json   the library-level baseline: per-GSM scores of a logistic regression on mean profiles
    baseline/coefficients.csv  the cell-level logistic regression's coefficient per gene (gene_id, symbol)

A run is built in a hidden sibling folder and swapped in whole when it is
complete (`building`): a failed or interrupted re-run never leaves a mix of
new and old seeds that looks finished, and never destroys the last good run.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..atomic import atomic_path, note_published, refuse_if_written, sole_writer, write_text_atomic
from ..errors import InputError
from ..paths import check_run_name, shown_path

log = logging.getLogger(__name__)

#: Prefix of the hidden folders a run is built in (and of the old run while it is swapped out).
_BUILDING = ".building-"


def run_name(split: str, model: str) -> str:
    """Run folder of a split's main training: outputs/runs/<split>_<model>."""
    return f"{split}_{model}"


def seed_dir(run_dir: Path, seed: int) -> Path:
    return run_dir / f"seed_{seed}"


def baseline_dir(run_dir: Path) -> Path:
    return run_dir / "baseline"


@contextmanager
def building(run_dir: Path) -> Iterator[Path]:
    """Yield a hidden folder to build a run in; on success it replaces ``run_dir`` whole.

    One writer per run at a time (`atomic.sole_writer`): a second one is refused
    with one line instead of deleting the first one's build. Holding the lock,
    any other build folder of this run is a killed writer's and is removed. On
    failure the partial build is removed and ``run_dir`` is untouched.
    """
    run_dir = Path(run_dir)
    check_run_name(run_dir.name)
    with sole_writer(run_dir, _writer_what(run_dir)):
        for stale in run_dir.parent.glob(f"{_BUILDING}{glob.escape(run_dir.name)}.*"):
            log.info("removing %s, left by a killed run", stale)
            shutil.rmtree(stale, ignore_errors=True)
        work = run_dir.parent / f"{_BUILDING}{run_dir.name}.{os.getpid()}"
        work.mkdir()
        try:
            yield work
            old = run_dir.parent / f"{_BUILDING}{run_dir.name}.{os.getpid()}.old"
            if run_dir.exists():
                os.replace(run_dir, old)
            os.replace(work, run_dir)
            note_published(run_dir)  # the runner's ledger records which run this execution left
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def refuse_if_building(run_dir: Path) -> None:
    """Refuse now, as `building` would, if another process is building this run (a cheap early check)."""
    refuse_if_written(run_dir, _writer_what(run_dir))


def _writer_what(run_dir: Path) -> str:
    return f"run {run_dir.name} ({shown_path(run_dir)})"


def to_json(obj: Any) -> str:
    """JSON with NaN/inf written as null (strict JSON; undefined metrics stay visible as null)."""

    def clean(x: Any) -> Any:
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple, np.ndarray)):
            return [clean(v) for v in x]
        if isinstance(x, (float, np.floating)):
            return float(x) if math.isfinite(x) else None
        if isinstance(x, np.integer):
            return int(x)
        if isinstance(x, np.bool_):
            return bool(x)
        if isinstance(x, Path):
            return str(x)
        return x

    return json.dumps(clean(obj), indent=2, allow_nan=False) + "\n"


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_json(path: Path, obj: Any) -> None:
    """Strict JSON (NaN as null) written atomically."""
    write_text_atomic(path, to_json(obj))


def write_seed(folder: Path, history: pd.DataFrame, predictions: pd.DataFrame, metrics: dict[str, Any]) -> None:
    """One seed's history, test predictions and metrics (the model is saved by the trainer)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / "history.csv", history.to_csv(index=False))
    write_parquet(predictions, folder / "predictions.parquet")
    write_json(folder / "metrics.json", metrics)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise InputError(f"{path} does not exist: the run is missing or did not finish")
    return json.loads(path.read_text())


def load_run(run_dir: str | Path) -> dict[str, Any]:
    """Read a finished run folder (the report's only way into runs).

    Returns name, path, config (config.json), summary (summary.json), metrics
    ({seed: metrics.json}), histories ({seed: DataFrame}), predictions (test
    cells of every seed: seed, cell, gsm, condition, day, y_true, p_geno, …),
    baseline (metrics) and baseline_predictions.
    """
    run_dir = Path(run_dir)
    summary = _read_json(run_dir / "summary.json")
    config = _read_json(run_dir / "config.json")
    seeds = [int(s) for s in config["seeds"]]
    metrics, histories, preds = {}, {}, []
    for seed in seeds:
        folder = seed_dir(run_dir, seed)
        metrics[seed] = _read_json(folder / "metrics.json")
        histories[seed] = pd.read_csv(folder / "history.csv")
        preds.append(pd.read_parquet(folder / "predictions.parquet").assign(seed=seed))
    predictions = pd.concat(preds, ignore_index=True)
    predictions = predictions[["seed", *[c for c in predictions.columns if c != "seed"]]]
    return {
        "name": run_dir.name,
        "path": run_dir,
        "config": config,
        "summary": summary,
        "metrics": metrics,
        "histories": histories,
        "predictions": predictions,
        "baseline": _read_json(baseline_dir(run_dir) / "metrics.json"),
        "baseline_predictions": pd.read_parquet(baseline_dir(run_dir) / "predictions.parquet"),
        "pseudobulk": _read_json(baseline_dir(run_dir) / "pseudobulk.json"),
    }
