"""Honest evaluation: cell-level metrics from scikit-learn, a threshold chosen on
validation (not on test) or fixed in advance, GSM-level results, summaries over seeds.

The GSM is the independent unit of this study (labels are inherited per
library), so next to the cell-level numbers every run reports, per test GSM,
the mean patient probability and whether it falls on the right side of the
threshold. Undefined metrics (a one-class test set) are NaN with a warning,
never a crash.

Losses are computed from the models' logits (``z_geno``, ``z_day_*``) in
float64, never from probabilities: a float32 sigmoid rounds to exactly 1.0
once its logit passes about 17, and a clipped log loss would then charge a
confident wrong cell about 36 instead of its true loss.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logsumexp, softmax
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, roc_auc_score, roc_curve

from ..io.study import CONDITIONS, DAYS

log = logging.getLogger(__name__)


def auc_or_nan(y_true: np.ndarray, p: np.ndarray, what: str) -> float:
    """ROC-AUC, or NaN (logged) when `what` holds one class only and AUC is undefined."""
    if len(np.unique(y_true)) < 2:
        log.warning("%s has one class only: ROC-AUC is undefined (NaN)", what)
        return float("nan")
    return float(roc_auc_score(y_true, p))


def youden_threshold(y_val: np.ndarray, p_val: np.ndarray) -> float:
    """Threshold maximising Youden's J = TPR - FPR on validation.

    Chosen on validation so the test set never informs its own threshold.
    roc_curve's first threshold is +inf (nothing positive); clip to [0, 1] so
    the value stays a usable probability. A one-class validation set has no
    ROC; fall back to 0.5 with a warning.
    """
    if len(np.unique(y_val)) < 2:
        log.warning("validation set has one class only: threshold falls back to 0.5")
        return 0.5
    fpr, tpr, thresholds = roc_curve(y_val, p_val)
    return float(np.clip(thresholds[np.argmax(tpr - fpr)], 0.0, 1.0))


def gsm_table(pred: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per test GSM: cells, mean patient probability, right side of `threshold` and of 0.5."""
    table = (
        pred.groupby("gsm", sort=True)
        .agg(condition=("condition", "first"), day=("day", "first"), y_true=("y_true", "first"),
             n_cells=("p_geno", "size"), mean_p=("p_geno", "mean"))
        .reset_index()
    )
    table["correct"] = (table["mean_p"] >= threshold).astype(int) == table["y_true"]
    table["correct_at_05"] = (table["mean_p"] >= 0.5).astype(int) == table["y_true"]
    return table


@dataclass(frozen=True)
class RocPoints:
    """One ROC curve as `pl` draws it: a point per distinct score, and the curve's AUC (NaN for one class)."""

    fpr: np.ndarray
    tpr: np.ndarray
    auc: float


def roc_points(y_true: Any, p: Any, what: str) -> RocPoints:
    """The ROC of scores `p` against 0/1 labels `y_true` (`what` names them in the one-class warning).

    One class has no curve: no points (scikit-learn's would be NaN, with a
    warning of its own) and a NaN AUC, warned about once.
    """
    y, p = np.asarray(y_true), np.asarray(p)
    auc = auc_or_nan(y, p, what)
    if math.isnan(auc):
        return RocPoints(np.empty(0), np.empty(0), auc)
    fpr, tpr, _ = roc_curve(y, p)
    return RocPoints(fpr, tpr, auc)


@dataclass(frozen=True)
class Confusion:
    """True class (rows) by predicted class (columns): counts, and each row as shares (recall per true class).

    A class with no true cells has a row of NaN shares, not a division error: a
    test split may lack a day.
    """

    counts: np.ndarray
    shares: np.ndarray


def confusion_counts(y_true: Any, y_pred: Any, n_classes: int) -> Confusion:
    """Confusion of class codes 0 … n_classes − 1, every class a row and a column even when absent."""
    counts = confusion_matrix(y_true, y_pred, labels=range(n_classes))
    with np.errstate(invalid="ignore", divide="ignore"):
        return Confusion(counts, counts / counts.sum(axis=1, keepdims=True))


def genotype_confusion(pred: pd.DataFrame, threshold: float) -> Confusion:
    """Test cells' genotype (`CONDITIONS` order) against their call at `threshold`, as `genotype_metrics` calls them."""
    return confusion_counts(pred["y_true"], (pred["p_geno"] >= threshold).astype(int), len(CONDITIONS))


def day_confusion(pred: pd.DataFrame) -> Confusion:
    """Model B's test cells: true day against the day-head's most probable day (`DAYS` order)."""
    return confusion_counts(pred["y_day"], pred[day_columns()].to_numpy().argmax(axis=1), len(DAYS))


def binary_log_loss(y: np.ndarray, z: np.ndarray) -> float:
    """Mean binary cross-entropy from logits: log(1 + e^{-z}) for patients, log(1 + e^{z}) for controls."""
    y, z = np.asarray(y, dtype=np.float64), np.asarray(z, dtype=np.float64)
    return float(np.mean(np.logaddexp(0.0, (1.0 - 2.0 * y) * z)))


