"""How many donors would a genotype claim need? Simulated studies with D donors per genotype, donors held out.

The paper ends "stronger conclusions would require more donors". The study
itself has one patient and one control donor (D = 1): genotype, donor and
patient line coincide, so no split of its libraries can tell a genotype
effect from a donor or line effect. That case is the calibration replicates'
(`calibration`), not this module's.

Here each simulated study has D patient and D control donors (the ``donors``
scenarios of the calibration design name each D), each donor its own iPSC line, so the simulator's line effect
plays the part of donor-to-donor variation. The days are a stated subset of
the study's days that hold both genotypes (`DONOR_DAYS`), one library per
donor per day. Each fold holds out one patient and one control donor whole
(every library of both): a classifier that learned a donor's or a line's
signature, rather than the genotype's, gains nothing on donors it never saw.
Validation is the other donors' libraries of `VAL_DAY`, training their other
days: train and validation share donors (with D = 2 no donor is left to
validate on otherwise), so early stopping sees a held-out day, not a held-out
donor; only the test is donor-disjoint. The test libraries of `VAL_DAY` are of
a day no training library has.

Two decisions are recorded. The report's library-level rule
(`calibration.decide`'s ranking test) treats libraries as the units; with
donors held out, a donor's libraries share its line, so they are not
independent and that rule overstates the evidence. The donor is the unit
genotype is assigned to, so the honest test ranks donors: each donor's score
is the mean of its held-out libraries' scores, and its exact permutation
p-value cannot go below 1 / C(2D, D) (`donor_permutation_test`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..config import PrepParams, TrainConfig
from ..errors import InputError
from ..io.study import DAY_TO_CLASS, GENO_LABEL, REQUIRED_COLUMNS
from ..pp.gsm_pass import ProcessedGSM
from ..pp.splits import Split
from .calibration import ReplicateSpec, fold_data, fold_result, simulated_gsms, spec_record
from .inference import PermutationResult, ranking_permutation_test
from .networks import Networks
from .train import fit_seed

__all__ = ["ALPHA", "DONOR_DAYS", "VAL_DAY", "decide_donors", "donor_folds", "donor_gsm",
           "donor_name", "donor_pairs", "donor_spec_record", "donor_permutation_test", "donor_scores", "donor_sheet",
           "run_donor_replicate", "simulate_donor_study"]

#: Days of every simulated donor: the study's days with both genotypes, less day 9 (where the real
#: study has two control libraries and one patient library): an early day and two late ones.
DONOR_DAYS: tuple[int, ...] = (0, 16, 19)
#: Validation day of every fold (the report's own validation day, undifferentiated cells).
VAL_DAY = 0
#: Significance level of both decisions.
ALPHA = 0.05

#: Leading digit of the synthetic accessions: the real study's are GSM8325046–GSM8325057.
_GSM_PREFIX = "GSM9"
#: Genotype code in an accession.
_GENO_CODE: dict[str, int] = {"Control": 0, "Patient": 1}


def donor_name(condition: str, k: int) -> str:
    """Donor k (1-based) of a genotype: ``patient1``, ``control1``."""
    return f"{condition.lower()}{k}"


def donor_gsm(d: int, condition: str, k: int, day: int) -> str:
    """The accession of donor k's library of `day` in the design with d donors per genotype.

    Deterministic and unique per (d, genotype, donor, day): the simulator seeds
    each library's stream from its accession, so a library never depends on the
    sheet's other rows. "GSM9" keeps them apart from the real study's.
    """
    if not (1 <= d <= 99 and 1 <= k <= 99 and 0 <= day <= 99):
        raise InputError(f"no accession for d={d}, donor {k}, day {day} (each must fit two digits)")
    return f"{_GSM_PREFIX}{d:02d}{_GENO_CODE[condition]}{k:02d}{day:02d}"


def donor_sheet(d: int) -> pd.DataFrame:
    """A sample sheet shaped as `load_samples` returns it: d donors per genotype, each its own line,
    one library per donor per day of `DONOR_DAYS`, in accession order."""
    if d < 1:
        raise InputError(f"a donor design needs at least one donor per genotype (got {d})")
    rows = [
        {"gsm": donor_gsm(d, condition, k, day), "condition": condition, "day": day, "replicate": "A",
         "donor": donor_name(condition, k), "line": f"{donor_name(condition, k)}_iPSC"}
        for condition in GENO_LABEL for k in range(1, d + 1) for day in DONOR_DAYS
    ]
    sheet = pd.DataFrame(rows, columns=list(REQUIRED_COLUMNS)).sort_values("gsm")
    sheet["y_geno"] = sheet["condition"].map(GENO_LABEL).astype("int8")
    sheet["y_day"] = sheet["day"].map(DAY_TO_CLASS).astype("int8")
    return sheet.reset_index(drop=True)


def donor_pairs(sheet: pd.DataFrame) -> list[tuple[str, str]]:
    """(patient donor, control donor) pairs, k-th with k-th in accession order: one fold each."""
    first = sheet.sort_values("gsm").drop_duplicates("donor")
    patients = first.loc[first["condition"] == "Patient", "donor"].tolist()
    controls = first.loc[first["condition"] == "Control", "donor"].tolist()
    if len(patients) != len(controls) or not patients:
        raise InputError(f"donor folds need as many patient as control donors (got {len(patients)}, {len(controls)})")
    return list(zip(patients, controls, strict=True))


def donor_folds(sheet: pd.DataFrame) -> list[Split]:
    """One fold per donor pair: test every library of the pair, validate on the other donors' `VAL_DAY`,
    train on their other days. No test donor is in train or val; each donor is tested once."""
    pairs = donor_pairs(sheet)
    on_val_day = sheet["day"] == VAL_DAY
    folds = []
    for k, pair in enumerate(pairs, start=1):
        held = sheet["donor"].isin(pair)
        folds.append(Split(
            f"donors{len(pairs)}_pair{k}", "gsm",
            train=tuple(sheet.loc[~held & ~on_val_day, "gsm"]),
            val=tuple(sheet.loc[~held & on_val_day, "gsm"]),
            test=tuple(sheet.loc[held, "gsm"]),
            val_day=VAL_DAY, scheme="donor_held_out",
        ))
    return folds


def _replicate_spec(d: int, sim_seed: int, effect_scale: float, line_effect_scale: float, size: str) -> ReplicateSpec:
    """The calibration spec of a donor study (library effects at scale 1), so the same simulator path runs it."""
    return ReplicateSpec(scenario=f"donors{d}", sim_seed=int(sim_seed), data=size, effect_scale=float(effect_scale),
                         line_effect_scale=float(line_effect_scale), library_effect_scale=1.0)


def simulate_donor_study(
    d: int, sim_seed: int, effect_scale: float, line_effect_scale: float, size: str, prep: PrepParams
) -> dict[str, ProcessedGSM]:
    """Every library of the d-donor sheet simulated and put through the per-GSM pass in memory.

    `calibration.simulated_gsms` does exactly this for any sheet: the design is
    drawn once from the seed, and each library is simulated with its donor's
    line (the sheet names every line, so `default_lines` deals none).
    """
    spec = _replicate_spec(d, sim_seed, effect_scale, line_effect_scale, size)
    return simulated_gsms(spec, donor_sheet(d), prep)


def donor_scores(folds: Sequence[dict[str, Any]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Each donor's score, the mean of its held-out libraries' scores, and label (1: patient), in name order."""
    per_donor: dict[str, list[float]] = {}
    label: dict[str, int] = {}
    for fold in folds:
        for donor, score, y in zip(fold["donors"], fold["scores"], fold["labels"], strict=True):
            per_donor.setdefault(donor, []).append(float(score))
            label[donor] = int(y)
    donors = sorted(per_donor)
    return (donors, np.array([np.mean(per_donor[x]) for x in donors]),
            np.array([label[x] for x in donors], dtype=int))


