"""The simulator's generative model: one shared design, then each library's counts.

GEO is unreachable here, so the report runs on data whose structure is known.
The generator is built so that each question of the paper has a real answer:

* a differentiation **day program** (pluripotency -> mesoderm -> cardiac
  progenitor -> cardiomyocyte, plus an off-target lineage and a cycling
  state) explains far more variance than genotype, so the original split,
  where genotype is confounded with day, can learn a day shortcut;
* a **patient effect** on a few percent of genes, part of it present from
  day 0 and part only from `LATE_EFFECT_DAY` on, so day-matched splits can
  generalise, more easily on later days;
* **library effects** (depth and a gene-wise log-fold batch signature), so a cell-level
  random split leaks library identity and looks better than a GSM-level split;
* a **line effect** per iPSC line, shared by every library of the line, as
  the real study's three lines (one patient, two of her sister's) would
  carry: a constant gene-wise log-fold signature, and the line's own way of
  differentiating (a deviation of each module's loadings on the genes it
  moves, so the signature changes with the day as the modules switch on and
  off). On the patient side it coincides with genotype, so even a
  day-matched split can score on the line alone;
* negative-binomial (gamma-Poisson) UMI counts with gene-wise dispersion,
  real symbols for the 13 mitochondrial genes and for known markers, and
  planted QC failures (low-gene droplets, high-mitochondrial cells, doublets
  above 6000 genes) for the preprocessing to remove.

Every GSM draws from its own generator seeded by (seed, GSM accession number),
and every line's signature from one seeded by (seed, line name), so a
library's files do not depend on the other rows of the sheet or their order;
gzip headers carry no time or name, so a seed gives byte-identical files.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InputError
from ..io.study import DAYS, UNKNOWN_LINE, gsm_number
from .params import (
    BASE_LOG_SD,
    CELL_DEPTH_FACTOR_RANGE,
    CELL_DEPTH_LOG_SD,
    CHUNK_ENTRIES,
    CYCLING_FRACTION,
    DAY_BATCH_LOG_SD,
    DOUBLET_GENES_RANGE,
    GENE_ID_OFFSET,
    HIGH_MT_DEPTH_FACTOR,
    HIGH_MT_FRACTION_RANGE,
    LATE_EFFECT_DAY,
    LIBRARY_BATCH_LOG_SD,
    LIBRARY_DEPTH_FACTOR_RANGE,
    LIBRARY_DEPTH_LOG_SD,
    LINE_LOG_SD,
    LINE_PROGRAM_LOG_SD,
    LINES_PER_UNKNOWN_DONOR,
    LMNA_BASE_LOG,
    LMNA_CARDIOMYOCYTE_LOADING,
    LMNA_PATIENT_LOG_FC,
    LOW_GENES_UMIS_RANGE,
    MARKER_LOADING,
    MARKER_OFF_LOG,
    MARKERS,
    MEDIAN_OVERDISPERSION,
    MODULES,
    MT_FRACTION_HEALTHY_MAX,
    MT_FRACTION_LOG_SD,
    MT_FRACTION_MEDIAN,
    MT_GENES,
    OFF_TARGET_FRACTION,
    OFF_TARGET_TRAJECTORY_SHARE,
    OVERDISPERSION_LOG_SD,
    PATIENT_GENE_FRACTION,
    PATIENT_LATE_SHARE,
    PATIENT_LOG_FC_SD,
    PATIENT_MEDIAN_LOG_FC,
    PROGRAM_GENE_FRACTION,
    PROGRAM_LOADING_SD,
    PSEUDOTIME_SD,
    QC_FAIL_FRACTION_RANGE,
    QC_KIND_PROBS,
    QC_KINDS,
    TRAJECTORY_ACTIVITY,
    TRAJECTORY_MODULES,
    SimSize,
)
from .sampler import depth_for_genes, draw_barcodes, sample_negative_binomial

# Spawn-key roots that keep the random streams of the design, days, GSMs and lines apart.
_DESIGN_STREAM, _DAY_STREAM, _GSM_STREAM, _LINE_STREAM = 0, 1, 2, 3

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
class Effects:
    """Scales of the planted effects, for calibrating the protocol (all 1: the default data).

    ``patient`` multiplies every planted patient log-fold change (0: no
    genotype effect at all, the null); ``library`` multiplies each library's
    depth log-factor and gene-wise batch signature; ``line`` multiplies each
    line's gene-wise signature (0: the three lines differ in nothing but
    genotype). Random draws do not depend on any of them, so only the scaled
    effects change between two settings.
    """

    patient: float = 1.0
    library: float = 1.0
    line: float = 1.0


@dataclass(frozen=True)
class Library:
    """One simulated GSM: counts (cells x genes CSR), sorted barcodes and its ground truth."""

    counts: sp.csr_matrix
    barcodes: np.ndarray
    truth: dict


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


def _line_effect(seed: int, line: str, loadings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One iPSC line's effect at scale 1: a constant gene-wise signature and a deviation of the module loadings.

    Both come from one stream keyed by the line's name (CRC-32); the loading
    deviation touches only the genes each module moves, so a line differs most
    where its cells' active modules act.
    """
    rng = _rng(seed, _LINE_STREAM, zlib.crc32(line.encode()))
    constant = rng.normal(0.0, LINE_LOG_SD, size=(loadings.shape[1],))
    program = np.where(loadings != 0, rng.normal(0.0, LINE_PROGRAM_LOG_SD, loadings.shape), 0.0)
    return constant, program