def categorical_log_loss(y: np.ndarray, z: np.ndarray) -> float:
    """Mean cross-entropy from class logits (rows of z): logsumexp(z) − z[y]."""
    z = np.asarray(z, dtype=np.float64)
    return float(np.mean(logsumexp(z, axis=1) - z[np.arange(len(z)), np.asarray(y, dtype=int)]))


def squared_error_loss(y: np.ndarray, z: np.ndarray) -> float:
    """Mean squared error of the patient probability, the genotype loss when ``loss_geno="mean_squared_error"``.

    It is mean over cells of (y − sigmoid(z))² with y the 0/1 label and the
    sigmoid taken in float64 from the logit (the Brier score): what Keras'
    MeanSquaredError minimises on the sigmoid output, in [0, 1], in
    probability² per cell rather than nats, so not comparable with a cross-entropy.
    """
    y = np.asarray(y, dtype=np.float64)
    return float(np.mean((y - probability(z)) ** 2))


#: The reported genotype loss of each `TrainConfig.loss_geno`, computed exactly from logits.
GENO_LOSS_FUNCTIONS = {"binary_crossentropy": binary_log_loss, "mean_squared_error": squared_error_loss}


def probability(z: np.ndarray) -> np.ndarray:
    """Patient probability from a logit, in float64 (kept beside the logit in predictions)."""
    return expit(np.asarray(z, dtype=np.float64))


def genotype_metrics(
    test: pd.DataFrame, y_val: np.ndarray, p_val: np.ndarray,
    threshold: float | None = None, loss_geno: str = "binary_crossentropy",
) -> dict[str, Any]:
    """Every genotype metric of one model on one split.

    `test` holds one row per test cell with gsm, condition, day, y_true,
    z_geno (the logit) and p_geno (its float64 sigmoid). ``threshold`` None
    chooses it on validation (Youden's J); a number fixes it (``threshold_rule``
    records which). The genotype loss is the one the model minimised (`GENO_LOSS_FUNCTIONS`).
    """
    y, p = test["y_true"].to_numpy(), test["p_geno"].to_numpy()
    rule = "youden_validation" if threshold is None else "fixed"
    threshold = youden_threshold(y_val, p_val) if threshold is None else float(threshold)
    gsm = gsm_table(test, threshold)
    geno_loss = GENO_LOSS_FUNCTIONS[loss_geno](y, test["z_geno"].to_numpy())
    return {
        "n_test": int(len(test)),
        "test_auc": auc_or_nan(y, p, "test set"),
        "test_acc": float(accuracy_score(y, p >= 0.5)),
        "test_geno_loss": geno_loss,
        "test_combined_loss": geno_loss,
        "val_auc": auc_or_nan(y_val, p_val, "validation set"),
        "threshold": threshold,
        "threshold_rule": rule,
        "test_acc_at_threshold": float(accuracy_score(y, p >= threshold)),
        "test_bal_acc": float(balanced_accuracy_score(y, p >= threshold)),
        "gsm": [
            {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
            for row in gsm.to_dict(orient="records")
        ],
        "gsm_correct": int(gsm["correct"].sum()),
        "gsm_correct_at_05": int(gsm["correct_at_05"].sum()),
        "gsm_total": int(len(gsm)),
    }


def day_columns() -> list[str]:
    """Names of Model B's day-probability columns in predictions.parquet, in class order."""
    return [f"p_day_{d}" for d in DAYS]


def day_logit_columns() -> list[str]:
    """Names of Model B's day-logit columns in predictions.parquet, in class order."""
    return [f"z_day_{d}" for d in DAYS]


def day_probabilities(z_day: np.ndarray) -> np.ndarray:
    return softmax(np.asarray(z_day, dtype=np.float64), axis=1)


def day_metrics(test: pd.DataFrame, loss_w_day: float, geno_loss: float) -> dict[str, float]:
    """Model B's day accuracy, day loss and the combined loss L_geno + w * L_day."""
    p_day = test[day_columns()].to_numpy()
    day_loss = categorical_log_loss(test["y_day"].to_numpy(), test[day_logit_columns()].to_numpy())
    return {
        "day_acc": float(accuracy_score(test["y_day"], p_day.argmax(axis=1))),
        "test_day_loss": day_loss,
        "test_combined_loss": geno_loss + loss_w_day * day_loss,
    }


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric entries of a metrics dict (what a summary over seeds can average)."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def summarise(per_seed: dict[int, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Mean, sample sd (None for one seed) and the values over seeds of every scalar metric."""
    scalars = [scalar_metrics(m) for m in per_seed.values()]
    out: dict[str, dict[str, Any]] = {}
    for key in scalars[0]:
        values = np.array([s[key] for s in scalars], dtype=float)
        out[key] = {
            "mean": float(np.mean(values)),
            "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None,
            "values": values.tolist(),
        }
    return out

