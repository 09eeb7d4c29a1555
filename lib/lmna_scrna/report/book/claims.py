"""Named checks: every verdict word a page's sentence depends on, decided by one rule from its numbers.

The book's sentences are typed in its Markdown (the pages and the notebooks'
Markdown cells); the numbers and the words that depend on them are glued
(myst-nb) by the notebook that computed them. A word whose truth depends on
the data — "inverted", "wide", "Model A better", "uninformative (both at the ceiling)" — is a
`Claim`: the check that decides it, the numbers it was decided from, and the
word. The notebook glues each claim's word under its key and a record of all
its claims under `RECORDS`; the book build re-decides every record and checks
that every glue a page pastes exists (`claim_check`), so a sentence
whose word its check does not give, or whose number is missing, is never
rendered.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ...tl.inference import Interval, verdict
from ..numbers import count_text

#: The glue key under which a notebook records its claims (JSON: key → `Claim`).
RECORDS = "claims"
#: A 95% interval over held-out days wider than this (in AUC) is "wide": it spans more than a tenth of the
#: AUC's range, so the folds disagree more than the differences the report decides on.
WIDE_INTERVAL = 0.10
#: The share of null studies reaching this build's AUC at or above which a null "can account for" it.
ACCOUNTS = 0.05


def inverted(auc: float) -> str:
    """The paper's Section 3.1 verdict on an original-split AUC: inverted below 0.5."""
    return "inverted (below 0.5)" if auc < 0.5 else "not inverted (above 0.5)"


def interval_width(lo: float, hi: float) -> str:
    """"wide" or "narrow" by `WIDE_INTERVAL` (the interval as computed, before any clipping at 1)."""
    return "wide" if hi - lo > WIDE_INTERVAL else "narrow"


def paired(lo: float, hi: float, lowest: float, first: str, second: str) -> str:
    """A paired comparison's verdict: the report's one rule (`tl.inference.verdict`), ceiling included."""
    return verdict(Interval(math.nan, lo, hi, 2), first, second, lowest)


def ladder(aucs: Sequence[float]) -> str:
    """Does the AUC fall at every rung of the leakage ladder (leakiest split first)?"""
    falls = all(b < a for a, b in zip(aucs, aucs[1:]))
    return "falls at every step" if falls else "does not fall at every step"


def calls(right: float, total: int) -> str:
    """Library calls at the validation-chosen threshold beside a ranking: they need not agree."""
    if right >= total:
        return f"it also called all {total} test libraries right"
    return f"it called only {count_text(right)} of {total} test libraries right: ranking libraries is not calling them"


def accounts(reach: int, n: int) -> str:
    """Can a null account for this build's AUC: do at least `ACCOUNTS` of its studies reach it?"""
    if reach / n >= ACCOUNTS:
        return "so a line difference alone can account for it"
    return f"so this build's AUC is above all {n} of them at the replicates' size"


def shift(lo: float, hi: float) -> str:
    """Does the null move with the replicates' size: a Welch interval that excludes 0."""
    if math.isnan(lo) or math.isnan(hi):
        return "not checked: no larger-size null was run in this build"
    if lo <= 0 <= hi:
        return "no shift detected at this count (an interval containing 0 is not proof of none)"
    return "the null AUC moves with size: read the rates above with that in mind"


def credited(claims: int, n: int) -> str:
    """Can a claim of the protocol be credited to genotype, given how often a line difference alone makes it?"""
    if claims / n > ACCOUNTS:
        return "on this design a claim of the protocol cannot be credited to genotype"
    return "within the nominal 5%, so a claim of the protocol is not explained by this line difference alone"


def crossing(units: float, curve_max: float) -> str:
    """Where the line-only curve reaches this build's AUC, or that no tested line effect does."""
    if math.isnan(units):
        return f"no tested size: none up to {curve_max:.3g} between-control-library differences gets there"
    return f"about {units:.3g} between-control-library differences (linear between the grid's points)"


def worlds(met_g: int, met_l: int, claims_l: int, studies_l: int) -> str:
    """Can the paper's Table 1 tell world G (an LMNA effect) from world L (a line difference alone)?

    Not when both worlds reproduce as many of its rows, give or take one, and world L's
    studies make the protocol claim a genotype signal more often than the nominal 5%."""
    if abs(met_g - met_l) <= 1 and studies_l and claims_l / studies_l > ACCOUNTS:
        return ("the paper's numbers cannot tell an LMNA effect from a difference between the patient's and her "
                "sister's iPSC lines")
    return f"world {'G' if met_g > met_l else 'L'} reproduces more of the paper's Table 1"


def donors(smallest: int | None, tested: Sequence[int]) -> str:
    """The smallest tested design at which donors held out make the protocol both safe and powerful."""
    designs = ", ".join(map(str, tested))
    if smallest is None:
        return f"none of the tested designs (D = {designs} donors per genotype) gets there"
    return f"{smallest} donors per genotype is the smallest tested design (D = {designs}) that gets there"


#: Every named check, by name: the build re-decides each recorded claim with these.
CHECKS: dict[str, Callable[..., str]] = {
    f.__name__: f for f in (inverted, interval_width, paired, ladder, calls, accounts, shift, credited,
                             crossing, worlds, donors)
}


@dataclass(frozen=True)
class Claim:
    """A verdict word, the check that decided it and the numbers it decided from."""

    check: str
    numbers: dict[str, Any]
    word: str


def claim(check: str, **numbers: Any) -> Claim:
    """Decide a word by a named check; the numbers are kept so the build can decide it again."""
    return Claim(check, numbers, CHECKS[check](**numbers))


def redecide(record: Mapping[str, Any]) -> str:
    """What a recorded claim's check gives for its recorded numbers now."""
    if record.get("check") not in CHECKS:
        raise KeyError(f"unknown check {record.get('check')!r}")
    return CHECKS[record["check"]](**record["numbers"])


def glue_words(values: Mapping[str, Any]) -> dict[str, Any]:
    """Glue a page's numbers, texts and claims into the running notebook (myst-nb), and the claims' record.

    Numbers are glued as numbers (a page formats them: ``{glue:text}`key:.3f```),
    texts as text, a `Claim` as its word. Returns what was glued, claims as words.
    """
    from myst_nb import glue

    glued: dict[str, Any] = {}
    records: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        if isinstance(value, Claim):
            records[key] = asdict(value)
            value = value.word
        value = value.item() if hasattr(value, "item") else value  # numpy scalars: a plain number's text
        glue(key, value, display=False)
        glued[key] = value
    glue(RECORDS, json.dumps(records, sort_keys=True, default=float), display=False)
    return glued