def default_lines(sheet: pd.DataFrame) -> dict[str, str]:
    """The simulated line of each GSM: the sheet's line where it names one, else one of the donor's lines.

    The sheet leaves the sister's two lines unassigned (`study.UNKNOWN_LINE`);
    the simulator needs one, so a donor's unnamed libraries are dealt to
    ``<donor>_iPSC1``, ``<donor>_iPSC2`` alternately by day (day 0 → 1, day 2
    → 2, …). Both lines then span early and late days, the two day-9 control
    libraries share a line (their difference stays library effect alone), and
    each GSM's line depends on its own row only.
    """
    lines = {}
    for row in sheet.itertuples(index=False):
        k = DAYS.index(int(row.day)) % LINES_PER_UNKNOWN_DONOR + 1
        lines[str(row.gsm)] = f"{row.donor}_iPSC{k}" if row.line == UNKNOWN_LINE else str(row.line)
    return lines


# ---------------------------------------------------------------------------
# One library
# ---------------------------------------------------------------------------


def simulate_library(
    design: Design, gsm: str, condition: str, day: int, size: SimSize, seed: int, effects: Effects = Effects(),
    *, line: str,
) -> Library:
    """Simulate one GSM of iPSC line `line` from its own random stream, in chunks of cells to bound memory."""
    rng = _rng(seed, _GSM_STREAM, gsm_number(gsm))
    day_pos = DAYS.index(day)
    depth_log = effects.library * rng.normal(0.0, LIBRARY_DEPTH_LOG_SD)
    depth_factor = float(np.clip(np.exp(depth_log), *LIBRARY_DEPTH_FACTOR_RANGE))
    line_constant, line_program = _line_effect(seed, line, design.loadings)
    log_profile = _library_log_profile(design, rng, condition, day, seed, effects.line * line_constant, effects)
    loadings = (design.loadings + effects.line * line_program).astype(np.float32)

    n = size.n_cells
    kind = _qc_kinds(rng, n)
    activity, states = _cell_activity(rng, n, day_pos)
    doublets = np.flatnonzero(kind == _kind_code("doublet"))
    partners = rng.integers(0, n, doublets.size)
    activity[doublets] = 0.5 * (activity[doublets] + activity[partners])
    mt_fraction = _mt_fraction(rng, n, day_pos, kind)
    umis = _cell_umis(rng, n, size.median_umis * depth_factor, kind)
    umis[doublets] = depth_for_genes(
        _cell_proportions(design, log_profile, loadings, activity[doublets], mt_fraction[doublets]),
        design.r,
        rng.uniform(*DOUBLET_GENES_RANGE, doublets.size),
    )

    chunks = []
    chunk_cells = max(1, CHUNK_ENTRIES // design.base.size)
    for start in range(0, n, chunk_cells):
        cells = slice(start, min(start + chunk_cells, n))
        mean = _cell_proportions(design, log_profile, loadings, activity[cells], mt_fraction[cells])
        mean *= umis[cells, None].astype(np.float32)
        chunks.append(sample_negative_binomial(mean, design.r, rng))
    truth = {
        "n_cells": n,
        "depth_factor": round(depth_factor, 6),
        "qc_failures_planted": {k: int(np.sum(kind == _kind_code(k))) for k in QC_KINDS},
        "cell_states": states,
    }
    return Library(sp.vstack(chunks, format="csr"), draw_barcodes(rng, n), truth)


def _library_log_profile(
    design: Design, rng: np.random.Generator, condition: str, day: int, seed: int, line_signature: np.ndarray,
    effects: Effects,
) -> np.ndarray:
    """Gene baselines plus the day's batch, the line's and this library's signatures and, for the patient, its effect."""
    n_genes = design.base.size
    batch = effects.library * rng.normal(0.0, LIBRARY_BATCH_LOG_SD, n_genes)
    log_profile = design.base + _day_batch(seed, day, n_genes) + line_signature + batch
    if condition == "Patient":
        active = (design.patient_from_day >= 0) & (design.patient_from_day <= day)
        log_profile += np.where(active, effects.patient * design.patient_log_fc, 0.0)
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


def _cell_proportions(
    design: Design, log_profile: np.ndarray, loadings: np.ndarray, activity: np.ndarray, mt_fraction: np.ndarray
) -> np.ndarray:
    """Expected share of each gene in each cell's UMIs (float32 rows summing to 1), nuclear and chrM apart.

    `loadings` are the design's module loadings with this library's line deviation added (float32).
    """
    logits = log_profile + activity.astype(np.float32) @ loadings
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits, out=logits)
    nuclear, mt = weights[:, : design.n_nuclear], weights[:, design.n_nuclear :]
    nuclear *= ((1.0 - mt_fraction) / nuclear.sum(axis=1, dtype=np.float64)).astype(np.float32)[:, None]
    mt *= (mt_fraction / mt.sum(axis=1, dtype=np.float64)).astype(np.float32)[:, None]
    return weights
