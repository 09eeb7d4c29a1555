"""Synthetic processed .h5ad files in the preprocessing contract's schema, with a planted signal.

Training tests must not wait for (or depend on) the preprocessing code, so they
build a small split directly: the real study sheet's 12 GSMs, day-matched
test=19 / val=0 by default, cells inheriting their GSM's labels, and genotype
shifting the mean of the first few genes by `signal` standard deviations.
A day effect on other genes mimics the study's confounder.
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from lmna_scrna.config import PrepParams
from lmna_scrna.io.study import load_samples


def day_matched_assignment(sheet: pd.DataFrame, test_day: int = 19, val_day: int = 0) -> dict[str, str]:
    """GSM -> partition of the day-matched split (test_day, val_day)."""
    return {
        row.gsm: "test" if row.day == test_day else "val" if row.day == val_day else "train"
        for row in sheet.itertuples()
    }


def make_processed(
    path: str | Path,
    n_cells: int = 1200,
    n_genes: int = 50,
    signal: float = 1.0,
    seed: int = 0,
    assignment: dict[str, str] | None = None,
    n_signal_genes: int = 5,
) -> Path:
    """Write a processed split of about `n_cells` cells (equal per GSM) x `n_genes` genes.

    `assignment` maps GSM -> "train"/"val"/"test"/None (None drops the GSM);
    default day-matched test=19, val=0.
    """
    rng = np.random.default_rng(seed)
    sheet = load_samples()
    assignment = assignment if assignment is not None else day_matched_assignment(sheet)
    per_gsm = max(1, n_cells // len(sheet))
    blocks, rows = [], []
    for row in sheet.itertuples():
        part = assignment.get(row.gsm)
        if part is None:
            continue
        x = rng.normal(size=(per_gsm, n_genes))
        x[:, :n_signal_genes] += signal * row.y_geno
        x[:, n_signal_genes : 2 * n_signal_genes] += 0.1 * row.y_day
        blocks.append(x)
        barcodes = [f"C{i:05d}-1" for i in range(per_gsm)]
        rows.append(pd.DataFrame({
            "gsm": row.gsm, "condition": row.condition, "day": row.day, "replicate": row.replicate,
            "partition": part, "y_geno": np.int8(row.y_geno), "y_day": np.int8(row.y_day), "barcode": barcodes,
        }, index=[f"{row.gsm}:{b}" for b in barcodes]))
    X = np.clip(np.vstack(blocks), -10, 10).astype(np.float32)
    obs = pd.concat(rows)
    for col in ("gsm", "condition", "replicate", "partition"):
        obs[col] = obs[col].astype("category")
    gene_ids = [f"ENSG{i:011d}" for i in range(n_genes)]
    var = pd.DataFrame({"gene_id": gene_ids, "symbol": [f"G{i}" for i in range(n_genes)],
                        "mean": X.mean(0), "std": X.std(0)}, index=gene_ids)
    parts = {p: sorted(g for g, a in assignment.items() if a == p) for p in ("train", "val", "test")}
    adata = ad.AnnData(X=sp.csr_matrix(X), obs=obs, var=var)
    adata.uns["params"] = PrepParams().to_dict()
    adata.uns["split"] = {"name": "synthetic", "unit": "gsm", **parts, "test_day": 19, "val_day": 0}
    adata.uns["fingerprint"] = f"synthetic-{n_cells}-{n_genes}-{signal}-{seed}"
    adata.uns["source"] = "simulated"
    adata.uns["version"] = "test"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(path)
    return path
