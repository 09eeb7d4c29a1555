"""Statistics at the unit that matters: libraries, folds, and what each interval varies over.

Twelve libraries are the sample size of this study, so three kinds of
uncertainty are kept apart and named where they are shown:

* **cell bootstrap** (`bootstrap_auc`): cells resampled within each test
  library, libraries fixed. It measures how much a cell-level AUC moves with
  the cells sampled from the same libraries, nothing about other libraries;
* **over folds** (`paired_rule`, `fold_interval`): the leave-one-day-out folds
  are the closest thing to independent replicates the design has; a
  comparison is decided by the t interval of its per-fold paired differences;
* **library ranking** (`gsm_auc`, `ranking_permutation_test`): is every patient
  library scored above every control library of its fold, and how often
  would that happen if the labels were assigned at random within folds —
  an exact permutation p-value, enumerating every assignment the folds allow.

Training seeds vary only the optimisation and are averaged within a fold
before any of these.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Bootstrap replicates and confidence level of every interval in the report.
N_BOOT = 1000
LEVEL = 0.95


def gsm_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """AUC over libraries: the share of (patient, control) library pairs ordered right (ties count ½)."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels).astype(bool)
    pos, neg = scores[labels], scores[~labels]
    if not pos.size or not neg.size:
        return float("nan")
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def _ordered_pairs(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels], scores[~labels]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).sum())


@dataclass(frozen=True)
class PermutationResult:
    """Pooled library-ranking statistic over folds and its exact permutation p-value."""

    pairs_right: float  # (patient, control) pairs within folds ordered right (ties ½)
    pairs_total: int
    p_value: float  # share of label assignments with at least as many pairs right
    assignments: int  # how many assignments the folds allow (1 / assignments is the smallest p)


def ranking_permutation_test(folds: Sequence[tuple[np.ndarray, np.ndarray]]) -> PermutationResult:
    """Exact one-sided test of the pooled within-fold ranking of libraries.

    Each fold is (library scores, library is-patient). Under the null, any
    assignment of the fold's patient labels to its libraries is equally
    likely (the number of patients per fold fixed); folds are independent. All
    assignments are enumerated, so the p-value is exact; with folds of 2, 3,
    2 and 2 libraries there are only 24, and no result can reach p < 1/24.
    """
    per_fold = []
    observed, total = 0.0, 0
    for scores, labels in folds:
        scores, labels = np.asarray(scores, dtype=float), np.asarray(labels).astype(bool)
        n, k = labels.size, int(labels.sum())
        observed += _ordered_pairs(scores, labels)
        total += k * (n - k)
        outcomes = []
        for chosen in itertools.combinations(range(n), k):
            mask = np.zeros(n, dtype=bool)
            mask[list(chosen)] = True
            outcomes.append(_ordered_pairs(scores, mask))
        per_fold.append(outcomes)
    sums = [sum(combo) for combo in itertools.product(*per_fold)]
    p = sum(s >= observed - 1e-9 for s in sums) / len(sums)
    return PermutationResult(observed, total, float(p), len(sums))


def bootstrap_auc(
    scores: Sequence[np.ndarray], y: np.ndarray, groups: np.ndarray, seed: int, n_boot: int = N_BOOT
) -> tuple[float, float]:
    """Percentile interval of a mean-over-seeds AUC, cells resampled within each group (library).

    ``scores`` holds one array per training seed, all over the same cells
    (``y``, ``groups``); each replicate draws one set of cell weights and
    applies it to every seed, so the interval reflects cell sampling only.
    Weighted AUCs are computed for all replicates at once from sorted scores.
    """
    y = np.asarray(y).astype(bool)
    groups = np.asarray(groups)
    if y.all() or not y.any():
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    weights = np.zeros((n_boot, y.size))
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        weights[:, idx] = rng.multinomial(idx.size, np.full(idx.size, 1.0 / idx.size), size=n_boot)
    aucs = np.mean([_weighted_auc(np.asarray(s, dtype=float), y, weights) for s in scores], axis=0)
    alpha = (1 - LEVEL) / 2
    lo, hi = np.quantile(aucs, [alpha, 1 - alpha])
    return float(lo), float(hi)


def _weighted_auc(scores: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC of every row of ``weights`` (cell multiplicities), ties counted ½ (the Mann–Whitney form)."""
    order = np.argsort(scores, kind="stable")
    s, pos_mask = scores[order], y[order]
    w = weights[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    pos = np.add.reduceat(w * pos_mask, starts, axis=1)
    neg = np.add.reduceat(w * ~pos_mask, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    num = (pos * (below + 0.5 * neg)).sum(axis=1)
    return num / (pos.sum(axis=1) * neg.sum(axis=1))


@dataclass(frozen=True)
class Interval:
    """Mean over folds with its t interval (nan with fewer than two folds)."""

    mean: float
    lo: float
    hi: float
    n: int


def fold_interval(values: Sequence[float]) -> Interval:
    """Mean and two-sided t interval at `LEVEL` over fold-level values (folds are the replicates)."""
    v = np.asarray([x for x in values if not math.isnan(x)], dtype=float)
    if v.size < 2:
        m = float(v.mean()) if v.size else float("nan")
        return Interval(m, float("nan"), float("nan"), int(v.size))
    half = stats.t.ppf(1 - (1 - LEVEL) / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return Interval(float(v.mean()), float(v.mean() - half), float(v.mean() + half), int(v.size))


#: An AUC at or above which a comparison between two models cannot rank them: the 10⁻⁴ differences left there
#: are noise of the last few test cells, not a better model.
CEILING = 0.99

#: The decision rule every "X beats Y" of the report uses, stated once.
RULE = (
    f"{LEVEL:.0%} t interval over held-out days of the per-fold paired difference (training seeds averaged "
    f"within a fold); a difference is claimed only when the interval excludes 0, and none is claimed when both "
    f"sides score at least {CEILING} in every fold (both at the ceiling)"
)

#: The verdict of a comparison both of whose sides sit at the ceiling, whatever the sign of its difference.
AT_CEILING = "uninformative (both at the ceiling)"


def verdict(interval: Interval, first: str, second: str, lowest: float = float("nan")) -> str:
    """"<first> better", "<second> better" or "no difference detected", by `RULE`.

    ``lowest`` is the smallest AUC either side scored in any fold: when it is at
    the `CEILING` the comparison is uninformative whatever the interval says, and
    so is an interval of no width (the same difference in every fold says nothing).
    """
    if math.isnan(interval.lo):
        return "not decidable (fewer than two folds)"
    if lowest >= CEILING:
        return AT_CEILING
    if interval.lo == interval.hi:
        return "uninformative (the same difference in every fold)"
    if interval.lo > 0:
        return f"{first} better"
    if interval.hi < 0:
        return f"{second} better"
    return "no difference detected"


def clopper_pearson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval of a rate of k in n: the honest width of a handful of replicates.

    0 of 5 false positives is compatible with a rate anywhere from 0 to 0.52;
    the interval says so where the bare rate would not.
    """
    if n <= 0 or not 0 <= k <= n:
        return float("nan"), float("nan")
    alpha = 1 - level
    lo = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


def empirical_p(observed: float, null: Sequence[float]) -> tuple[float, float]:
    """One-sided empirical p of `observed` against null replicates, (1 + #{null ≥ observed}) / (1 + n),
    and its floor 1 / (1 + n): with n replicates no p can be smaller, so n ≥ 19 is needed to reach 0.05."""
    values = np.asarray(null, dtype=float)
    n = values.size
    return float((1 + (values >= observed).sum()) / (1 + n)), 1.0 / (1 + n)
