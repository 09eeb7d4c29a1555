"""Simulated default dataset: 12 libraries in GEO's flat 10x layout that pose the paper's questions.

What the data hold and why is described in `model`; this module writes
them: every GSM of the sheet as gzipped 10x files plus ground_truth.json,
atomically and byte-identically for a seed, and finds or makes the default
raw-data folder a report runs on.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp
from tqdm.auto import tqdm

from ..atomic import temp_dir
from ..config import check_seed
from ..errors import InputError, one_line
from ..io.raw_folder import refuse_strangers
from ..io.study import DAYS, UNKNOWN_LINE, line_problems, load_samples
from ..paths import default_raw_dir, require_dir
from .model import Design, Effects, Library, build_design, default_lines, simulate_library
from .params import (
    GENERATOR_VERSION,
    GROUND_TRUTH_FILE,
    GZIP_LEVEL,
    LATE_EFFECT_DAY,
    LINE_LOG_SD,
    LINE_PROGRAM_LOG_SD,
    MARKER_FILE,
    MARKERS,
    MODULES,
    MT_GENES,
    SIM_SIZES,
    TRAJECTORY_ACTIVITY,
    SimSize,
)
from .worlds import default_world

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------


def simulate(
    out_dir: str | Path,
    size: str = "smoke",
    seed: int = 42,
    sheet: pd.DataFrame | str | Path | None = None,
    effect_scale: float | None = None,
    library_effect_scale: float = 1.0,
    line_effect_scale: float | None = None,
    lines: Mapping[str, str] | None = None,
) -> Path:
    """Write every GSM of the sheet as GEO flat 10x files plus ground_truth.json; return out_dir.

    The folder appears complete or not at all (built beside it, then renamed).
    A folder already holding this size, seed, sheet and generator version
    is returned as is; any other existing content is refused, never replaced.
    ``effect_scale``, ``library_effect_scale`` and ``line_effect_scale`` scale
    the planted patient, library and line effects (`model.Effects`; 0
    plants none; at most `MAX_EFFECT_SCALE`). A patient or line scale left at None takes the default
    world's fitted value for this size (`worlds`, ``params/worlds.yaml``):
    the default data sit where the paper's Table 1 does. ``lines`` gives each GSM's simulated iPSC
    line (default `model.default_lines`); it must agree with the lines
    the sheet names.
    """
    seed = check_seed(seed, "seed")
    if size not in SIM_SIZES:
        raise InputError(f"unknown simulation size {size!r}; expected one of {', '.join(SIM_SIZES)}")
    fitted = default_world(size) if effect_scale is None or line_effect_scale is None else None
    effects = Effects(
        patient=_scale(fitted.effect_scale if effect_scale is None and fitted else effect_scale, "effect_scale"),
        library=_scale(library_effect_scale, "library_effect_scale"),
        line=_scale(fitted.line_effect_scale if line_effect_scale is None and fitted else line_effect_scale,
                    "line_effect_scale"),
    )
    world = fitted.name if fitted and (fitted.effect_scale, fitted.line_effect_scale) == (
        effects.patient, effects.line) else None
    out = Path(out_dir)
    samples = sheet if isinstance(sheet, pd.DataFrame) else load_samples(sheet)
    assignment = _line_assignment(samples, lines)
    marker = {
        "profile": size,  # the marker's name for the size, kept so earlier data stay reusable
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
        "gsms": [str(g) for g in samples["gsm"]],
    }
    marker |= {"effect_scale": effects.patient, "library_effect_scale": effects.library,
               "line_effect_scale": effects.line, "world": world}
    if assignment != default_lines(samples):
        marker["lines"] = assignment
    if _reusable(out, marker):
        log.info("simulated dataset %s already complete (size %s, seed %d): reused", out, size, seed)
        return out
    tmp = temp_dir(out)  # normal permissions; a killed run's leftovers removed
    try:
        _write_dataset(tmp, samples, SIM_SIZES[size], size, seed, effects, assignment, world)
        (tmp / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n")
        os.rename(tmp, out)  # replaces nothing but an empty folder
    except OSError as exc:  # a full disk, or `out` appeared meanwhile
        raise InputError(f"cannot write simulated data to {out}: {one_line(exc)}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    log.info("wrote simulated dataset %s (size %s, seed %d)", out, size, seed)
    return out


def resolve_raw_dir(raw_dir: str | Path | None, size: str = "full", sheet: pd.DataFrame | str | Path | None = None) -> Path:
    """``raw_dir`` as given (it must be a folder), or the simulated data of that size, simulated on first use.

    Lets every notebook and the report run on the default data with no set-up
    step, while an explicit folder (real GEO files) is never simulated into.
    An explicit folder holding a GSM that `sheet` (default: the study's) does
    not list is refused, as `inspect` reports it.
    """
    if raw_dir is not None:
        raw = require_dir(Path(raw_dir).resolve(), "raw-data folder")
        refuse_strangers(raw, sheet if isinstance(sheet, pd.DataFrame) else load_samples(sheet))
        return raw
    log.info("no raw-data folder given: using the simulated %r data set", size)
    return simulate(default_raw_dir(size), size=size).resolve()


def _reusable(out: Path, marker: dict) -> bool:
    """True if `out` holds exactly the dataset asked for; raise if it holds anything else."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return False
    marker_path = out / MARKER_FILE
    if out.is_dir() and marker_path.is_file():
        try:
            found = json.loads(marker_path.read_text())
        except json.JSONDecodeError:
            found = None
        if found == marker:
            return True
        raise InputError(
            f"{out} already holds a simulated dataset made with {found}, not {marker}; "
            "choose another --out or remove it"
        )
    if not out.is_dir():
        raise InputError(f"{out} is a file, not a folder; choose another --out")
    raise InputError(f"{out} already exists and is not a complete simulated dataset; choose another --out")


def _line_assignment(samples: pd.DataFrame, lines: Mapping[str, str] | None) -> dict[str, str]:
    """Each GSM's simulated line: the default, or `lines` checked against the sheet like the sheet itself."""
    if lines is None:
        return default_lines(samples)
    gsms = [str(g) for g in samples["gsm"]]
    problems = [f"{g}: no line given" for g in gsms if g not in lines]
    problems += [f"{g}: not in the sheet" for g in lines if g not in gsms]
    if problems:
        raise InputError("lines: " + "; ".join(problems))
    assignment = {g: str(lines[g]).strip() for g in gsms}
    for row in samples.itertuples(index=False):
        given = assignment[str(row.gsm)]
        if given == UNKNOWN_LINE:
            problems.append(f"{row.gsm}: a simulated library needs a line, not {UNKNOWN_LINE!r}")
        elif row.line != UNKNOWN_LINE and given != row.line:
            problems.append(f"{row.gsm}: the sheet names line {row.line!r}, not {given!r}")
    problems += line_problems(samples.assign(line=[assignment[g] for g in gsms]))
    if problems:
        raise InputError("lines: " + "; ".join(problems))
    return assignment


#: Largest scale of each planted effect. The effects are gene-wise log-fold signatures: scaled far up, a
#: few genes take every UMI (at 1e3, one to a few genes per cell, near-empty libraries). Measured on the
#: smoke design: at 16 (line or library) half the planted doublets need more than the depth solver's cap
#: (params.DOUBLET_UMIS_BOUNDS, 1e7 UMIs) to reach their 6,200+ genes, and at 10 (patient) cells start
#: to fall under the 200-gene QC floor; with all three at 8 no doublet is capped, and a cell still detects
#: about half the genes it does at scale 1 (481 vs 1,089 median). The fitted worlds sit near 1.
MAX_EFFECT_SCALE = 8.0


def _scale(value: float | None, name: str) -> float:
    if value is None or not (isinstance(value, (int, float)) and 0 <= value <= MAX_EFFECT_SCALE):
        raise InputError(
            f"{name}={value!r}: must be a number in [0, {MAX_EFFECT_SCALE:g}] (1 = the default effect, 0 = none; "
            "larger scales leave libraries near-empty)"
        )
    return float(value)


def _write_dataset(
    folder: Path, samples: pd.DataFrame, dims: SimSize, size: str, seed: int, effects: Effects,
    lines: dict[str, str], world: str | None,
) -> None:
    """Generate and write each GSM, then the ground truth (features are shared by all GSMs)."""
    design = build_design(dims.n_genes, seed)
    features = _features_bytes(design)
    per_gsm = {}
    for row in tqdm(list(samples.itertuples(index=False)), desc="simulate GSMs", unit="GSM"):
        gsm = str(row.gsm)
        library = simulate_library(design, gsm, str(row.condition), int(row.day), dims, seed, effects, line=lines[gsm])
        stem = f"{gsm}_{row.condition}_day{row.day}{row.replicate}_filtered"
        _write_library(folder, stem, library, features)
        per_gsm[gsm] = library.truth
    truth = _ground_truth(design, dims, size, seed, per_gsm, effects, lines) | {"world": world}
    (folder / GROUND_TRUTH_FILE).write_text(json.dumps(truth, indent=1) + "\n")


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def _features_bytes(design: Design) -> bytes:
    """Cell Ranger 3 features.tsv: gene id, symbol, feature type; no header."""
    lines = [f"{g}\t{s}\tGene Expression\n" for g, s in zip(design.gene_ids, design.symbols, strict=True)]
    return "".join(lines).encode()


def _matrix_bytes(counts: sp.csr_matrix) -> bytes:
    """MatrixMarket coordinate integer, genes x cells, entries ordered by cell then gene like 10x."""
    coo = counts.tocoo()  # CSR rows are cells, so entries come out by cell, then gene
    genes_by_cells = sp.coo_matrix((coo.data.astype(np.int64), (coo.col, coo.row)), shape=counts.shape[::-1])
    buffer = io.BytesIO()
    scipy.io.mmwrite(buffer, genes_by_cells, field="integer", symmetry="general")
    return buffer.getvalue()


def _write_gz(path: Path, data: bytes) -> None:
    """gzip without a time stamp or file name in the header, so equal data give equal bytes."""
    with open(path, "wb") as fh, gzip.GzipFile(
        fileobj=fh, mode="wb", compresslevel=GZIP_LEVEL, mtime=0, filename=""
    ) as gz:
        gz.write(data)


def _write_library(folder: Path, stem: str, library: Library, features: bytes) -> None:
    _write_gz(folder / f"{stem}_matrix.mtx.gz", _matrix_bytes(library.counts))
    _write_gz(folder / f"{stem}_barcodes.tsv.gz", ("\n".join(library.barcodes) + "\n").encode())
    _write_gz(folder / f"{stem}_features.tsv.gz", features)


def _ground_truth(
    design: Design, dims: SimSize, size: str, seed: int, per_gsm: dict, effects: Effects, lines: dict[str, str]
) -> dict:
    """Everything a reader needs to check what a method should find in this dataset."""
    patient = np.flatnonzero(design.patient_from_day >= 0)
    program = np.flatnonzero(np.abs(design.loadings).sum(axis=0) > 0)
    module_of = np.abs(design.loadings).argmax(axis=0)
    return {
        "generator_version": GENERATOR_VERSION,
        "profile": size,  # the size's name, under the key earlier ground truths used
        "seed": seed,
        "effect_scale": effects.patient,
        "library_effect_scale": effects.library,
        "line_effect_scale": effects.line,
        "line_log_sd": LINE_LOG_SD,  # sd of each line's gene-wise signature at scale 1
        "line_program_log_sd": LINE_PROGRAM_LOG_SD,  # sd of its deviation of the module loadings at scale 1
        "lines": lines,
        "size": asdict(dims),
        "late_effect_day": LATE_EFFECT_DAY,
        "trajectory_activity": {m: dict(zip(map(str, DAYS), a, strict=True)) for m, a in TRAJECTORY_ACTIVITY.items()},
        "markers": MARKERS,
        "mt_genes": list(MT_GENES),
        "gsms": per_gsm,
        "patient_effect_genes": [
            {
                "gene_id": design.gene_ids[g],
                "symbol": design.symbols[g],
                "log_fc": round(float(effects.patient * design.patient_log_fc[g]), 4),
                "from_day": int(design.patient_from_day[g]),
            }
            for g in patient
        ],
        "day_program_genes": [
            {
                "gene_id": design.gene_ids[g],
                "symbol": design.symbols[g],
                "module": MODULES[module_of[g]],
                "loading": round(float(design.loadings[module_of[g], g]), 4),
            }
            for g in program
        ],
    }
