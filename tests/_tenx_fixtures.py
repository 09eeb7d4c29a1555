"""Tiny synthetic 10x libraries on disk: a writer for every layout, and GEO-flat studies for the preprocessing tests.

Counts are Poisson draws around gene-specific means with a per-GSM effect, plus
a few planted bad cells per GSM (too few genes, too many genes, high MT
fraction) so QC has something to remove. Small enough that a whole split
prepares in well under a second.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp

from lmna_scrna.config import PrepParams
from lmna_scrna.io.tenx import CountMatrix

N_GENES = 400
N_MT = 8

#: Thresholds scaled to the tiny data: normal cells detect ~100–250 genes.
SMALL_PARAMS = PrepParams(
    seed=7, min_genes=60, max_genes=320, max_pct_mt=20.0, max_cells=10_000,
    target_sum=1e4, min_cells_per_gene=5, n_hvg=60, clip=10.0,
)


@dataclass
class Written:
    """A fake 10x library: what it holds (all feature types) and the files it was written to."""

    X: sp.csr_matrix  # cells × features
    barcodes: np.ndarray
    ids: np.ndarray
    symbols: np.ndarray
    types: np.ndarray
    paths: list[Path]

    @property
    def gex(self) -> np.ndarray:
        """Mask of the Gene Expression features, the ones a reader keeps."""
        return self.types == "Gene Expression"


def _text(path: Path, lines: list[str]) -> None:
    with (gzip.open(path, "wt") if path.suffix == ".gz" else path.open("w")) as fh:
        fh.write("".join(f"{line}\n" for line in lines))


def _mtx(path: Path, X: sp.csr_matrix) -> None:
    """10x orientation: genes × cells."""
    with (gzip.open(path, "wb") if path.suffix == ".gz" else path.open("wb")) as fh:
        scipy.io.mmwrite(fh, X.T.tocoo(), field="integer")


def _h5(path: Path, w: Written) -> None:
    """Cell Ranger v3 HDF5: genes × cells CSC, i.e. the arrays of the cells × genes CSR."""
    with h5py.File(path, "w") as f:
        m = f.create_group("matrix")
        m["data"], m["indices"], m["indptr"] = w.X.data.astype(np.int32), w.X.indices, w.X.indptr
        m["shape"] = np.array(w.X.shape[::-1], dtype=np.int32)
        m["barcodes"] = w.barcodes.astype("S")
        feats = m.create_group("features")
        feats["id"], feats["name"], feats["feature_type"] = (a.astype("S") for a in (w.ids, w.symbols, w.types))
        feats["genome"] = np.full(len(w.ids), b"GRCh38")


def write_10x(
    target: Path,
    gsm: str = "GSM1000001",
    layout: str = "flat",
    matrix_kind: str = "filtered",
    n_cells: int = 20,
    n_genes: int = 50,
    n_antibody: int = 0,
    seed: int = 0,
    middle: str = "x",
) -> Written:
    """Write one tiny library under `target` in `layout` (flat | cellranger | v2 | h5).

    flat: ``<gsm>_<middle>_<matrix_kind>_{matrix.mtx,barcodes.tsv,features.tsv}.gz``;
    cellranger: ``<gsm>_<middle>/<matrix_kind>_feature_bc_matrix/{matrix.mtx,…}.gz``;
    v2: ``<gsm>/<matrix_kind>_gene_bc_matrices/GRCh38/{matrix.mtx,genes.tsv,barcodes.tsv}`` (plain text, 2-column genes);
    h5: ``<gsm>_<middle>_<matrix_kind>_feature_bc_matrix.h5``.
    """
    rng = np.random.default_rng(seed)
    n_features = n_genes + n_antibody
    X = sp.csr_matrix(rng.poisson(0.4, size=(n_cells, n_features)).astype(np.int64))
    w = Written(
        X=X,
        barcodes=np.array([f"{gsm[-4:]}CELL{i:04d}-1" for i in range(n_cells)]),
        ids=np.array([f"ENSG{i:011d}" for i in range(n_genes)] + [f"AB{i}" for i in range(n_antibody)]),
        symbols=np.array([f"GENE{i}" for i in range(n_genes)] + [f"CD{i}_TotalSeqB" for i in range(n_antibody)]),
        types=np.array(["Gene Expression"] * n_genes + ["Antibody Capture"] * n_antibody),
        paths=[],
    )
    return write_library(target, w, gsm, layout, matrix_kind, middle)


def write_library(
    target: Path, w: Written, gsm: str, layout: str = "flat", matrix_kind: str = "filtered", middle: str = "x"
) -> Written:
    """Write the library `w` under `target` in `layout`; records the file paths in `w.paths`."""
    target.mkdir(parents=True, exist_ok=True)
    if layout == "h5":
        w.paths = [target / f"{gsm}_{middle}_{matrix_kind}_feature_bc_matrix.h5"]
        _h5(w.paths[0], w)
        return w
    if layout == "flat":
        w.paths = [target / f"{gsm}_{middle}_{matrix_kind}_{stem}.gz" for stem in ("matrix.mtx", "barcodes.tsv", "features.tsv")]
    elif layout == "cellranger":
        folder = target / f"{gsm}_{middle}" / f"{matrix_kind}_feature_bc_matrix"
        w.paths = [folder / f"{stem}.gz" for stem in ("matrix.mtx", "barcodes.tsv", "features.tsv")]
    elif layout == "v2":
        assert w.gex.all(), "Cell Ranger v2 files have no feature types"
        folder = target / gsm / f"{matrix_kind}_gene_bc_matrices" / "GRCh38"
        w.paths = [folder / stem for stem in ("matrix.mtx", "barcodes.tsv", "genes.tsv")]
    else:
        raise ValueError(f"unknown layout {layout!r}")
    w.paths[0].parent.mkdir(parents=True, exist_ok=True)
    _mtx(w.paths[0], w.X)
    _text(w.paths[1], list(w.barcodes))
    columns = (w.ids, w.symbols) if layout == "v2" else (w.ids, w.symbols, w.types)
    _text(w.paths[2], ["\t".join(row) for row in zip(*columns)])
    return w


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
    """Write the three GEO flat files of one GSM, named as GEO names them."""
    library = Written(
        X=counts.X, barcodes=counts.barcodes, ids=counts.gene_ids, symbols=counts.gene_symbols,
        types=np.full(len(counts.gene_ids), "Gene Expression"), paths=[],
    )
    write_library(raw_dir, library, counts.gsm, middle=f"{condition}_day{day}{replicate}")


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


def assert_same_counts(got: CountMatrix, written: Written) -> None:
    """The reader returns exactly the Gene Expression part of what was written, cells × genes."""
    keep = written.gex
    assert isinstance(got.X, sp.csr_matrix) and got.X.dtype == np.int32
    assert got.X.shape == (len(written.barcodes), keep.sum())
    assert (got.X != written.X[:, keep]).nnz == 0
    assert list(got.barcodes) == list(written.barcodes)
    assert list(got.gene_ids) == list(written.ids[keep])
    assert list(got.gene_symbols) == list(written.symbols[keep])


def rewrite_gz(path: Path, edit: Callable[[list[str]], list[str]]) -> None:
    """Edit the lines of a gzipped text file in place (a damaged or altered features or barcodes file)."""
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    path.write_bytes(gzip.compress(("\n".join(edit(lines)) + "\n").encode()))
