"""The headline findings the book's intro states, each with what it varies over and how it was decided.

Only numbers computed from the finished runs appear, and each comparison is
decided by the report's one rule (`tl.inference.RULE`), never by the sign of
a mean. The comparison page glues them (`page_values`) for the sentences of
the intro, the methods page and its own, which are typed in their Markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...io.paper import paper_table1
from ...tl.inference import CEILING, RULE
from ..names import split_words
from ..numbers import auc_interval_text, count_text, difference_interval_text, difference_text
from ..results.library_tables import (
    POOLED,
    PSEUDOBULK,
    gsm_inference,
    library_calls,
    negative_control,
    paired_differences,
)
from ..results.tables import DAY_MATCHED_RUNG, default_leakage_split, leakage_ladder, report_splits
from .claims import WIDE_INTERVAL, claim


def findings(splits: Sequence[str] | None = None, random_split: str | None = None) -> dict[str, Any]:
    """The comparison's headline numbers (means over training seeds unless named otherwise). The calibration,
    worlds and donors pages glue their own: they run after the comparison page, so a table of theirs it
    could see would be an earlier build's."""
    splits = report_splits() if splits is None else splits
    ladder = leakage_ladder([random_split or default_leakage_split(), *splits]).set_index("scheme")
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
                    "lowest": float(row["lowest_auc"]), "per_fold": str(row["per_fold"]),
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
    return out


#: The data a build ran on, in the words of the intro's first line (`data_source`'s values).
DATA_WORDS = {"simulated": "the simulated default data, not the real study", "real": "the real GSE269705 data"}


def _paper_values() -> dict[str, Any]:
    """The paper's own Model A AUCs (its Table 1, real data): the original split and the day-matched range."""
    paper = paper_table1().set_index(["split", "model"])["test_auc"]
    dm = [float(v) for (s, m), v in paper.items() if s.startswith("dm_") and m == "A"]
    original = float(paper[("original", "A")])
    return {"paper_original_auc": original, "paper_original_inverted": claim("inverted", auc=original),
            "paper_dm_folds": len(dm), "paper_dm_range": f"{min(dm):.3f}–{max(dm):.3f}"}


def _comparison_values(key: str, c: dict[str, Any], first: str, second: str) -> dict[str, Any]:
    lo, hi = c["ci"]
    return {f"{key}_mean": difference_text(c["mean"]), f"{key}_interval": difference_interval_text(lo, hi),
            f"{key}_folds": c["folds"], f"{key}_first_better": c["first_better"], f"{key}_per_fold": c["per_fold"],
            f"{key}_verdict": claim("paired", lo=lo, hi=hi, lowest=c["lowest"], first=first, second=second)}


def comparison_values(source: str) -> dict[str, Any]:
    """What the comparison page glues, from its finished runs."""
    return page_values(findings(), source)


def page_values(f: dict[str, Any], source: str) -> dict[str, Any]:
    """What the comparison page glues for the book's sentences (intro, methods, its own): numbers, texts, claims.

    A sentence types its words around these; every word that depends on the data is a `claims.Claim`.
    """
    lo, hi = f["day_matched_ci"]
    ladder_aucs = [f["random_cells_auc"], f["original_auc"], f["day_matched_auc"]]
    out: dict[str, Any] = {
        "data_words": DATA_WORDS.get(source, "data of unknown source"),
        "random_cells_auc": f["random_cells_auc"], "original_auc": f["original_auc"],
        "original_inverted": claim("inverted", auc=f["original_auc"]),
        "day_matched_auc": f["day_matched_auc"], "day_matched_folds": f["day_matched_folds"],
        "day_matched_interval": auc_interval_text(lo, hi),
        "day_matched_width": claim("interval_width", lo=lo, hi=hi), "wide_interval": WIDE_INTERVAL,
        "ladder_falls": claim("ladder", aucs=ladder_aucs),
        **_paper_values(),
        **_comparison_values("b_vs_a", f["b_vs_a"], "Model B", "Model A"),
        **_comparison_values("a_vs_logreg", f["a_vs_logreg"], "Model A", "logistic regression"),
        **_comparison_values("a_vs_pseudobulk", f["a_vs_pseudobulk"], "Model A", "pseudobulk"),
    }
    for model in ("A", PSEUDOBULK):
        r = f.get(f"ranking_{model}")
        if r:
            out |= {f"ranking_{model}_right": count_text(r["right"]), f"ranking_{model}_total": r["total"],
                    f"ranking_{model}_p": r["p"], f"ranking_{model}_assignments": r["assignments"],
                    f"ranking_{model}_min_p": 1 / r["assignments"]}
    if "A" in f.get("calls", {}):
        out["calls_A"] = claim("calls", right=float(f["calls"]["A"]["right"]), total=int(f["calls"]["A"]["total"]))
    if "library_only" in f:
        c = f["library_only"]
        out |= {"library_only_split": split_words(c["split"], short=True),
                "library_only_control_distance": c["control_distance"],
                "library_only_genotype_distance": c["genotype_distance"]}
    out |= {"rule": RULE, "ceiling": CEILING}
    return out
