"""Train Model A or B on one processed split, for several seeds, and write the run folder.

Layout of outputs/runs/<run>/ (every file written atomically; summary.json
last, so its presence marks a finished run):

    config.json            hyperparameters, seeds, data path, dataset fingerprint, split, cell counts
    summary.json           mean, sd, values over seeds of every scalar metric, + baseline metrics
    seed_<s>/model.keras   weights restored from the best validation-AUC epoch
    seed_<s>/history.csv   per-epoch train/validation loss, geno_auc, geno_acc (+ day_* for B)
    seed_<s>/predictions.parquet   test cells: cell, gsm, condition, day, y_true, p_geno (+ y_day, p_day_* for B)
    seed_<s>/metrics.json  see evaluate.genotype_metrics (+ day metrics for B, best_epoch, epochs_run, train_seconds)
    seed_<s>/*.png         see plots.seed_figures
    baseline/{metrics.json, predictions.parquet}   logistic regression on the same features and split

Speed: the processed matrix is densified once (cells x ~1000 genes fits in
memory) and batches are gathered from it inside a tf.data pipeline, so no
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

import anndata as ad
import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.sparse as sp
import sklearn
import tensorflow as tf
from tqdm import tqdm

from . import paths, plots
from .atomic import atomic_path, write_text_atomic
from .baseline import fit_baseline
from .config import TrainConfig
from .errors import InputError, one_line
from .evaluate import day_columns, day_metrics, genotype_metrics, scalar_metrics, summarise, to_json
from .models import build_model, check_config

log = logging.getLogger(__name__)

REQUIRED_OBS: tuple[str, ...] = ("gsm", "condition", "day", "split", "y_geno", "y_day")
PREDICT_BATCH = 4096


@dataclass(frozen=True)
class ProcessedData:
    """A processed split held in memory: dense float32 features plus the cell table."""

    path: Path
    X: np.ndarray
    obs: pd.DataFrame
    fingerprint: str
    source: str
    split: dict[str, Any]

    def mask(self, part: str) -> np.ndarray:
        return (self.obs["split"] == part).to_numpy()


def resolve_data_path(data_path: str | Path | None, split_name: str) -> Path:
    """The processed file a training notebook reads; if missing, say which command writes it."""
    path = Path(data_path) if data_path is not None else paths.processed_path(split_name)
    if not path.is_file():
        raise InputError(
            f"processed split {path} does not exist; write it with `papermill notebooks/01_prepare.ipynb "
            f"outputs/notebooks/01_prepare_{split_name}.ipynb -f params/splits/{split_name}.yaml` (or `make report`)"
        )
    return path


def load_processed(path: str | Path) -> ProcessedData:
    """Read a processed .h5ad (schema of the preprocessing contract) and densify X once."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"processed data {path} does not exist")
    try:
        adata = ad.read_h5ad(path)
    except (OSError, KeyError, ValueError, TypeError) as exc:  # not HDF5, or HDF5 without AnnData's groups
        raise InputError(f"processed data {path} is not a readable .h5ad ({one_line(exc)})") from None
    missing = [c for c in REQUIRED_OBS if c not in adata.obs]
    if missing:
        raise InputError(f"processed data {path} lacks obs column(s) {', '.join(missing)}")
    X = adata.X.toarray() if sp.issparse(adata.X) else np.asarray(adata.X)
    obs = adata.obs[list(REQUIRED_OBS)].copy()
    obs["split"] = obs["split"].astype(str)
    obs["gsm"] = obs["gsm"].astype(str)
    obs["condition"] = obs["condition"].astype(str)
    return ProcessedData(
        path=path,
        X=np.ascontiguousarray(X, dtype=np.float32),
        obs=obs,
        fingerprint=str(adata.uns.get("fingerprint", "")),
        source=str(adata.uns.get("source", "unknown")),
        split=dict(adata.uns.get("split", {})),
    )


