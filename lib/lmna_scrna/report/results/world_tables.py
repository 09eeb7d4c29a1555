"""The paper beside the two fitted worlds: Table 1 rows per world, each world's claims, and the verdict.

World G (an LMNA effect) and world L (a line effect) are calibration
scenarios (``world:`` in the design file) whose replicates also train the
paper's Table 1 rows (``table1: true``). This module reads their results and
the committed fit (``params/worlds.yaml``); it trains nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ...io.paper import paper_table1
from ...sim.worlds import WORLDS, load_worlds
from ...tl.calibration_design import CalibrationDesign, load_result
from ..names import split_words
from .calibration_tables import claims_text

#: Each world's knob in words.
KNOB_WORDS: dict[str, str] = {"effect_scale": "LMNA effect scale", "line_effect_scale": "line effect scale"}


def world_scenarios(design: CalibrationDesign) -> dict[str, str]:
    """World name → the design's scenario that runs it with the paper's Table 1 rows (first one listed)."""
    out: dict[str, str] = {}
    for c in design.scenarios:
        if c.world is not None and c.table1 and c.world not in out:
            out[c.world] = c.name
    return out


def world_table1_long(design: CalibrationDesign) -> pd.DataFrame:
    """One row per world × simulated study × Table 1 row (split, model): its test AUC."""
    rows = []
    for world, scenario in world_scenarios(design).items():
        for seed in design.seeds(design.scenario(scenario)):
            for r in load_result(scenario, seed)["table1"]:
                rows.append({"world": world, "sim_seed": seed, "split": r["split"], "model": r["model"],
                             "test_auc": float(r["test_auc"])})
    return pd.DataFrame(rows, columns=["world", "sim_seed", "split", "model", "test_auc"])


def beside_worlds(long: pd.DataFrame, tolerance: float, build: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per paper Table 1 row: the paper's AUC, each world's mean, sd and studies, and whether the mean is within
    `tolerance` of the paper (the original split: whether it is inverted, as the paper's is).

    ``build`` (a Table 1 with split, model, test_auc_mean) adds this build's own AUC.
    """
    paper = paper_table1()
    rows = []
    for _, p in paper.iterrows():
        row: dict[str, Any] = {"split": p["split"], "model": p["model"], "paper_auc": float(p["test_auc"])}
        for world in WORLDS:
            values = long.loc[(long["world"] == world) & (long["split"] == p["split"]) & (long["model"] == p["model"]),
                              "test_auc"].to_numpy()
            mean = float(values.mean()) if values.size else float("nan")
            row |= {f"{world}_mean": mean, f"{world}_sd": float(values.std(ddof=1)) if values.size > 1 else float("nan"),
                    f"{world}_n": int(values.size), f"{world}_meets": _meets(p["split"], mean, row["paper_auc"], tolerance)}
        if build is not None:
            match = build[(build["split"] == p["split"]) & (build["model"] == p["model"])]
            row["build_auc"] = float(match["test_auc_mean"].iloc[0]) if len(match) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def _meets(split: str, mean: float, paper: float, tolerance: float) -> bool:
    """The paper's original split is inverted (its finding); a day-matched row must land within the tolerance."""
    if np.isnan(mean):
        return False
    return bool(mean < 0.5) if split == "original" else bool(abs(mean - paper) <= tolerance)


def world_claims(summary: pd.DataFrame) -> pd.DataFrame:
    """Each world's library ranking (pairs ranked right, mean over studies), claim rates (both rules, 95%
    Clopper–Pearson) and mean study AUC, from the calibration summary."""
    rows = summary[summary["world"].astype(str).isin(list(WORLDS))]
    keep = ["world", "scenario", "replicates", "mean_auc", "sd_auc", "mean_pairs_right", "pairs_total",
            "auc_rule_claims", "auc_rule_rate", "auc_rule_lo",
            "auc_rule_hi", "ranking_rule_claims", "ranking_rule_rate", "ranking_rule_lo", "ranking_rule_hi"]
    return rows[keep].drop_duplicates("world").reset_index(drop=True)


def claims_for_page(claims: pd.DataFrame) -> pd.DataFrame:
    """`world_claims` as a page shows it: one row per world, each rule's claims with their interval in one cell."""
    return pd.DataFrame({
        "world": claims["world"], "study_auc_mean": claims["mean_auc"], "study_auc_sd": claims["sd_auc"],
        "pairs_text": [f"{r['mean_pairs_right']:.1f} of {r['pairs_total']}" for _, r in claims.iterrows()],
        "auc_rule_text": [claims_text(r, "auc") for _, r in claims.iterrows()],
        "ranking_rule_text": [claims_text(r, "ranking") for _, r in claims.iterrows()],
    })


def fit_evaluations(path: Any = None) -> pd.DataFrame:
    """Every scale the committed fit evaluated, per size and world: the mean AUC per split and whether it was kept."""
    fits = load_worlds(path)["fits"]
    rows = []
    for size, fit in fits.items():
        for world, entry in fit["worlds"].items():
            kept = entry["effect_scale"] if entry["knob"] == "effect_scale" else entry["line_effect_scale"]
            for e in entry["evaluations"]:
                rows.append({"size": size, "world": world, "knob": KNOB_WORDS[entry["knob"]], "scale": float(e["scale"]),
                             "kept": bool(np.isclose(e["scale"], kept)), "replicates": int(fit["replicates"]),
                             "day_matched_mean": float(e["day_matched_mean"]),
                             **{f"auc_{k}": float(np.mean(v)) for k, v in e["auc"].items()}})
    return pd.DataFrame(rows)


def evaluation_labels(evaluations: pd.DataFrame) -> dict[str, str]:
    """Words for `fit_evaluations`' per-split columns (``auc_<split>``): the split alone (the caption says AUC)."""
    return {c: split_words(c.removeprefix("auc_"), short=True) for c in evaluations if c.startswith("auc_")}


def worlds_verdict(beside: pd.DataFrame, claims: pd.DataFrame) -> dict[str, Any]:
    """What the page's sentence says, computed: rows each world reproduces, and its claim rates.

    ``indistinguishable`` is true when both worlds reproduce the same number of
    the paper's rows and world L's studies make the protocol claim a genotype
    signal at least as often as it does at the nominal 5%: the table cannot
    tell an LMNA effect from a line difference.
    """
    n_rows = len(beside)
    met = {w: int(beside[f"{w}_meets"].sum()) for w in WORLDS}
    by_world = claims.set_index("world")
    rates = {w: {rule: (int(by_world.loc[w, f"{rule}_rule_claims"]), int(by_world.loc[w, "replicates"]))
                 for rule in ("auc", "ranking")} for w in WORLDS if w in by_world.index}
    line_claims = rates.get("L", {}).get("auc", (0, 1))
    missed = {w: [(f"{split_words(r['split'], short=True)}, Model {r['model']}", float(r[f"{w}_mean"]),
                   float(r["paper_auc"])) for _, r in beside.iterrows() if not r[f"{w}_meets"]] for w in WORLDS}
    return {"rows": n_rows, "met": met, "rates": rates, "missed": missed,
            "indistinguishable": bool(abs(met["G"] - met["L"]) <= 1 and line_claims[0] / line_claims[1] > 0.05)}
