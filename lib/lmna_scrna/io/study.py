"""The study sheet of GSE269705: which GSM is which condition, day and replicate.

Labels are inherited per GSM, so the sheet is the single source of truth for
y_geno and y_day; everything downstream joins on the GSM accession.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..paths import default_sheet_path, require_file

DAYS: tuple[int, ...] = (0, 2, 4, 9, 16, 19, 30)
DAY_TO_CLASS: dict[int, int] = {d: i for i, d in enumerate(DAYS)}
CONDITIONS: tuple[str, ...] = ("Control", "Patient")
GENO_LABEL: dict[str, int] = {"Control": 0, "Patient": 1}
REQUIRED_COLUMNS: tuple[str, ...] = ("gsm", "condition", "day", "replicate")
_ACCESSION = re.compile(r"GSM\d+")


def load_samples(path: str | Path | None = None) -> pd.DataFrame:
    """Read and validate the sample sheet; add y_geno and y_day.

    Every problem is reported with its row number (1-based, header excluded)
    so a hand-edited sheet can be fixed without guessing.
    """
    path = require_file(path if path is not None else default_sheet_path(), "sample sheet")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises several types for malformed CSV
        raise InputError(f"sample sheet {path} could not be parsed: {exc}") from exc
    df.columns = df.columns.str.strip()  # "gsm, condition" names the columns a spreadsheet user meant
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"sample sheet {path} lacks column(s) {', '.join(missing)}")
    if df.empty:
        raise InputError(f"sample sheet {path} has a header but no rows")
    df = df[list(REQUIRED_COLUMNS)].apply(lambda s: s.str.strip())
    problems: list[str] = []
    seen: dict[str, int] = {}
    days: list[int] = []
    for i, row in enumerate(df.itertuples(index=False), start=1):
        if not row.gsm:
            problems.append(f"row {i}: empty gsm")
        elif not _ACCESSION.fullmatch(row.gsm):
            problems.append(f"row {i}: gsm {row.gsm!r} is not a GEO sample accession (GSM followed by digits)")
        elif row.gsm in seen:
            problems.append(f"row {i}: duplicate GSM {row.gsm} (first on row {seen[row.gsm]})")
        else:
            seen[row.gsm] = i
        if row.condition not in GENO_LABEL:
            problems.append(
                f"row {i} ({row.gsm}): unknown condition {row.condition!r}, expected one of {', '.join(CONDITIONS)}"
            )
        try:
            day = int(row.day)
        except ValueError:
            day = -1
        if day not in DAY_TO_CLASS:
            problems.append(
                f"row {i} ({row.gsm}): day {row.day!r} is not one of {', '.join(map(str, DAYS))}"
            )
        days.append(day)
        if not row.replicate:
            problems.append(f"row {i} ({row.gsm}): empty replicate")
    if problems:
        raise InputError(f"sample sheet {path}: " + "; ".join(problems))
    out = df.assign(day=days)
    out["y_geno"] = out["condition"].map(GENO_LABEL).astype("int8")
    out["y_day"] = out["day"].map(DAY_TO_CLASS).astype("int8")
    return out.reset_index(drop=True)


def days_with_both_genotypes(sheet: pd.DataFrame) -> list[int]:
    """Days at which a genotype comparison is not confounded with day (0, 9, 16, 19 here)."""
    per_day = sheet.groupby("day")["condition"].nunique()
    return sorted(int(d) for d, n in per_day.items() if n == len(CONDITIONS))


def gsm_number(gsm: str) -> int:
    """The integer of a GEO accession ("GSM8325046" → 8325046), used in RNG seeds."""
    digits = gsm[3:] if gsm.upper().startswith("GSM") else ""
    if not digits.isdigit():
        raise InputError(f"{gsm!r} is not a GEO sample accession (GSM followed by digits)")
    return int(digits)
