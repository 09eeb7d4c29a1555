"""Tiny synthetic 10x datasets in GEO flat layout, for the preprocessing tests.

Counts are Poisson draws around gene-specific means with a per-GSM effect, plus
a few planted bad cells per GSM (too few genes, too many genes, high MT
fraction) so QC has something to remove. Small enough that a whole split
prepares in well under a second.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp

from lmna_scrna.config import PrepParams

N_GENES = 400
N_MT = 8

#: Thresholds scaled to the tiny data: normal cells detect ~100–250 genes.
SMALL_PARAMS = PrepParams(
    seed=7, min_genes=60, max_genes=320, max_pct_mt=20.0, max_cells=10_000,
    target_sum=1e4, min_cells_per_gene=5, n_hvg=60, clip=10.0,
)


@dataclass
class GSMCounts:
    gsm: str
    X: sp.csr_matrix  # cells × genes, int32
    barcodes: np.ndarray
    gene_ids: np.ndarray
    gene_symbols: np.ndarray


def gene_table() -> tuple[np.ndarray, np.ndarray]:
    ids = np.array([f"ENSG{i:011d}" for i in range(N_GENES)])
    symbols = np.array([f"MT-G{i}" if i < N_MT else f"GENE{i}" for i in range(N_GENES)])
    return ids, symbols


def make_counts(gsm: str, n_cells: int, seed: int, shift: float = 0.0) -> GSMCounts:
    """Counts for one GSM; ``shift`` moves its expression profile (a library/condition effect)."""
    rng = np.random.default_rng([seed, int(gsm[3:])])
    base = np.random.default_rng(0).lognormal(mean=-1.0, sigma=1.2, size=N_GENES)
    profile = base * np.exp(shift * np.random.default_rng([1, int(gsm[3:])]).normal(size=N_GENES))
    depth = rng.lognormal(mean=0.0, sigma=0.3, size=n_cells)[:, None]
    lam = depth * profile[None, :]
    lam[:, :N_MT] *= 0.5
    n_bad = 3
    lam[:n_bad] *= 0.02  # too few genes
    lam[n_bad : 2 * n_bad] *= 40.0  # too many genes
    lam[2 * n_bad : 3 * n_bad, :N_MT] *= 400.0  # high MT fraction
    counts = rng.poisson(lam).astype(np.int32)
    ids, symbols = gene_table()
    barcodes = np.array([f"{''.join(rng.choice(list('ACGT'), 12))}-1" for _ in range(n_cells)])
    return GSMCounts(gsm, sp.csr_matrix(counts), barcodes, ids, symbols)


def write_geo_flat(counts: GSMCounts, raw_dir: Path, condition: str, day: int, replicate: str) -> None:
    """Write the three GEO flat files of one GSM (matrix is genes × cells, as 10x writes it)."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    stem = raw_dir / f"{counts.gsm}_{condition}_day{day}{replicate}_filtered_"
    with gzip.open(f"{stem}matrix.mtx.gz", "wb") as fh:
        scipy.io.mmwrite(fh, sp.coo_matrix(counts.X.T), field="integer")
    with gzip.open(f"{stem}barcodes.tsv.gz", "wt") as fh:
        fh.write("".join(f"{b}\n" for b in counts.barcodes))
    with gzip.open(f"{stem}features.tsv.gz", "wt") as fh:
        fh.write("".join(f"{i}\t{s}\tGene Expression\n" for i, s in zip(counts.gene_ids, counts.gene_symbols)))


def write_study(
    raw_dir: Path, sheet: pd.DataFrame, seed: int = 1, n_cells: int = 80, overrides: dict[str, int] | None = None
) -> dict[str, GSMCounts]:
    """Write every GSM of the sheet; ``overrides`` gives some GSMs another count seed."""
    out = {}
    for i, row in enumerate(sheet.itertuples(index=False)):
        gsm_seed = (overrides or {}).get(row.gsm, seed)
        counts = make_counts(row.gsm, n_cells + 7 * i, gsm_seed, shift=0.3 * row.y_geno + 0.02 * row.day)
        write_geo_flat(counts, raw_dir, row.condition, row.day, row.replicate)
        out[row.gsm] = counts
    return out
