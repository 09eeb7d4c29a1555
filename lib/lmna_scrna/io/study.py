"""The study sheet of GSE269705: which GSM is which condition, day, replicate, donor and line.

Labels are inherited per GSM, so the sheet is the single source of truth for
y_geno and y_day; everything downstream joins on the GSM accession.

Columns besides the labels:

* ``donor`` and ``line`` record who and which iPSC line each library comes
  from (Zaragoza et al., *Cells* 2024, 13(17):1479): one LMNA c.357-2A>G
  line from an affected woman (donor ``patient``, line ``patient_iPSC``) and
  two non-mutant lines from her unaffected sister (donor ``sister``). Which
  control library comes from which sister line is not in the sources at hand,
  so those rows read ``unknown`` (`UNKNOWN_LINE`). Genotype, donor and line
  therefore coincide on the patient side: on real data a classifier can show
  at most that the patient line is distinguishable from the sister's lines.
* ``replicate`` is the letter (A/B) of the study's sample list. The sources
  at hand do not say what it denotes: it tells apart the two day-9 control libraries,
  yet the only day-9 patient library is "B". It is kept as given, used in
  file names and figure notes, and never as a grouping factor.
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
#: The study's design factors as obs columns, in the order figures and tables show them (embeddings,
#: variance explained).
DESIGN_FACTORS: tuple[str, ...] = ("day", "condition", "gsm")
GENO_LABEL: dict[str, int] = {"Control": 0, "Patient": 1}
REQUIRED_COLUMNS: tuple[str, ...] = ("gsm", "condition", "day", "replicate", "donor", "line")
#: The ``line`` of a library whose line the sources do not name.
UNKNOWN_LINE = "unknown"
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
    problems += line_problems(df)
    if problems:
        raise InputError(f"sample sheet {path}: " + "; ".join(problems))
    out = df.assign(day=days)
    out["y_geno"] = out["condition"].map(GENO_LABEL).astype("int8")
    out["y_day"] = out["day"].map(DAY_TO_CLASS).astype("int8")
    return out.reset_index(drop=True)


def line_problems(sheet: pd.DataFrame) -> list[str]:
    """What is wrong with the donor and line columns, one entry per row at fault.

    Genotype belongs to a donor, a line to one donor, and the study has one
    named patient line: the report's wording ("the patient line") relies on
    all three. The simulator checks its line assignment with this too.
    """
    problems: list[str] = []
    first: dict[tuple[str, str], int] = {}  # (column, value) -> first row holding it
    rows = list(sheet[["gsm", "condition", "donor", "line"]].itertuples(index=False))
    for i, row in enumerate(rows, start=1):
        where = f"row {i} ({row.gsm})"
        if not row.donor:
            problems.append(f"{where}: empty donor")
            continue
        j = first.setdefault(("donor", row.donor), i)
        if rows[j - 1].condition != row.condition:
            problems.append(f"{where}: donor {row.donor!r} is {row.condition} here but {rows[j - 1].condition} on row {j}")
        if not row.line:
            problems.append(f"{where}: empty line (write {UNKNOWN_LINE!r} where the sources do not name it)")
            continue
        if row.line != UNKNOWN_LINE:
            j = first.setdefault(("line", row.line), i)
            if rows[j - 1].donor != row.donor:
                problems.append(f"{where}: line {row.line!r} is from donor {row.donor!r} here but {rows[j - 1].donor!r} on row {j}")
        if row.condition == "Patient":
            j = first.setdefault(("patient line", ""), i)
            if row.line == UNKNOWN_LINE:
                problems.append(f"{where}: a patient library's line must be named, not {UNKNOWN_LINE!r}")
            elif rows[j - 1].line not in (row.line, UNKNOWN_LINE):
                problems.append(f"{where}: patient line {row.line!r}, but {rows[j - 1].line!r} on row {j} (the study has one patient line)")
    return problems


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
