"""Numbers as the book writes them, in prose and tables alike: one minus sign, the precision they have.

Signed differences to two significant digits when tiny (never "−0.000"),
intervals of an AUC or a rate clipped at their bounds and saying so, an sd
that rounds to zero written as "< 0.001", a count agreeing with its noun
("1 training seed"), fractions of a count as people write them ("4⅓").
"""

from __future__ import annotations

import math

_FRACTIONS = {"½": 1 / 2, "⅓": 1 / 3, "⅔": 2 / 3, "¼": 1 / 4, "¾": 3 / 4}


#: The one minus sign of the book (U+2212): tables and prose alike, never the hyphen.
MINUS = "\u2212"


def signed(text: str) -> str:
    """A formatted number with the book's minus sign."""
    return text.replace("-", MINUS)


def difference_text(value: float) -> str:
    """A signed difference to the precision it has: three decimals, or two significant digits when smaller
    (near a ceiling, "−0.000 to −0.000" would hide a difference the rule still decides on)."""
    if value is None or math.isnan(value):
        return "–"
    if value == 0 or abs(value) >= 0.001:
        return signed(f"{value + 0.0:+.3f}")  # + 0.0: never "−0.000"
    decimals = 1 - math.floor(math.log10(abs(value)))  # two significant digits, in fixed point: "+0.000061", not "+6.1e-05"
    return signed(f"{value:+.{decimals}f}")


def difference_interval_text(lo: float, hi: float) -> str:
    """An interval of signed differences: "−0.013 to −0.001"; one of no width says so (it decides nothing)."""
    if lo == hi:
        return f"of no width, {difference_text(lo)} in every fold"  # sits inside parentheses: none of its own
    return f"{difference_text(lo)} to {difference_text(hi)}"


def _digits_to_tell_apart(lo: float, hi: float, digits: int) -> int:
    """Enough decimals that two different bounds never print alike ("0.9986–0.9994", not "0.999–0.999")."""
    while digits < 6 and round(lo, digits) == round(hi, digits):
        digits += 1
    return digits


def auc_interval_text(lo: float, hi: float, digits: int = 3) -> str:
    """An interval of an AUC or a rate, which lives in [0, 1]: a t interval that crosses a bound is clipped
    there and says so ("0.746–1 (clipped at 1)"), never "0.746–1.065"."""
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return "–"
    clipped = [f"clipped at {b}" for b, out in ((0, lo < 0), (1, hi > 1)) if out]
    lo, hi = max(lo, 0.0), min(hi, 1.0)
    if lo == hi:
        return {0.0: "0 (at the floor)", 1.0: "1 (at the ceiling)"}.get(lo, f"{lo:.{digits}f} (no width)")
    d = _digits_to_tell_apart(lo, hi, digits)
    text = "–".join("1" if v == 1.0 else "0" if v == 0.0 else f"{v:.{d}f}" for v in (lo, hi))
    return text + (f" ({', '.join(clipped)})" if clipped else "")


def sd_text(sd: float, digits: int) -> str:
    """"± sd" to `digits`; an sd that rounds to zero is "± <0.001", never "± 0.000" (it is not zero)."""
    if sd is None or math.isnan(sd):
        return ""
    if sd == 0:
        return " ± 0"
    return f" ± {sd:.{digits}f}" if round(sd, digits) > 0 else f" ± <{10 ** -digits:.{digits}f}"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """"1 training seed", "3 training seeds": a count with its noun agreed, never "seed(s)"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def count_text(value: float) -> str:
    """A count, or a mean of counts over seeds: "4", "4⅓", "1½", else one decimal ("4.2"), never "1.33333"."""
    whole, part = divmod(float(value), 1.0)
    if part < 1e-9 or part > 1 - 1e-9:
        return f"{round(value):d}"
    glyph = next((g for g, f in _FRACTIONS.items() if abs(part - f) < 1e-6), None)
    return f"{int(whole) or ''}{glyph}" if glyph else f"{value:.1f}"
