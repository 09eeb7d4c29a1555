"""Find and read the 10x Genomics count matrix of each GSM, whatever layout it came in.

GEO hands out flat files named ``<GSM>_<unknown middle>_filtered_matrix.mtx.gz``
(plus barcodes and features); a Cell Ranger run leaves per-sample folders
(``filtered_feature_bc_matrix/`` in v3, ``filtered_gene_bc_matrices/<genome>/``
with an uncompressed ``genes.tsv`` in v2, ``outs/per_sample_outs/<sample>/count/``
from ``cellranger multi``) or an HDF5 file (v3+, or v2 with one group per
genome). Every layout ends as
one `CountMatrix`: cells × genes CSR of integer counts with only the
``Gene Expression`` features, so nothing downstream cares where it came from.

Malformed input is common with hand-downloaded data (a truncated gzip, a
barcodes file from another library), so every reader checks what it reads and
raises `InputError` naming the file rather than returning something plausible.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import h5py
import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp
from tqdm.auto import tqdm

from .errors import InputError

try:  # ISA-L's igzip: the same gzip format and CRC check, decompressed about 1.7x as fast as zlib
    from isal import igzip as _gzip
    from isal.isal_zlib import error as _GzipError
except ImportError:  # isal is pinned, but the readers work without it
    import gzip as _gzip

    _GzipError = zlib.error

log = logging.getLogger(__name__)

Kind = Literal["filtered", "raw"]
KINDS: tuple[str, ...] = ("filtered", "raw")
GENE_EXPRESSION = "Gene Expression"

#: Errors that reading a damaged or foreign file can raise (gzip, zlib, parsers, HDF5).
_READ_ERRORS = (OSError, EOFError, ValueError, KeyError, zlib.error, _GzipError)
#: A GEO sample accession at the start of a file or folder name.
_ACCESSION = re.compile(r"GSM\d+")
#: The name stems of the three files of a matrix triple; v2 calls features "genes".
_TRIPLE = {"matrix": r"matrix\.mtx", "barcodes": r"barcodes\.tsv", "features": r"(?:features|genes)\.tsv"}
#: Banner of a MatrixMarket file we accept as counts (10x writes `integer general`).
_BANNER = re.compile(rb"^%%MatrixMarket\s+matrix\s+coordinate\s+(integer|real)\s+general\s*$", re.IGNORECASE)
#: Bytes hashed at each end of a file by `file_fingerprint`.
_EDGE_BYTES = 1 << 20


@dataclass
class CountMatrix:
    """One library's counts: ``X`` is cells × genes (10x files store genes × cells)."""

    X: sp.csr_matrix
    barcodes: np.ndarray
    gene_ids: np.ndarray
    gene_symbols: np.ndarray
    files: tuple[Path, ...]


@dataclass(frozen=True)
class SampleFiles:
    """The files holding one GSM's matrix; ``barcodes``/``features`` are None for HDF5."""

    gsm: str
    layout: Literal["geo_flat", "cellranger_v3", "cellranger_v2", "h5"]
    matrix: Path
    barcodes: Path | None = None
    features: Path | None = None

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.matrix, self.barcodes, self.features) if p is not None)


# --------------------------------------------------------------------------- finding


def accession(name: str) -> str | None:
    """The GSM accession a file or folder name starts with (None if it does not).

    Comparing whole accessions, not string prefixes, keeps GSM832504 from
    claiming the files of GSM8325046.
    """
    match = _ACCESSION.match(name)
    return match.group(0) if match else None


