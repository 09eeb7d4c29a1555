"""Where the project keeps its inputs and outputs, so notebooks, CLI and tests agree."""

from __future__ import annotations

import os
from pathlib import Path

#: Repository root (lib/lmna_scrna/paths.py -> two levels up from the package).
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def outputs_dir() -> Path:
    """Root of everything generated; `LMNA_OUTPUTS` moves it (tests use a temp dir)."""
    return Path(os.environ.get("LMNA_OUTPUTS", PROJECT_ROOT / "outputs"))


def params_dir() -> Path:
    return PROJECT_ROOT / "params"


def default_sheet_path() -> Path:
    return params_dir() / "samples.csv"
