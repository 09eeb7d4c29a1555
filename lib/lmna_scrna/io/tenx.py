"""Read the 10x Genomics count matrix of each GSM, whatever layout `layouts` found it in.

Every layout ends as one `CountMatrix`: cells × genes CSR of integer counts with only the
``Gene Expression`` features, so nothing downstream cares where it came from.

Malformed input is common with hand-downloaded data (a truncated gzip, a
barcodes file from another library), so every reader checks what it reads and
raises `InputError` naming the file rather than returning something plausible.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import h5py
import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp

from ..errors import InputError
from ..threads import reader_threads
from .layouts import MatrixKind, SampleFiles, find_gsm_files

_GzipError: type[Exception]
try:  # ISA-L's igzip: the same gzip format and CRC check, decompressed about 1.7x as fast as zlib
    from isal import igzip as _gzip
    from isal.isal_zlib import error as _isal_error

    _GzipError = _isal_error  # type: ignore[assignment]  # isal's stubs call its exception class an instance
except ImportError:  # isal is pinned, but the readers work without it
    import gzip as _gzip  # type: ignore[no-redef]

    _GzipError = zlib.error

log = logging.getLogger(__name__)

GENE_EXPRESSION = "Gene Expression"

#: Errors that reading a damaged or foreign file can raise (gzip, zlib, parsers, HDF5).
_READ_ERRORS = (OSError, EOFError, ValueError, KeyError, zlib.error, _GzipError)
#: What to do about repeated gene IDs, which only hand-made files have.
_GENE_ID_HINT = (
    "; gene IDs must be unique, as Cell Ranger's are: a hand-made file with placeholder IDs (such as Seurat's "
    "pbmc_small, where every ID is 'ENSGXXXXXX') needs unique IDs, or the gene symbols, in its ID column"
)
#: Entries checked at a time (their order, their values' fractions): keeps each check's temporaries to a few MiB.
CHECK_BLOCK = 1 << 20
#: Banner of a MatrixMarket file we accept as counts (10x writes `integer general`).
_BANNER = re.compile(rb"^%%MatrixMarket\s+matrix\s+coordinate\s+(integer|real)\s+general\s*$", re.IGNORECASE)


@dataclass
class CountMatrix:
    """One library's counts: ``X`` is cells × genes (10x files store genes × cells)."""

    X: sp.csr_matrix
    barcodes: np.ndarray
    gene_ids: np.ndarray
    gene_symbols: np.ndarray
    files: tuple[Path, ...]


def read_gsm(raw_dir: str | Path, gsm: str, matrix_kind: MatrixKind = "filtered") -> CountMatrix:
    """Find and read one GSM's counts (only ``Gene Expression`` features)."""
    return read_sample(find_gsm_files(raw_dir, gsm, matrix_kind))


def read_sample(files: SampleFiles) -> CountMatrix:
    """Read the files `find_gsm_files` located, checking them against each other."""
    counts = _read_h5(files.matrix) if files.layout == "h5" else _read_triple(files)
    log.debug("%s: %d cells x %d genes, %d nonzero (%s)", files.gsm, *counts.X.shape, counts.X.nnz, files.layout)
    return counts


def _read_triple(files: SampleFiles) -> CountMatrix:
    assert files.barcodes is not None and files.features is not None
    barcodes = _unique(_read_tsv(files.barcodes, min_columns=1)[0].to_numpy(dtype=str), "barcode", files.barcodes)
    features = _read_tsv(files.features, min_columns=2)
    _unique(features[0].to_numpy(dtype=str), "gene ID", files.features, _GENE_ID_HINT)
    matrix = _read_mtx(files.matrix)  # genes × cells
    if matrix.shape != (len(features), len(barcodes)):
        raise InputError(
            f"{files.matrix} is {matrix.shape[0]} features x {matrix.shape[1]} barcodes but "
            f"{files.features} lists {len(features)} features and {files.barcodes} {len(barcodes)} barcodes"
        )
    X = _to_cells_by_genes(matrix, files.matrix)  # empties `matrix`: its arrays are freed as X is built
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


def _unique(values: np.ndarray, what: str, path: Path, hint: str = "") -> np.ndarray:
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
            f"({repeated.size} {what}(s) repeat){hint}"
        )
    return values


