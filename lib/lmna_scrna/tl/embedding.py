"""Where the cells of a split sit in expression space, and what organises it (notebook 02).

A PCA fitted on train cells only (held-out cells projected onto it, as the
model sees them), a UMAP of that space, and the share of the top PCs'
variance that day, genotype and GSM explain: if GSM explains far more than
genotype, a classifier can score by recognising libraries. `pl.design` draws
the results.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any, cast

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc

from ..io.study import DESIGN_FACTORS
from ..pp.gsm_pass import subsample
from ..threads import serial_blas


def subsample_cells(adata: ad.AnnData, per_gsm: int, seed: int) -> ad.AnnData:
    """At most ``per_gsm`` cells of each GSM, drawn as the per-GSM pass subsamples (seeded by seed, GSM).

    Cells are drawn from each GSM's cells sorted by name, so the draw does not
    depend on the order of the AnnData's rows.
    """
    keep = []
    obs = cast(pd.DataFrame, adata.obs)  # anndata 0.13 also types obs as a lazy Dataset2D; ours is in memory
    for gsm, idx in obs.groupby("gsm", observed=True).indices.items():
        idx = idx[np.argsort(adata.obs_names[idx])]
        keep.append(idx[subsample(idx.size, per_gsm, seed, str(gsm))])
    return adata[np.sort(np.concatenate(keep))].copy()


def embed_train_fitted(adata: ad.AnnData, n_pcs: int = 30, seed: int = 0) -> ad.AnnData:
    """PCA fitted on the train cells, every cell projected onto it, then a UMAP of that space.

    The PCA (``sc.pp.pca``) sees train cells only, as the model does; all cells
    are then centred by the train mean and projected on the train loadings.
    The UMAP (``sc.pp.neighbors`` + ``sc.tl.umap``) is a picture of the
    projected cells, not a fitted transform, so it is drawn on all of them.
    Returns a copy with ``obsm["X_pca"]`` and ``obsm["X_umap"]``.
    """
    adata = adata.copy()
    X = cast(Any, adata.X)  # in memory: a dense or sparse matrix
    adata.X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float32)
    ref = adata[(adata.obs["partition"] == "train").to_numpy()].copy()
    n_pcs = min(n_pcs, ref.n_obs - 1, ref.n_vars - 1)
    with serial_blas():  # the same components and projection whatever the thread budget
        sc.pp.pca(ref, n_comps=n_pcs, random_state=seed)
        train_mean = ref.X.mean(axis=0, dtype=np.float64)
        adata.obsm["X_pca"] = ((adata.X - train_mean) @ ref.varm["PCs"]).astype(np.float32)
    import_umap_without_tensorflow()
    sc.pp.neighbors(adata, use_rep="X_pca", random_state=seed)
    sc.tl.umap(adata, random_state=seed)
    return adata


def import_umap_without_tensorflow() -> None:
    """Import umap-learn (scanpy's neighbors and UMAP use it) with TensorFlow hidden from it.

    Its package imports TensorFlow for ParametricUMAP, which no embedding here
    uses: 3 s and about 1 GB in a kernel that trains nothing. Hidden, umap-learn
    takes its own "TensorFlow not installed" branch; TensorFlow stays importable
    afterwards. A process that already holds either module is left alone.
    """
    if "umap" in sys.modules or "tensorflow" in sys.modules:
        return
    sys.modules["tensorflow"] = None  # type: ignore[assignment]  # `import tensorflow` raises ImportError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ImportWarning)  # its notice that ParametricUMAP is unavailable
            import umap  # noqa: F401
    finally:
        del sys.modules["tensorflow"]


def variance_explained(pcs: np.ndarray, obs: pd.DataFrame, factors: tuple[str, ...] = DESIGN_FACTORS) -> pd.DataFrame:
    """Share of each PC's variance explained by each factor (one-way ANOVA R²), and of all PCs together.

    R² = between-group sum of squares / total sum of squares; the ``all PCs``
    column pools the sums over components, i.e. weights each PC by its
    variance. GSM nests day and genotype, so its R² bounds theirs from above.
    """
    centered = np.asarray(pcs, dtype=np.float64) - np.asarray(pcs, dtype=np.float64).mean(axis=0)
    total = (centered**2).sum(axis=0)
    columns = [f"PC{j + 1}" for j in range(centered.shape[1])]
    rows = {}
    for factor in factors:
        codes = pd.Categorical(obs[factor].astype(str)).codes
        sums = np.zeros((codes.max() + 1, centered.shape[1]))
        np.add.at(sums, codes, centered)
        between = (sums**2 / np.bincount(codes)[:, None]).sum(axis=0)
        rows[factor] = [*(between / total), between.sum() / total.sum()]
    return pd.DataFrame.from_dict(rows, orient="index", columns=[*columns, "all PCs"])
