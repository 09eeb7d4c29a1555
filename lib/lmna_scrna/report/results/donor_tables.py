"""How many donors it would take: claim rates per world and number of donors, from the donors scenarios.

D = 1 is the study itself: its rates are the calibration's world scenarios
(leave-one-day-out folds, libraries as the unit); a donor-level test cannot
run there (two donors, p ≥ 1/2), so its donor-rule rate is 0 by construction.
D ≥ 2 are the donors scenarios (`tl.donors`, donors held out). Every rate
carries its exact 95% Clopper–Pearson interval.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ...tl.calibration_design import CalibrationDesign, load_result
from ...tl.inference import clopper_pearson

#: The first screen's criterion: world L (no LMNA effect) claims at most this often, world G at least `POWER_GOAL`.
FALSE_CLAIM_LIMIT = 0.05
POWER_GOAL = 0.80
RULES: tuple[str, ...] = ("donor", "library")


def donor_results(design: CalibrationDesign) -> pd.DataFrame:
    """One row per donors-scenario study: world, donors per genotype, mean AUC, both rules' p and claim."""
    rows = []
    for c in design.scenarios:
        if not c.donors:
            continue
        for seed in design.seeds(c):
            r = load_result(c.name, seed)
            rows.append({"scenario": c.name, "world": c.world, "donors": c.donors, "sim_seed": seed,
                         "mean_auc": float(r["mean_auc"]), "donor_p": float(r["donor_p"]),
                         "donor_claim": bool(r["donor_claim"]), "library_p": float(r["library_p"]),
                         "library_claim": bool(r["library_claim"]), "donor_p_floor": float(r["donor_p_floor"])})
    return pd.DataFrame(rows, columns=["scenario", "world", "donors", "sim_seed", "mean_auc", "donor_p", "donor_claim",
                                       "library_p", "library_claim", "donor_p_floor"])


def donor_days(design: CalibrationDesign) -> list[int]:
    """The days every simulated donor gave a library on, as the first donors study recorded them."""
    first = next((c for c in design.scenarios if c.donors), None)
    return [] if first is None else list(load_result(first.name, design.first_seed)["spec"]["donor_days"])


def study_rows(calibration: pd.DataFrame) -> pd.DataFrame:
    """D = 1 from the calibration's world scenarios (one row per study), in `donor_results`' shape."""
    worlds = calibration[calibration["world"].astype(str).isin(["G", "L"])]
    worlds = worlds[~worlds.duplicated(["world", "sim_seed"])]
    return pd.DataFrame({
        "scenario": worlds["scenario"], "world": worlds["world"].astype(str), "donors": 1,
        "sim_seed": worlds["sim_seed"], "mean_auc": worlds["mean_auc"], "donor_p": 1.0, "donor_claim": False,
        "library_p": worlds["ranking_p"], "library_claim": worlds["ranking_decision"].astype(bool),
        "donor_p_floor": 0.5,
    })


def all_donor_results(design: CalibrationDesign, calibration: pd.DataFrame) -> pd.DataFrame:
    """Every study of every D: the study itself (D = 1, from the calibration table) and the donors scenarios."""
    return pd.concat([study_rows(calibration), donor_results(design)], ignore_index=True)


def donor_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per world, donors per genotype and rule: claims, studies, rate and its 95% Clopper–Pearson interval."""
    rows = []
    for (world, d), group in results.groupby(["world", "donors"], sort=True):
        n = len(group)
        for rule in RULES:
            k = int(group[f"{rule}_claim"].sum())
            lo, hi = clopper_pearson(k, n)
            rows.append({"world": world, "donors": int(d), "rule": rule, "claims": k, "studies": n, "rate": k / n,
                         "lo": lo, "hi": hi, "mean_auc": float(group["mean_auc"].mean()),
                         "p_floor": float(group["donor_p_floor"].iloc[0]) if rule == "donor" else float("nan")})
    return pd.DataFrame(rows)


def smallest_donors(summary: pd.DataFrame, rule: str = "donor") -> dict[str, Any]:
    """The smallest D at which world L claims at most `FALSE_CLAIM_LIMIT` of the time and world G at least
    `POWER_GOAL` (point rates), or None; with every tested D, so the page can say none reached it."""
    part = summary[summary["rule"] == rule].pivot(index="donors", columns="world", values="rate")
    tested = [int(d) for d in part.index]
    ok = [int(d) for d, r in part.iterrows() if r.get("L", 1.0) <= FALSE_CLAIM_LIMIT and r.get("G", 0.0) >= POWER_GOAL]
    return {"rule": rule, "donors": min(ok) if ok else None, "tested": tested}


def auc_by_design(results: pd.DataFrame) -> pd.DataFrame:
    """Per world and donors per genotype: the studies' mean held-out test AUC, its sd over studies, their count."""
    grouped = results.groupby(["world", "donors"], as_index=False)["mean_auc"]
    return grouped.agg(held_out_auc_mean="mean", held_out_auc_sd="std", studies="count")


def donors_for_page(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per donors per genotype, one column per world and rule: 'k of n (lo–hi)'."""
    def cell(r: pd.Series) -> str:
        return f"{r['claims']} of {r['studies']} ({r['lo']:.2f}–{r['hi']:.2f})"

    shown = summary.assign(text=[cell(r) for _, r in summary.iterrows()],
                           column=[f"world {w}, {rule} rule" for w, rule in zip(summary["world"], summary["rule"],
                                                                               strict=True)])
    return shown.pivot(index="donors", columns="column", values="text").reset_index()
