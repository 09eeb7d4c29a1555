"""The headline findings the book's intro states, each with what it varies over and how it was decided.

Only numbers computed from the finished runs appear, and each comparison is
decided by the report's one rule (`tl.inference.RULE`), never by the sign of
a mean. The intro's sentences are written in `findings_markdown` from these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ...paths import outputs_dir
from ..results.calibration_tables import headline, read_calibration
from ..results.donor_tables import smallest_donors
from ..results.library_tables import (
    POOLED,
    PSEUDOBULK,
    gsm_inference,
    library_calls,
    negative_control,
    paired_differences,
)
from ..results.tables import DAY_MATCHED_RUNG, LEAKAGE_SPLIT, REPORT_SPLITS, leakage_ladder
from ..results.world_tables import worlds_verdict


def findings(
    splits: Sequence[str] = REPORT_SPLITS, random_split: str = LEAKAGE_SPLIT, calibration: bool = True
) -> dict[str, Any]:
    """The headline numbers (means over training seeds unless named otherwise).

    ``calibration=False`` leaves the calibration out: the comparison page runs
    before this build's calibration page, so a calibration table it could see
    would be an earlier build's.
    """
    ladder = leakage_ladder(random_split, "original", splits).set_index("scheme")
    dm = ladder.loc[DAY_MATCHED_RUNG]
    paired = paired_differences(splits).set_index("comparison")
    inference = gsm_inference(splits)
    pooled = inference[inference["split"] == POOLED].set_index("model")
    control = negative_control(splits, ("A",))
    out: dict[str, Any] = {
        "random_cells_auc": float(ladder.loc["random cells", "A_auc"]),
        "original_auc": float(ladder.loc["original", "A_auc"]),
        "day_matched_auc": float(dm["A_auc"]),
        "day_matched_ci": (float(dm["fold_ci_lo"]), float(dm["fold_ci_hi"])),
        "day_matched_folds": int(dm["folds"]),
    }
    for key, comparison in (("b_vs_a", "Model B − Model A"), ("a_vs_logreg", "Model A − logistic regression"),
                            ("a_vs_pseudobulk", "Model A − pseudobulk")):
        row = paired.loc[comparison]
        out[key] = {"mean": float(row["mean"]), "ci": (float(row["ci_lo"]), float(row["ci_hi"])),
                    "verdict": str(row["verdict"]), "folds": int(row["folds"]), "first_better": int(row["first_better"])}
    out["calls"] = {str(r["model"]): {"right": float(r["called_right"]), "total": int(r["libraries"]),
                                      "ranked": int(r["ranked_right"])} for _, r in library_calls(splits).iterrows()}
    for model in ("A", PSEUDOBULK):
        if model in pooled.index:
            row = pooled.loc[model]
            out[f"ranking_{model}"] = {"right": float(row["pairs_right"]), "total": int(row["pairs_total"]),
                                       "p": float(row["p_value"]), "assignments": int(row["assignments"])}
    if len(control):
        by_kind = control.groupby("contrast")["distance_from_half"].mean()
        out["library_only"] = {
            "split": str(control["split"].iloc[0]),
            "control_distance": float(by_kind.filter(like="control vs control").iloc[0]),
            "genotype_distance": float(by_kind.filter(like="patient vs control").iloc[0]),
        }
    tables_dir = outputs_dir() / "tables"
    table = tables_dir / "calibration.csv"
    if calibration and table.is_file():  # written by the calibration page, which runs before the book is built
        pairs = out.get("ranking_A", {}).get("right", float("nan"))
        out["calibration"] = headline(read_calibration(table), out["day_matched_auc"], pairs)
    beside, claims, donors = (tables_dir / f"{n}.csv" for n in ("worlds_table1", "worlds_claims", "donors"))
    if calibration and beside.is_file() and claims.is_file():  # the worlds page's
        out["worlds"] = worlds_verdict(pd.read_csv(beside), pd.read_csv(claims))
    if calibration and donors.is_file():  # the donors page's
        summary = pd.read_csv(donors)
        out["donors"] = {"smallest": smallest_donors(summary), "summary": summary}
    return out
