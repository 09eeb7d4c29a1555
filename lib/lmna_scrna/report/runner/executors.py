"""Where the notebooks run: a pool of local processes or a Dask cluster, both checked before any work.

A local pool worker executes one notebook at a time (`task.execute_task`); a
Dask worker runs several tasks in threads of one process, so each of its tasks
executes its notebook in a child process of its own (`task.execute_isolated`).

`--jobs` is refused below 1 and capped at this machine's cores (more kernels
than cores only share them); `--scheduler` is refused at once when malformed or
when nothing answers there, rather than after the client's 30 s timeout.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager

from ... import threads
from ...errors import InputError, one_line
from .task import Outcome, Task, execute_isolated, execute_task

log = logging.getLogger(__name__)


@contextmanager
def open_executor(jobs: int, scheduler: str | None) -> Iterator[tuple[Executor, int, int, Callable[[Task], Outcome]]]:
    """A concurrent.futures executor, how many tasks to keep in flight on it, each task's thread budget, and
    the function to submit there for each task.

    ``scheduler`` is the address of a running Dask scheduler: its client's
    executor runs the same task function on the cluster's workers. Otherwise a
    pool of ``jobs`` local processes ("spawn", so no worker inherits the
    parent's threads or open kernels).
    """
    if scheduler:
        from distributed import Client

        with Client(scheduler) as client:
            slots = client.nthreads()
            capacity = max(1, sum(slots.values()))
            # each worker thread runs one kernel: a kernel's share is its worker's cores over its threads
            shares = [cores // max(1, slots[w]) for w, cores in client.run(threads.cores).items()]
            with client.get_executor(pure=False) as executor:
                yield executor, capacity, max(1, min(shares, default=1)), execute_isolated
        return
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as executor:
        yield executor, jobs, threads.threads_per_job(jobs), execute_task


def check_jobs(jobs: int) -> int:
    """`jobs`, refused below 1 and capped at this machine's cores (saying so): more kernels than cores only
    share them, each with a thread budget of one, and multiply the memory."""
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1 (got {jobs})")
    if jobs > threads.cores():
        log.warning("--jobs %d capped at %d: this machine runs %d notebooks at once", jobs, threads.cores(),
                    threads.cores())
    return min(jobs, threads.cores())


#: Seconds a scheduler has to accept a connection before `--scheduler` is refused.
CONNECT_TIMEOUT_S = 3.0


def check_scheduler(address: str) -> str:
    """`address` if a Dask scheduler could be listening there; refused at once (malformed, nothing answers)
    rather than after the client's 30 s timeout."""
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        host, port = parse_host_port(location)
        if not 0 < int(port) < 2**16:
            raise ValueError(f"port {port} out of range")
    except (ValueError, TypeError) as exc:
        raise InputError(f"--scheduler {address!r} is not a scheduler address such as tcp://host:8786 ({exc})") from None
    if scheme not in ("tcp", "tls"):
        raise InputError(f"--scheduler {address!r}: only tcp:// and tls:// schedulers are supported")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise InputError(f"--scheduler {address}: no scheduler answers there ({one_line(exc.strerror or exc)})") from None
    return address


def check_executor(jobs: int, scheduler: str | None) -> int:
    """Check `--jobs` (always, even when nothing is stale) and `--scheduler` before any work; the jobs to use."""
    if scheduler is not None:
        check_scheduler(scheduler)
    return check_jobs(jobs)
