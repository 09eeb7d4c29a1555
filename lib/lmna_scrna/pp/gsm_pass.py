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
import logging
import multiprocessing
import os
import signal
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from ..atomic import exclusive, remove_unheld
from ..config import PrepParams
from ..errors import InputError
from ..io.study import gsm_number
from ..threads import BUDGET_ENV, budget
from .genes import GeneStats
from .gsm_cache import CachedGSM, ProcessedGSM, cache_file, intact, write_cache

log = logging.getLogger(__name__)

MT_PREFIX = "MT-"
#: Cells normalised at a time by `log_normalize` (about 1.5 M entries, 12 MiB of float64, at 3,000 genes a cell).
ROW_BLOCK = 512
#: Most processes that parse cache misses at once (each holds one GSM's matrices, about 0.8 GB at
#: 5,000 cells × 24,000 genes); fewer when the process's thread budget (`threads.budget`) is smaller.
MAX_PARSE_WORKERS = 2
#: prctl option asking the kernel to signal a process when its parent exits (linux/prctl.h).
_PR_SET_PDEATHSIG = 1


class Counts(Protocol):
    """What the per-GSM pass needs from a parsed 10x matrix (tenx.CountMatrix has it); read only."""

    @property
    def X(self) -> sp.csr_matrix: ...
    @property
    def barcodes(self) -> np.ndarray: ...
    @property
    def gene_ids(self) -> np.ndarray: ...
    @property
    def gene_symbols(self) -> np.ndarray: ...


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
    """Scale each cell to ``target_sum`` counts, then log1p; float32 CSR (computed in float64).

    Computed `ROW_BLOCK` cells at a time into the float32 result, so the
    float64 temporaries are a few MB rather than two copies of the GSM.
    """
    X = sp.csr_matrix(X)
    total = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    factor = np.divide(target_sum, total, out=np.zeros_like(total), where=total > 0)
    per_cell = np.diff(X.indptr)
    data = np.empty(X.nnz, dtype=np.float32)
    for first in range(0, X.shape[0], ROW_BLOCK):
        last = min(first + ROW_BLOCK, X.shape[0])
        start, stop = X.indptr[first], X.indptr[last]
        values = X.data[start:stop].astype(np.float64)
        values *= np.repeat(factor[first:last], per_cell[first:last])
        data[start:stop] = np.log1p(values, out=values)
    return sp.csr_matrix((data, X.indices.copy(), X.indptr.copy()), shape=X.shape)


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


def load_gsms(
    raw_dir: Path, gsms: Sequence[str], params: PrepParams, cache_dir: Path, workers: int | None = None
) -> dict[str, CachedGSM]:
    """`load_gsm` for several GSMs; cache misses are parsed by up to `workers` processes at once.

    Parsing is CPU-bound and single-GSM, so a cold cache is filled on every
    core of this process's budget (at most MAX_PARSE_WORKERS); each worker holds one GSM, so peak memory
    stays flat in the number of GSMs. Errors surface in GSM order, as in a serial run.
    """
    workers = min(MAX_PARSE_WORKERS, budget()) if workers is None else workers
    files = {g: cache_file(raw_dir, g, params, cache_dir)[0] for g in gsms}
    misses = [g for g in gsms if not intact(files[g])]
    if workers > 1 and len(misses) > 1:
        spawn = multiprocessing.get_context("spawn")  # no fork of a process holding threads
        before = set(multiprocessing.active_children())
        workers = min(workers, len(misses))
        pool = ProcessPoolExecutor(
            workers, mp_context=spawn, initializer=_start_worker, initargs=(os.getpid(), budget() // workers or 1)
        )
        try:
            with _sigint_blocked():  # the workers start (inherit the mask) in submit
                jobs = [pool.submit(load_gsm, raw_dir, g, params, cache_dir) for g in misses]
            _wait_interruptibly(jobs)
        except (KeyboardInterrupt, SystemExit):  # Ctrl-C or SIGTERM: stop the parses now, not after them
            # Kill the workers and reap them, then shut the pool down: its manager thread finds them dead, fails
            # what was pending and ends, so nothing waits on parses that cannot finish. Joined here, that thread
            # cannot race the interpreter's exit (Python 3.11 then wrote to its closed wake-up pipe and printed a
            # "Bad file descriptor" traceback after "terminated").
            for worker in set(multiprocessing.active_children()) - before:
                worker.kill()
                worker.join(timeout=5)
            pool.shutdown(wait=True, cancel_futures=True)
            for gsm in misses:  # the killed workers' cache locks (another prepare's stay: they are held)
                remove_unheld(_lock_path(files[gsm]))
            raise
        pool.shutdown(wait=True)
        for job in jobs:
            job.result()  # re-raises the first failing GSM's InputError
    return {g: load_gsm(raw_dir, g, params, cache_dir) for g in tqdm(gsms, desc="cached GSMs", unit="GSM")}


def _lock_path(cache_path: Path) -> Path:
    """The lock its parser holds while a GSM's cache file is written."""
    return cache_path.with_suffix(".lock")


def _wait_interruptibly(jobs: list[Future[CachedGSM]]) -> None:
    """Wait for the parses with a progress bar, waking twice a second.

    A bounded wait keeps the main thread running Python's signal checks while
    parses wait on cache locks another process holds.
    """
    pending = set(jobs)
    with tqdm(total=len(jobs), desc="parse GSMs", unit="GSM") as bar:
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            bar.update(len(done))


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT while parse workers start, so they inherit it blocked; a Ctrl-C comes after.

    A terminal's Ctrl-C reaches the whole process group: a worker still
    importing would print its own KeyboardInterrupt traceback. Workers never
    see SIGINT; the parent, which does, stops them.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _start_worker(parent: int, threads: int) -> None:
    """Parse-worker initializer: its share of the parent's thread budget, and death with the parent."""
    os.environ[BUDGET_ENV] = str(threads)
    _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    """Have Linux kill this parse worker when its parent dies, even by SIGKILL.

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

    A hit costs only the fingerprint of the input files (a stat of each once
    its whole-content digest is remembered, `io.digests`): no raw file is parsed.
    """
    from ..io import tenx

    path, fingerprint = cache_file(raw_dir, gsm, params, cache_dir)
    if intact(path):
        log.debug("%s: cache hit %s", gsm, path.name)
        return CachedGSM(gsm, path, fingerprint)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot write the cache folder {path.parent}: {exc}") from None
    # Notebooks preparing several splits at once would otherwise parse the same
    # GSM side by side: the first takes the lock, the others wait and reuse its result.
    with exclusive(_lock_path(path)):
        if not intact(path):
            if path.exists():
                log.warning("%s: cache file %s is damaged; parsing the GSM again", gsm, path)
            log.info("%s: parsing %s", gsm, raw_dir)
            counts = tenx.read_gsm(raw_dir, gsm, params.matrix_kind)  # type: ignore[arg-type]  # PrepParams.check
            write_cache(process_counts(counts, gsm, params), path)
    return CachedGSM(gsm, path, fingerprint)


