"""The per-GSM cache: one HDF5 file per GSM and parameter set, keyed by what its content depends on.

The file holds a `ProcessedGSM`: the log-normalised matrix, the per-gene
statistics and the QC table. Each dataset carries the CRC-32 of its bytes,
checked whenever it is read, so a file altered after it was written (by a
disk, a partial copy, a hand edit) is an error naming it, never silently
wrong features. CRC-32 rather than a cryptographic hash: it catches every
burst error up to 32 bits and all but 2⁻³² of the rest, which is what an
accident needs, at about 1/20 of SHA-256's cost (ISA-L); a checksum stored
beside the data cannot stop someone who rewrites both, and is not meant to.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..atomic import hdf5_atomic
from ..config import PrepParams
from ..errors import InputError
from .genes import GeneStats

try:  # ISA-L's CRC-32: the same checksum as zlib's, several times faster
    from isal.isal_zlib import crc32 as _crc32
except ImportError:  # isal is pinned, but the cache works without it
    from zlib import crc32 as _crc32

#: Bump when the cached content or its meaning changes, so old caches are not reused.
CACHE_FORMAT = 4
#: Attribute of each cached dataset holding the CRC-32 of its bytes, checked whenever it is read.
CHECKSUM = "crc32"
#: PrepParams fields that change the per-GSM result (HVG and scaling ones do not).
CACHE_PARAMS: tuple[str, ...] = ("seed", "min_genes", "max_genes", "max_pct_mt", "max_cells", "target_sum")
#: The datasets of a cache file, in the order `write_cache` writes them.
CACHE_DATASETS: tuple[str, ...] = (
    "data", "indices", "indptr", "shape", "barcodes", "gene_ids", "gene_symbols", "n_cells", "sum", "sumsq",
    "nnz", "qc_barcode", "qc_n_genes", "qc_total_counts", "qc_pct_mt", "qc_pass", "qc_kept",
)


@dataclass(frozen=True)
class ProcessedGSM:
    """One GSM after the per-GSM pass (what the cache holds)."""

    gsm: str
    X: sp.csr_matrix  # kept cells × genes, log-normalised float32
    barcodes: np.ndarray  # of the kept cells
    gene_ids: np.ndarray
    gene_symbols: np.ndarray
    stats: GeneStats  # over the kept cells
    qc: pd.DataFrame  # every raw cell: barcode, n_genes, total_counts, pct_mt, pass_qc, kept
    input_fingerprint: str = ""  # of the raw files it came from ("" when it was never on disk)

    # The reading interface of `CachedGSM`, so split assembly takes either (in-memory calibration replicates).
    @property
    def n_kept(self) -> int:
        return self.stats.n_cells

    def load_X(self) -> sp.csr_matrix:
        return self.X

    def load_qc(self) -> pd.DataFrame:
        return self.qc


def cache_key(gsm: str, input_fingerprint: str, params: PrepParams, matrix_kind: str) -> str:
    """Hash of everything the per-GSM result depends on."""
    payload = {
        "format": CACHE_FORMAT,
        "gsm": gsm,
        "matrix_kind": matrix_kind,
        "input": input_fingerprint,
        "params": {k: getattr(params, k) for k in CACHE_PARAMS},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


class CachedGSM:
    """A cached per-GSM result on disk; arrays are loaded only when asked for.

    Fitting HVGs needs only the statistics (a few arrays of genes' length), so
    the matrix is read only when a split actually builds its output.
    """

    def __init__(self, gsm: str, path: Path, input_fingerprint: str) -> None:
        self.gsm = gsm
        self.path = path
        self.input_fingerprint = input_fingerprint

    def _arrays(self, *names: str) -> list[np.ndarray]:
        """Read whole datasets; text is stored as UTF-8 bytes and returned as str arrays."""
        try:
            with h5py.File(self.path, "r") as f:
                arrays = [f[n][()] for n in names]
                altered = [n for n, a in zip(names, arrays) if f[n].attrs.get(CHECKSUM) != _checksum(a)]
        except (OSError, KeyError) as exc:  # damaged after it was checked on opening
            raise InputError(f"{self.gsm}: cache file {self.path} is damaged ({exc}); delete it to parse again") from None
        if altered:
            raise InputError(
                f"{self.gsm}: cache file {self.path} was altered after it was written (the checksum of "
                f"{', '.join(altered)} no longer matches); delete it to parse again"
            )
        return [_text(a) if a.dtype.kind == "S" else a for a in arrays]

    @cached_property
    def stats(self) -> GeneStats:
        n, s, ss, nnz = self._arrays("n_cells", "sum", "sumsq", "nnz")
        return GeneStats(int(n), s, ss, nnz)

    @cached_property
    def gene_ids(self) -> np.ndarray:
        return self._arrays("gene_ids")[0]

    @cached_property
    def gene_symbols(self) -> np.ndarray:
        return self._arrays("gene_symbols")[0]

    @cached_property
    def barcodes(self) -> np.ndarray:
        return self._arrays("barcodes")[0]

    @property
    def n_kept(self) -> int:
        return self.stats.n_cells

    def load_X(self) -> sp.csr_matrix:
        """The log-normalised matrix; not memoised, so only one GSM is resident at a time."""
        data, indices, indptr, shape = self._arrays("data", "indices", "indptr", "shape")
        return sp.csr_matrix((data, indices, indptr), shape=tuple(shape))

    def load_qc(self) -> pd.DataFrame:
        cols = ("qc_barcode", "qc_n_genes", "qc_total_counts", "qc_pct_mt", "qc_pass", "qc_kept")
        barcode, n_genes, total, pct, passed, kept = self._arrays(*cols)
        return pd.DataFrame(
            {"barcode": barcode, "n_genes": n_genes, "total_counts": total, "pct_mt": pct,
             "pass_qc": passed, "kept": kept}
        )


def write_cache(result: ProcessedGSM, path: Path) -> None:
    """Store a per-GSM result as one uncompressed HDF5 file, atomically.

    HDF5 rather than .npz: datasets are read without the zip CRC pass, and the
    small statistics can be read without touching the matrix.
    """
    text = _utf8
    arrays = {
        "data": result.X.data, "indices": result.X.indices, "indptr": result.X.indptr,
        "shape": np.asarray(result.X.shape, dtype=np.int64),
        "barcodes": text(result.barcodes), "gene_ids": text(result.gene_ids),
        "gene_symbols": text(result.gene_symbols),
        "n_cells": np.int64(result.stats.n_cells), "sum": result.stats.sum, "sumsq": result.stats.sumsq,
        "nnz": result.stats.nnz,
        "qc_barcode": text(result.qc["barcode"]),
        "qc_n_genes": result.qc["n_genes"].to_numpy(), "qc_total_counts": result.qc["total_counts"].to_numpy(),
        "qc_pct_mt": result.qc["pct_mt"].to_numpy(), "qc_pass": result.qc["pass_qc"].to_numpy(dtype=bool),
        "qc_kept": result.qc["kept"].to_numpy(dtype=bool),
    }
    assert tuple(arrays) == CACHE_DATASETS
    with hdf5_atomic(path) as f:
        for name, value in arrays.items():
            f[name] = value
            f[name].attrs[CHECKSUM] = _checksum(np.asarray(value))


def _checksum(values: np.ndarray) -> str:
    """CRC-32 of an array's bytes, in hex: about 0.03 ms per MB with ISA-L (zlib's, 0.15 ms, without it)."""
    return f"{_crc32(np.ascontiguousarray(values).reshape(-1).view(np.uint8)):08x}"


def cache_file(raw_dir: Path, gsm: str, params: PrepParams, cache_dir: Path) -> tuple[Path, str]:
    """Where a GSM's cached result lives, and the fingerprint of its input files (its `matrix_kind` set)."""
    from ..io.digests import file_fingerprint
    from ..io.layouts import find_gsm_files  # needed only here; keeps the math modules light

    matrix_kind = params.matrix_kind
    fingerprint = file_fingerprint(find_gsm_files(raw_dir, gsm, matrix_kind).paths)  # type: ignore[arg-type]  # PrepParams.check
    return Path(cache_dir) / f"{gsm}-{cache_key(gsm, fingerprint, params, matrix_kind)}.h5", fingerprint


def intact(path: Path) -> bool:
    """Whether a cache file exists and opens as HDF5 with every dataset `write_cache` writes.

    Files are written atomically, so damage means truncation or outside
    meddling; such a file is parsed again rather than failing every run.
    """
    try:
        with h5py.File(path, "r") as f:
            return set(CACHE_DATASETS) <= set(f)
    except OSError:  # absent, empty, truncated or not HDF5
        return False


def _text(values: np.ndarray) -> np.ndarray:
    """UTF-8 bytes as str: numpy's ASCII cast where it applies (ten times faster), a full decode otherwise."""
    try:
        return values.astype(str)
    except UnicodeDecodeError:  # a non-ASCII gene symbol or barcode
        return np.char.decode(values, "utf-8")


def _utf8(values: object) -> np.ndarray:
    """Text as UTF-8 bytes, which HDF5 stores as plain fixed-width datasets."""
    return np.char.encode(np.asarray(values, dtype=str), "utf-8")
