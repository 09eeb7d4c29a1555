"""Exact negative-binomial (gamma-Poisson) UMI counts, fast on the mostly-zero matrices of scRNA-seq; barcodes;
the depth at which a profile is expected to detect a given number of genes (doublets).

Apart from the generative model (`model`) because it is a sampler of a
known distribution, tested against that distribution alone.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .params import BARCODE_LENGTH, DEPTH_SOLVER_STEPS, DIRECT_NB_MEAN, DOUBLET_UMIS_BOUNDS


def sample_negative_binomial(mu: np.ndarray, r: np.ndarray, rng: np.random.Generator) -> sp.csr_matrix:
    """Exact NB(mean mu, size r) counts (gamma-Poisson) as CSR; `mu` is cells x genes, `r` per gene.

    A gamma and a Poisson draw per entry cost ~60 ns on 10^8 mostly-zero
    entries per library. Since P(count > 0) <= mu, one float32 uniform v per
    entry proves most entries zero (v >= mu); only the candidates (v < mu,
    about the nonzero fraction) are resolved exactly: large means by numpy,
    the rest by inverting the NB distribution (`_invert_negative_binomial`).
    """
    n_genes = mu.shape[1]
    candidates = np.flatnonzero(rng.random(mu.shape, dtype=np.float32) < mu)
    rows, cols = np.divmod(candidates, n_genes)
    mean = mu.ravel()[candidates].astype(np.float64)
    size = r[cols]
    values = np.zeros(candidates.size, dtype=np.int64)
    direct = mean > DIRECT_NB_MEAN
    values[direct] = rng.negative_binomial(size[direct], size[direct] / (size[direct] + mean[direct]))
    small = ~direct
    values[small] = _invert_negative_binomial(mean[small], size[small], rng)
    keep = values > 0
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows[keep], minlength=mu.shape[0]))])
    return sp.csr_matrix((values[keep].astype(np.int32), cols[keep], indptr), shape=mu.shape)


def _invert_negative_binomial(mean: np.ndarray, size: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """NB draws for entries known to satisfy v < min(mean, 1), v the screening uniform.

    Given that event, v is uniform on (0, min(mean, 1)), so a fresh w drawn
    there stands in for it; the count is the least k whose survival S(k) =
    P(N > k) is <= w. S(0) = 1 - (r / (r + mean))^r, and S falls by the pmf,
    updated by p(k) = p(k-1) (k - 1 + r) / k * mean / (r + mean); only
    entries still above S take another step, so the loop touches few values.
    """
    w = rng.random(mean.size) * np.minimum(mean, 1.0)
    q = mean / (mean + size)
    log_p0 = size * np.log1p(-q)
    values = np.zeros(mean.size, dtype=np.int64)
    active = np.flatnonzero(w < -np.expm1(log_p0))
    w, q, size = w[active], q[active], size[active]
    pmf, survival = np.exp(log_p0[active]), -np.expm1(log_p0[active])
    k = 0
    while active.size:
        k += 1
        values[active] = k
        pmf = pmf * (k - 1 + size) / k * q
        survival = survival - pmf
        go_on = (w < survival) & (pmf > 0.0)
        active, w, q, size, pmf, survival = (a[go_on] for a in (active, w, q, size, pmf, survival))
    return values


def draw_barcodes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unique random 16-nt barcodes with Cell Ranger's '-1' suffix, sorted as in filtered matrices."""
    codes = np.unique(rng.integers(0, 4**BARCODE_LENGTH, 2 * n, dtype=np.int64))
    codes = np.sort(rng.choice(codes, n, replace=False))
    digits = (codes[:, None] >> (2 * np.arange(BARCODE_LENGTH - 1, -1, -1))) & 3
    letters = np.frombuffer(b"ACGT", dtype="S1")[digits]
    return np.char.add(letters.view(f"S{BARCODE_LENGTH}").ravel().astype(str), "-1")


def _expected_genes(p: np.ndarray, r: np.ndarray, umis: np.ndarray) -> np.ndarray:
    """Expected number of detected genes per cell under NB(umis * p, r)."""
    mu = umis[:, None] * p
    return -np.expm1(-r * np.log1p(mu / r)).sum(axis=1)


def depth_for_genes(p: np.ndarray, r: np.ndarray, target: np.ndarray) -> np.ndarray:
    """UMIs at which each cell's expected detected genes reach `target` (bisection in log depth).

    Depth is capped at DOUBLET_UMIS_BOUNDS; a profile with too few genes to
    reach the target then gets the cap (the detected count stays below it).
    """
    lo = np.full(target.size, np.log(DOUBLET_UMIS_BOUNDS[0]))
    hi = np.full(target.size, np.log(DOUBLET_UMIS_BOUNDS[1]))
    for _ in range(DEPTH_SOLVER_STEPS):
        mid = 0.5 * (lo + hi)
        below = _expected_genes(p, r, np.exp(mid)) < target
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return np.exp(hi)
