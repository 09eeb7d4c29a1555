"""The calibration page's numbers: false-positive rates, power, the line-effect sensitivity curve.

Reads the finished replicates (`tl.calibration_design.load_result`) and
computes nothing they did not record except summaries, so the page is cheap
to rebuild and the book's intro can read it without starting TensorFlow.
Every rate comes with its exact 95% Clopper–Pearson interval and every
empirical p with its floor, 1 / (1 + replicates).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from scipy import stats

from ...tl.calibration_design import CalibrationDesign, load_result
from ...tl.calibration_match import line_units_for_scale
from ...tl.inference import clopper_pearson, empirical_p
from .library_tables import POOLED, gsm_inference
from .tables import DAY_MATCHED_RUNG, default_leakage_split, leakage_ladder, report_splits


def build_observation(splits: Sequence[str] | None = None) -> tuple[float, float]:
    """This build's two numbers the calibration judges: Model A's mean day-matched test AUC and the library
    pairs its pooled leave-one-day-out ranking orders right."""
    splits = report_splits() if splits is None else splits
    ladder = leakage_ladder([default_leakage_split(), *splits]).set_index("scheme")
    auc = float(ladder.loc[DAY_MATCHED_RUNG, "A_auc"])
    pooled = gsm_inference(splits)
    row = pooled[(pooled["split"] == POOLED) & (pooled["model"] == "A")].iloc[0]
    return auc, float(row["pairs_right"])


def batch_table(results: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per replicate of a batch: its effects, mean day-matched AUC with its fold interval, the decisions."""
    rows = []
    for r in results:
        spec = r["spec"]
        rows.append({
            "sim_seed": spec["sim_seed"], "effect_scale": spec["effect_scale"],
            "line_units": line_units_for_scale(spec["line_effect_scale"], spec["library_effect_scale"]),
            "mean_auc": r["mean_auc"], "auc_ci_lo": r["auc_ci_lo"], "auc_ci_hi": r["auc_ci_hi"],
            "auc_decision": r["auc_decision"], "ranking_pairs_right": r["ranking_pairs_right"],
            "ranking_pairs_total": r["ranking_pairs_total"], "ranking_p": r["ranking_p"],
            "ranking_decision": r["ranking_decision"],
        })
    return pd.DataFrame(rows)


