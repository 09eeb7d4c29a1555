"""The per-GSM pass: parse once, QC, subsample, normalise, log1p, cache (paper §2.4.1–2.4.2).

Each GSM is processed on its own and the result is cached under
``outputs/cache/`` keyed by the input files' fingerprint and the parameters
that change it, so preparing any number of splits parses each raw file once
and holds at most one GSM's counts in memory.

Order of operations, and why:

1. QC on every cell: keep 200 ≤ genes ≤ 6000 and pct_mt ≤ 20, where pct_mt is
   the percentage of a cell's counts on genes whose symbol starts with ``MT-``
   (as ``scanpy.pp.calculate_qc_metrics``). QC comes before subsampling, as the
   paper's text says (its code subsampled first, which can leave fewer than
   3000 good cells in a GSM that has more).
2. Subsample the passing cells to ≤ ``max_cells`` with a generator seeded by
   (seed, GSM number) alone, so which cells are kept never depends on the
   order GSMs are processed in or on which split asks for them.
3. Normalise each cell to ``target_sum`` counts and take log1p
   (``normalize_total`` + ``log1p``), stored as float32 CSR.
4. Record float64 per-gene sums for the split-level HVG and scaling fit.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
import logging
import multiprocessing
import os
import signal
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from ..atomic import atomic_path
from ..threads import budget
from ..config import PrepParams
from ..errors import InputError
from ..io.study import gsm_number
from .genes import GeneStats

log = logging.getLogger(__name__)

MT_PREFIX = "MT-"
#: Bump when the cached content or its meaning changes, so old caches are not reused.
CACHE_FORMAT = 2
#: Most processes that parse cache misses at once (each holds one GSM's matrices, about 0.8 GB at
#: 5,000 cells × 24,000 genes); fewer when the process's thread budget (`threads.budget`) is smaller.
MAX_PARSE_WORKERS = 2
#: PrepParams fields that change the per-GSM result (HVG and scaling ones do not).
CACHE_PARAMS: tuple[str, ...] = ("seed", "min_genes", "max_genes", "max_pct_mt", "max_cells", "target_sum")
#: prctl option asking the kernel to signal a process when its parent exits (linux/prctl.h).
_PR_SET_PDEATHSIG = 1
#: The datasets of a cache file, in the order `write_cache` writes them.
CACHE_DATASETS: tuple[str, ...] = (
    "data", "indices", "indptr", "shape", "barcodes", "gene_ids", "gene_symbols", "n_cells", "sum", "sumsq",
    "nnz", "qc_barcode", "qc_n_genes", "qc_total_counts", "qc_pct_mt", "qc_pass", "qc_kept",
)


class Counts(Protocol):
    """What the per-GSM pass needs from a parsed 10x matrix (tenx.CountMatrix has it)."""

    X: sp.csr_matrix
    barcodes: np.ndarray
    gene_ids: np.ndarray
    gene_symbols: np.ndarray


def qc_metrics(X: sp.csr_matrix, symbols: np.ndarray) -> pd.DataFrame:
    """Per cell: genes detected, total counts and percent of counts on ``MT-`` genes."""
    X = sp.csr_matrix(X)
    mt = np.char.startswith(np.asarray(symbols, dtype=str), MT_PREFIX)
    total = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    mt_counts = np.asarray(X[:, mt].sum(axis=1), dtype=np.float64).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        pct_mt = np.where(total > 0, 100.0 * mt_counts / total, 0.0)
    return pd.DataFrame(
        {"n_genes": np.diff(X.indptr).astype(np.int64), "total_counts": total, "pct_mt": pct_mt}
    )


def qc_pass(metrics: pd.DataFrame, params: PrepParams) -> np.ndarray:
    """Boolean mask of cells inside the QC thresholds (bounds inclusive)."""
    return (
        (metrics["n_genes"] >= params.min_genes)
        & (metrics["n_genes"] <= params.max_genes)
        & (metrics["pct_mt"] <= params.max_pct_mt)
    ).to_numpy()


def subsample(n_cells: int, max_cells: int, seed: int, gsm: str) -> np.ndarray:
    """Sorted positions of the cells kept, drawn by a generator seeded by (seed, GSM) only."""
    if n_cells <= max_cells:
        return np.arange(n_cells)
    rng = np.random.default_rng(np.random.SeedSequence([seed, gsm_number(gsm)]))
    return np.sort(rng.choice(n_cells, size=max_cells, replace=False))


def log_normalize(X: sp.csr_matrix, target_sum: float) -> sp.csr_matrix:
    """Scale each cell to ``target_sum`` counts, then log1p; float32 CSR (computed in float64)."""
    X = sp.csr_matrix(X)
    total = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    factor = np.divide(target_sum, total, out=np.zeros_like(total), where=total > 0)
    data = X.data.astype(np.float64)
    data *= np.repeat(factor, np.diff(X.indptr))  # in place: the same values with one float64 copy fewer
    np.log1p(data, out=data)
    return sp.csr_matrix((data.astype(np.float32), X.indices.copy(), X.indptr.copy()), shape=X.shape)


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


def process_counts(counts: Counts, gsm: str, params: PrepParams) -> ProcessedGSM:
    """QC → subsample → normalise → log1p for one GSM's raw counts."""
    X = sp.csr_matrix(counts.X)
    X.eliminate_zeros()  # explicit zeros in a .mtx must not count as detected genes
    metrics = qc_metrics(X, counts.gene_symbols)
    passed = np.flatnonzero(qc_pass(metrics, params))
    if passed.size == 0:
        raise InputError(
            f"{gsm}: no cell of {X.shape[0]} passes QC ({params.min_genes} <= genes <= {params.max_genes}, "
            f"pct_mt <= {params.max_pct_mt})"
        )
    kept = passed[subsample(passed.size, params.max_cells, params.seed, gsm)]
    logn = log_normalize(X[kept], params.target_sum)
    qc = metrics.assign(barcode=np.asarray(counts.barcodes, dtype=str), pass_qc=False, kept=False)
    qc.loc[passed, "pass_qc"] = True
    qc.loc[kept, "kept"] = True
    log.debug("%s: %d cells, %d pass QC, %d kept", gsm, X.shape[0], passed.size, kept.size)
    return ProcessedGSM(
        gsm=gsm,
        X=logn,
        barcodes=np.asarray(counts.barcodes, dtype=str)[kept],
        gene_ids=np.asarray(counts.gene_ids, dtype=str),
        gene_symbols=np.asarray(counts.gene_symbols, dtype=str),
        stats=GeneStats.from_matrix(logn),
        qc=qc[["barcode", "n_genes", "total_counts", "pct_mt", "pass_qc", "kept"]],
    )


