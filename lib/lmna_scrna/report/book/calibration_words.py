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
    if key == "null":
        what = "no genotype and no line effect"
    elif c.get("world") == "L":
        what = (f"no genotype effect but world L's line effect ({c['line_units']:.3g} between-control-library "
                "differences in its constant part, fitted so that it alone reproduces the paper's Table 1)")
    else:
        what = (f"no genotype effect but a line effect of {c['line_units']:.3g} between-control-library differences "
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
    for key in ("line", "null"):
        if key in h:
            c = h[key]
            what = ("neither a line nor a genotype effect" if key == "null" else
                    "world L's line difference (the one that alone reproduces the paper's Table 1) and no genotype "
                    "effect" if c.get("world") == "L" else
                    f"a line difference as large as this build's ({c['line_units']:.3g} library differences) and no "
                    "genotype effect")
            n = int(c["replicates"])
            parts.append(
                f"with {what}, the AUC rule claimed a signal in "
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
    return ("With a planted genotype effect and no line effect (world G's scale is the one fitted to the paper's "
            f"Table 1), the AUC rule detected it in {'; '.join(parts)}.")


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
        which = "the line difference that reproduces the paper" if c.get("world") == "L" else "a line difference of this size"
        nulls += (f" So with no genotype effect at all, {which} makes the AUC rule "
                  f"claim a signal in {c['auc_rule_claims']} of {n} studies: on this design a claim of the protocol "
                  "cannot be credited to genotype.")
        nulls += (f" {reach} of them reach this build's AUC, so a line difference alone can account for it."
                  if reach / n >= 0.05 else
                  f" This build's AUC is above all {n} of them at the replicates' size; a larger line difference "
                  "could still reach it (the curve below shows how large it would have to be).")
    return {"nulls": nulls, "sensitivity": sensitivity_sentence(h), "power": power_sentence(h), "size": size_sentence(h)}


def worlds_sentence(v: dict[str, Any]) -> str:
    """The worlds page's plain sentence, from `world_tables.worlds_verdict`: what the paper's table can tell apart."""
    n = v["rows"]
    met = v["met"]
    claims = v["rates"].get("L", {}).get("auc")
    claim_text = (f"and with no LMNA effect at all world L's studies make the protocol claim a genotype signal in "
                  f"{claims[0]} of {claims[1]}" if claims else "and world L's claim rate was not run")
    if v["indistinguishable"]:
        return (f"A line difference alone reproduces the paper's Table 1 about as well as an LMNA effect does "
                f"(world L matches {met['L']} of its {n} rows, world G {met['G']}), {claim_text}: the paper's numbers "
                "cannot tell an LMNA effect from a difference between the patient's and her sister's iPSC lines.")
    better, worse = ("G", "L") if met["G"] > met["L"] else ("L", "G")
    misses = "; ".join(f"{row} {mean:.3f} against the paper's {paper:.3f}" for row, mean, paper in
                       v.get("missed", {}).get(worse, []))
    return (f"World {better} reproduces more of the paper's Table 1 than world {worse} ({met[better]} against "
            f"{met[worse]} of its {n} rows), {claim_text}." + (f" World {worse} misses {misses}." if misses else ""))


def donors_sentence(smallest: dict[str, Any], summary: Any) -> str:
    """The donors page's first sentence, from `donor_tables.smallest_donors` and its summary."""
    tested = ", ".join(str(d) for d in smallest["tested"])
    rates = summary[summary["rule"] == smallest["rule"]].set_index(["donors", "world"])
    if smallest["donors"] is None:
        return (f"None of the tested designs (D = {tested} donors per genotype) gets there: with donors held out and the "
                "donor as the unit, no D made the protocol claim a genotype signal in at most 5% of studies without an "
                "LMNA effect (world L) while detecting the paper-sized LMNA effect (world G) in at least 80%.")
    d = smallest["donors"]
    g, line = rates.loc[(d, "G")], rates.loc[(d, "L")]
    return (f"**{d} donors per genotype** (each her or his own iPSC line) is the smallest tested design (D = {tested}) at "
            f"which, with donors held out and the donor as the unit, the protocol claims a genotype signal in at most 5% "
            f"of studies without an LMNA effect (world L: {line['claims']} of {line['studies']}, 95% interval "
            f"{line['lo']:.2f}–{line['hi']:.2f}) and in at least 80% with the paper-sized LMNA effect (world G: "
            f"{g['claims']} of {g['studies']}, {g['lo']:.2f}–{g['hi']:.2f}). The study has one.")
