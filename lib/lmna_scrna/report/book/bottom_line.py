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

from ...io.paper import paper_table1
from ..labels import difference_interval_text, difference_text
from .calibration_words import brief, donors_sentence, sensitivity_sentence, worlds_sentence

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
            f"(mean difference {difference_text(c['mean'])}, 95% interval over held-out days "
            f"{difference_interval_text(*c['ci'])}: {c['verdict']})")


def _calls(calls: dict[str, Any]) -> str:
    """Library calls at the validation-chosen threshold, beside the ranking (they need not agree)."""
    if calls["right"] >= calls["total"]:
        return f"; at the threshold chosen on validation it also called all {calls['total']} test libraries right."
    return (f"; but at the threshold chosen on validation it called only {calls['right']:.3g} of {calls['total']} "
            "test libraries right — ranking libraries is not calling them.")


def inverted_word(auc: float) -> str:
    """The verdict on an original-split AUC, as the paper's Section 3.1 reads it."""
    return "inverted (below 0.5)" if auc < 0.5 else "not inverted"


def _regime(f: dict[str, Any]) -> str:
    """The paper's central finding, this build's numbers beside the paper's, the verdict computed."""
    paper = paper_table1().set_index(["split", "model"])["test_auc"]
    dm = [float(v) for (s, m), v in paper.items() if s.startswith("dm_") and m == "A"]
    lo, hi = f["day_matched_ci"]
    return (f"**The split decides**: on the paper's original split, where day and genotype are confounded, Model A's "
            f"test AUC is {f['original_auc']:.3f}, {inverted_word(f['original_auc'])}; the paper's was "
            f"{paper[('original', 'A')]:.3f}, inverted. With the day held out of training on both sides it is "
            f"{f['day_matched_auc']:.3f} on average over {f['day_matched_folds']} held-out days (95% interval over "
            f"held-out days {lo:.3f}–{min(hi, 1.0):.3f}; the paper: {min(dm):.3f}–{max(dm):.3f} on its "
            f"{len(dm)} folds).")


def bottom_line_markdown(f: dict[str, Any], source: str) -> str:
    """The intro's first lines (Markdown): a lead sentence and one bullet per finding."""
    data = {"simulated": "the **simulated** default data, not the real study",
            "real": "the real GSE269705 data"}.get(source, "data of unknown source")
    bullets = [_regime(f)]
    if "worlds" in f:
        bullets.append("**Two worlds** (simulated studies fitted to the paper's Table 1): " + worlds_sentence(f["worlds"]))
    if "donors" in f:
        bullets.append("**How many donors**: " + donors_sentence(f["donors"]["smallest"], f["donors"]["summary"]))
    ranking, calls = f.get("ranking_A"), f.get("calls", {}).get("A")
    if ranking:
        bullets.append(
            f"**Libraries ranked**: Model A put the patient library above the control libraries of its held-out day "
            f"in {ranking['right']:g} of {ranking['total']} pairs (exact permutation p = {ranking['p']:.3f}; the "
            f"smallest p these folds allow is {1 / ranking['assignments']:.3f})" + (_calls(calls) if calls else ".")
        )
    comparisons = [_folds(f["a_vs_logreg"], "Model A", "a cell-level logistic regression"),
                   _folds(f["b_vs_a"], "Model B", "Model A")]
    pseudo = f["a_vs_pseudobulk"]
    if pseudo["verdict"].startswith("uninformative"):
        comparisons.append(f"against a pseudobulk linear model the library-level comparison is {pseudo['verdict']}")
    else:
        comparisons.append(_folds(pseudo, "Model A", "a pseudobulk linear model (library AUC)"))
    bullets.append("**Against simpler models**: " + "; ".join(comparisons) + ".")
    c = f.get("calibration")
    if c and ("line" in c or "null" in c):
        text = brief(c)
        bullets.append(f"**Calibration** on simulated studies: {text[0].lower()}{text[1:]}. "
                       + sensitivity_sentence(c))
    bullets.append(f"**What the design cannot separate**: {DESIGN_LIMIT}")
    return f"**Bottom line** — {data}:\n\n" + "\n".join(f"- {b}" for b in bullets) + "\n"
