"""What a raw-data folder holds: a cheap identity of its files, and the `inspect` table of its GSMs."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..errors import InputError
from ..paths import require_dir
from .layouts import MatrixKind, accession
from .tenx import read_gsm

#: Bytes hashed at each end of a file by `file_fingerprint`.
_EDGE_BYTES = 1 << 20


def file_fingerprint(paths: Iterable[str | Path]) -> str:
    """A cheap content identity of input files, for cache keys.

    Name, size and SHA-256 of the first and last MiB: reading whole multi-GB
    matrices on every cache lookup would cost as much as parsing them, and
    mtimes change on every copy or re-extraction although the bytes do not.
    Files are hashed in the order given.
    """
    digest = hashlib.sha256()
    for path in map(Path, paths):
        try:
            size = path.stat().st_size
            digest.update(f"{path.name}\0{size}\0".encode())
            with path.open("rb") as fh:
                digest.update(fh.read(_EDGE_BYTES))
                if size > 2 * _EDGE_BYTES:
                    fh.seek(size - _EDGE_BYTES)
                digest.update(fh.read(_EDGE_BYTES))
        except OSError as exc:
            raise InputError(f"cannot fingerprint {path}: {exc}") from exc
    return digest.hexdigest()


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
        names = ", ".join(str(p.relative_to(raw_dir)) for p in counts.files)
        rows.append(row | {"cells": counts.X.shape[0], "genes": counts.X.shape[1], "nnz": counts.X.nnz, "files": names})
    genes = gene_list_problem(gene_ids)
    problems += ([] if genes is None else [genes]) + _strangers(raw_dir, set(sheet["gsm"]))
    table = pd.DataFrame(rows, columns=["gsm", "condition", "day", "replicate", "cells", "genes", "nnz", "files"])
    return table.astype({"cells": "Int64", "genes": "Int64", "nnz": "Int64"}), problems


def _strangers(raw_dir: Path, known: set[str]) -> list[str]:
    """One problem per accession present in `raw_dir` but absent from the sheet."""
    by_gsm: dict[str, list[str]] = defaultdict(list)
    for path in sorted(raw_dir.iterdir()):
        gsm = accession(path.name)
        if gsm is not None and gsm not in known:
            by_gsm[gsm].append(path.name)
    return [f"{gsm} is not in the sample sheet: {', '.join(names)} in {raw_dir}" for gsm, names in by_gsm.items()]
