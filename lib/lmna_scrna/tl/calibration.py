"""Calibration replicates: simulate a study with known effects, run the report's protocol, score it.

With 12 libraries a day-matched AUC of 0.8 could come from library or line
effects alone. The simulator knows the truth, so the protocol is run on
studies with no genotype effect, with a line effect only, and with scaled
genotype effects (`calibration_design`): how often would the report's own
decision rules claim a genotype signal?

The protocol is the report's: the leave-one-day-out folds, preprocessing
fitted on training libraries, Model A with the build's hyperparameters, and
the two decisions the report makes — the fold interval of the day-matched test
AUC excluding 0.5, and the pooled library ranking's exact permutation p-value
at or below `ALPHA`. A replicate never touches the disk until its result:
the simulated counts go straight through the per-GSM pass (no gzip written and
parsed again), every fold is assembled in memory, and the cell-level logistic
baseline, which no decision uses, is not fitted; the folds and replicates of a
batch reuse one network, reset, instead of building and tracing it again
(`networks`). The result is the same as simulating to files, preparing and
training a run folder (tested).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..config import PrepParams, TrainConfig
from ..io.study import load_samples
from ..pp.assemble import ProcessedData, assemble_split, fit_gsms, processed_data
from ..pp.gsm_pass import ProcessedGSM, process_counts
from ..pp.splits import Split, day_matched, leave_one_day_out, original
from ..sim.model import Effects, build_design, default_lines, simulate_library
from ..sim.params import GENERATOR_VERSION, SIM_SIZES
from .calibration_match import matched_effects

__all__ = ["ALPHA", "ReplicateSpec", "decide", "fold_result", "matched_effects", "run_replicate"]
from .inference import fold_interval, gsm_auc, ranking_permutation_test
from .networks import Networks
from .train import fit_seed

log = logging.getLogger(__name__)

#: Significance level of the library-ranking decision.
ALPHA = 0.05


@dataclass(frozen=True)
class ReplicateSpec:
    """Everything a replicate's result depends on; a stored result with another spec is stale."""

    scenario: str
    sim_seed: int
    data: str
    effect_scale: float
    line_effect_scale: float
    library_effect_scale: float
    table1: bool = False  # also train the paper's Table 1 rows (`table1_rows`)

    def effects(self) -> Effects:
        return Effects(patient=self.effect_scale, library=self.library_effect_scale, line=self.line_effect_scale)


@dataclass(frozen=True)
class _Counts:
    """Simulated counts in the shape the per-GSM pass reads (`gsm_pass.Counts`)."""

    X: sp.csr_matrix
    barcodes: np.ndarray
    gene_ids: np.ndarray
    gene_symbols: np.ndarray


def simulated_gsms(spec: ReplicateSpec, sheet: pd.DataFrame, prep: PrepParams) -> dict[str, ProcessedGSM]:
    """Every GSM of the sheet simulated and put through the per-GSM pass in memory, in accession order."""
    size = SIM_SIZES[spec.data]
    design = build_design(size.n_genes, spec.sim_seed)
    lines = default_lines(sheet)
    out = {}
    for row in sheet.sort_values("gsm").itertuples(index=False):
        library = simulate_library(design, str(row.gsm), str(row.condition), int(row.day), size, spec.sim_seed,
                                   spec.effects(), line=lines[str(row.gsm)])
        counts = _Counts(library.counts, library.barcodes, design.gene_ids.astype(str), design.symbols.astype(str))
        out[str(row.gsm)] = process_counts(counts, str(row.gsm), prep)
    return out


def fold_data(gsms: dict[str, ProcessedGSM], fold: Split, sheet: pd.DataFrame, prep: PrepParams) -> ProcessedData:
    """One fold's processed split, fitted on its training libraries and assembled in memory."""
    fit = fit_gsms({g: gsms[g] for g in fold.gsms}, fold, sheet, prep, source="simulated")
    return processed_data(assemble_split(fit), Path(f"(in memory) {fold.name}"))