def _read_mtx(path: Path) -> _Entries:
    """Parse a MatrixMarket file with scipy (fast_matrix_market, on the thread budget).

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
            with reader_threads():
                coo = scipy.io.mmread(io.BufferedReader(_Prepended(real_banner, raw)))
            return _Entries(coo.row, coo.col, coo.data, coo.shape)
    except InputError:
        raise
    except _READ_ERRORS as exc:
        raise InputError(f"{path} is unreadable (truncated or corrupt?): {exc}") from exc


def _open_binary(path: Path) -> BinaryIO:
    return _gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


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


@dataclass
class _Entries:
    """A MatrixMarket body as scipy parsed it (genes × cells); `_to_cells_by_genes` empties it as it goes."""

    genes: np.ndarray | None
    cells: np.ndarray | None
    values: np.ndarray | None
    shape: tuple[int, int]


def _to_cells_by_genes(entries: _Entries, path: Path) -> sp.csr_matrix:
    """Transpose into cells × genes CSR of integer counts, holding as little beside it as possible.

    Cell Ranger lists the entries cell by cell, genes ascending within each:
    then the gene column already is the CSR's indices and the cell column gives
    only the row pointers, so it is dropped before the values are cast, and no
    CSR copy is made. Any other order goes through scipy, which sorts and sums
    repeated entries (refused).
    """
    (n_genes, n_cells), genes, cells, values = entries.shape, entries.genes, entries.cells, entries.values
    entries.genes = entries.cells = entries.values = None
    assert genes is not None and cells is not None and values is not None
    indptr = _cell_pointers(genes, cells, n_cells)
    if indptr is None:
        counts = _as_counts(values, path)
        del values
        X = sp.csr_matrix(sp.coo_matrix((counts, (cells, genes)), shape=(n_cells, n_genes)))
        _refuse_duplicates(counts.size - X.nnz, path)
        return X
    del cells
    return sp.csr_matrix((_as_counts(values, path), genes, indptr), shape=(n_cells, n_genes))


def _cell_pointers(genes: np.ndarray, cells: np.ndarray, n_cells: int) -> np.ndarray | None:
    """The CSR row pointers when entries come cell by cell with genes strictly ascending; else None.

    Checked a block at a time (each block overlapping the next by one entry),
    so no temporary of the entries' length is made.
    """
    for start in range(0, cells.size, CHECK_BLOCK):
        stop = start + CHECK_BLOCK + 1
        cell_steps = np.diff(cells[start:stop])
        if (cell_steps < 0).any() or ((cell_steps == 0) & (np.diff(genes[start:stop]) <= 0)).any():
            return None
    return np.searchsorted(cells, np.arange(n_cells + 1, dtype=cells.dtype)).astype(genes.dtype)


def _refuse_duplicates(n_repeats: int, path: Path) -> None:
    """A 10x matrix lists each (gene, barcode) once; scipy would sum repeats into a count no one measured."""
    if n_repeats:
        raise InputError(
            f"{path} lists {n_repeats} (gene, barcode) entr{'y' if n_repeats == 1 else 'ies'} more than once; "
            "a 10x matrix lists each once, so the file is damaged or was merged by hand"
        )


def _as_counts(values: np.ndarray, path: Path) -> np.ndarray:
    """`values` as int32 (int64 if a count exceeds int32): UMI counts are whole and >= 0."""
    if values.size == 0:
        return values.astype(np.int32)
    low, top = values.min(), values.max()  # a NaN or an infinity anywhere shows in one of them
    if values.dtype.kind == "f" and not (np.isfinite(low) and np.isfinite(top)):
        raise InputError(f"{path} holds a count that is not a finite number ({values[~np.isfinite(values)][0]})")
    if low < 0:
        raise InputError(f"{path} holds a negative count ({low})")
    if top >= 2**63:  # beyond int64: no count of molecules, and a cast would wrap
        raise InputError(f"{path} holds a count too large to be a UMI count ({top:g})")
    dtype = np.int64 if top > np.iinfo(np.int32).max else np.int32
    counts = values.astype(dtype, copy=False)
    if values.dtype.kind == "f":  # compared a block at a time: a GSM-sized mask would add to the parse's peak
        for start in range(0, values.size, CHECK_BLOCK):
            block = values[start : start + CHECK_BLOCK]
            fractional = counts[start : start + CHECK_BLOCK] != block
            if fractional.any():
                raise InputError(f"{path} holds a non-integer count ({block[fractional][0]})")
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
    stored = X.nnz
    X.sum_duplicates()
    _refuse_duplicates(stored - X.nnz, path)
    _unique(barcodes, "barcode", path)
    if probes:
        X, ids, symbols, types = _sum_probes(X, ids, symbols, types)
    _unique(ids, "gene ID", path, _GENE_ID_HINT)
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
