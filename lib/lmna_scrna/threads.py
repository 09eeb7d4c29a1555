"""How many threads each process may keep busy, set in one place for every library that spawns them.

`lmna-scrna report --jobs N` runs N notebook kernels at once. Left alone, each
kernel's TensorFlow sizes its intra-op and inter-op pools to every core, BLAS
and OpenMP do the same, and tf.data adds its own pool: on 2 cores two kernels
ran ~8 busy threads and spent their time in context switches. So the runner
gives each kernel a budget of ``cores // jobs`` threads (`thread_env`), the
kernel's libraries read it from the environment before they start, and the
project's own TensorFlow code applies it again (`limit_tensorflow`) so a kernel
started by hand in Jupyter with the variable set behaves the same.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

#: The variable carrying a process's thread budget (set by the runner for every kernel).
BUDGET_ENV = "LMNA_THREADS"
#: Thread-count variables read at start-up by the numeric libraries a kernel loads.
_LIBRARY_ENV = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
)


def cores() -> int:
    """Cores this process may run on (the affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_job(jobs: int) -> int:
    """Threads each of `jobs` concurrent processes may use without their sum exceeding the cores."""
    return max(1, cores() // max(1, jobs))


def budget() -> int:
    """This process's thread budget: what the runner gave it, else every core."""
    value = os.environ.get(BUDGET_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else cores()


def thread_env(threads: int) -> dict[str, str]:
    """Environment that holds a process and the libraries it loads to `threads` busy threads.

    TensorFlow's inter-op pool gets the same budget: with one thread per job it
    is one; a job alone on 2 cores trained a Model A epoch 8% faster with two
    (0.66 against 0.72 s on 24,000 cells) than with one.
    """
    return {BUDGET_ENV: str(threads), "TF_NUM_INTEROP_THREADS": str(threads),
            **{name: str(threads) for name in _LIBRARY_ENV}}


def limit_tensorflow() -> None:
    """Apply the budget to TensorFlow's pools (before its first op; later it is fixed and this is a no-op)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(budget())
        tf.config.threading.set_inter_op_parallelism_threads(budget())
    except RuntimeError:  # TensorFlow already ran an op: its pools are fixed for this process
        pass


@contextmanager
def serial_blas() -> Iterator[None]:
    """BLAS and OpenMP on one thread inside the block, so a fit's numbers do not depend on `--jobs`.

    A multithreaded BLAS splits its sums by thread count, and an iterative fit
    (the logistic baselines' L-BFGS, the PCA) amplifies the last-bit differences:
    the same split gave baseline AUC 0.9634 with two threads and 0.9631 with one.
    The fits are small, so one thread costs little and buys identical results.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@contextmanager
def reader_threads() -> Iterator[None]:
    """scipy's MatrixMarket reader on this process's budget, not on a thread per core.

    Two parse workers on two cores each ran two reader threads: the six report
    splits took 19.1 CPU-s, against 18.0 with one thread a worker. threadpoolctl
    (scipy's documented way to size the reader) sees the reader's pool only once
    its extension is loaded, so an empty matrix is read first, through the public API.
    """
    from threadpoolctl import threadpool_limits

    _load_matrix_reader()
    with threadpool_limits(limits=budget()):
        yield


@cache
def _load_matrix_reader() -> None:
    import io

    import scipy.io

    scipy.io.mmread(io.BytesIO(b"%%MatrixMarket matrix coordinate real general\n1 1 0\n"))
