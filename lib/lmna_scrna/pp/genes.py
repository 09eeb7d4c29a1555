"""Additive per-gene statistics, HVG selection and scaling fitted on train cells only.

The sum, sum of squares and nonzero count of each gene add up across GSMs,
so the statistics of any set of train GSMs are the exact sum of per-GSM
statistics: every split's HVG list and scaling come from cached numbers
without touching a raw file or holding more than one GSM in memory.

Conventions (matched to scanpy so tests compare against it):

* variance uses ddof=1, as ``scanpy.pp.scale`` does (``_get_mean_var``
  multiplies by n/(n-1)); it is computed as (sumsq - sum²/n)/(n-1) from
  float64 sums and clipped at 0 against rounding;
* a gene whose std is 0 is divided by 1 (scanpy sets ``std[std == 0] = 1``);
* HVGs: genes detected in ≥ ``min_cells_per_gene`` train cells, top
  ``n_hvg`` by the score of the ``hvg_flavor`` (`HVG_FLAVORS`; by default that
  variance), ties broken by gene index; kept in feature order;
* scaling divides by the std and clips to ±clip without centering (paper §2.4.4:
  centering would densify the sparse matrix).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..config import PrepParams
from ..errors import InputError

log = logging.getLogger(__name__)

#: Degrees of freedom of the variance, as scanpy.pp.scale.
DDOF = 1
#: Entries summed at a time by `GeneStats.from_matrix` (8 MiB of float64).
ENTRY_BLOCK = 1 << 20


@dataclass(frozen=True)
class GeneStats:
    """Per-gene sufficient statistics of log-normalised values over a set of cells."""

    n_cells: int
    sum: np.ndarray  # float64
    sumsq: np.ndarray  # float64
    nnz: np.ndarray  # int64, cells in which the gene is detected

    @classmethod
    def zeros(cls, n_genes: int) -> GeneStats:
        return cls(0, np.zeros(n_genes), np.zeros(n_genes), np.zeros(n_genes, dtype=np.int64))

    @classmethod
    def from_matrix(cls, X: sp.csr_matrix) -> GeneStats:
        """Accumulate in float64 whatever the storage dtype, for stable sums over many cells.

        Entries are added block by block into the same sums, in their stored
        order (`np.add.at`), so the result is that of one pass while the float64
        temporaries stay a few MB, not three copies of a GSM's values.
        """
        X = sp.csr_matrix(X)
        n_genes = X.shape[1]
        total, squares, detected = np.zeros(n_genes), np.zeros(n_genes), np.zeros(n_genes, dtype=np.int64)
        for start in range(0, X.nnz, ENTRY_BLOCK):
            genes = X.indices[start : start + ENTRY_BLOCK]
            values = X.data[start : start + ENTRY_BLOCK].astype(np.float64)
            detected += np.bincount(genes[values != 0], minlength=n_genes)
            np.add.at(total, genes, values)
            values *= values
            np.add.at(squares, genes, values)
        return cls(X.shape[0], total, squares, detected)

    def __add__(self, other: GeneStats) -> GeneStats:
        if self.sum.shape != other.sum.shape:
            raise ValueError(f"cannot add statistics of {self.sum.size} and {other.sum.size} genes")
        return GeneStats(
            self.n_cells + other.n_cells, self.sum + other.sum, self.sumsq + other.sumsq, self.nnz + other.nnz
        )

    @property
    def mean(self) -> np.ndarray:
        return self.sum / max(self.n_cells, 1)

    @property
    def variance(self) -> np.ndarray:
        """Unbiased (ddof=1) variance, clipped at 0 where rounding makes it slightly negative."""
        if self.n_cells <= DDOF:
            return np.zeros_like(self.sum)
        var = (self.sumsq - self.sum * self.sum / self.n_cells) / (self.n_cells - DDOF)
        return np.maximum(var, 0.0)


@dataclass(frozen=True)
class FeatureScaling:
    """The train-fitted transform: keep the HVG columns, divide by std, clip."""

    genes: np.ndarray  # int64 column indices of the HVGs, ascending
    mean: np.ndarray  # float64 train mean of each HVG (recorded, not subtracted)
    std: np.ndarray  # float64 train std of each HVG (0 replaced by 1)
    clip: float

    def transform(self, X: sp.csr_matrix) -> sp.csr_matrix:
        """Scale a log-normalised GSM matrix (cells × all genes) to cells × HVGs, float32 CSR."""
        sub = sp.csr_matrix(X[:, self.genes])
        data = sub.data.astype(np.float64) / self.std[sub.indices]
        np.clip(data, -self.clip, self.clip, out=data)
        return sp.csr_matrix((data.astype(np.float32), sub.indices, sub.indptr), shape=sub.shape)


#: An HVG flavour: a score per gene from the train cells' statistics; `select_hvg` keeps the top scores.
HvgFlavor = Callable[[GeneStats], np.ndarray]


def variance_score(stats: GeneStats) -> np.ndarray:
    """The paper's ranking (§2.4.3): each gene's variance of log-normalised values over the train cells."""
    return stats.variance


#: HVG flavours by name (`PrepParams.hvg_flavor`, `prepare --hvg-flavor`): the one place a new one is registered,
#: as a function from `GeneStats` to a score per gene. A flavour may use only statistics that add across GSMs
#: (sums, sums of squares, counts): a split's train statistics are the sum of cached per-GSM ones, never
#: recomputed from cells. One that needs count-level statistics must first add them to `GeneStats`
#: (`from_matrix`, `__add__`), to the per-GSM pass that fills it (`gsm_pass.process_counts`) and to the cache
#: that stores it (`gsm_cache`: `CACHE_DATASETS`, `write_cache`, and a new `CACHE_FORMAT`). Seurat v3's needs
#: more still: the mean and variance of raw counts, then a sum of squares clipped at a trend fitted on all train
#: cells, which no per-GSM sum can hold in advance (a second pass over cached raw counts, which the cache lacks).
HVG_FLAVORS: dict[str, HvgFlavor] = {"variance": variance_score}


def hvg_flavor(name: str) -> HvgFlavor:
    """The registered flavour `name`, or InputError naming the parameter and the choices."""
    if not isinstance(name, str) or name not in HVG_FLAVORS:  # a list from papermill -p is unhashable
        raise InputError(f"PrepParams.hvg_flavor={name!r}: expected one of {', '.join(HVG_FLAVORS)}")
    return HVG_FLAVORS[name]


def select_hvg(stats: GeneStats, min_cells: int, n_hvg: int, flavor: str = "variance") -> np.ndarray:
    """Indices (ascending) of the ``n_hvg`` genes of top `flavor` score among genes in ≥ ``min_cells`` cells."""
    score = np.asarray(hvg_flavor(flavor)(stats), dtype=np.float64)
    if score.shape != stats.sum.shape:
        raise ValueError(f"HVG flavour {flavor!r} scored {score.shape} genes; expected one score per gene {stats.sum.shape}")
    eligible = np.flatnonzero(stats.nnz >= min_cells)
    if eligible.size == 0:
        raise InputError(
            f"PrepParams.min_cells_per_gene={min_cells}: no gene is detected in that many of the "
            f"{stats.n_cells} train cells, so no HVG can be selected"
        )
    if eligible.size < n_hvg:
        log.warning(
            "only %d genes are detected in >= %d train cells; using all of them instead of %d HVGs",
            eligible.size, min_cells, n_hvg,
        )
    # lexsort sorts by the last key first: score descending, then gene index ascending.
    order = np.lexsort((eligible, -score[eligible]))
    return np.sort(eligible[order[:n_hvg]])


def fit_scaling(stats: GeneStats, params: PrepParams) -> FeatureScaling:
    """HVG list and scaling factors of one split, from its train cells' statistics only."""
    if stats.n_cells < params.min_cells_per_gene:  # name the cause: too few cells, not too strict a threshold
        raise InputError(
            f"the split has {stats.n_cells} train cells, fewer than PrepParams.min_cells_per_gene="
            f"{params.min_cells_per_gene}, so no gene can be selected; raise PrepParams.max_cells "
            f"(now {params.max_cells} per GSM) or lower min_cells_per_gene"
        )
    genes = select_hvg(stats, params.min_cells_per_gene, params.n_hvg, params.hvg_flavor)
    std = np.sqrt(stats.variance[genes])
    std[std == 0] = 1.0
    return FeatureScaling(genes=genes, mean=stats.mean[genes], std=std, clip=params.clip)


def gene_table(stats: GeneStats, scaling: FeatureScaling, gene_ids: np.ndarray, symbols: np.ndarray) -> pd.DataFrame:
    """Every gene's train mean, variance and detection count, flagged if selected (for the HVG plot)."""
    hvg = np.zeros(stats.sum.size, dtype=bool)
    hvg[scaling.genes] = True
    return pd.DataFrame(
        {
            "gene_id": gene_ids,
            "symbol": symbols,
            "mean": stats.mean,
            "variance": stats.variance,
            "n_cells": stats.nnz,
            "highly_variable": hvg,
        }
    )