def replicate_table(results: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """What a batch's page shows, one row per replicate: the study's protocol and decisions, or a donor study's."""
    if results and "donor_p" in results[0]:
        return pd.DataFrame([{"sim_seed": r["spec"]["sim_seed"], "donors_per_genotype": r["spec"]["d"],
                              "mean_auc": r["mean_auc"], "donor_p": r["donor_p"], "donor_claim": r["donor_claim"],
                              "library_p": r["library_p"], "library_claim": r["library_claim"]} for r in results])
    return batch_table(results)[["sim_seed", "mean_auc", "auc_ci_lo", "auc_ci_hi", "auc_decision",
                                 "ranking_pairs_right", "ranking_p", "ranking_decision"]]


def calibration_table(design: CalibrationDesign) -> pd.DataFrame:
    """Every replicate of the design, one row each, labelled with its scenario and role."""
    parts = []
    for c in design.scenarios:
        if c.donors:  # other studies, other decisions: the donors page reads them (`donor_tables`)
            continue
        results = [load_result(c.name, seed) for seed in design.seeds(c)]
        parts.append(batch_table(results).assign(scenario=c.name, role=c.role, data=c.data, world=c.world or ""))
    table = pd.concat(parts, ignore_index=True)
    first = ["scenario", "role", "world", "data"]
    return table[[*first, *[k for k in table.columns if k not in first]]]


def calibration_summary(table: pd.DataFrame, observed_auc: float, observed_pairs: float) -> pd.DataFrame:
    """Per scenario: how often each rule claims a signal (95% Clopper–Pearson) and where this build falls.

    Under the null and line scenarios a claim is a false positive; under the
    power scenarios it is a detection. ``reach_auc`` counts replicates whose
    mean day-matched AUC is at least this build's, ``reach_ranking`` those that
    rank at least as many library pairs right; ``empirical_p`` is (1 + reach_auc)
    / (1 + replicates) and cannot fall below ``p_floor``.
    """
    rows = []
    for scenario, group in table.groupby("scenario", sort=False):
        n = len(group)
        row: dict[str, Any] = {
            "scenario": scenario, "role": group["role"].iloc[0], "world": str(group["world"].iloc[0]),
            "data": group["data"].iloc[0],
            "effect_scale": float(group["effect_scale"].iloc[0]), "line_units": float(group["line_units"].mean()),
            "replicates": n, "mean_auc": float(group["mean_auc"].mean()), "sd_auc": float(group["mean_auc"].std(ddof=1)),
            "mean_pairs_right": float(group["ranking_pairs_right"].mean()),
            "pairs_total": int(group["ranking_pairs_total"].max()),
        }
        for rule in ("auc", "ranking"):
            k = int(group[f"{rule}_decision"].sum())
            lo, hi = clopper_pearson(k, n)
            row |= {f"{rule}_rule_claims": k, f"{rule}_rule_rate": k / n, f"{rule}_rule_lo": lo, f"{rule}_rule_hi": hi}
        p, floor = empirical_p(observed_auc, group["mean_auc"])
        row |= {"reach_auc": int((group["mean_auc"] >= observed_auc).sum()),
                "reach_ranking": int((group["ranking_pairs_right"] >= observed_pairs).sum()),
                "empirical_p": p, "p_floor": floor}
        rows.append(row)
    return pd.DataFrame(rows)


def claims_text(row: pd.Series, rule: str) -> str:
    """One rule's claims as a page cell: "k of n (lo–hi)", the rate's 95% Clopper–Pearson interval."""
    return (f"{row[f'{rule}_rule_claims']} of {row['replicates']} "
            f"({row[f'{rule}_rule_lo']:.2f}–{row[f'{rule}_rule_hi']:.2f})")


def calibration_for_page(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary narrowed to what a reader compares, each claim count with its interval in one cell."""
    claims = claims_text
    return pd.DataFrame({
        "scenario": summary["scenario"], "role": summary["role"], "line_units": summary["line_units"],
        "effect_scale": summary["effect_scale"], "study_auc_mean": summary["mean_auc"], "study_auc_sd": summary["sd_auc"],
        "auc_rule_text": [claims(r, "auc") for _, r in summary.iterrows()],
        "ranking_rule_text": [claims(r, "ranking") for _, r in summary.iterrows()],
        "p_text": [f"{r['empirical_p']:.3f} (floor {r['p_floor']:.3f})" for _, r in summary.iterrows()],
    })


def sensitivity_curve(summary: pd.DataFrame) -> pd.DataFrame:
    """The null and line scenarios at the calibration size, by line effect (units of the between-control-library
    difference): how large a line effect alone must be to reproduce this build's AUC and library ranking."""
    plain = ~summary["world"].astype(str).isin(["G", "L"])  # a world's line effect also changes the program: off the curve
    curve = summary[summary["role"].isin(["null", "line"]) & (summary["data"] == "calibration") & plain]
    return curve.sort_values("line_units").reset_index(drop=True)


def crossing(curve: pd.DataFrame, observed_auc: float) -> float | None:
    """Line units at which the curve's mean null AUC first reaches `observed_auc` (linear between points);
    None when no point of the curve reaches it."""
    units, auc = curve["line_units"].to_numpy(), curve["mean_auc"].to_numpy()
    for i in range(len(units)):
        if auc[i] >= observed_auc:
            if i == 0:
                return float(units[0])
            return float(units[i - 1] + (observed_auc - auc[i - 1]) * (units[i] - units[i - 1]) / (auc[i] - auc[i - 1]))
    return None


def ground_truth(raw_dir: Path) -> dict[str, Any] | None:
    """The simulator's ground truth of a raw-data folder, None for real data."""
    path = Path(raw_dir) / "ground_truth.json"
    return json.loads(path.read_text()) if path.is_file() else None


def calibration_headline(table: pd.DataFrame, observed_auc: float, observed_pairs: float) -> dict[str, Any]:
    """What the intro and the calibration page say of the calibration, computed once from its table.

    For each of the two nulls (no line effect; world L's line effect, fitted to the paper): the
    rules' false-positive rates with their intervals and this build's
    empirical p with its floor; the line effect at which the no-genotype curve
    reaches this build's AUC; the power of the AUC rule at each effect scale.
    """
    summary = calibration_summary(table, observed_auc, observed_pairs).set_index("scenario")
    out: dict[str, Any] = {"observed_auc": observed_auc, "observed_pairs": observed_pairs,
                           "replicates": int(len(table))}
    for key, role in (("null", "null"), ("line", "line")):
        rows = summary[(summary["role"] == role)]
        if role == "line":  # world L (the line effect that alone reproduces the paper), else the matched one
            world_l = rows[rows["world"] == "L"]
            rows = world_l if len(world_l) else rows[rows.index.str.endswith("matched")]
        if len(rows):
            row = rows.iloc[0]
            out[key] = {name: (row[name].item() if hasattr(row[name], "item") else row[name]) for name in (
                "replicates", "line_units", "mean_auc", "sd_auc", "auc_rule_claims", "auc_rule_lo", "auc_rule_hi",
                "ranking_rule_claims", "ranking_rule_lo", "ranking_rule_hi", "reach_auc", "reach_ranking",
                "empirical_p", "p_floor")} | {"world": str(row["world"])}
    curve = sensitivity_curve(summary.reset_index())
    out["crossing_units"] = crossing(curve, observed_auc) if len(curve) > 1 else None
    out["curve_max_units"] = float(curve["line_units"].max()) if len(curve) else float("nan")
    out["size"] = _size_shift(table)
    power = summary[summary["role"] == "power"]
    out["power"] = [{"effect_scale": float(r["effect_scale"]), "replicates": int(r["replicates"]),
                     "auc_rule_claims": int(r["auc_rule_claims"]), "ranking_rule_claims": int(r["ranking_rule_claims"]),
                     "auc_rule_lo": float(r["auc_rule_lo"]), "auc_rule_hi": float(r["auc_rule_hi"])}
                    for _, r in power.iterrows()]
    return out


def _size_shift(table: pd.DataFrame) -> dict[str, Any] | None:
    """The null's mean AUC at the larger size minus at the replicates' size, with a 95% Welch interval."""
    small = table.loc[table["role"] == "null", "mean_auc"].to_numpy()
    large = table.loc[table["role"] == "size", "mean_auc"].to_numpy()
    if small.size < 2 or large.size < 2:
        return None
    ci = stats.ttest_ind(large, small, equal_var=False).confidence_interval(0.95)
    return {"small_n": int(small.size), "small_mean": float(small.mean()), "small_sd": float(small.std(ddof=1)),
            "large_n": int(large.size), "large_mean": float(large.mean()), "large_sd": float(large.std(ddof=1)),
            "diff": float(large.mean() - small.mean()), "lo": float(ci.low), "hi": float(ci.high)}
