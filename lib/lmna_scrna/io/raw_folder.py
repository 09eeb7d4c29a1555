"""What a raw-data folder holds: a content identity of its files, and the `inspect` table of its GSMs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from ..errors import InputError
from ..paths import require_dir
from .layouts import MatrixKind, accession
from .tenx import read_gsm

#: A library whose typical cell detects fewer than this share of the genes is flagged by `inspect` as near-empty.
NEAR_EMPTY_SHARE = 0.01


def gene_list_problem(gene_ids: Mapping[str, Sequence[str] | np.ndarray]) -> str | None:
    """Name the GSMs whose gene list (order and length count) differs from the majority's; None if all agree.

    Features are matched by position downstream, so every GSM must share one list.
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for gsm, ids in gene_ids.items():
        groups.setdefault(tuple(ids), []).append(gsm)
    if len(groups) <= 1:
        return None
    majority = max(groups, key=lambda ids: len(groups[ids]))  # on a tie, the group met first
    odd = [g for ids, members in groups.items() if ids != majority for g in members]
    return (
        f"{', '.join(odd)}: gene list differs from that of {', '.join(groups[majority])} "
        f"({len(majority)} genes); all GSMs must share one feature list, in one order"
    )


def inspect_dir(raw_dir: str | Path, sheet: pd.DataFrame, matrix_kind: MatrixKind = "filtered") -> tuple[pd.DataFrame, list[str]]:
    """Read every GSM of `sheet` from `raw_dir`; return a table and every problem met.

    Problems do not stop the scan, so one run lists all that needs fixing:
    sheet GSMs without files, files of GSMs not in the sheet, unreadable files.
    """
    raw_dir = require_dir(raw_dir, "raw-data folder")
    problems: list[str] = []
    rows = []
    gene_ids: dict[str, np.ndarray] = {}
    for sample in tqdm(sheet.itertuples(index=False), total=len(sheet), desc="inspect", unit="GSM", disable=None):
        row = {"gsm": sample.gsm, "condition": sample.condition, "day": sample.day, "replicate": sample.replicate}
        try:
            counts = read_gsm(raw_dir, sample.gsm, matrix_kind)
        except InputError as exc:
            problems.append(str(exc))
            rows.append(row | {"cells": pd.NA, "genes": pd.NA, "nnz": pd.NA, "files": ""})
            continue
        gene_ids[sample.gsm] = counts.gene_ids
        problems += [] if (empty := near_empty(counts.X, matrix_kind)) is None else [f"{sample.gsm}: {empty}"]
        names = ", ".join(str(p.relative_to(raw_dir)) for p in counts.files)
        rows.append(row | {"cells": counts.X.shape[0], "genes": counts.X.shape[1], "nnz": counts.X.nnz, "files": names})
    genes = gene_list_problem(gene_ids)
    problems += ([] if genes is None else [genes]) + _strangers(raw_dir, set(sheet["gsm"]))
    table = pd.DataFrame(rows, columns=["gsm", "condition", "day", "replicate", "cells", "genes", "nnz", "files"])
    return table.astype({"cells": "Int64", "genes": "Int64", "nnz": "Int64"}), problems


def near_empty(X: sp.spmatrix, matrix_kind: MatrixKind) -> str | None:
    """Why a library's counts look collapsed (a typical cell detects under `NEAR_EMPTY_SHARE` of the genes), or None.

    A filtered matrix holds called cells, so its median cell is typical; a raw
    one is mostly empty droplets, so there only its richest barcode is. Real
    cells detect thousands of genes (several percent of the list); a library
    whose cells detect one or two, as an extreme simulator scale made, would
    pass parsing and fail every cell at QC.
    """
    X = sp.csr_matrix(X)
    if X.shape[0] == 0 or X.shape[1] == 0:
        return None
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    genes = np.bincount(rows[X.data != 0], minlength=X.shape[0])  # explicit zeros detect nothing
    typical, which = (np.median(genes), "its median cell") if matrix_kind == "filtered" else (genes.max(), "its richest barcode")
    if typical >= NEAR_EMPTY_SHARE * X.shape[1]:
        return None
    return (
        f"near-empty library: {which} detects {typical:g} of {X.shape[1]} genes (under "
        f"{NEAR_EMPTY_SHARE:.0%}; {X.nnz} nonzero counts in {X.shape[0]} cells)"
    )


def refuse_strangers(raw_dir: Path, sheet: pd.DataFrame) -> None:
    """Refuse a raw folder holding files of a GSM the sample sheet does not list (what `inspect` calls a problem).

    Such a folder and sheet disagree: the library would be left out of every
    split without a word, so the user is asked to list it or move it away.
    """
    strangers = _strangers(Path(raw_dir), set(sheet["gsm"]))
    if strangers:
        raise InputError(
            f"{'; '.join(strangers)}: add it to the sample sheet (--sheet) or move its files out of the folder"
        )


def _strangers(raw_dir: Path, known: set[str]) -> list[str]:
    """One problem per accession present in `raw_dir` but absent from the sheet."""
    by_gsm: dict[str, list[str]] = defaultdict(list)
    for path in sorted(raw_dir.iterdir()):
        gsm = accession(path.name)
        if gsm is not None and gsm not in known:
            by_gsm[gsm].append(path.name)
    return [f"{gsm} is not in the sample sheet: {', '.join(names)} in {raw_dir}" for gsm, names in by_gsm.items()]
