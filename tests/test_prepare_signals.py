"""A killed `prepare` leaves no process behind, and SIGTERM is handled like Ctrl-C.

The CLI runs in a real subprocess. Its parse workers are held inside their
work deterministically: the test holds the per-GSM cache locks, so each worker
blocks on one until the parent is signalled.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from _tenx_fixtures import SMALL_PARAMS, write_study

import lmna_scrna
from lmna_scrna.pp.gsm_pass import cache_file
from lmna_scrna.pp.splits import make_split

WAIT_S = 60.0


def children(pid: int) -> set[int]:
    """Live processes whose parent is `pid` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def workers(pid: int) -> set[int]:
    """The multiprocessing workers among `pid`'s children (the resource tracker is a child too)."""
    found = set()
    for child in children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.add(child)
        except OSError:
            continue
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(condition, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(every)


@contextmanager
def prepare_behind_cache_locks(tmp_path: Path, sheet, params) -> Iterator[tuple[subprocess.Popen, set[int]]]:
    """`lmna-scrna prepare` in a child process while the test holds every GSM's cache lock, so its parse
    workers start and then wait. Yields the process and a set for the worker PIDs the test sees; whatever a
    failure leaves running is killed on exit."""
    raw, cache, out = tmp_path / "raw", tmp_path / "cache", tmp_path / "out.h5ad"
    write_study(raw, sheet, n_cells=30)
    cache.mkdir()
    args = [f"--{k.replace('_', '-')}={v}" for k, v in params.to_dict().items()]
    env = {**os.environ, "PYTHONPATH": str(Path(lmna_scrna.__file__).parents[1])}
    with ExitStack() as held:
        for gsm in make_split("original", sheet).gsms:  # every parse waits on its cache lock
            lock = held.enter_context(cache_file(raw, gsm, params, cache)[0].with_suffix(".lock").open("w"))
            fcntl.flock(lock, fcntl.LOCK_EX)
        stderr = held.enter_context((tmp_path / "stderr.txt").open("w"))  # a file: orphans may hold a pipe open
        proc = subprocess.Popen(
            [sys.executable, "-m", "lmna_scrna.cli", "prepare", "--raw", str(raw), "--scheme", "original",
             "--out", str(out), "--cache", str(cache), *args],
            env=env, stdout=subprocess.DEVNULL, stderr=stderr,
            # as from a terminal: Ctrl-C at its default (pytest-xdist's workers ignore SIGINT, and a child
            # inherits that, so Python would install no KeyboardInterrupt handler at all)
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        spawned: set[int] = set()
        try:
            yield proc, spawned
        finally:
            for pid in [proc.pid, *spawned]:  # whatever a failure left running
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_prepare_leaves_no_worker_behind(tmp_path, sheet, sig):
    with prepare_behind_cache_locks(tmp_path, sheet, replace(SMALL_PARAMS, max_cells=25)) as (proc, spawned):
        wait_until(lambda: len(workers(proc.pid)) == 2, "two parse workers")
        spawned |= children(proc.pid)
        proc.send_signal(sig)
        proc.wait(timeout=WAIT_S)
        wait_until(lambda: not any(alive(p) for p in spawned), "the workers to die with their parent")
    if sig == signal.SIGTERM:
        assert proc.returncode == 143
        said = (tmp_path / "stderr.txt").read_text()
        assert said.strip().splitlines()[-1] == "lmna-scrna prepare: terminated" and "Traceback" not in said
    else:
        assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "out.h5ad").exists()


def importing(pid: int) -> bool:
    """Whether a worker's Python is up and importing the parse code (NumPy is mapped): Ctrl-C there used
    to print a traceback, while one before Python installs its handler kills the worker silently."""
    try:
        return "numpy" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def test_ctrl_c_while_parse_workers_start_prints_no_traceback(tmp_path, sheet):
    """A terminal's Ctrl-C signals the whole process group, workers still importing included.

    The workers get it first here and the parent half a second later, one order the kernel may
    deliver them in; the cache locks held by the test keep the parse from finishing meanwhile.
    """
    with prepare_behind_cache_locks(tmp_path, sheet, SMALL_PARAMS) as (proc, spawned):
        wait_until(lambda: any(importing(w) for w in workers(proc.pid)), "a parse worker to be importing")
        spawned |= children(proc.pid)
        for pid in workers(proc.pid):
            os.kill(pid, signal.SIGINT)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=WAIT_S)
        wait_until(lambda: not any(alive(p) for p in spawned), "the workers to stop")
    err = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1].rsplit("\r", 1)[-1] == "lmna-scrna prepare: interrupted"
    assert not (tmp_path / "out.h5ad").exists()


def test_ctrl_c_while_workers_hold_cache_locks_leaves_no_lock_file(tmp_path, sheet):
    """The workers are killed, which skips their clean-up: the parent removes the cache locks they held."""
    raw, cache, out = tmp_path / "raw", tmp_path / "cache", tmp_path / "out.h5ad"
    write_study(raw, sheet, n_cells=800)  # parses long enough to be caught holding their locks
    args = [f"--{k.replace('_', '-')}={v}" for k, v in SMALL_PARAMS.to_dict().items()]
    env = {**os.environ, "PYTHONPATH": str(Path(lmna_scrna.__file__).parents[1]), "LMNA_OUTPUTS": str(tmp_path)}
    with (tmp_path / "stderr.txt").open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lmna_scrna.cli", "prepare", "--raw", str(raw), "--scheme", "original",
             "--out", str(out), "--cache", str(cache), *args],
            env=env, stdout=subprocess.DEVNULL, stderr=stderr,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            wait_until(lambda: any(cache.glob("*.lock")), "a worker to hold a cache lock", every=0.005)
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=WAIT_S)
        finally:
            if alive(proc.pid):
                proc.kill()
    err = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].rsplit("\r", 1)[-1] == "lmna-scrna prepare: interrupted"
    assert not list(cache.glob("*.lock")) and not out.exists()