def run_replicate(
    spec: ReplicateSpec,
    prep: PrepParams = PrepParams(),
    config: TrainConfig = TrainConfig(),
    seeds: Sequence[int] = (42,),
    networks: Networks | None = None,
) -> dict[str, Any]:
    """Simulate, prepare every leave-one-day-out fold, train Model A per seed, score; return the result.

    The folds (and, given `networks`, the replicates of a batch) reuse one network per seed, reset.
    """
    sheet = load_samples()
    gsms = simulated_gsms(spec, sheet, prep)
    networks = networks or Networks()
    folds, assembled = [], {}
    for fold in leave_one_day_out(sheet):
        data = fold_data(gsms, fold, sheet, prep)
        per_seed = [fit_seed(data, dataclasses.replace(config, seed=int(s)), networks).metrics for s in seeds]
        folds.append(fold_result(fold.name, per_seed))
        if spec.table1:  # Model B trains on these folds again: kept, not assembled twice
            assembled[fold.name] = data
    extra = ({"table1": table1_rows(gsms, sheet, prep, config, seeds, networks, folds, assembled)}
             if spec.table1 else {})
    return {"spec": spec_record(spec, prep, config, seeds), "folds": folds, **decide(folds), **extra}


#: The paper's day-matched folds (test day, validation day), as its Table 1 lists them.
PAPER_FOLDS: tuple[tuple[int, int], ...] = ((0, 16), (16, 0), (19, 0))


def paper_splits(sheet: pd.DataFrame) -> list[Split]:
    """The splits of the paper's Table 1: the original split and its three day-matched folds."""
    return [original(sheet), *(day_matched(sheet, t, v) for t, v in PAPER_FOLDS)]


def table1_rows(
    gsms: dict[str, ProcessedGSM], sheet: pd.DataFrame, prep: PrepParams, config: TrainConfig, seeds: Sequence[int],
    networks: Networks, folds: list[dict[str, Any]], assembled: dict[str, ProcessedData],
) -> list[dict[str, Any]]:
    """The paper's Table 1 on one simulated study: Models A and B on `paper_splits` (test AUC, mean over
    seeds). Model A's day-matched rows are the leave-one-day-out folds already trained, whose `assembled`
    data Model B reuses."""
    trained = {f["split"]: f["test_auc"] for f in folds}
    rows = []
    for split in paper_splits(sheet):
        data = assembled[split.name] if split.name in assembled else fold_data(gsms, split, sheet, prep)
        for model in ("A", "B"):
            if model == "A" and split.name in trained:
                auc = trained[split.name]
            else:
                cfg = dataclasses.replace(config, model=model)
                auc = float(np.mean([fit_seed(data, dataclasses.replace(cfg, seed=int(s)), networks).metrics["test_auc"]
                                     for s in seeds]))
            rows.append({"split": split.name, "model": model, "test_auc": auc})
    return rows


def spec_record(spec: ReplicateSpec, prep: PrepParams, config: TrainConfig, seeds: Sequence[int]) -> dict[str, Any]:
    """What a stored result must have been made with to be reused: the spec, generator, network, seeds, prep."""
    network = {k: v for k, v in config.to_dict().items() if k != "seed"}
    return {**dataclasses.asdict(spec), "generator_version": GENERATOR_VERSION, "network": network,
            "train_seeds": [int(s) for s in seeds], "prep": prep.to_dict()}


def fold_result(split: str, per_seed: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A fold's test AUC (mean over seeds) and its libraries' scores (mean patient probability over seeds)."""
    rows = [g for m in per_seed for g in m["gsm"]]
    gsms = sorted({r["gsm"] for r in rows})
    scores = [float(np.mean([r["mean_p"] for r in rows if r["gsm"] == g])) for g in gsms]
    labels = [int(next(r["y_true"] for r in rows if r["gsm"] == g)) for g in gsms]
    return {
        "split": split,
        "test_auc": float(np.mean([m["test_auc"] for m in per_seed])),
        "gsms": gsms, "scores": scores, "labels": labels,
        "gsm_auc": gsm_auc(np.array(scores), np.array(labels)),
    }


def decide(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's two decisions on one set of folds: AUC interval above 0.5; library ranking p ≤ ALPHA."""
    auc = fold_interval([f["test_auc"] for f in folds])
    ranking = ranking_permutation_test([(np.array(f["scores"]), np.array(f["labels"])) for f in folds])
    return {
        "mean_auc": auc.mean, "auc_ci_lo": auc.lo, "auc_ci_hi": auc.hi,
        "auc_decision": bool(auc.lo > 0.5),
        "ranking_pairs_right": ranking.pairs_right, "ranking_pairs_total": ranking.pairs_total,
        "ranking_p": ranking.p_value, "ranking_decision": bool(ranking.p_value <= ALPHA),
    }
