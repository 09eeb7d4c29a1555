"""Train Model A or B on one processed split, for several seeds, plus the linear baseline.

The run folder it fills is described in `runs` (which alone writes and reads
it). Speed: the processed matrix is densified once (cells x ~1000 genes fits
in memory) and batches are gathered from it inside a tf.data pipeline, so no
Python runs per batch. Determinism: every seed resets Python/NumPy/TF/Keras
generators, op determinism is on, and the per-epoch shuffle has its own seed.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from .. import paths, provenance, threads
from ..atomic import atomic_path, write_text_atomic
from ..config import TrainConfig, check_seeds
from ..errors import InputError
from ..pp.assemble import ProcessedData, load_processed
from . import runs
from .backend import keras, tf
from .baseline import fit_baseline, fit_pseudobulk
from .evaluate import (
    auc_or_nan,
    day_columns,
    day_logit_columns,
    day_metrics,
    day_probabilities,
    genotype_metrics,
    probability,
    scalar_metrics,
    summarise,
)
from .fused import stock_keras
from .models import check_config, layer_widths
from .networks import PREDICT_BATCH, Logits, Networks

log = logging.getLogger(__name__)

def check_split(data: ProcessedData) -> dict[str, dict[str, int]]:
    """Refuse a split that cannot train or be evaluated, before any training starts.

    Training needs both genotypes; early stopping on validation AUC needs both
    in validation; test needs cells. Returns cells per partition and class.
    """
    name = data.split.get("name", data.path.stem)
    counts = {
        part: {cls: int(((data.obs["partition"] == part) & (data.obs["y_geno"] == y)).sum())
               for cls, y in (("control", 0), ("patient", 1))}
        for part in ("train", "val", "test")
    }
    for part in ("train", "val"):
        if min(counts[part].values()) == 0:
            raise InputError(
                f"split {name} ({data.path}): the {part} part needs both genotypes, "
                f"has control={counts[part]['control']} patient={counts[part]['patient']} cells"
            )
    if sum(counts["test"].values()) == 0:
        raise InputError(f"split {name} ({data.path}): the test part is empty")
    return counts


def make_dataset(
    X: np.ndarray, targets: dict[str, np.ndarray], batch_size: int, shuffle_seed: int | None = None
) -> tf.data.Dataset:
    """Batches gathered from in-memory tensors; reshuffled every epoch from `shuffle_seed`."""
    X_t = tf.constant(X)
    y_t = {k: tf.constant(v) for k, v in targets.items()}
    index = tf.data.Dataset.range(len(X))
    if shuffle_seed is not None:
        index = index.shuffle(len(X), seed=shuffle_seed, reshuffle_each_iteration=True)
    options = tf.data.Options()  # the input pipeline's own pool stays inside the process's thread budget
    options.threading.private_threadpool_size = threads.budget()
    options.threading.max_intra_op_parallelism = 1
    return (
        index.batch(batch_size)
        .map(lambda i: (tf.gather(X_t, i), {k: tf.gather(v, i) for k, v in y_t.items()}))
        .prefetch(tf.data.AUTOTUNE)
        .with_options(options)
    )


def _targets(data: ProcessedData, mask: np.ndarray, model: str) -> dict[str, np.ndarray]:
    targets = {"geno": data.obs["y_geno"].to_numpy()[mask].astype(np.float32)}
    if model == "B":
        targets["day"] = data.obs["y_day"].to_numpy()[mask].astype(np.int32)
    return targets


_A_HISTORY_NAMES = {"auc": "geno_auc", "acc": "geno_acc", "val_auc": "val_geno_auc", "val_acc": "val_geno_acc"}


def _history_frame(history: dict[str, list[float]]) -> pd.DataFrame:
    """Per-epoch log with the same column names for A and B (Keras only prefixes multi-output keys)."""
    df = pd.DataFrame(history).rename(columns=_A_HISTORY_NAMES)
    if "geno_loss" not in df:  # Model A: the loss is the genotype loss
        df["geno_loss"], df["val_geno_loss"] = df["loss"], df["val_loss"]
    df.insert(0, "epoch", np.arange(1, len(df) + 1))
    return df


#: What early stopping monitors: the exact validation AUC computed by `ExactValidationAUC`.
MONITOR = "val_geno_auc_exact"


class ExactValidationAUC(keras.callbacks.Callback):
    """Log the validation genotype AUC from scikit-learn on every cell (`MONITOR`), for early stopping.

    Keras' streaming AUC bins outputs into 200 thresholds, which lumps confident
    outputs together; early stopping should rank epochs by the real AUC.
    """

    def __init__(self, X_val: np.ndarray, y_val: np.ndarray, logits: Logits) -> None:
        super().__init__()
        self.X_val, self.y_val, self.logits = X_val, y_val, logits

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        z = self.logits(self.X_val)["geno"].reshape(-1)
        if logs is not None:
            logs[MONITOR] = auc_or_nan(self.y_val, z, "validation set")


def keras_auc(y_true: np.ndarray, p: np.ndarray) -> float:
    """The AUC Keras' streaming metric reports (200 thresholds over [0, 1], float32 probabilities).

    Kept beside the exact AUC only to show what the paper's code saw: outputs
    beyond the outermost thresholds (about 0.005 and 0.995) are lumped
    together, so a confident model's ranking is partly lost. NaN for one class.
    """
    if len(np.unique(y_true)) < 2:
        return float("nan")
    metric = keras.metrics.AUC(num_thresholds=200)
    metric.update_state(np.asarray(y_true, dtype=np.float32), np.asarray(p, dtype=np.float32))
    return float(metric.result())


def prediction_frame(data: ProcessedData, mask: np.ndarray, logits: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per cell: identity, truth, logits (float64) and the probabilities computed from them."""
    obs = data.obs[mask]
    z = np.asarray(logits["geno"], dtype=np.float64).reshape(-1)
    frame = pd.DataFrame({
        "cell": obs.index.astype(str),
        "gsm": obs["gsm"].to_numpy(),
        "condition": obs["condition"].to_numpy(),
        "day": obs["day"].to_numpy().astype(int),
        "y_true": obs["y_geno"].to_numpy().astype(int),
        "z_geno": z,
        "p_geno": probability(z),
    })
    if "day" in logits:
        frame["y_day"] = obs["y_day"].to_numpy().astype(int)
        z_day = np.asarray(logits["day"], dtype=np.float64)
        frame[day_logit_columns()] = z_day
        frame[day_columns()] = day_probabilities(z_day)
    return frame


