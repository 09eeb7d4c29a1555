"""Simulated default dataset: 12 libraries in GEO's flat 10x layout that pose the paper's questions.

GEO is unreachable here, so the report runs on data whose structure is known.
The generator is built so that each question of the paper has a real answer:

* a differentiation **day program** (pluripotency -> mesoderm -> cardiac
  progenitor -> cardiomyocyte, plus an off-target lineage and a cycling
  state) explains far more variance than genotype, so the original split,
  where genotype is confounded with day, can learn a day shortcut;
* a **patient effect** on a few percent of genes, part of it present from
  day 0 and part only from `LATE_EFFECT_DAY` on, so day-matched splits can
  generalise, more easily on later days;
* **library effects** (depth and a gene-wise log-fold batch signature), so a
  cell-level random split leaks library identity and looks better than a
  GSM-level split;
* negative-binomial (gamma-Poisson) UMI counts with gene-wise dispersion,
  real symbols for the 13 mitochondrial genes and for known markers, and
  planted QC failures (low-gene droplets, high-mitochondrial cells, doublets
  above 6000 genes) for the preprocessing to remove.

Every GSM draws from its own generator seeded by (seed, GSM accession number),
so a library's files do not depend on the other rows of the sheet or their
order; gzip headers carry no time or name, so a seed gives byte-identical files.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp
from tqdm.auto import tqdm

from ..atomic import temp_dir
from ..errors import InputError
from ..paths import default_raw_dir
from .study import DAYS, gsm_number, load_samples

log = logging.getLogger(__name__)

#: Bumped whenever the generative model or file format changes, so a cached
#: dataset made by an older generator is never mistaken for a current one.
GENERATOR_VERSION = "1.0"

# ---------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """How big a simulated dataset is; everything else is shared by all profiles."""

    n_cells: int  #: cells per GSM, QC failures included
    n_genes: int  #: features per library (a 10x library lists ~36,000; real data detect ~20,000)
    median_umis: float  #: median UMIs of a healthy cell in a library of depth factor 1


PROFILES: dict[str, Profile] = {
    "smoke": Profile(n_cells=500, n_genes=8000, median_umis=4000.0),
    "full": Profile(n_cells=5000, n_genes=24000, median_umis=5000.0),
}

# ---------------------------------------------------------------------------
# Genes
# ---------------------------------------------------------------------------

#: chrM genes in genome order; Cell Ranger lists them last (chrM sorts last).
MT_GENES: tuple[str, ...] = (
    "MT-ND1", "MT-ND2", "MT-CO1", "MT-CO2", "MT-ATP8", "MT-ATP6", "MT-CO3",
    "MT-ND3", "MT-ND4L", "MT-ND4", "MT-ND5", "MT-ND6", "MT-CYB",
)  # fmt: skip

#: Known markers of each expression module (the modules are defined below).
MARKERS: dict[str, tuple[str, ...]] = {
    "pluripotency": ("POU5F1", "NANOG", "SOX2", "LIN28A", "DPPA4", "TDGF1"),
    "mesoderm": ("TBXT", "MIXL1", "MESP1", "EOMES", "GSC", "PDGFRA", "KDR"),
    "cardiac_progenitor": ("ISL1", "NKX2-5", "GATA4", "HAND1", "HAND2", "TBX5", "MEF2C"),
    "cardiomyocyte": ("TNNT2", "MYH6", "ACTN2", "MYL7", "NPPA", "NPPB", "TTN", "ACTC1"),
    "maturation": ("MYH7", "MYL2", "RYR2", "PLN"),
    "off_target": ("COL1A1", "COL3A1", "POSTN", "DCN", "TAGLN"),
    "cycling": ("MKI67", "TOP2A", "CDK1", "CCNB1"),
}
TRAJECTORY_MODULES: tuple[str, ...] = (
    "pluripotency", "mesoderm", "cardiac_progenitor", "cardiomyocyte", "maturation",
)  # fmt: skip
MODULES: tuple[str, ...] = (*TRAJECTORY_MODULES, "off_target", "cycling")

#: Activity (0..1) of each trajectory module on each day of `study.DAYS`, in a
#: cell that follows the main cardiac path (a hand-written caricature of
#: directed iPSC-to-cardiomyocyte differentiation).
TRAJECTORY_ACTIVITY: dict[str, tuple[float, ...]] = {
    #                    d0   d2   d4   d9   d16  d19  d30
    "pluripotency":     (1.0, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0),
    "mesoderm":         (0.0, 1.0, 0.6, 0.1, 0.0, 0.0, 0.0),
    "cardiac_progenitor": (0.0, 0.2, 1.0, 0.6, 0.3, 0.2, 0.1),
    "cardiomyocyte":    (0.0, 0.0, 0.1, 0.6, 0.9, 1.0, 1.0),
    "maturation":       (0.0, 0.0, 0.0, 0.0, 0.3, 0.5, 1.0),
}  # fmt: skip
#: Share of cells in the off-target (non-cardiac) state, by day: grows as
#: differentiation yields fibroblast-like by-products.
OFF_TARGET_FRACTION: tuple[float, ...] = (0.05, 0.10, 0.15, 0.20, 0.25, 0.25, 0.30)
#: Share of cycling cells, by day: proliferation fades as cells mature.
CYCLING_FRACTION: tuple[float, ...] = (0.50, 0.45, 0.40, 0.20, 0.10, 0.10, 0.05)
#: Off-target cells keep only this share of their day's trajectory activity.
OFF_TARGET_TRAJECTORY_SHARE = 0.3
#: Per-cell jitter of developmental time, in steps between sampled days, so
#: neighbouring days overlap as asynchronous differentiation does.
PSEUDOTIME_SD = 0.3

#: Log-abundance spread of gene baselines: a few genes take most UMIs, many are rarely seen.
BASE_LOG_SD = 1.8
#: Markers sit low when their module is off and among the top genes when on.
MARKER_OFF_LOG = -1.0
MARKER_LOADING = 5.5
#: Share of the other genes that follow a module, and the spread of their log-fold loadings.
PROGRAM_GENE_FRACTION = 0.30
PROGRAM_LOADING_SD = 1.5
#: LMNA rises as cells differentiate (lamin A/C is low in pluripotent cells).
LMNA_BASE_LOG = 3.0
LMNA_CARDIOMYOCYTE_LOADING = 1.0
#: Gamma-Poisson dispersion: 1/r is log-normal around this median.
MEDIAN_OVERDISPERSION = 0.25
OVERDISPERSION_LOG_SD = 0.5

# ---------------------------------------------------------------------------
# Genotype, day batch and library effects
# ---------------------------------------------------------------------------

#: Share of genes carrying the patient effect, and the share of those whose
#: effect appears only from LATE_EFFECT_DAY on (cardiac-stage phenotype).
PATIENT_GENE_FRACTION = 0.03
PATIENT_LATE_SHARE = 0.5
LATE_EFFECT_DAY = 9
#: Patient log-fold changes: sign at random, magnitude log-normal around this median.
PATIENT_MEDIAN_LOG_FC = 0.45
PATIENT_LOG_FC_SD = 0.4
#: The patient line is LMNA-haploinsufficient-like: less LMNA from day 0.
LMNA_PATIENT_LOG_FC = float(np.log(0.7))
#: Libraries of one day were differentiated and captured together: a gene-wise
#: log-fold signature shared by both genotypes of that day.
DAY_BATCH_LOG_SD = 0.15
#: Each library's own gene-wise signature (capture, ambient RNA, chemistry) and depth factor.
LIBRARY_BATCH_LOG_SD = 0.12
LIBRARY_DEPTH_LOG_SD = 0.25
LIBRARY_DEPTH_FACTOR_RANGE = (0.7, 1.4)

# ---------------------------------------------------------------------------
# Cells: depth, mitochondria and planted QC failures
# ---------------------------------------------------------------------------

CELL_DEPTH_LOG_SD = 0.35
#: Healthy cells' depth factor is clipped so that, with the library's factor,
#: they stay inside 200..6000 detected genes and only planted cells fail QC.
CELL_DEPTH_FACTOR_RANGE = (0.4, 2.2)
#: Healthy mitochondrial share of UMIs: log-normal around a median that rises
#: from pluripotent cells to mitochondria-rich cardiomyocytes, capped well below 20 %.
MT_FRACTION_MEDIAN = (0.04, 0.045, 0.05, 0.06, 0.07, 0.075, 0.08)
MT_FRACTION_LOG_SD = 0.3
MT_FRACTION_HEALTHY_MAX = 0.14

#: Share of each library planted as QC failures, drawn per GSM.
QC_FAIL_FRACTION_RANGE = (0.06, 0.09)
QC_KINDS: tuple[str, ...] = ("low_genes", "high_mt", "doublet")
QC_KIND_PROBS: tuple[float, ...] = (0.4, 0.4, 0.2)
#: Low-quality droplets: so few UMIs that fewer than 200 genes can be detected.
LOW_GENES_UMIS_RANGE = (40.0, 150.0)
#: Dying cells: most UMIs mitochondrial, and a smaller library.
HIGH_MT_FRACTION_RANGE = (0.3, 0.7)
HIGH_MT_DEPTH_FACTOR = 0.5
#: Doublets: two cells' profiles averaged, depth solved so the expected number
#: of detected genes lands in this range (above the 6000-gene QC ceiling).
DOUBLET_GENES_RANGE = (6200.0, 7200.0)
DOUBLET_UMIS_BOUNDS = (1e3, 1e7)
DEPTH_SOLVER_STEPS = 20

#: NB entries with a mean above this are drawn by numpy directly; the many
#: small ones by CDF inversion, which touches only the few nonzero entries.
DIRECT_NB_MEAN = 5.0
#: Cells x genes entries sampled at once: bounds memory, and keeps temporaries
#: small enough for malloc to reuse rather than map fresh pages each time.
CHUNK_ENTRIES = 2**22
#: Level 1 is ~2x faster than 3 and ~8 % larger; these files are written once, read often.
GZIP_LEVEL = 1
#: Synthetic Ensembl-like ids start with ENSG9..., a range Ensembl does not use.
GENE_ID_OFFSET = 90_000_000_000
BARCODE_LENGTH = 16
MARKER_FILE = ".complete"
GROUND_TRUTH_FILE = "ground_truth.json"

# Spawn-key roots that keep the random streams of the design, days and GSMs apart.
_DESIGN_STREAM, _DAY_STREAM, _GSM_STREAM = 0, 1, 2


@dataclass(frozen=True)
class Design:
    """What all libraries share: the gene table and the effects a classifier may learn."""

    gene_ids: np.ndarray
    symbols: np.ndarray
    is_mt: np.ndarray  #: bool per gene; the chrM genes are the last ones
    base: np.ndarray  #: baseline log-abundance per gene
    loadings: np.ndarray  #: modules x genes log-fold loadings
    r: np.ndarray  #: NB size (1/overdispersion) per gene
    patient_log_fc: np.ndarray  #: per gene, 0 where no effect
    patient_from_day: np.ndarray  #: per gene, first day the effect is present (-1: none)

    @property
    def n_nuclear(self) -> int:
        """Genes before the chrM block (slices are views; boolean masks would copy)."""
        return int(self.base.size - self.is_mt.sum())


@dataclass(frozen=True)
class Library:
    """One simulated GSM: counts (cells x genes CSR), sorted barcodes and its ground truth."""

    counts: sp.csr_matrix
    barcodes: np.ndarray
    truth: dict


# ---------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------


def simulate(
    out_dir: str | Path,
    profile: str = "smoke",
    seed: int = 42,
    sheet: pd.DataFrame | str | Path | None = None,
) -> Path:
    """Write every GSM of the sheet as GEO flat 10x files plus ground_truth.json; return out_dir.

    The folder appears complete or not at all (built beside it, then renamed).
    A folder already holding this profile, seed, sheet and generator version
    is returned as is; any other existing content is refused, never replaced.
    """
    if profile not in PROFILES:
        raise InputError(f"unknown simulation profile {profile!r}; expected one of {', '.join(PROFILES)}")
    out = Path(out_dir)
    samples = sheet if isinstance(sheet, pd.DataFrame) else load_samples(sheet)
    marker = {
        "profile": profile,
        "seed": int(seed),
        "generator_version": GENERATOR_VERSION,
        "gsms": [str(g) for g in samples["gsm"]],
    }
    if _reusable(out, marker):
        log.info("simulated dataset %s already complete (profile %s, seed %d): reused", out, profile, seed)
        return out
    tmp = temp_dir(out)  # normal permissions; a killed run's leftovers removed
    try:
        _write_dataset(tmp, samples, PROFILES[profile], profile, int(seed))
        (tmp / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n")
        try:
            os.rename(tmp, out)  # replaces nothing but an empty folder
        except OSError as exc:
            raise InputError(f"cannot place simulated data at {out}: {exc}") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    log.info("wrote simulated dataset %s (profile %s, seed %d)", out, profile, seed)
    return out


def resolve_raw_dir(raw_dir: str | Path | None, profile: str = "full") -> Path:
    """``raw_dir`` as given (it must be a folder), or the profile's simulated data, simulated on first use.

    Lets every notebook and the report run on the default data with no set-up
    step, while an explicit folder (real GEO files) is never simulated into.
    """
    if raw_dir is not None:
        path = Path(raw_dir).resolve()
        if not path.is_dir():
            raise InputError(f"raw-data folder {path} does not exist or is not a folder")
        return path
    log.info("no raw-data folder given: using the simulated %r data set", profile)
    return simulate(default_raw_dir(profile), profile=profile).resolve()


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
    raise InputError(f"{out} already exists and is not a complete simulated dataset; choose another --out")


def _write_dataset(folder: Path, samples: pd.DataFrame, size: Profile, profile: str, seed: int) -> None:
    """Generate and write each GSM, then the ground truth (features are shared by all GSMs)."""
    design = build_design(size.n_genes, seed)
    features = _features_bytes(design)
    per_gsm = {}
    for row in tqdm(list(samples.itertuples(index=False)), desc="simulate GSMs", unit="GSM"):
        library = simulate_library(design, str(row.gsm), str(row.condition), int(row.day), size, seed)
        stem = f"{row.gsm}_{row.condition}_day{row.day}{row.replicate}_filtered"
        _write_library(folder, stem, library, features)
        per_gsm[row.gsm] = library.truth
    truth = _ground_truth(design, size, profile, seed, per_gsm)
    (folder / GROUND_TRUTH_FILE).write_text(json.dumps(truth, indent=1) + "\n")


# ---------------------------------------------------------------------------
# Shared design
# ---------------------------------------------------------------------------


def _rng(seed: int, *key: int) -> np.random.Generator:
    """An independent stream per (seed, key), so no stream depends on another's use."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def build_design(n_genes: int, seed: int) -> Design:
    """Draw the gene table, module loadings, dispersions and the patient effect."""
    rng = _rng(seed, _DESIGN_STREAM)
    named = [s for m in MODULES for s in MARKERS[m]] + ["LMNA"]
    n_other = n_genes - len(MT_GENES) - len(named)
    if n_other < 0:
        raise InputError(f"n_genes={n_genes} is too small for the {len(MT_GENES) + len(named)} named genes")
    # Genome-like order: named genes scattered among synthetic ones, chrM last.
    nuclear = np.array(named + [f"SIMG{i:05d}" for i in range(1, n_other + 1)], dtype=object)
    symbols = np.concatenate([nuclear[rng.permutation(nuclear.size)], np.array(MT_GENES, dtype=object)])
    gene_ids = np.array([f"ENSG{GENE_ID_OFFSET + i:011d}" for i in range(1, n_genes + 1)], dtype=object)
    is_mt = np.isin(symbols, MT_GENES)
    index = {s: i for i, s in enumerate(symbols)}

    base = rng.normal(0.0, BASE_LOG_SD, n_genes)
    loadings = np.zeros((len(MODULES), n_genes))
    is_named = np.isin(symbols, named) | is_mt
    programmed = np.flatnonzero(~is_named)[rng.random(n_other) < PROGRAM_GENE_FRACTION]
    loadings[rng.integers(0, len(MODULES), programmed.size), programmed] = rng.normal(
        0.0, PROGRAM_LOADING_SD, programmed.size
    )
    for k, module in enumerate(MODULES):
        genes = [index[s] for s in MARKERS[module]]
        base[genes] = MARKER_OFF_LOG
        loadings[k, genes] = MARKER_LOADING
    lmna = index["LMNA"]
    base[lmna] = LMNA_BASE_LOG
    loadings[MODULES.index("cardiomyocyte"), lmna] = LMNA_CARDIOMYOCYTE_LOADING

    r = 1.0 / (MEDIAN_OVERDISPERSION * np.exp(rng.normal(0.0, OVERDISPERSION_LOG_SD, n_genes)))
    log_fc, from_day = _patient_effect(rng, n_genes, is_named)
    log_fc[lmna], from_day[lmna] = LMNA_PATIENT_LOG_FC, DAYS[0]
    return Design(gene_ids, symbols, is_mt, base, loadings, r, log_fc, from_day)


