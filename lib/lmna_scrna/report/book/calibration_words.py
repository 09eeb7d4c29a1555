"""The calibration's, the worlds' and the donors' numbers and verdict words, for their pages and the intro to paste.

The sentences live in the pages' Markdown; these functions give each page what
it glues (`claims.glue_words`): every rate with its interval, every empirical p
with its floor, and every word that depends on them as a `claims.Claim`.
Written once, so a page and the intro can never disagree.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ...sim.params import SIM_SIZES
from ...tl.inference import clopper_pearson
from ..numbers import count_text, difference_interval_text, difference_text, sd_text
from ..results.donor_tables import FALSE_CLAIM_LIMIT, POWER_GOAL
from .claims import claim

#: What is glued where a scenario was not run in this build (a smoke design has fewer).
NOT_RUN = "not run in this build"


def rate_text(claims: int, n: int, lo: float, hi: float) -> str:
    """"3 of 19 studies (95% interval 0.03–0.40)": a rate is never quoted without its exact interval."""
    return f"{claims} of {n} {'study' if n == 1 else 'studies'} (95% interval {lo:.2f}–{hi:.2f})"


def p_text(p: float, floor: float) -> str:
    """An empirical p with the floor its study count allows."""
    at_floor = ", the floor" if math.isclose(p, floor) else ""
    return f"empirical p = {p:.3f}; the smallest p {round(1 / floor) - 1} studies allow is {floor:.3f}{at_floor}"


def _null_values(key: str, c: dict[str, Any] | None) -> dict[str, Any]:
    if c is None:
        return {f"{key}_{name}": NOT_RUN for name in ("what", "auc_rate", "ranking_rate", "reach_auc", "p",
                                                      "reach_ranking", "accounts", "credited")}
    n = int(c["replicates"])
    if key == "null":
        what = "no line effect either"
    elif c.get("world") == "L":
        what = (f"world L's line effect ({c['line_units']:.3g} between-control-library differences in its constant "
                "part, fitted so that it alone reproduces the paper's Table 1)")
    else:
        what = f"a line effect of {c['line_units']:.3g} between-control-library differences"
    return {
        f"{key}_what": what,
        f"{key}_auc_rate": rate_text(int(c["auc_rule_claims"]), n, c["auc_rule_lo"], c["auc_rule_hi"]),
        f"{key}_ranking_rate": rate_text(int(c["ranking_rule_claims"]), n, c["ranking_rule_lo"], c["ranking_rule_hi"]),
        f"{key}_reach_auc": int(c["reach_auc"]), f"{key}_reach_ranking": int(c["reach_ranking"]),
        f"{key}_p": p_text(c["empirical_p"], c["p_floor"]),
        f"{key}_accounts": claim("accounts", reach=int(c["reach_auc"]), n=n),
        f"{key}_credited": claim("credited", claims=int(c["auc_rule_claims"]), n=n),
    }


def _size_values(s: dict[str, Any] | None) -> dict[str, Any]:
    if not s:
        return {"size_large": NOT_RUN, "size_small": NOT_RUN, "size_diff": NOT_RUN, "size_interval": NOT_RUN,
                "size_verdict": claim("shift", lo=math.nan, hi=math.nan)}
    return {
        "size_large": f"{s['large_mean']:.3f}{sd_text(s['large_sd'], 3)} over {s['large_n']} studies",
        "size_small": f"{s['small_mean']:.3f}{sd_text(s['small_sd'], 3)} over {s['small_n']} studies",
        "size_diff": difference_text(s["diff"]), "size_interval": difference_interval_text(s["lo"], s["hi"]),
        "size_verdict": claim("shift", lo=s["lo"], hi=s["hi"]),
    }


def _power_text(power: list[dict[str, Any]]) -> str:
    if not power:
        return NOT_RUN
    return "; ".join(f"{rate_text(p['auc_rule_claims'], p['replicates'], p['auc_rule_lo'], p['auc_rule_hi'])} at "
                     f"effect scale {p['effect_scale']:g}" for p in power)


def calibration_values(h: dict[str, Any]) -> dict[str, Any]:
    """What the calibration page and the intro paste, from `calibration_tables.calibration_headline`."""
    units = h.get("crossing_units")
    replicate, larger = SIM_SIZES["calibration"], SIM_SIZES["calibration_larger"]
    return {
        "observed_auc": h["observed_auc"], "observed_pairs": count_text(h["observed_pairs"]),
        "replicate_cells": f"{replicate.n_cells:,}", "replicate_genes": f"{replicate.n_genes:,}",
        "larger_cells": f"{larger.n_cells:,}", "larger_genes": f"{larger.n_genes:,}",
        **_null_values("null", h.get("null")), **_null_values("line", h.get("line")),
        "line_crossing": claim("crossing", units=math.nan if units is None else float(units),
                               curve_max=float(h["curve_max_units"])),
        "power_rates": _power_text(h["power"]),
        **_size_values(h.get("size")),
    }


def worlds_values(v: dict[str, Any]) -> dict[str, Any]:
    """What the worlds page and the intro paste, from `world_tables.worlds_verdict`."""
    claims_l = v["rates"].get("L", {}).get("auc")
    misses = {w: "; ".join(f"{row} {mean:.3f} against the paper's {paper:.3f}" for row, mean, paper in rows) or "none"
              for w, rows in v.get("missed", {}).items()}
    return {
        "worlds_rows": v["rows"], "worlds_G_met": v["met"]["G"], "worlds_L_met": v["met"]["L"],
        "worlds_L_claims": rate_text(claims_l[0], claims_l[1], *clopper_pearson(*claims_l)) if claims_l else NOT_RUN,
        "worlds_G_misses": misses.get("G", "none"), "worlds_L_misses": misses.get("L", "none"),
        "worlds_verdict": claim("worlds", met_g=v["met"]["G"], met_l=v["met"]["L"],
                                claims_l=claims_l[0] if claims_l else 0, studies_l=claims_l[1] if claims_l else 0),
    }


def donors_values(smallest: dict[str, Any], summary: pd.DataFrame) -> dict[str, Any]:
    """What the donors page and the intro paste, from `donor_tables.smallest_donors` and its summary.

    The rates shown are those of the smallest design that gets there, or of the largest tested when none does.
    """
    tested = [int(d) for d in smallest["tested"]]
    shown = smallest["donors"] if smallest["donors"] is not None else max(tested)
    rates = summary[summary["rule"] == smallest["rule"]].set_index(["donors", "world"])

    def rate(world: str) -> str:
        r = rates.loc[(shown, world)]
        return rate_text(int(r["claims"]), int(r["studies"]), float(r["lo"]), float(r["hi"]))

    return {
        "donors_verdict": claim("donors", smallest=smallest["donors"], tested=tested),
        "donors_tested": ", ".join(map(str, tested)), "donors_shown": int(shown),
        "donors_L_rate": rate("L"), "donors_G_rate": rate("G"),
        "donors_false_limit": f"{FALSE_CLAIM_LIMIT:.0%}", "donors_power_goal": f"{POWER_GOAL:.0%}",
    }
