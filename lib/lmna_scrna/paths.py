"""Where the project keeps its inputs and outputs, so notebooks, CLI and tests agree."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from .errors import InputError

#: Repository root (lib/lmna_scrna/paths.py -> two levels up from the package).
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def outputs_dir() -> Path:
    """Root of everything generated; `LMNA_OUTPUTS` moves it (tests use a temp dir).

    A relative `LMNA_OUTPUTS` is taken from the current folder here, once: the
    runner hands this absolute path to kernels that start in ``notebooks/``. An
    empty one is unset (not the current folder).
    """
    return Path(os.environ.get("LMNA_OUTPUTS") or PROJECT_ROOT / "outputs").absolute()


def book_dir() -> Path:
    """The book built from this outputs folder (``<outputs>/book/_build/html``): two outputs folders, two books."""
    return outputs_dir() / "book"


def book_index() -> Path:
    """The built book's first page, as `lmna-scrna book` prints it."""
    return book_dir() / "_build" / "html" / "index.html"


def params_dir() -> Path:
    return PROJECT_ROOT / "params"


def default_sheet_path() -> Path:
    return params_dir() / "samples.csv"


def default_raw_dir(size: str = "full") -> Path:
    """Where `make data` / `lmna-scrna report` put the simulated default data of a simulation size."""
    return outputs_dir() / "data" / f"simulated_{size}"


def cache_dir() -> Path:
    """Per-GSM preprocessing cache (parse raw files once, reuse for every split)."""
    return outputs_dir() / "cache"


def processed_path(split_name: str) -> Path:
    """The processed AnnData of one split, e.g. outputs/processed/dm_t19_v0.h5ad."""
    return outputs_dir() / "processed" / f"{split_name}.h5ad"


def resolve_data_path(data_path: str | Path | None, split_name: str) -> Path:
    """The processed file a training notebook reads; if missing, say which command writes it."""
    path = Path(data_path) if data_path is not None else processed_path(split_name)
    if not path.exists():
        raise InputError(
            f"processed split {path} does not exist; write it with `papermill notebooks/01_prepare.ipynb "
            f"outputs/notebooks/01_prepare_{split_name}.ipynb -f params/splits/{split_name}.yaml` (or `make report`)"
        )
    return require_file(path, "processed split")


#: Longest run name, in UTF-8 bytes: file names stop at 255 bytes, and a run's hidden build folder and lock
#: add about 30 (``.building-<name>.<pid>.old``), so a longer name would fail only after the work was done.
MAX_RUN_NAME_BYTES = 200


def check_run_name(run_name: str) -> str:
    """Refuse a run name that is not one plain folder name: a run is replaced whole, so a name that
    resolves to `runs/` itself, a parent or an absolute path would let it replace someone else's folder.
    Control and format characters (a TAB, a newline, a zero-width space) and spaces at either end are
    refused too: a name must read as what it is in a listing, a log line and a table."""
    bad = (
        not isinstance(run_name, str) or not run_name.strip() or run_name in (".", "..")
        or "/" in run_name or "\\" in run_name or run_name.startswith(".")
        or run_name != run_name.strip() or any(unicodedata.category(c)[0] == "C" or c in "\u2028\u2029" for c in run_name)
    )
    if bad:
        raise InputError(
            f"run name {run_name!r}: must be one folder name under runs/ (letters, digits, '_', '-' …), "
            "not empty, '.', '..', hidden, a path, or holding control characters or spaces at either end"
        )
    if len(run_name.encode()) > MAX_RUN_NAME_BYTES:
        raise InputError(
            f"run name {run_name[:20]!r}… ({len(run_name.encode())} bytes): must be at most {MAX_RUN_NAME_BYTES} bytes"
        )
    return run_name


def run_dir(run_name: str) -> Path:
    """One training run (all its seeds), e.g. outputs/runs/dm_t19_v0_A."""
    return outputs_dir() / "runs" / check_run_name(run_name)


def figures_dir(name: str) -> Path:
    """Report figures of one split or notebook, e.g. outputs/figures/dm_t19_v0."""
    return outputs_dir() / "figures" / name


def calibration_dir(replicate: str | None = None) -> Path:
    """Calibration replicates of notebook 07: outputs/calibration/<replicate>/result.json."""
    root = outputs_dir() / "calibration"
    return root if replicate is None else root / replicate


def shown_path(path: str | Path) -> str:
    """A path as a page or message shows it: relative to the project, never the build machine's absolute root.

    Paths under the outputs folder are shown under ``outputs/`` (its default
    place) even when `LMNA_OUTPUTS` moved it; any other path by its name only.
    """
    path = Path(path).resolve()
    for root, shown in ((outputs_dir().resolve(), Path("outputs")), (PROJECT_ROOT, Path())):
        if path.is_relative_to(root):
            return (shown / path.relative_to(root)).as_posix()
    return path.name


def require_file(path: str | Path, what: str) -> Path:
    """`path` if it is a file; else InputError saying `what` it should be and whether it is a folder or absent."""
    path = Path(path)
    if not path.is_file():
        found = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise InputError(f"{what} {path} {found}")
    return path


def require_dir(path: str | Path, what: str) -> Path:
    """`path` if it is a folder; else InputError saying `what` it should be and whether it is a file or absent."""
    path = Path(path)
    if not path.is_dir():
        found = "is a file, not a folder" if path.exists() else "does not exist"
        raise InputError(f"{what} {path} {found}")
    return path