def find_gsm_files(raw_dir: str | Path, gsm: str, kind: Kind = "filtered") -> SampleFiles:
    """Locate the one set of 10x files of `gsm` under `raw_dir`, in any supported layout.

    Two candidates (two middles of a flat name, a flat triple beside a folder,
    two genomes) are an error rather than a silent pick, since reading the
    wrong library would quietly mislabel thousands of cells.
    """
    raw_dir = Path(raw_dir)
    if kind not in KINDS:
        raise InputError(f"kind {kind!r} must be one of {', '.join(KINDS)}")
    if not raw_dir.is_dir():
        raise InputError(f"raw-data folder {raw_dir} does not exist")
    entries = sorted(p for p in raw_dir.iterdir() if accession(p.name) == gsm)
    files = [p for p in entries if p.is_file()]
    found = _triples(raw_dir, files, gsm, rf"_{kind}_", "geo_flat") + _h5_files(raw_dir, files, gsm, kind)
    for folder in (p for p in entries if p.is_dir()):
        found += _cellranger_outputs(folder, gsm, kind)
    if not found:
        skipped = _skipped(raw_dir, entries, kind)
        raise InputError(
            f"{gsm}: no {kind} 10x files in {raw_dir} (looked for {gsm}*_{kind}_matrix.mtx.gz + barcodes + "
            f"features, {gsm}*/[outs/]{kind}_feature_bc_matrix/, {gsm}*/{kind}_gene_bc_matrices/<genome>/, "
            f"{gsm}*/outs/per_sample_outs/*/count/sample_{kind}_feature_bc_matrix[.h5], the three files in "
            f"{gsm}*/ (filtered only) and {gsm}*{kind}_feature_bc_matrix.h5 or _gene_bc_matrices_h5.h5)"
            + (f"; skipped: {'; '.join(skipped)}" if skipped else "")
        )
    if len(found) > 1:
        listing = "; ".join(f"{c.layout}: {', '.join(map(str, c.paths))}" for c in found)
        raise InputError(f"{gsm}: {len(found)} candidate sets of {kind} 10x files, keep one: {listing}")
    return found[0]


def _cellranger_outputs(folder: Path, gsm: str, kind: Kind) -> list[SampleFiles]:
    """Cell Ranger output of one sample: in the folder itself, its ``outs/``, or each
    ``outs/per_sample_outs/<sample>/count/`` of ``cellranger multi``.

    An untouched output folder holds each matrix twice, as HDF5 beside the
    matrix folder: the HDF5 file is taken (one file, read in one go). Three
    bare files directly in the GSM's folder are taken as its filtered matrix,
    which is what GEO submitters put there.
    """
    found: list[SampleFiles] = []
    per_sample = folder / "outs" / "per_sample_outs"
    roots = [folder, folder / "outs"]
    if per_sample.is_dir():
        roots += sorted(p / "count" for p in per_sample.iterdir())
    for root in filter(Path.is_dir, roots):
        files = sorted(p for p in root.iterdir() if p.is_file())
        h5 = _h5_files(root, files, gsm, kind)
        matrix_dirs = [root / f"{kind}_feature_bc_matrix", root / f"sample_{kind}_feature_bc_matrix"]
        v2 = root / f"{kind}_gene_bc_matrices"
        if v2.is_dir():
            matrix_dirs += sorted(p for p in v2.iterdir() if p.is_dir())  # one folder per genome
        triples = [
            t for d in filter(Path.is_dir, matrix_dirs) for t in _triples(d, sorted(d.iterdir()), gsm, "^", "cellranger_v3")
        ]
        if root == folder and kind == "filtered":
            triples += _triples(root, files, gsm, "^", "cellranger_v3")
        found += h5 or triples
    return found


def _skipped(raw_dir: Path, entries: list[Path], kind: Kind) -> list[str]:
    """Every 10x-looking file of a GSM, with why no layout took it (for the error when none did)."""
    looks_10x = re.compile(r"(?:matrix\.mtx|barcodes\.tsv|features\.tsv|genes\.tsv|\.h5)(?:\.gz)?$")
    other = re.compile(rf"(?:^|[_/]){'raw' if kind == 'filtered' else 'filtered'}_")
    skipped = []
    for entry in entries:
        for path in sorted(entry.rglob("*")) if entry.is_dir() else [entry]:
            if path.is_file() and looks_10x.search(path.name):
                relative = path.relative_to(raw_dir).as_posix()
                why = "another kind of matrix" if other.search(relative) else "not in a known layout"
                skipped.append(f"{relative} ({why})")
    return skipped


def _h5_files(where: Path, files: list[Path], gsm: str, kind: Kind) -> list[SampleFiles]:
    pattern = re.compile(rf"(?:^|_){kind}_(?:feature_bc_matrix|gene_bc_matrices_h5)\.h5$")
    return [SampleFiles(gsm, "h5", path) for path in _one_per_role(where, files, gsm, {"h5": pattern}).values()]


