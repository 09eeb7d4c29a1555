"""The calibration page's top-gene table (`report.attribution_tables.top_genes`): k rows, one column per fold."""

from __future__ import annotations

import pandas as pd

from lmna_scrna.report.results.attribution_tables import top_genes


def test_top_genes_are_one_row_per_rank_with_folds_in_words_and_planted_marks() -> None:
    rows = [{"split": split, "method": method, "gene_rank": rank, "gene_id": f"G{rank}", "symbol": f"{split}-{rank}",
             "attribution": 1.0 / rank, "planted": rank == 1, "day_program": rank == 2}
            for split in ("dm_t9_v0", "dm_t0_v16") for method in ("Model A gradient × input", "logistic |coefficient|")
            for rank in range(1, 13)]
    shown = top_genes(pd.DataFrame(rows), "Model A", 10)
    assert list(shown.columns) == ["gene_rank", "test day 9", "test day 0"] and len(shown) == 10
    assert shown.loc[0, "test day 9"] == "dm_t9_v0-1 (planted)" and shown.loc[1, "test day 0"] == "dm_t0_v16-2 (day program)"
    assert shown.loc[2, "test day 9"] == "dm_t9_v0-3"
    real = top_genes(pd.DataFrame(rows).assign(planted=pd.NA, day_program=pd.NA), "Model A", 3)
    assert real.loc[0, "test day 9"] == "dm_t9_v0-1"
