"""A linear reference: L2 logistic regression on the same features and split.

The book has to say whether the network beats a linear model, so the baseline
gets the same honesty as the network: its one hyperparameter (the inverse
regularisation strength C) is chosen on validation AUC, never on test.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from ..threads import serial_blas
from .evaluate import auc_or_nan

log = logging.getLogger(__name__)

#: Small grid of C; features are scaled to unit variance, so strong
#: regularisation is plausible with ~1000 genes and a few thousand cells per GSM.
C_GRID: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)


def fit_baseline(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    seed: int = 42,
    c_grid: tuple[float, ...] = C_GRID,
) -> tuple[LogisticRegression, float]:
    """Fit one logistic regression per C, keep the best on validation AUC; return (model, C).

    The grid is walked from strong to weak regularisation, each fit starting
    from the previous solution (warm start): about half the solver iterations
    of independent fits, and still deterministic.
    """
    model = LogisticRegression(max_iter=2000, random_state=seed, warm_start=True)
    best: tuple[float, LogisticRegression, float] | None = None
    with serial_blas():  # the same fits and validation scores, so the same C, whatever the thread budget
        for c in sorted(c_grid):
            model.set_params(C=c).fit(x_train, y_train)
            auc = auc_or_nan(y_val, model.predict_proba(x_val)[:, 1], "validation set")
            log.info("baseline C=%g: validation AUC %.4f", c, auc)
            if best is None or auc > best[0]:
                best = (auc, copy.deepcopy(model), c)
    assert best is not None  # c_grid is never empty
    return best[1], best[2]


#: Regularisation of the pseudobulk model: a handful of training libraries cannot choose it on
#: validation (two libraries), so it is fixed; features are unit-variance genes.
PSEUDOBULK_C = 1.0


def fit_pseudobulk(X: np.ndarray, obs: pd.DataFrame, seed: int = 42) -> dict[str, Any]:
    """The field's sample-level baseline: mean expression per library, then a logistic regression.

    One profile per GSM (the mean of its cells' scaled HVG values), fitted on
    the training GSMs with balanced class weights, scored on the validation
    and test GSMs. Returns per-GSM scores (logits) for the library-level
    ranking; a split that does not keep libraries whole (random cells) has none.
    """
    partition = obs.groupby("gsm", observed=True)["partition"].agg(lambda s: s.iloc[0] if s.nunique() == 1 else "mixed")
    if (partition == "mixed").any():
        return {"C": PSEUDOBULK_C, "gsm": [], "note": "libraries are split across partitions: no pseudobulk model"}
    gsms = partition.index.to_numpy()
    profiles = np.vstack([X[(obs["gsm"] == g).to_numpy()].mean(axis=0) for g in gsms])
    y = obs.groupby("gsm", observed=True)["y_geno"].first().reindex(gsms).to_numpy().astype(int)
    train = (partition == "train").to_numpy()
    model = LogisticRegression(C=PSEUDOBULK_C, class_weight="balanced", max_iter=5000, random_state=seed)
    with serial_blas():
        model.fit(profiles[train], y[train])
        scores = model.decision_function(profiles)
    return {
        "C": PSEUDOBULK_C,
        "gsm": [
            {"gsm": str(g), "partition": str(part), "y_true": int(label), "score": float(s)}
            for g, part, label, s in zip(gsms, partition.to_numpy(), y, scores)
            if part != "train"
        ],
    }
