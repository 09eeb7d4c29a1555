"""Shared fixtures: the study sheet and a writer of tiny 10x libraries in every layout."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

from lmna_scrna.study import load_samples


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
    kind: str = "filtered",
    n_cells: int = 20,
    n_genes: int = 50,
    n_antibody: int = 0,
    seed: int = 0,
    middle: str = "x",
) -> Written:
    """Write one tiny library under `target` in `layout` (flat | cellranger | v2 | h5).

    flat: ``<gsm>_<middle>_<kind>_{matrix.mtx,barcodes.tsv,features.tsv}.gz``;
    cellranger: ``<gsm>_<middle>/<kind>_feature_bc_matrix/{matrix.mtx,…}.gz``;
    v2: ``<gsm>/<kind>_gene_bc_matrices/GRCh38/{matrix.mtx,genes.tsv,barcodes.tsv}`` (plain text, 2-column genes);
    h5: ``<gsm>_<middle>_<kind>_feature_bc_matrix.h5``.
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
    target.mkdir(parents=True, exist_ok=True)
    if layout == "h5":
        w.paths = [target / f"{gsm}_{middle}_{kind}_feature_bc_matrix.h5"]
        _h5(w.paths[0], w)
        return w
    if layout == "flat":
        w.paths = [target / f"{gsm}_{middle}_{kind}_{stem}.gz" for stem in ("matrix.mtx", "barcodes.tsv", "features.tsv")]
    elif layout == "cellranger":
        folder = target / f"{gsm}_{middle}" / f"{kind}_feature_bc_matrix"
        w.paths = [folder / f"{stem}.gz" for stem in ("matrix.mtx", "barcodes.tsv", "features.tsv")]
    elif layout == "v2":
        assert n_antibody == 0, "Cell Ranger v2 files have no feature types"
        folder = target / gsm / f"{kind}_gene_bc_matrices" / "GRCh38"
        w.paths = [folder / stem for stem in ("matrix.mtx", "barcodes.tsv", "genes.tsv")]
    else:
        raise ValueError(f"unknown layout {layout!r}")
    w.paths[0].parent.mkdir(parents=True, exist_ok=True)
    _mtx(w.paths[0], w.X)
    _text(w.paths[1], list(w.barcodes))
    columns = (w.ids, w.symbols) if layout == "v2" else (w.ids, w.symbols, w.types)
    _text(w.paths[2], ["\t".join(row) for row in zip(*columns)])
    return w


@pytest.fixture(name="write_10x")
def write_10x_fixture() -> Callable[..., Written]:
    """`write_10x(target, gsm=…, layout=…, …) -> Written`: a tiny 10x library on disk."""
    return write_10x


@pytest.fixture(scope="session")
def sheet() -> pd.DataFrame:
    """The project's study sheet (params/samples.csv), validated."""
    return load_samples()
