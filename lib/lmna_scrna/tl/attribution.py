"""Which genes does a trained network use? Gradient × input over cells, and the planted truth beside it.

For a simulated build the truth is known (``ground_truth.json``): a network
that has learned the genotype should rank the planted patient genes high; one
that has learned the day or the library ranks day-program genes high instead.
Gradient × input of the genotype **logit** (not the saturating probability),
averaged in absolute value over cells, is the attribution: plain TensorFlow,
one gradient per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .backend import keras, tf
from .models import logit_model

BATCH = 4096
TOP_K: tuple[int, ...] = (20, 50, 100)


def gradient_x_input(model: keras.Model, X: np.ndarray) -> np.ndarray:
    """Mean |x · ∂logit/∂x| per gene over the cells of X (rows), for the genotype head."""
    logits = logit_model(model)
    total = np.zeros(X.shape[1])
    for start in range(0, len(X), BATCH):
        x = tf.constant(X[start : start + BATCH], dtype=tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(x)
            z = logits(x, training=False)["geno"]
        grad = tape.gradient(z, x).numpy()
        total += np.abs(grad * x.numpy()).sum(axis=0)
    return total / max(len(X), 1)


def rank_genes(scores: np.ndarray, gene_ids: Sequence[str], symbols: Sequence[str]) -> pd.DataFrame:
    """Genes by descending attribution (gene_rank 1 = most used); ties keep gene order."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    return pd.DataFrame({
        "gene_rank": np.arange(1, len(order) + 1),
        "gene_id": np.asarray(gene_ids)[order],
        "symbol": np.asarray(symbols)[order],
        "attribution": np.asarray(scores, dtype=float)[order],
    })


def mark_truth(ranking: pd.DataFrame, truth: dict[str, Any] | None) -> pd.DataFrame:
    """Add whether each gene carries a planted patient effect or a day-program loading (None: real data)."""
    if truth is None:
        return ranking.assign(planted=pd.NA, day_program=pd.NA)
    planted = {g["gene_id"] for g in truth["patient_effect_genes"] if g["log_fc"] != 0}
    program = {g["gene_id"] for g in truth["day_program_genes"]}
    return ranking.assign(planted=ranking["gene_id"].isin(planted), day_program=ranking["gene_id"].isin(program))


def precision_at(ranking: pd.DataFrame, ks: Sequence[int] = TOP_K) -> dict[str, float]:
    """Share of planted patient genes and of day-program genes among the top k, for each k, beside their share
    among all ranked genes (the base rate a random ranking would reach) and the mitochondrial genes in the top 20
    (their counts move with cell stress and library, not genotype)."""
    out: dict[str, float] = {"planted_all": float(ranking["planted"].mean()),
                             "day_program_all": float(ranking["day_program"].mean()),
                             "mt_in_top_20": float(ranking.head(20)["symbol"].astype(str).str.startswith("MT-").sum())}
    for k in ks:
        top = ranking.head(k)
        out[f"planted_at_{k}"] = float(top["planted"].mean())
        out[f"day_program_at_{k}"] = float(top["day_program"].mean())
    return out