def check_split(data: ProcessedData) -> dict[str, dict[str, int]]:
    """Refuse a split that cannot train or be evaluated, before any training starts.

    Training needs both genotypes; early stopping on validation AUC needs both
    in validation; test needs cells. Returns cells per partition and class.
    """
    name = data.split.get("name", data.path.stem)
    counts = {
        part: {cls: int(((data.obs["split"] == part) & (data.obs["y_geno"] == y)).sum())
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
    return (
        index.batch(batch_size)
        .map(lambda i: (tf.gather(X_t, i), {k: tf.gather(v, i) for k, v in y_t.items()}))
        .prefetch(tf.data.AUTOTUNE)
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


def _predict(model: keras.Model, X: np.ndarray) -> dict[str, np.ndarray]:
    return model.predict(tf.data.Dataset.from_tensor_slices(X).batch(PREDICT_BATCH), verbose=0)


def prediction_frame(data: ProcessedData, mask: np.ndarray, out: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per cell: identity, truth and predicted probabilities."""
    obs = data.obs[mask]
    frame = pd.DataFrame({
        "cell": obs.index.astype(str),
        "gsm": obs["gsm"].to_numpy(),
        "condition": obs["condition"].to_numpy(),
        "day": obs["day"].to_numpy().astype(int),
        "y_true": obs["y_geno"].to_numpy().astype(int),
        "p_geno": np.asarray(out["geno"], dtype=np.float64).reshape(-1),
    })
    if "day" in out:
        frame["y_day"] = obs["y_day"].to_numpy().astype(int)
        p_day = np.asarray(out["day"], dtype=np.float64)
        frame[day_columns()] = p_day / p_day.sum(axis=1, keepdims=True)  # exact sums for log_loss
    return frame


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def train_seed(data: ProcessedData, config: TrainConfig, seed_dir: Path) -> dict[str, Any]:
    """Train one seed (config.seed), evaluate it, write seed_<s>/; return its metrics."""
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    train, val, test = data.mask("train"), data.mask("val"), data.mask("test")
    model = build_model(data.X.shape[1], config)
    monitor = "val_geno_auc" if config.model == "B" else "val_auc"
    stopper = keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=config.patience,
                                            restore_best_weights=True)
    bar = tqdm(total=config.epochs, desc=f"seed {config.seed}", unit="epoch", leave=False)
    progress = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: (bar.update(1), bar.set_postfix(val_auc=f"{logs[monitor]:.3f}"))
    )
    start = time.perf_counter()
    fit = model.fit(
        make_dataset(data.X[train], _targets(data, train, config.model), config.batch_size, shuffle_seed=config.seed),
        validation_data=make_dataset(data.X[val], _targets(data, val, config.model), PREDICT_BATCH),
        epochs=config.epochs,
        shuffle=False,  # the dataset reshuffles itself, from the seed
        callbacks=[stopper, progress],
        verbose=0,
    )
    train_seconds = time.perf_counter() - start
    bar.close()

    p_val = _predict(model, data.X[val])["geno"].reshape(-1)
    pred = prediction_frame(data, test, _predict(model, data.X[test]))
    metrics = genotype_metrics(pred, data.obs["y_geno"].to_numpy()[val].astype(int), p_val)
    if config.model == "B":
        metrics |= day_metrics(pred, config.loss_w_day, metrics["test_geno_loss"])
    history = _history_frame(fit.history)
    metrics |= {"best_epoch": stopper.best_epoch + 1, "epochs_run": len(history), "train_seconds": train_seconds}

    seed_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(seed_dir / "model.keras") as tmp:
        model.save(tmp)
    write_text_atomic(seed_dir / "history.csv", history.to_csv(index=False))
    _write_parquet(pred, seed_dir / "predictions.parquet")
    write_text_atomic(seed_dir / "metrics.json", to_json(metrics))
    for fig in plots.seed_figures(history, pred, metrics, out_dir=seed_dir).values():
        plt.close(fig)
    log.info("seed %d: test AUC %.3f, GSMs right %d/%d, best epoch %d of %d, %.1f s", config.seed,
             metrics["test_auc"], metrics["gsm_correct"], metrics["gsm_total"], metrics["best_epoch"],
             metrics["epochs_run"], train_seconds)
    return metrics


def run_baseline(data: ProcessedData, out_dir: Path, seed: int) -> dict[str, Any]:
    """Logistic regression on the same features and split; same metrics; writes baseline/."""
    train, val, test = data.mask("train"), data.mask("val"), data.mask("test")
    y = data.obs["y_geno"].to_numpy().astype(int)
    start = time.perf_counter()
    model, c = fit_baseline(data.X[train], y[train], data.X[val], y[val], seed=seed)
    seconds = time.perf_counter() - start
    pred = prediction_frame(data, test, {"geno": model.predict_proba(data.X[test])[:, 1]})
    metrics = genotype_metrics(pred, y[val], model.predict_proba(data.X[val])[:, 1])
    metrics |= {"C": c, "train_seconds": seconds}
    _write_parquet(pred, out_dir / "predictions.parquet")
    write_text_atomic(out_dir / "metrics.json", to_json(metrics))
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

    The run folder is `out_dir/run_name`, by default outputs/runs/<run_name>.
    Bad hyperparameters and unusable splits raise InputError before any training.
    """
    check_config(config)
    if not seeds:
        raise InputError("seeds: at least one seed is needed")
    seeds = [int(s) for s in seeds]
    run_dir = Path(out_dir) / run_name if out_dir is not None else paths.run_dir(run_name)
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
        "cells": counts,
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "scikit-learn": sklearn.__version__},
    }
    write_text_atomic(run_dir / "config.json", to_json(run_config))
    per_seed = {
        seed: train_seed(data, dataclasses.replace(config, seed=seed), run_dir / f"seed_{seed}")
        for seed in tqdm(seeds, desc=f"{run_name} seeds", unit="seed", disable=len(seeds) == 1)
    }
    baseline = run_baseline(data, run_dir / "baseline", seed=seeds[0])
    summary = {
        "run": run_name,
        "model": config.model,
        "seeds": seeds,
        "metrics": summarise(per_seed),
        "baseline": scalar_metrics(baseline),
    }
    write_text_atomic(run_dir / "summary.json", to_json(summary))
    return run_dir
