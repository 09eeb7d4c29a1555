"""Train/validation/test partitions of the study (paper §2.3).

Labels are inherited per GSM, so cells of one library are not independent:
every honest split assigns whole GSMs. Three schemes are provided:

* ``original``: the paper's hard-coded GSM lists (GSM-disjoint, but the test
  genotypes sit on different days, so day and genotype are confounded);
* ``day_matched(test_day, val_day)``: each partition holds one day with both
  genotypes, so a classifier cannot score by recognising the day;
* ``random_cells``: cells of all GSMs drawn at random into 70/15/15, ignoring
  the library. It leaks library identity into the test set and is kept only
  to show how much that inflates the scores.

``leave_one_day_out`` gives one day-matched fold per day that has both genotypes.
Each scheme is one entry of `SCHEMES`; everything else (names, words, order,
the leakage ladder, the CLI's choices) is derived from it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.study import days_with_both_genotypes, gsm_number

SplitUnit = Literal["gsm", "cells"]  # what a partition holds: whole libraries, or cells of every library
Partition = Literal["train", "val", "test"]
PARTITIONS: tuple[Partition, ...] = ("train", "val", "test")
#: A GSM's entry in `partition_table` when its cells are spread over all three partitions.
MIXED = "mixed"

#: The paper's original split (§2.3.2).
ORIGINAL_TEST: tuple[str, ...] = ("GSM8325052", "GSM8325056")
ORIGINAL_VAL: tuple[str, ...] = ("GSM8325049", "GSM8325054")

#: Cell fractions of the ``random_cells`` split (train, val, test).
RANDOM_CELL_FRACTIONS: tuple[float, float, float] = (0.70, 0.15, 0.15)

#: Validation days tried in order by `leave_one_day_out`: the paper's own
#: validation day 0 (undifferentiated cells), then 16 for the fold that tests day 0.
LODO_VAL_DAYS: tuple[int, ...] = (0, 16)

#: Tag mixed into the random-cell generator's seed so its stream never equals
#: the subsampling stream of the same (seed, GSM).
_CELL_SPLIT_STREAM = 1


@dataclass(frozen=True)
class Split:
    """Which GSMs (unit "gsm") or which cells (unit "cells") go to train, val and test.

    For unit "cells" every GSM is listed in ``train`` and val/test are empty:
    the cells are assigned by `assign_cells`, with ``fractions``.
    ``test_day``/``val_day`` are set for day-matched splits only.
    """

    name: str
    unit: SplitUnit
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    test_day: int | None = None
    val_day: int | None = None
    fractions: tuple[float, float, float] | None = None
    scheme: str = "custom"  # one of SCHEMES for the splits this module builds

    def __post_init__(self) -> None:
        # Sorted lists make two splits with the same membership equal, so outputs
        # and fingerprints never depend on the order GSMs were listed in.
        for part in PARTITIONS:
            object.__setattr__(self, part, tuple(sorted(getattr(self, part))))

    @property
    def gsms(self) -> tuple[str, ...]:
        """Every GSM the split uses, in accession order."""
        return tuple(sorted(self.train + self.val + self.test))

    def partition_of(self, gsm: str) -> Partition:
        """The partition of a whole GSM (unit "gsm" only)."""
        for part in PARTITIONS:
            if gsm in getattr(self, part):
                return part
        raise InputError(f"GSM {gsm} is not part of split {self.name}")

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "unit": self.unit,
            "train": list(self.train),
            "val": list(self.val),
            "test": list(self.test),
            "test_day": self.test_day,
            "val_day": self.val_day,
            "fractions": list(self.fractions) if self.fractions else None,
            "scheme": self.scheme,
        }


def split_name(scheme: str, test_day: int | None = None, val_day: int | None = None) -> str:
    """The file-name stem of a split: its scheme's `Scheme.pattern` ("original", "random_cells", "dm_t19_v0").

    An unknown scheme (``papermill -p scheme nosuch``) is named here, not later as a missing file.
    """
    if scheme not in SCHEMES:
        raise InputError(f"scheme {scheme!r} is unknown; expected one of {', '.join(SCHEMES)}")
    return SCHEMES[scheme].split_name(test_day, val_day)


def identity_of_name(name: str) -> dict[str, Any] | None:
    """The identity (scheme, test_day, val_day) a split's name stands for, read from the registered patterns
    (never a hand-written parser); None for a name no scheme gives (a table's "pooled" row). Exact, because a
    split file must carry its scheme's name (`report.runner.param_files`); two schemes whose patterns both
    give `name` are a registry error, named here."""
    found = [identity for scheme in SCHEMES.values() if (identity := scheme.identity_of(name))]
    if len(found) > 1:
        raise ValueError(f"split name {name!r} fits the patterns of schemes {', '.join(i['scheme'] for i in found)}: "
                         "give each scheme a pattern of its own in SCHEMES")
    return found[0] if found else None


def split_identity(values: Mapping[str, Any], where: str) -> tuple[dict[str, Any], str]:
    """What defines a split in a parameter file (``scheme``, ``test_day``, ``val_day``) and its name.

    The name follows from the scheme and days, so it cannot disagree with them;
    a ``split_name`` written in the file is checked, and a mismatch is an error
    naming `where`. Days belong to day-matched splits only.
    """
    if "split" in values and "scheme" not in values:
        raise InputError(f"{where}: `split` is now `scheme` (the split's scheme: {', '.join(SCHEMES)})")
    scheme = values.get("scheme")
    if scheme not in SCHEMES:
        raise InputError(f"{where}: `scheme` must be one of {', '.join(SCHEMES)} (got {scheme!r})")
    test_day, val_day = values.get("test_day"), values.get("val_day")
    problem = days_problem(str(scheme), test_day, val_day, "test_day/val_day")
    if problem:
        raise InputError(f"{where}: {problem} (got {test_day}, {val_day})")
    if SCHEMES[scheme].takes_days and not (isinstance(test_day, int) and isinstance(val_day, int)):
        raise InputError(f"{where}: split {scheme} needs integer test_day and val_day (got {test_day}, {val_day})")
    name = split_name(scheme, test_day, val_day)
    written = values.get("split_name")
    if written is not None and written != name:
        raise InputError(f"{where}: split_name {written!r} disagrees with the split it defines ({name})")
    identity = {k: v for k, v in values.items() if k != "split_name"}
    return identity | {"scheme": scheme, "test_day": test_day, "val_day": val_day}, name


def refuse_split_parameter(namespace: Mapping[str, Any]) -> None:
    """A notebook's guard against ``papermill -p split X``: `split` is the old name of `scheme`, and papermill
    only warns about a name its parameters cell does not declare, then runs the defaults. Called with the
    notebook's globals, where `split` is otherwise unset or the `Split` the notebook made."""
    value = namespace.get("split")
    if value is not None and not isinstance(value, Split):
        raise InputError(f"parameter split={value!r}: `split` is now `scheme` (one of {', '.join(SCHEMES)}), "
                         "e.g. -p scheme day_matched -p test_day 19")


def original(sheet: pd.DataFrame) -> Split:
    """The paper's split: test 5052+5056, val 5049+5054, train the other eight."""
    require_gsms(sheet, ORIGINAL_TEST + ORIGINAL_VAL, "original")
    held = set(ORIGINAL_TEST + ORIGINAL_VAL)
    train = tuple(sorted(g for g in sheet["gsm"] if g not in held))
    return Split("original", "gsm", train, ORIGINAL_VAL, ORIGINAL_TEST, scheme="original")


def day_matched(sheet: pd.DataFrame, test_day: int | None, val_day: int | None) -> Split:
    """All GSMs of ``test_day`` to test, of ``val_day`` to val, the rest to train.

    Both days must hold both genotypes, or the held-out AUC would measure the
    day, not the genotype; the error names the day and what it has.
    """
    if test_day is None or val_day is None:
        raise InputError("split day_matched needs both --test-day and --val-day")
    if test_day == val_day:
        raise InputError(f"day_matched: test_day and val_day are both {test_day}; they must differ")
    both = days_with_both_genotypes(sheet)
    for role, day in (("test_day", test_day), ("val_day", val_day)):
        if day not in both:
            have = sheet.loc[sheet["day"] == day, "condition"].unique().tolist()
            what = f"only {', '.join(sorted(have))}" if have else "no GSM"
            raise InputError(
                f"day_matched: {role} {day} has {what}; a day with both genotypes is needed "
                f"(one of {', '.join(map(str, both))})"
            )
    test, val = _gsms_on(sheet, test_day), _gsms_on(sheet, val_day)
    train = tuple(sorted(g for g in sheet["gsm"] if g not in set(test + val)))
    name = split_name("day_matched", test_day, val_day)
    return Split(name, "gsm", train, val, test, test_day=test_day, val_day=val_day, scheme="day_matched")


def random_cells(sheet: pd.DataFrame) -> Split:
    """Every GSM contributes cells to all three partitions (library leakage on purpose)."""
    return Split(
        "random_cells", "cells", tuple(sorted(sheet["gsm"])), (), (), fractions=RANDOM_CELL_FRACTIONS, scheme="random_cells"
    )


#: What no split can separate from genotype in this study (Zaragoza et al. 2024): one patient donor, one line.
DESIGN_CONFOUNDS = "donor, iPSC line, clone"
#: What training and test libraries both hold when whole libraries are held out: the patient's one line for certain.
SHARED_LINES = "the patient's line (and the sister's two, which library is which unknown)"
UNIT_WORDS: dict[SplitUnit, str] = {"gsm": "GSM", "cells": "cell"}  # what a scheme holds out, in the ladder's words
DAY_FIELDS = frozenset({"test_day", "val_day"})  # what a scheme's name and words patterns may fill


@dataclass(frozen=True)
class Rung:
    """A scheme's row of the leakage ladder (`report.results.tables.leakage_ladder`), in words."""

    words: str  # the row's name
    shared: str  # what the training and test sets share
    confounded: str  # what stays confounded with genotype
    leakage: int  # the ladder's order: the leakiest rung (highest) first


@dataclass(frozen=True)
class Scheme:
    """A way to split the study, and everything the report derives from it: `pattern`, `words` and
    `short_words` are `str.format` patterns filled with a split's ``test_day`` and ``val_day``."""

    name: str
    build: Callable[[pd.DataFrame, int | None, int | None], Split]
    takes_days: bool
    unit: SplitUnit  # "gsm": whole libraries per partition; "cells": cells of every library everywhere (leaks)
    summary: str  # one line, for the CLI's help and the docs
    pattern: str  # a split's name: "original", "dm_t{test_day}_v{val_day}"
    words: str  # a split in words on a page: "original split", "test day {test_day}, validation day {val_day}"
    short_words: str  # the same in a narrow place (a table column): "test day {test_day}"
    rung: Rung
    folds: Callable[[pd.DataFrame], list[Split]] | None = None  # a scheme that takes days: the splits a page shows

    def __post_init__(self) -> None:
        """Refuse an entry whose patterns would fail only when first filled, or whose splits would share a name."""
        named = [{f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
                 for text in (self.pattern, self.words, self.short_words)]
        if set().union(*named) - DAY_FIELDS:
            raise ValueError(f"scheme {self.name}: its pattern and words may fill only {{test_day}} and {{val_day}}")
        if self.takes_days != (named[0] == DAY_FIELDS) or self.takes_days != (self.folds is not None):
            raise ValueError(f"scheme {self.name}: a scheme that takes days needs {{test_day}} and {{val_day}} in its "
                             "pattern (or two of its splits share a name) and its folds; one that takes none, neither")

    def split_name(self, test_day: int | None, val_day: int | None) -> str:
        """The file-name stem of its split with these days (ignored by a scheme that takes none)."""
        return self.pattern.format(test_day=test_day, val_day=val_day)

    def identity_of(self, name: str) -> dict[str, Any] | None:
        """The inverse of `split_name`: the identity a split of this scheme named `name` has, or None."""
        parts = [re.escape(text) + (rf"(?P<{field}>\d+)" if field else "")
                 for text, field, _, _ in string.Formatter().parse(self.pattern)]
        match = re.fullmatch("".join(parts), name)
        if match is None:
            return None
        days = {field: int(value) for field, value in match.groupdict().items()}
        return {"scheme": self.name, "test_day": days.get("test_day"), "val_day": days.get("val_day")}

    def splits(self, sheet: pd.DataFrame) -> list[Split]:
        """The splits of it the design page shows: its folds, or its one split."""
        return self.folds(sheet) if self.folds is not None else [self.build(sheet, None, None)]


#: Every split scheme, by the name a split file's ``scheme`` or the CLI's ``--scheme`` gives, in reading
#: order (the paper's split, the day-matched folds, then the leakage control): the one place a new scheme is
#: registered. Its name, words, ladder rung and place in every list a reader scans come from its entry (the
#: CLI, the checks, the plan, `report.names` and the leakage ladder read it); a split of it is one more file
#: in params/splits/.
SCHEMES: dict[str, Scheme] = {s.name: s for s in (
    Scheme("original", lambda sheet, _t, _v: original(sheet), False, "gsm",
           "the paper's GSM lists (test days confounded with genotype)", pattern="original", words="original split",
           short_words="original split", rung=Rung("original", SHARED_LINES,
           f"library, {DESIGN_CONFOUNDS}, and day (test genotypes on different days)", 1)),
    Scheme("day_matched", day_matched, True, "gsm", "one day with both genotypes to test, another to validation",
           pattern="dm_t{test_day}_v{val_day}", words="test day {test_day}, validation day {val_day}",
           short_words="test day {test_day}", rung=Rung("day-matched (mean over folds)", SHARED_LINES,
           f"library, {DESIGN_CONFOUNDS} (one patient library per fold; one patient donor and line in all); day removed", 0),
           folds=lambda sheet: leave_one_day_out(sheet)),
    Scheme("random_cells", lambda sheet, _t, _v: random_cells(sheet), False, "cells",
           "cells drawn 70/15/15 across all libraries (library leakage on purpose)", pattern="random_cells",
           words="cells at random", short_words="cells at random",
           rung=Rung("random cells", "the test libraries themselves", f"library, {DESIGN_CONFOUNDS}, day", 2)),
)}


def scheme_splits(sheet: pd.DataFrame) -> list[Split]:
    """The splits of every scheme in reading order (the design page's list): one per scheme, folds for days."""
    return [split for scheme in SCHEMES.values() for split in scheme.splits(sheet)]


def days_problem(name: str, test_day: object, val_day: object, options: str) -> str | None:
    """Why days given to a scheme that takes none are refused (they were meant for another split), or None."""
    scheme = SCHEMES.get(name)
    if scheme is not None and not scheme.takes_days and (test_day is not None or val_day is not None):
        day_schemes = ", ".join(n for n, s in SCHEMES.items() if s.takes_days)
        return f"scheme {name} takes no {options} (only {day_schemes} does)"
    return None


def make_split(name: str, sheet: pd.DataFrame, test_day: int | None = None, val_day: int | None = None) -> Split:
    """Build a split by scheme name (a key of `SCHEMES`); days are used by the schemes that take them."""
    scheme = SCHEMES.get(name)
    if scheme is None:
        raise InputError(f"unknown split {name!r}; expected one of {', '.join(SCHEMES)}")
    return scheme.build(sheet, test_day, val_day)


def leave_one_day_out(sheet: pd.DataFrame) -> list[Split]:
    """One day-matched fold per day with both genotypes (0, 9, 16, 19 here).

    Rule for the validation day: the first of `LODO_VAL_DAYS` (0, then 16) that
    is not the test day, so the folds are dm_t0_v16, dm_t9_v0, dm_t16_v0 and
    dm_t19_v0, the report's day-matched splits.
    """
    both = days_with_both_genotypes(sheet)
    candidates = [d for d in LODO_VAL_DAYS if d in both]
    folds = []
    for test_day in both:
        val_day = next((d for d in candidates if d != test_day), None)
        if val_day is None:
            raise InputError(
                f"leave_one_day_out: no validation day for test day {test_day} "
                f"(tried {', '.join(map(str, LODO_VAL_DAYS))}; days with both genotypes: {both})"
            )
        folds.append(day_matched(sheet, test_day, val_day))
    return folds


def assign_cells(split: Split, gsm: str, n_cells: int, seed: int) -> np.ndarray:
    """Partition label ("train"/"val"/"test") of each of a GSM's kept cells.

    For a GSM split every cell gets the GSM's partition. For a cell split the
    GSM's cells are permuted by a generator seeded by (seed, GSM number) alone,
    then cut at the fractions: the draw is stratified by GSM (each library has
    70/15/15 of its cells in train/val/test) and never depends on GSM order.
    """
    if split.unit == "gsm":
        return np.full(n_cells, split.partition_of(gsm), dtype=object)
    assert split.fractions is not None
    rng = np.random.default_rng(np.random.SeedSequence([seed, gsm_number(gsm), _CELL_SPLIT_STREAM]))
    n_train = int(round(split.fractions[0] * n_cells))
    n_val = int(round(split.fractions[1] * n_cells))
    labels = np.empty(n_cells, dtype=object)
    order = rng.permutation(n_cells)
    labels[order[:n_train]] = "train"
    labels[order[n_train : n_train + n_val]] = "val"
    labels[order[n_train + n_val :]] = "test"
    return labels


def _gsms_on(sheet: pd.DataFrame, day: int) -> tuple[str, ...]:
    return tuple(sorted(sheet.loc[sheet["day"] == day, "gsm"]))


def require_gsms(sheet: pd.DataFrame, gsms: tuple[str, ...], split: str) -> None:
    """Refuse a split naming GSMs the sample sheet lacks (their labels would be unknown)."""
    missing = sorted(set(gsms) - set(sheet["gsm"]))
    if missing:
        raise InputError(f"split {split}: GSM(s) {', '.join(missing)} are not in the sample sheet")


def gsm_order(sheet: pd.DataFrame) -> pd.DataFrame:
    """GSMs ordered by day, then condition: the columns of both design figures."""
    return sheet.sort_values(["day", "condition", "gsm"]).reset_index(drop=True)


def partition_table(splits: list[Split], sheet: pd.DataFrame) -> pd.DataFrame:
    """Split × GSM table of partitions ("mixed" where cells of a GSM are spread over all three)."""
    gsms = list(gsm_order(sheet)["gsm"])
    rows = {
        s.name: [MIXED if s.unit == "cells" else s.partition_of(g) for g in gsms] for s in splits
    }
    return pd.DataFrame.from_dict(rows, orient="index", columns=gsms)