def _patient_effect(rng: np.random.Generator, n_genes: int, exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pick the patient genes among synthetic ones; half act from day 0, half from LATE_EFFECT_DAY."""
    candidates = np.flatnonzero(~exclude)
    genes = rng.choice(candidates, size=round(PATIENT_GENE_FRACTION * n_genes), replace=False)
    magnitude = PATIENT_MEDIAN_LOG_FC * np.exp(rng.normal(0.0, PATIENT_LOG_FC_SD, genes.size))
    log_fc = np.zeros(n_genes)
    log_fc[genes] = magnitude * rng.choice([-1.0, 1.0], genes.size)
    from_day = np.full(n_genes, -1, dtype=np.int64)
    from_day[genes] = np.where(rng.random(genes.size) < PATIENT_LATE_SHARE, LATE_EFFECT_DAY, DAYS[0])
    return log_fc, from_day


def _day_batch(seed: int, day: int, n_genes: int) -> np.ndarray:
    """Gene-wise signature shared by the libraries of one day (they were processed together)."""
    return _rng(seed, _DAY_STREAM, day).normal(0.0, DAY_BATCH_LOG_SD, n_genes)


# ---------------------------------------------------------------------------
# One library
# ---------------------------------------------------------------------------


def simulate_library(design: Design, gsm: str, condition: str, day: int, size: Profile, seed: int) -> Library:
    """Simulate one GSM from its own random stream, in chunks of cells to bound memory."""
    rng = _rng(seed, _GSM_STREAM, gsm_number(gsm))
    day_pos = DAYS.index(day)
    depth_factor = float(np.clip(np.exp(rng.normal(0.0, LIBRARY_DEPTH_LOG_SD)), *LIBRARY_DEPTH_FACTOR_RANGE))
    log_profile = _library_log_profile(design, rng, condition, day, seed)

    n = size.n_cells
    kind = _qc_kinds(rng, n)
    activity, states = _cell_activity(rng, n, day_pos)
    doublets = np.flatnonzero(kind == _kind_code("doublet"))
    partners = rng.integers(0, n, doublets.size)
    activity[doublets] = 0.5 * (activity[doublets] + activity[partners])
    mt_fraction = _mt_fraction(rng, n, day_pos, kind)
    umis = _cell_umis(rng, n, size.median_umis * depth_factor, kind)
    umis[doublets] = _depth_for_genes(
        _cell_proportions(design, log_profile, activity[doublets], mt_fraction[doublets]),
        design.r,
        rng.uniform(*DOUBLET_GENES_RANGE, doublets.size),
    )

    chunks = []
    chunk_cells = max(1, CHUNK_ENTRIES // design.base.size)
    for start in range(0, n, chunk_cells):
        cells = slice(start, min(start + chunk_cells, n))
        mean = _cell_proportions(design, log_profile, activity[cells], mt_fraction[cells])
        mean *= umis[cells, None].astype(np.float32)
        chunks.append(sample_negative_binomial(mean, design.r, rng))
    truth = {
        "n_cells": n,
        "depth_factor": round(depth_factor, 6),
        "qc_failures_planted": {k: int(np.sum(kind == _kind_code(k))) for k in QC_KINDS},
        "cell_states": states,
    }
    return Library(sp.vstack(chunks, format="csr"), _barcodes(rng, n), truth)


def _library_log_profile(design: Design, rng: np.random.Generator, condition: str, day: int, seed: int) -> np.ndarray:
    """Gene baselines plus the day's batch, this library's batch and, for the patient, its effect."""
    n_genes = design.base.size
    log_profile = design.base + _day_batch(seed, day, n_genes) + rng.normal(0.0, LIBRARY_BATCH_LOG_SD, n_genes)
    if condition == "Patient":
        active = (design.patient_from_day >= 0) & (design.patient_from_day <= day)
        log_profile += np.where(active, design.patient_log_fc, 0.0)
    return log_profile.astype(np.float32)


def _kind_code(kind: str) -> int:
    """Code of a QC-failure kind in the per-cell `kind` array (0 is a healthy cell)."""
    return QC_KINDS.index(kind) + 1


def _qc_kinds(rng: np.random.Generator, n: int) -> np.ndarray:
    """0 for healthy cells, else 1 + index into QC_KINDS, at random positions."""
    n_fail = round(rng.uniform(*QC_FAIL_FRACTION_RANGE) * n)
    per_kind = rng.multinomial(n_fail, QC_KIND_PROBS)
    kind = np.zeros(n, dtype=np.int8)
    kind[: n_fail] = np.repeat(np.arange(1, len(QC_KINDS) + 1, dtype=np.int8), per_kind)
    return kind[rng.permutation(n)]


def _cell_activity(rng: np.random.Generator, n: int, day_pos: int) -> tuple[np.ndarray, dict[str, int]]:
    """Module activities per cell: the day's trajectory at a jittered time, off-target and cycling states."""
    t = day_pos + rng.normal(0.0, PSEUDOTIME_SD, n)
    positions = np.arange(len(DAYS))
    activity = np.zeros((n, len(MODULES)))
    for k, module in enumerate(TRAJECTORY_MODULES):
        activity[:, k] = np.interp(t, positions, TRAJECTORY_ACTIVITY[module])
    off_target = rng.random(n) < OFF_TARGET_FRACTION[day_pos]
    cycling = rng.random(n) < CYCLING_FRACTION[day_pos]
    activity[off_target, : len(TRAJECTORY_MODULES)] *= OFF_TARGET_TRAJECTORY_SHARE
    activity[:, MODULES.index("off_target")] = off_target
    activity[:, MODULES.index("cycling")] = cycling
    states = {"off_target": int(off_target.sum()), "cycling": int(cycling.sum())}
    return activity, states


def _mt_fraction(rng: np.random.Generator, n: int, day_pos: int, kind: np.ndarray) -> np.ndarray:
    """Share of each cell's UMIs on chrM: healthy below 14 %, dying cells far above 20 %."""
    healthy = MT_FRACTION_MEDIAN[day_pos] * np.exp(rng.normal(0.0, MT_FRACTION_LOG_SD, n))
    dying = rng.uniform(*HIGH_MT_FRACTION_RANGE, n)
    return np.where(kind == _kind_code("high_mt"), dying, np.minimum(healthy, MT_FRACTION_HEALTHY_MAX))


def _cell_umis(rng: np.random.Generator, n: int, median: float, kind: np.ndarray) -> np.ndarray:
    """Expected UMIs per cell; doublets get theirs later, solved from their profile."""
    factor = np.clip(np.exp(rng.normal(0.0, CELL_DEPTH_LOG_SD, n)), *CELL_DEPTH_FACTOR_RANGE)
    umis = median * factor
    umis[kind == _kind_code("high_mt")] *= HIGH_MT_DEPTH_FACTOR
    low = kind == _kind_code("low_genes")
    umis[low] = rng.uniform(*LOW_GENES_UMIS_RANGE, int(low.sum()))
    return umis


def _cell_proportions(design: Design, log_profile: np.ndarray, activity: np.ndarray, mt_fraction: np.ndarray) -> np.ndarray:
    """Expected share of each gene in each cell's UMIs (float32 rows summing to 1), nuclear and chrM apart."""
    logits = log_profile + activity.astype(np.float32) @ design.loadings.astype(np.float32)
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits, out=logits)
    nuclear, mt = weights[:, : design.n_nuclear], weights[:, design.n_nuclear :]
    nuclear *= ((1.0 - mt_fraction) / nuclear.sum(axis=1, dtype=np.float64)).astype(np.float32)[:, None]
    mt *= (mt_fraction / mt.sum(axis=1, dtype=np.float64)).astype(np.float32)[:, None]
    return weights


