"""The bottom line: what this build found and how sure, in the words a biologist reads first.

One paragraph on the intro's first screen, written from `findings` alone: the
library ranking with its floor, the library calls at the threshold, the
network against the linear and pseudobulk models in counts of folds, the
calibration against nulls with and without a line effect, and what the
design cannot separate. Nothing here is typed in; a finding that the build
did not produce is left out rather than guessed.
"""

from __future__ import annotations

from typing import Any

from .calibration_words import null_sentence

#: What the study's design fixes, whatever the protocol (Zaragoza et al., Cells 2024).
DESIGN_LIMIT = (
    "All four patient libraries come from one iPSC line of one affected woman, and the eight control libraries from "
    "two lines of her unaffected sister, so genotype is confounded with donor, line and clone: any patient–control "
    "difference found here is a difference between lines as much as an effect of LMNA, and on real data this "
    "protocol can show at most that the patient line is distinguishable from the sister's."
)


def _folds(c: dict[str, Any], first: str, second: str) -> str:
    """A paired comparison in counts of folds and by the report's rule."""
    return (f"{first} scored higher than {second} on {c['first_better']} of {c['folds']} held-out days "
            f"(mean difference {c['mean']:+.3f}, 95% interval over held-out days {c['ci'][0]:+.3f} to "
            f"{c['ci'][1]:+.3f}: {c['verdict']})")


def bottom_line_markdown(f: dict[str, Any], source: str) -> str:
    """The intro's first paragraph (Markdown)."""
    data = {"simulated": "On the simulated default data (not the real study), ",
            "real": "On the real GSE269705 data, "}.get(source, "")
    parts = []
    ranking, calls = f.get("ranking_A"), f.get("calls", {}).get("A")
    if ranking:
        parts.append(
            f"{data}Model A ranked the patient library above the control libraries of its held-out day in "
            f"{ranking['right']:g} of {ranking['total']} library pairs (exact permutation p = {ranking['p']:.3f}; "
            f"the smallest p these folds allow is {1 / ranking['assignments']:.3f})"
            + (f", but at the threshold chosen on validation it called only {calls['right']:.3g} of {calls['total']} "
               "test libraries right — ranking libraries is not the same as calling them." if calls else ".")
        )
    comparisons = [_folds(f["a_vs_logreg"], "Model A", "a cell-level logistic regression"),
                   _folds(f["b_vs_a"], "Model B", "Model A")]
    pseudo = f["a_vs_pseudobulk"]
    if pseudo["verdict"].startswith("uninformative"):
        comparisons.append(f"against a pseudobulk linear model the library-level comparison is {pseudo['verdict']}")
    else:
        comparisons.append(_folds(pseudo, "Model A", "a pseudobulk linear model (library AUC)"))
    parts.append("Against simpler models: " + "; ".join(comparisons) + ".")
    c = f.get("calibration")
    if c and "line" in c and "null" in c:
        parts.append("Calibration on simulated studies with no genotype effect: " + null_sentence(c, "line") + " "
                     + null_sentence(c, "null"))
    parts.append(DESIGN_LIMIT)
    return "**Bottom line.** " + " ".join(parts) + "\n"
