"""The command line as the prepare and train tests drive it: a small study, prepare's argv, the error line shown."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from _tenx_fixtures import SMALL_PARAMS, write_study


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, sheet: pd.DataFrame) -> Path:
    """A 12-GSM raw folder of 40 cells per GSM, written once per test module."""
    raw = tmp_path_factory.mktemp("raw")
    write_study(raw, sheet, n_cells=40)
    return raw


def small_args(**changes: object) -> list[str]:
    """SMALL_PARAMS (with `changes`) as prepare's command-line options."""
    return [f"--{k.replace('_', '-')}={v}" for k, v in replace(SMALL_PARAMS, **changes).to_dict().items()]


def prepare_cli(raw: Path, out: Path, *extra: str, scheme: str = "original", cache: Path | None = None) -> list[str]:
    """The argv of `lmna-scrna prepare` (the cache beside `out` unless given)."""
    cache = cache or out.parent / "c"
    return ["prepare", "--raw", str(raw), "--scheme", scheme, "--out", str(out), "--cache", str(cache), *extra]


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The CLI's error line, the only stderr line not drawn by a progress bar or a log record."""
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("lmna-scrna")]
    assert len(err) == 1, err
    return err[0]


def error_lines(err: str) -> list[str]:
    """What a terminal shows at the end: every \\r-redrawn progress bar reduced to its last state."""
    return [line.rsplit("\r", 1)[-1] for line in err.splitlines() if line.rsplit("\r", 1)[-1].strip()]