def _triples(
    where: Path, files: list[Path], gsm: str, prefix: str, layout: Literal["geo_flat", "cellranger_v3"]
) -> list[SampleFiles]:
    """The matrix/barcodes/features triple among `files` (empty list if none of them is there).

    GEO names are ``<GSM>…_<kind>_<stem>`` (`prefix` ``_<kind>_``); in a Cell
    Ranger matrix folder they are the bare stems (`prefix` ``^``). A partial
    triple is an error: it means a lost download, not a sample without data.
    """
    patterns = {role: re.compile(rf"{prefix}{stem}(?:\.gz)?$") for role, stem in _TRIPLE.items()}
    present = _one_per_role(where, files, gsm, patterns)
    if not present:
        return []
    missing = [role for role in _TRIPLE if role not in present]
    if missing:
        have = ", ".join(p.name for p in present.values())
        raise InputError(f"{gsm}: {have} in {where} lacks its {' and '.join(missing)} file")
    if layout == "cellranger_v3" and present["features"].name.startswith("genes"):
        layout = "cellranger_v2"  # type: ignore[assignment]
    return [SampleFiles(gsm, layout, present["matrix"], present["barcodes"], present["features"])]


def _one_per_role(where: Path, files: list[Path], gsm: str, patterns: dict[str, re.Pattern[str]]) -> dict[str, Path]:
    """The file matching each role's pattern; two files for one role are an error."""
    by_role: dict[str, list[Path]] = defaultdict(list)
    for path in files:
        for role, pattern in patterns.items():
            if pattern.search(path.name):
                by_role[role].append(path)
    clashes = [
        f"{len(by_role[role])} candidate {role} files ({', '.join(p.name for p in by_role[role])})"
        for role in patterns
        if len(by_role[role]) > 1
    ]
    if clashes:
        raise InputError(f"{gsm}: {'; '.join(clashes)} in {where}")
    return {role: paths[0] for role, paths in by_role.items() if paths}


# --------------------------------------------------------------------------- reading


def read_gsm(raw_dir: str | Path, gsm: str, kind: Kind = "filtered") -> CountMatrix:
    """Find and read one GSM's counts (only ``Gene Expression`` features)."""
    return read_sample(find_gsm_files(raw_dir, gsm, kind))


def read_sample(files: SampleFiles) -> CountMatrix:
    """Read the files `find_gsm_files` located, checking them against each other."""
    counts = _read_h5(files.matrix) if files.layout == "h5" else _read_triple(files)
    log.debug("%s: %d cells x %d genes, %d nonzero (%s)", files.gsm, *counts.X.shape, counts.X.nnz, files.layout)
    return counts


def _read_triple(files: SampleFiles) -> CountMatrix:
    assert files.barcodes is not None and files.features is not None
    barcodes = _unique(_read_tsv(files.barcodes, min_columns=1)[0].to_numpy(dtype=str), "barcode", files.barcodes)
    features = _read_tsv(files.features, min_columns=2)
    _unique(features[0].to_numpy(dtype=str), "gene ID", files.features)
    matrix = _read_mtx(files.matrix)  # genes × cells
    if matrix.shape != (len(features), len(barcodes)):
        raise InputError(
            f"{files.matrix} is {matrix.shape[0]} features x {matrix.shape[1]} barcodes but "
            f"{files.features} lists {len(features)} features and {files.barcodes} {len(barcodes)} barcodes"
        )
    X = _to_cells_by_genes(matrix, files.matrix)
    del matrix  # free the COO index arrays before any column subset copies X
    types = features[2].to_numpy(dtype=str) if features.shape[1] > 2 else None  # v2 has no type: all genes
    return _keep_gene_expression(
        X, barcodes, features[0].to_numpy(dtype=str), features[1].to_numpy(dtype=str), types, files.paths
    )


def _read_tsv(path: Path, min_columns: int) -> pd.DataFrame:
    """A headerless 10x TSV as strings (no NA parsing, no quoting: gene names are literal)."""
    try:
        table = pd.read_csv(
            path, sep="\t", header=None, dtype=str, quoting=csv.QUOTE_NONE, keep_default_na=False, na_filter=False
        )
    except _READ_ERRORS as exc:
        raise InputError(f"{path} is unreadable: {exc}") from exc
    if table.shape[1] < min_columns:
        raise InputError(f"{path} has {table.shape[1]} column(s), expected at least {min_columns}")
    short = np.flatnonzero(table.iloc[:, -1].to_numpy(dtype=str) == "")  # pandas pads short lines with ""
    if short.size:
        raise InputError(f"{path}: line {short[0] + 1} has fewer than {table.shape[1]} tab-separated fields")
    return table