@dataclass(frozen=True)
class FittedSeed:
    """One trained network and what it says about the split's cells (nothing written yet)."""

    model: keras.Model
    history: pd.DataFrame
    predictions: pd.DataFrame  # test cells, see `prediction_frame`
    metrics: dict[str, Any]


def fit_seed(data: ProcessedData, config: TrainConfig, networks: Networks | None = None) -> FittedSeed:
    """Train one seed (config.seed) with early stopping on the exact validation AUC, and evaluate it.

    With `networks`, a network of the same shape and config built before is
    reset and reused (the same fit, without rebuilding and retracing it).
    """
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    train, val, test = data.mask("train"), data.mask("val"), data.mask("test")
    model, logits = (networks or Networks()).fresh(data.X.shape[1], config)
    y_val = data.obs["y_geno"].to_numpy()[val].astype(int)
    exact = ExactValidationAUC(data.X[val], y_val, logits)
    stopper = keras.callbacks.EarlyStopping(monitor=MONITOR, mode="max", patience=config.patience,
                                            restore_best_weights=True)
    bar = tqdm(total=config.epochs, desc=f"seed {config.seed}", unit="epoch", leave=False)
    progress = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: (bar.update(1), bar.set_postfix(val_auc=f"{logs[MONITOR]:.3f}"))
    )
    start = time.perf_counter()
    fit = model.fit(
        make_dataset(data.X[train], _targets(data, train, config.model), config.batch_size, shuffle_seed=config.seed),
        validation_data=make_dataset(data.X[val], _targets(data, val, config.model), PREDICT_BATCH),
        epochs=config.epochs,
        shuffle=False,  # the dataset reshuffles itself, from the seed
        callbacks=[exact, stopper, progress],  # exact first: the others read the AUC it logs
        verbose=0,
    )
    train_seconds = time.perf_counter() - start
    bar.close()

    p_val = probability(logits(data.X[val])["geno"].reshape(-1))
    pred = prediction_frame(data, test, logits(data.X[test]))
    metrics = genotype_metrics(pred, y_val, p_val, threshold=config.threshold, loss_geno=config.loss_geno)
    if config.model == "B":
        metrics |= day_metrics(pred, config.loss_w_day, metrics["test_geno_loss"])
    metrics["test_auc_keras"] = keras_auc(pred["y_true"].to_numpy(), pred["p_geno"].to_numpy())
    history = _history_frame(fit.history)
    metrics |= {"best_epoch": stopper.best_epoch + 1, "epochs_run": len(history), "train_seconds": train_seconds}
    return FittedSeed(model, history, pred, metrics)