def _expected_genes(p: np.ndarray, r: np.ndarray, umis: np.ndarray) -> np.ndarray:
    """Expected number of detected genes per cell under NB(umis * p, r)."""
    mu = umis[:, None] * p
    return -np.expm1(-r * np.log1p(mu / r)).sum(axis=1)


def _depth_for_genes(p: np.ndarray, r: np.ndarray, target: np.ndarray) -> np.ndarray:
    """UMIs at which each cell's expected detected genes reach `target` (bisection in log depth).

    Depth is capped at DOUBLET_UMIS_BOUNDS; a profile with too few genes to
    reach the target then gets the cap (the detected count stays below it).
    """
    lo = np.full(target.size, np.log(DOUBLET_UMIS_BOUNDS[0]))
    hi = np.full(target.size, np.log(DOUBLET_UMIS_BOUNDS[1]))
    for _ in range(DEPTH_SOLVER_STEPS):
        mid = 0.5 * (lo + hi)
        below = _expected_genes(p, r, np.exp(mid)) < target
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return np.exp(hi)


def sample_negative_binomial(mu: np.ndarray, r: np.ndarray, rng: np.random.Generator) -> sp.csr_matrix:
    """Exact NB(mean mu, size r) counts (gamma-Poisson) as CSR; `mu` is cells x genes, `r` per gene.

    A gamma and a Poisson draw per entry cost ~60 ns on 10^8 mostly-zero
    entries per library. Since P(count > 0) <= mu, one float32 uniform v per
    entry proves most entries zero (v >= mu); only the candidates (v < mu,
    about the nonzero fraction) are resolved exactly: large means by numpy,
    the rest by inverting the NB distribution (`_invert_negative_binomial`).
    """
    n_genes = mu.shape[1]
    candidates = np.flatnonzero(rng.random(mu.shape, dtype=np.float32) < mu)
    rows, cols = np.divmod(candidates, n_genes)
    mean = mu.ravel()[candidates].astype(np.float64)
    size = r[cols]
    values = np.zeros(candidates.size, dtype=np.int64)
    direct = mean > DIRECT_NB_MEAN
    values[direct] = rng.negative_binomial(size[direct], size[direct] / (size[direct] + mean[direct]))
    small = ~direct
    values[small] = _invert_negative_binomial(mean[small], size[small], rng)
    keep = values > 0
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows[keep], minlength=mu.shape[0]))])
    return sp.csr_matrix((values[keep].astype(np.int32), cols[keep], indptr), shape=mu.shape)