def _unique(values: np.ndarray, what: str, path: Path) -> np.ndarray:
    """`values`, refused if one repeats: duplicates would give non-unique obs/var names downstream.

    Gene IDs are refused rather than made unique as scanpy does for symbols:
    Cell Ranger's IDs are unique by construction, so a repeat means a damaged
    or hand-edited file, and renaming it would hide that.
    """
    names, counts = np.unique(values, return_counts=True)
    if (counts > 1).any():
        repeated = names[counts > 1]
        raise InputError(
            f"{path}: {what} {str(repeated[0])!r} occurs {counts[counts > 1][0]} times "
            f"({repeated.size} {what}(s) repeat)"
        )
    return values


def _read_mtx(path: Path) -> sp.coo_matrix:
    """Parse a MatrixMarket file with scipy (fast_matrix_market, multithreaded).

    Values are parsed as reals even when the banner says ``integer``: the
    integer parser stops at a decimal point and would silently turn a count of
    1.5 into 1, while parsing reals lets `_as_counts` reject it.
    """
    try:
        with _open_binary(path) as raw:
            banner = raw.readline()
            match = _BANNER.match(banner)
            if not match:
                raise InputError(
                    f"{path} is not a 10x count matrix: banner {banner[:80]!r}, "
                    "expected '%%MatrixMarket matrix coordinate integer general'"
                )
            real_banner = banner[: match.start(1)] + b"real" + banner[match.end(1) :]
            return scipy.io.mmread(io.BufferedReader(_Prepended(real_banner, raw)))
    except InputError:
        raise
    except _READ_ERRORS as exc:
        raise InputError(f"{path} is unreadable (truncated or corrupt?): {exc}") from exc


def _open_binary(path: Path) -> BinaryIO:
    return _gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")  # type: ignore[return-value]


class _Prepended(io.RawIOBase):
    """`head` followed by the rest of `stream`: a file whose first line was rewritten."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._stream.readinto(buffer)  # type: ignore[attr-defined]


def _to_cells_by_genes(matrix: sp.coo_matrix, path: Path) -> sp.csr_matrix:
    """Transpose into cells × genes CSR, casting the values to integers first.

    Casting the COO values before the conversion means the CSR is built
    directly at its final width, never as a float64 copy to be cast again.
    """
    matrix.data = _as_counts(matrix.data, path)
    return sp.csr_matrix(matrix.T)


def _as_counts(values: np.ndarray, path: Path) -> np.ndarray:
    """`values` as int32 (int64 if a count exceeds int32): UMI counts are whole and >= 0."""
    if values.size == 0:
        return values.astype(np.int32)
    dtype = np.int64 if values.max() > np.iinfo(np.int32).max else np.int32
    with np.errstate(invalid="ignore"):  # NaN/inf cast to garbage here, caught just below
        counts = values.astype(dtype, copy=False)
    if values.dtype.kind == "f":
        fractional = counts != values
        if fractional.any():
            raise InputError(f"{path} holds a non-integer count ({values[fractional][0]})")
    if counts.min() < 0:
        raise InputError(f"{path} holds a negative count ({counts.min()})")
    return counts


def _keep_gene_expression(
    X: sp.csr_matrix,
    barcodes: np.ndarray,
    ids: np.ndarray,
    symbols: np.ndarray,
    types: np.ndarray | None,
    files: tuple[Path, ...],
) -> CountMatrix:
    """Drop antibody, CRISPR and custom features: the classifiers model mRNA only."""
    if types is not None:
        keep = types == GENE_EXPRESSION
        if not keep.all():
            X, ids, symbols = X[:, keep], ids[keep], symbols[keep]
    return CountMatrix(X, barcodes, ids, symbols, files)


def _read_h5(path: Path) -> CountMatrix:
    """Read a Cell Ranger HDF5 matrix: v3+ (group ``matrix``) or v2 (one group per genome).

    A genes × cells CSC is, array for array, the cells × genes CSR we want,
    so no transpose is needed. A probe-level file (Flex) lists probes, each
    with the ``gene_id`` it targets: its counts are summed per gene, so every
    layout yields gene IDs.
    """
    try:
        with h5py.File(path, "r") as f:
            m = _h5_matrix_group(f, path)
            n_genes, n_cells = (int(v) for v in m["shape"][()])
            barcodes = m["barcodes"].asstr()[()].astype(str)
            if "features" in m:
                feats = m["features"]
                probes = "gene_id" in feats
                ids = feats["gene_id" if probes else "id"].asstr()[()].astype(str)
                symbols = feats["gene_name" if "gene_name" in feats else "name"].asstr()[()].astype(str)
                types = feats["feature_type"].asstr()[()].astype(str)
            else:  # v2: genes and their names, all Gene Expression
                probes, types = False, None
                ids = m["genes"].asstr()[()].astype(str)
                symbols = m["gene_names"].asstr()[()].astype(str)
            data, indices, indptr = m["data"][()], m["indices"][()], m["indptr"][()]
    except InputError:
        raise
    except (*_READ_ERRORS, TypeError) as exc:  # TypeError: a dataset of the wrong type
        raise InputError(f"{path} is unreadable as a 10x HDF5 file: {exc}") from exc
    if (len(ids), len(barcodes), len(indptr)) != (n_genes, n_cells, n_cells + 1):
        raise InputError(
            f"{path}: shape {n_genes} x {n_cells} disagrees with {len(ids)} features, "
            f"{len(barcodes)} barcodes and {len(indptr)} column pointers"
        )
    try:
        X = sp.csr_matrix((_as_counts(data, path), indices, indptr), shape=(n_cells, n_genes))
        X.check_format(full_check=True)  # indices in range, pointers monotone
    except ValueError as exc:
        raise InputError(f"{path}: inconsistent sparse arrays: {exc}") from exc
    X.sum_duplicates()
    _unique(barcodes, "barcode", path)
    if probes:
        X, ids, symbols, types = _sum_probes(X, ids, symbols, types)
    _unique(ids, "gene ID", path)
    return _keep_gene_expression(X, barcodes, ids, symbols, types, (path,))


def _h5_matrix_group(f: h5py.File, path: Path) -> h5py.Group:
    """The group holding the matrix: ``matrix`` (v3+) or the one genome's group (v2)."""
    if "matrix" in f:
        return f["matrix"]
    genomes = sorted(name for name, group in f.items() if isinstance(group, h5py.Group) and "indptr" in group)
    if len(genomes) > 1:
        raise InputError(f"{path} holds {len(genomes)} genomes ({', '.join(genomes)}); keep the file of one genome")
    if not genomes:
        raise InputError(f"{path} has no 'matrix' group nor a genome group: not a Cell Ranger HDF5 matrix")
    return f[genomes[0]]


