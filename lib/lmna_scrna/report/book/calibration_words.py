"""The calibration in words: the sentences the calibration page and the intro print, from `calibration_tables.headline`.

Written once so the page and the intro can never disagree, and so every rate
carries its interval and every empirical p its floor wherever it is quoted.
"""

from __future__ import annotations

import math
from typing import Any


def _rate(claims: int, n: int, lo: float, hi: float) -> str:
    return f"{claims} of {n} studies (95% interval {lo:.2f}–{hi:.2f})"


def _p(p: float, floor: float) -> str:
    at_floor = " — the floor" if math.isclose(p, floor) else ""
    return f"empirical p = {p:.3f}; the smallest p {round(1 / floor) - 1} studies allow is {floor:.3f}{at_floor}"


def null_sentence(h: dict[str, Any], key: str) -> str:
    """False positives of both rules under one null, and this build's empirical p against it."""
    c = h[key]
    n = int(c["replicates"])
    what = ("no genotype and no line effect" if key == "null" else
            f"no genotype effect but a line effect of {c['line_units']:.3g} between-control-library differences "
            "(this build's)")
    return (
        f"With {what}, the AUC rule claimed a genotype signal in "
        f"{_rate(c['auc_rule_claims'], n, c['auc_rule_lo'], c['auc_rule_hi'])} and the library-ranking rule in "
        f"{_rate(c['ranking_rule_claims'], n, c['ranking_rule_lo'], c['ranking_rule_hi'])}. This build's mean "
        f"day-matched AUC, {h['observed_auc']:.3f}, was reached by {c['reach_auc']} of them ({_p(c['empirical_p'], c['p_floor'])}); "
        f"its library ranking ({h['observed_pairs']:g} pairs right) by {c['reach_ranking']}."
    )


def brief(h: dict[str, Any]) -> str:
    """The calibration in two clauses for the intro: the line-only null first (the design's worry), then the plain null."""
    parts = []
    for key, what in (("line", "a line difference as large as this build's ({units:.3g} library differences) and no "
                               "genotype effect"), ("null", "neither a line nor a genotype effect")):
        if key in h:
            c = h[key]
            n = int(c["replicates"])
            parts.append(
                f"with {what.format(units=c['line_units'])}, the AUC rule claimed a signal in "
                f"{_rate(c['auc_rule_claims'], n, c['auc_rule_lo'], c['auc_rule_hi'])}, and {c['reach_auc']} reached "
                f"this build's AUC ({_p(c['empirical_p'], c['p_floor'])})"
            )
    return "; ".join(parts)


def sensitivity_sentence(h: dict[str, Any]) -> str:
    units = h.get("crossing_units")
    if units is None:
        return (f"Without any genotype effect, no line effect up to {h['curve_max_units']:.3g} between-control-library "
                f"differences brought the mean day-matched AUC to this build's {h['observed_auc']:.3f}.")
    return (f"Without any genotype effect, a line effect of about {units:.3g} between-control-library differences "
            f"alone brings the mean day-matched AUC to this build's {h['observed_auc']:.3f} (linear between the "
            "grid's points).")


def power_sentence(h: dict[str, Any]) -> str:
    if not h["power"]:
        return "No power scenario was run."
    parts = [f"{p['auc_rule_claims']} of {p['replicates']} at effect scale {p['effect_scale']:g} "
             f"({p['auc_rule_lo']:.2f}–{p['auc_rule_hi']:.2f})" for p in h["power"]]
    return ("With a planted genotype effect and no line effect (1 = the default data's effect), the AUC rule "
            f"detected it in {'; '.join(parts)}.")


def size_sentence(h: dict[str, Any]) -> str:
    s = h.get("size")
    if not s:
        return "No larger-size null was run in this build, so the effect of the replicates' size is not checked."
    verdict = ("no shift detected at this count (an interval containing 0 is not proof of none)"
               if s["lo"] <= 0 <= s["hi"] else "the null AUC moves with size: read the rates above with that in mind")
    return (f"At the larger size the null's mean day-matched AUC is {s['large_mean']:.3f} (sd {s['large_sd']:.3f}, "
            f"{s['large_n']} studies) against {s['small_mean']:.3f} (sd {s['small_sd']:.3f}, {s['small_n']} studies) "
            f"at the replicates' size: difference {s['diff']:+.3f} (95% Welch interval {s['lo']:+.3f} to "
            f"{s['hi']:+.3f}), {verdict}.")


def calibration_paragraphs(h: dict[str, Any]) -> dict[str, str]:
    """The page's paragraphs: the two nulls, the sensitivity curve, power, and the size check."""
    nulls = " ".join(null_sentence(h, k) for k in ("null", "line") if k in h)
    if "line" in h:
        c = h["line"]
        n, reach = int(c["replicates"]), int(c["reach_auc"])
        nulls += (f" So with no genotype effect at all, a line difference of this build's size makes the AUC rule claim a "
                  f"signal in {c['auc_rule_claims']} of {n} studies: on this design a claim of the protocol cannot be "
                  "credited to genotype.")
        nulls += (f" {reach} of them reach this build's AUC, so a line difference alone accounts for it."
                  if reach / n >= 0.05 else
                  f" This build's AUC is above all {n} of them, so its data hold more than such a line difference — on "
                  "simulated data the planted genotype effect; on real data possibly a larger line difference (the "
                  "curve below shows how large it would have to be).")
    return {"nulls": nulls, "sensitivity": sensitivity_sentence(h), "power": power_sentence(h), "size": size_sentence(h)}
