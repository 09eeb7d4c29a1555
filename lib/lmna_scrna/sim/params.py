"""The simulator's numbers: the simulation sizes, the day program, effect sizes, QC failures, file format.

Kept apart from the generative model (`model`) so the knobs a reader may
want to change are in one place; `GENERATOR_VERSION` must be bumped whenever
one of them changes what is written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Bumped whenever the generative model or file format changes, so a cached
#: dataset made by an older generator is never mistaken for a current one.
GENERATOR_VERSION = "1.2"  # 1.1: a gene-wise signature per iPSC line; 1.2: and a line-specific differentiation program

# ---------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SimSize:
    """How big a simulated dataset is; everything else is shared by all sizes."""

    n_cells: int  #: cells per GSM, QC failures included
    n_genes: int  #: features per library (a 10x library lists ~36,000; real data detect ~20,000)
    median_umis: float  #: median UMIs of a healthy cell in a library of depth factor 1


SIM_SIZES: dict[str, SimSize] = {
    "smoke": SimSize(n_cells=500, n_genes=8000, median_umis=4000.0),
    "full": SimSize(n_cells=5000, n_genes=24000, median_umis=5000.0),
    # the calibration replicates of notebook 07: many small datasets instead of one large one
    "calibration": SimSize(n_cells=600, n_genes=4000, median_umis=4000.0),
    # a few null replicates at a larger size, to show the null does not move with the replicates' size
    "calibration_larger": SimSize(n_cells=1500, n_genes=8000, median_umis=4000.0),
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
# Genotype, day batch, library and line effects
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
#: Each iPSC line's own gene-wise signature (genetic background, reprogramming
#: and clonal history), shared by every library of the line and present on
#: every day; one signature per line lumps donor and clone together. iPSC
#: lines differ by more than libraries of one line do (donor background is a
#: major source of iPSC expression variation: Kilpinen et al., Nature 2017,
#: 546:370), so it is set somewhat above LIBRARY_BATCH_LOG_SD (1.25x). Over
#: all genes it carries more signal than the patient effect on a few percent
#: of genes: the default data face the confound the real design has.
LINE_LOG_SD = 0.15
#: iPSC lines also differ in how they differentiate, not only by a constant
#: offset: lines of one protocol vary in differentiation efficiency and in the
#: genes that change along it (Cuomo et al., Nat Commun 2020, 11:810, on
#: endoderm; Strober et al., Science 2019, 364:1287, on cardiomyocytes). Each
#: line therefore also carries its own deviation of every module's loadings on
#: the genes that module moves, so the line's signature changes as the modules
#: switch on and off over the days, as the late part of the patient effect does.
#: Same sd as the constant part at scale 1; the `line` knob scales both.
LINE_PROGRAM_LOG_SD = 0.15
#: The sister gave two non-mutant lines (Zaragoza et al., Cells 2024); the
#: simulator deals a donor's libraries of unnamed line among this many lines.
LINES_PER_UNKNOWN_DONOR = 2

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