def train_seed(data: ProcessedData, config: TrainConfig, seed_dir: Path) -> dict[str, Any]:
    """Train one seed (config.seed), evaluate it, write seed_<s>/ (see `runs`); return its metrics.

    model.keras holds the network in Keras's own layers, uncompiled (`fused.stock_keras`), so plain
    `keras.models.load_model` loads it without this package.
    """
    fitted = fit_seed(data, config)
    metrics = fitted.metrics
    runs.write_seed(seed_dir, fitted.history, fitted.predictions, metrics)
    with atomic_path(seed_dir / "model.keras") as tmp:
        stock_keras(fitted.model).save(tmp)
    log.info("seed %d: test AUC %.3f, GSMs right %d/%d, best epoch %d of %d, %.1f s", config.seed,
             metrics["test_auc"], metrics["gsm_correct"], metrics["gsm_total"], metrics["best_epoch"],
             metrics["epochs_run"], metrics["train_seconds"])
    return metrics


def run_baseline(data: ProcessedData, out_dir: Path, seed: int, threshold: float | None = None) -> dict[str, Any]:
    """Logistic regression on the same features and split; same metrics and threshold rule; writes baseline/."""
    train, val, test = data.mask("train"), data.mask("val"), data.mask("test")
    y = data.obs["y_geno"].to_numpy().astype(int)
    start = time.perf_counter()
    model, c = fit_baseline(data.X[train], y[train], data.X[val], y[val], seed=seed)
    seconds = time.perf_counter() - start
    with threads.serial_blas():  # a multithreaded product would move the scores' last bits with --jobs
        z_test, z_val = model.decision_function(data.X[test]), model.decision_function(data.X[val])
    pred = prediction_frame(data, test, {"geno": z_test})
    metrics = genotype_metrics(pred, y[val], probability(z_val), threshold=threshold)
    metrics |= {"C": c, "train_seconds": seconds}
    runs.write_parquet(pred, out_dir / "predictions.parquet")
    runs.write_json(out_dir / "metrics.json", metrics)
    runs.write_json(out_dir / "pseudobulk.json", fit_pseudobulk(data.X, data.obs, seed=seed))
    coefficients = data.genes.assign(coefficient=model.coef_.ravel())
    write_text_atomic(out_dir / "coefficients.csv", coefficients.to_csv(index=False))
    log.info("baseline (logistic regression, C=%g): test AUC %.3f", c, metrics["test_auc"])
    return metrics


def train_run(
    data_path: str | Path,
    run_name: str,
    config: TrainConfig,
    seeds: tuple[int, ...] | list[int] = (42,),
    out_dir: str | Path | None = None,
) -> Path:
    """Train `config` on a processed split once per seed, plus the baseline; return the run folder.

    The run folder is `out_dir/run_name`, by default outputs/runs/<run_name>;
    it is built aside and replaces an earlier run of that name only once complete.
    Bad hyperparameters and unusable splits raise InputError before any training.
    """
    check_config(config)
    seeds = check_seeds(seeds)
    run_dir = Path(out_dir) / paths.check_run_name(run_name) if out_dir is not None else paths.run_dir(run_name)
    data = load_processed(data_path)
    counts = check_split(data)
    log.info("run %s: model %s on %s (%s data), cells %s", run_name, config.model, data.path, data.source, counts)

    run_config = {k: v for k, v in config.to_dict().items() if k != "seed"} | {
        "seeds": seeds,
        "run": run_name,
        "data_path": str(data.path),
        "fingerprint": data.fingerprint,
        "source": data.source,
        "split": data.split,
        "n_genes": int(data.X.shape[1]),
        "layer_widths": list(layer_widths(config)),
        "cells": counts,
        "early_stopping_monitor": f"{MONITOR}: validation genotype ROC-AUC from scikit-learn on every cell, each epoch",
        "provenance": provenance.compact(),
    }
    with runs.building(run_dir) as work:
        runs.write_json(work / "config.json", run_config)
        per_seed = {
            seed: train_seed(data, dataclasses.replace(config, seed=seed), runs.seed_dir(work, seed))
            for seed in tqdm(seeds, desc=f"{run_name} seeds", unit="seed", disable=len(seeds) == 1)
        }
        baseline = run_baseline(data, runs.baseline_dir(work), seed=seeds[0], threshold=config.threshold)
        summary = {
            "run": run_name,
            "model": config.model,
            "seeds": seeds,
            "metrics": summarise(per_seed),
            "baseline": scalar_metrics(baseline),
        }
        runs.write_json(work / "summary.json", summary)
    return run_dir