def _invert_negative_binomial(mean: np.ndarray, size: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """NB draws for entries known to satisfy v < min(mean, 1), v the screening uniform.

    Given that event, v is uniform on (0, min(mean, 1)), so a fresh w drawn
    there stands in for it; the count is the least k whose survival S(k) =
    P(N > k) is <= w. S(0) = 1 - (r / (r + mean))^r, and S falls by the pmf,
    updated by p(k) = p(k-1) (k - 1 + r) / k * mean / (r + mean); only
    entries still above S take another step, so the loop touches few values.
    """
    w = rng.random(mean.size) * np.minimum(mean, 1.0)
    q = mean / (mean + size)
    log_p0 = size * np.log1p(-q)
    values = np.zeros(mean.size, dtype=np.int64)
    active = np.flatnonzero(w < -np.expm1(log_p0))
    w, q, size = w[active], q[active], size[active]
    pmf, survival = np.exp(log_p0[active]), -np.expm1(log_p0[active])
    k = 0
    while active.size:
        k += 1
        values[active] = k
        pmf = pmf * (k - 1 + size) / k * q
        survival = survival - pmf
        go_on = (w < survival) & (pmf > 0.0)
        active, w, q, size, pmf, survival = (a[go_on] for a in (active, w, q, size, pmf, survival))
    return values


def _barcodes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unique random 16-nt barcodes with Cell Ranger's '-1' suffix, sorted as in filtered matrices."""
    codes = np.unique(rng.integers(0, 4**BARCODE_LENGTH, 2 * n, dtype=np.int64))
    codes = np.sort(rng.choice(codes, n, replace=False))
    digits = (codes[:, None] >> (2 * np.arange(BARCODE_LENGTH - 1, -1, -1))) & 3
    letters = np.frombuffer(b"ACGT", dtype="S1")[digits]
    return np.char.add(letters.view(f"S{BARCODE_LENGTH}").ravel().astype(str), "-1")


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


def _ground_truth(design: Design, size: Profile, profile: str, seed: int, per_gsm: dict) -> dict:
    """Everything a reader needs to check what a method should find in this dataset."""
    patient = np.flatnonzero(design.patient_from_day >= 0)
    program = np.flatnonzero(np.abs(design.loadings).sum(axis=0) > 0)
    module_of = np.abs(design.loadings).argmax(axis=0)
    return {
        "generator_version": GENERATOR_VERSION,
        "profile": profile,
        "seed": seed,
        "size": asdict(size),
        "late_effect_day": LATE_EFFECT_DAY,
        "trajectory_activity": {m: dict(zip(map(str, DAYS), a, strict=True)) for m, a in TRAJECTORY_ACTIVITY.items()},
        "markers": MARKERS,
        "mt_genes": list(MT_GENES),
        "gsms": per_gsm,
        "patient_effect_genes": [
            {
                "gene_id": design.gene_ids[g],
                "symbol": design.symbols[g],
                "log_fc": round(float(design.patient_log_fc[g]), 4),
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
