"""Tables a prepare page shows: what QC removed per library, and the cells of each partition.

Computed from the QC table and obs of a fitted split; `pl.qc` draws them.
"""

from __future__ import annotations

import pandas as pd

from .splits import PARTITIONS


def qc_summary(qc: pd.DataFrame) -> pd.DataFrame:
    """Per GSM: cells before QC, after QC and after subsampling, and medians before/after QC."""
    passed = qc[qc["pass_qc"]]
    before = qc.groupby("gsm")
    after = passed.groupby("gsm")
    table = pd.DataFrame(
        {
            "cells_raw": before.size(),
            "cells_qc": after.size(),
            "cells_kept": qc[qc["kept"]].groupby("gsm").size(),
            "median_genes_raw": before["n_genes"].median(),
            "median_genes_qc": after["n_genes"].median(),
            "mean_pct_mt_raw": before["pct_mt"].mean(),
            "mean_pct_mt_qc": after["pct_mt"].mean(),
        }
    )
    table["share_removed_by_qc"] = 1 - table["cells_qc"] / table["cells_raw"]
    return table.reset_index()


def split_sizes(obs: pd.DataFrame) -> pd.DataFrame:
    """Cells per GSM and partition, with each GSM's condition and day."""
    table = obs.groupby(["gsm", "condition", "day", "partition"], observed=True).size().rename("cells").reset_index()
    table["partition"] = pd.Categorical(table["partition"].astype(str), categories=PARTITIONS, ordered=True)
    return table.sort_values(["gsm", "partition"]).reset_index(drop=True)