def cache_key(gsm: str, input_fingerprint: str, params: PrepParams, kind: str) -> str:
    """Hash of everything the per-GSM result depends on."""
    payload = {
        "format": CACHE_FORMAT,
        "gsm": gsm,
        "kind": kind,
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
        except (OSError, KeyError) as exc:  # damaged after it was checked on opening
            raise InputError(f"{self.gsm}: cache file {self.path} is damaged ({exc}); delete it to parse again") from None
        return [np.char.decode(a, "utf-8") if a.dtype.kind == "S" else a for a in arrays]

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
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name, value in arrays.items():
            f[name] = value


def cache_file(raw_dir: Path, gsm: str, params: PrepParams, cache_dir: Path) -> tuple[Path, str]:
    """Where a GSM's cached result lives, and the fingerprint of its input files (its `matrix_kind` set)."""
    from ..io.layouts import find_gsm_files  # needed only here; keeps the math modules light
    from ..io.raw_folder import file_fingerprint

    kind = params.matrix_kind
    fingerprint = file_fingerprint(find_gsm_files(raw_dir, gsm, kind).paths)
    return Path(cache_dir) / f"{gsm}-{cache_key(gsm, fingerprint, params, kind)}.h5", fingerprint


def load_gsms(
    raw_dir: Path, gsms: Sequence[str], params: PrepParams, cache_dir: Path, workers: int | None = None
) -> dict[str, CachedGSM]:
    """`load_gsm` for several GSMs; cache misses are parsed by up to `workers` processes at once.

    Parsing is CPU-bound and single-GSM, so a cold cache is filled on every
    core of this process's budget (at most MAX_PARSE_WORKERS); each worker holds one GSM, so peak memory
    stays flat in the number of GSMs. Errors surface in GSM order, as in a serial run.
    """
    workers = min(MAX_PARSE_WORKERS, budget()) if workers is None else workers
    misses = [g for g in gsms if not _intact(cache_file(raw_dir, g, params, cache_dir)[0])]
    if workers > 1 and len(misses) > 1:
        spawn = multiprocessing.get_context("spawn")  # no fork of a process holding threads
        before = set(multiprocessing.active_children())
        with ProcessPoolExecutor(
            min(workers, len(misses)), mp_context=spawn, initializer=_die_with_parent, initargs=(os.getpid(),)
        ) as pool:
            try:
                jobs = [pool.submit(load_gsm, raw_dir, g, params, cache_dir) for g in misses]
                for _ in tqdm(as_completed(jobs), total=len(jobs), desc="parse GSMs", unit="GSM"):
                    pass
            except (KeyboardInterrupt, SystemExit):  # Ctrl-C or SIGTERM: stop the parses now, not after them
                pool.shutdown(wait=False, cancel_futures=True)
                for worker in set(multiprocessing.active_children()) - before:
                    worker.terminate()
                raise
            for job in jobs:
                job.result()  # re-raises the first failing GSM's InputError
    return {g: load_gsm(raw_dir, g, params, cache_dir) for g in tqdm(gsms, desc="cached GSMs", unit="GSM")}


def _die_with_parent(parent: int) -> None:
    """Parse-worker initializer: have Linux kill this worker when its parent dies, even by SIGKILL.

    Without it a killed `prepare` leaves its workers (about 150 MB each) and,
    through them, the resource tracker alive as orphans.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: no such guarantee there
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def load_gsm(raw_dir: Path, gsm: str, params: PrepParams, cache_dir: Path) -> CachedGSM:
    """The cached per-GSM result, computing and storing it first on a cache miss.

    A hit costs only the fingerprint of the input files (sizes and a few MiB
    of their bytes): no raw file is parsed.
    """
    from ..io import tenx

    path, fingerprint = cache_file(raw_dir, gsm, params, cache_dir)
    if _intact(path):
        log.debug("%s: cache hit %s", gsm, path.name)
        return CachedGSM(gsm, path, fingerprint)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot write the cache folder {path.parent}: {exc}") from None
    # Notebooks preparing several splits at once would otherwise parse the same
    # GSM side by side: the first takes the lock, the others wait and reuse its result.
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _intact(path):
            if path.exists():
                log.warning("%s: cache file %s is damaged; parsing the GSM again", gsm, path)
            log.info("%s: parsing %s", gsm, raw_dir)
            write_cache(process_counts(tenx.read_gsm(raw_dir, gsm, params.matrix_kind), gsm, params), path)
    return CachedGSM(gsm, path, fingerprint)


def _intact(path: Path) -> bool:
    """Whether a cache file exists and opens as HDF5 with every dataset `write_cache` writes.

    Files are written atomically, so damage means truncation or outside
    meddling; such a file is parsed again rather than failing every run.
    """
    try:
        with h5py.File(path, "r") as f:
            return set(CACHE_DATASETS) <= set(f)
    except OSError:  # absent, empty, truncated or not HDF5
        return False


def _utf8(values: object) -> np.ndarray:
    """Text as UTF-8 bytes, which HDF5 stores as plain fixed-width datasets."""
    return np.char.encode(np.asarray(values, dtype=str), "utf-8")