def _sum_probes(
    X: sp.csr_matrix, gene_ids: np.ndarray, symbols: np.ndarray, types: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
    """Sum the columns of probes targeting one gene; genes keep the order of their first probe."""
    _, first, inverse = np.unique(gene_ids, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))  # gene number in order of first appearance
    keep = np.sort(first)
    n = gene_ids.size
    probes_to_genes = sp.csr_matrix((np.ones(n, dtype=X.dtype), (np.arange(n), rank[inverse])), shape=(n, keep.size))
    return sp.csr_matrix(X @ probes_to_genes), gene_ids[keep], symbols[keep], types[keep]


# --------------------------------------------------------------------------- identity


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


# --------------------------------------------------------------------------- inspection


def inspect_dir(raw_dir: str | Path, sheet: pd.DataFrame, kind: Kind = "filtered") -> tuple[pd.DataFrame, list[str]]:
    """Read every GSM of `sheet` from `raw_dir`; return a table and every problem met.

    Problems do not stop the scan, so one run lists all that needs fixing:
    sheet GSMs without files, files of GSMs not in the sheet, unreadable files.
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise InputError(f"raw-data folder {raw_dir} does not exist")
    problems: list[str] = []
    rows = []
    for sample in tqdm(sheet.itertuples(index=False), total=len(sheet), desc="inspect", unit="GSM", disable=None):
        row = {"gsm": sample.gsm, "condition": sample.condition, "day": sample.day, "replicate": sample.replicate}
        try:
            counts = read_gsm(raw_dir, sample.gsm, kind)
        except InputError as exc:
            problems.append(str(exc))
            rows.append(row | {"cells": pd.NA, "genes": pd.NA, "nnz": pd.NA, "files": ""})
            continue
        names = ", ".join(str(p.relative_to(raw_dir)) for p in counts.files)
        rows.append(row | {"cells": counts.X.shape[0], "genes": counts.X.shape[1], "nnz": counts.X.nnz, "files": names})
    problems += _strangers(raw_dir, set(sheet["gsm"]))
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