def donor_permutation_test(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> PermutationResult:
    """Exact one-sided test of the donor ranking: the share of all C(2D, D) labelings of the donors
    (the observed one included) with at least as many (patient, control) pairs ranked right.

    Genotype is assigned to donors, so donors are the exchangeable units: the
    report's ranking test with all donors in one group. The floor is
    p = 1 / C(2D, D): 1/6 with D = 2, so two donors per genotype can never
    reach ALPHA = 0.05; 1/20 with D = 3, reached only by perfect separation;
    1/252 with D = 5.
    """
    return ranking_permutation_test([(np.asarray(scores, dtype=float), np.asarray(labels))])


def _fold_record(fold: Split, metrics: dict[str, Any], sheet: pd.DataFrame) -> dict[str, Any]:
    """`calibration.fold_result` of one training seed, with each test library's donor."""
    record = fold_result(fold.name, [metrics])
    donor_of = sheet.set_index("gsm")["donor"]
    return {**record, "donors": [str(donor_of[g]) for g in record["gsms"]]}


def decide_donors(folds: list[dict[str, Any]], d: int) -> dict[str, Any]:
    """Both decisions on one design's folds: the report's library ranking, and the donor ranking."""
    library = ranking_permutation_test([(np.array(f["scores"]), np.array(f["labels"])) for f in folds])
    _, scores, labels = donor_scores(folds)
    donor = donor_permutation_test(scores, labels)
    return {
        "mean_auc": float(np.mean([f["test_auc"] for f in folds])),
        "library_p": library.p_value, "library_claim": bool(library.p_value <= ALPHA),
        "donor_p": donor.p_value, "donor_claim": bool(donor.p_value <= ALPHA),
        "donor_p_floor": 1.0 / math.comb(2 * d, d),
    }


def run_donor_replicate(
    d: int,
    sim_seed: int,
    effect_scale: float,
    line_effect_scale: float,
    size: str = "calibration",
    prep: PrepParams = PrepParams(),
    config: TrainConfig = TrainConfig(),
    networks: Networks | None = None,
) -> dict[str, Any]:
    """Simulate a d-donor study, train Model A (one seed, config.seed) per donor-pair fold, decide.

    The folds (and, given `networks`, the replicates of a batch) reuse one network, reset.
    """
    sheet = donor_sheet(d)
    gsms = simulate_donor_study(d, sim_seed, effect_scale, line_effect_scale, size, prep)
    networks = networks or Networks()
    folds = []
    for fold in donor_folds(sheet):
        metrics = fit_seed(fold_data(gsms, fold, sheet, prep), config, networks).metrics
        folds.append(_fold_record(fold, metrics, sheet))
    spec = donor_spec_record(d, sim_seed, effect_scale, line_effect_scale, size, prep, config)
    return {"spec": spec, "folds": folds, **decide_donors(folds, d)}


def donor_spec_record(
    d: int, sim_seed: int, effect_scale: float, line_effect_scale: float, size: str, prep: PrepParams,
    config: TrainConfig,
) -> dict[str, Any]:
    """What a stored donor result must have been made with to be reused (`replicate_batch`)."""
    spec = spec_record(_replicate_spec(d, sim_seed, effect_scale, line_effect_scale, size), prep, config,
                       (config.seed,))
    return {"d": d, **spec, "donor_days": list(DONOR_DAYS), "val_day": VAL_DAY}
