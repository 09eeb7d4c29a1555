"""Shared fixtures: the study sheet, a writer of tiny 10x libraries in every layout, a GEO-like HTTP
server (`_geo_fixtures`), a full disk and a dead process's PID."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from _geo_fixtures import files, serve, server, server_url, validating  # noqa: F401 (fixtures, registered here)
from _tenx_fixtures import Written, write_10x

from lmna_scrna.io.study import load_samples


@pytest.fixture(name="write_10x")
def write_10x_fixture() -> Callable[..., Written]:
    """`write_10x(target, gsm=…, layout=…, …) -> Written`: a tiny 10x library on disk."""
    return write_10x


@pytest.fixture(scope="session")
def sheet() -> pd.DataFrame:
    """The project's study sheet (params/samples.csv), validated."""
    return load_samples()


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, nearly filled: a folder where any real write runs out of space.

    Skipped where tmpfs cannot be mounted (it needs root, or a mount namespace).
    """
    mount = tmp_path / "full_disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs for the full-disk test ({done.stderr.decode().strip() or 'not root'})")
    try:
        (mount / "filler").write_bytes(bytes(2 * 1024 * 1024 - 64 * 1024))  # leave 64 KiB
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def no_space(full_disk: Path) -> Path:
    """`full_disk` filled to its last byte: even a lock file's few bytes (its holder's PID) cannot be written."""
    fd = os.open(full_disk / "filler", os.O_WRONLY | os.O_APPEND)
    try:
        while os.write(fd, bytes(4096)):
            pass
    except OSError:  # ENOSPC: full
        pass
    finally:
        os.close(fd)
    return full_disk


@pytest.fixture(scope="session")
def dead_pid() -> int:
    """The PID of a process that has ended (and been reaped): the owner of a killed writer's leftovers."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests first (stable otherwise): under `make test`'s two workers the end-to-end smoke report
    starts at once on one worker while the other works through everything else, instead of starting last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
