"""Tables for people: one mapping from the code's column names to words, used by every displayed table.

The CSVs under ``outputs/tables`` keep their machine-readable names; only what
a page shows goes through `show_table`: columns named in words (with units),
each ``<m>_mean``/``<m>_sd`` pair as one "mean ± sd" column, each
``<x>_lo``/``<x>_hi`` pair as one "lo–hi" interval, no index column, and a
caption that says what a row is. A split's name in a cell is shown in its
words (`names.split_words`). Reads no file.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .names import split_words
from .numbers import auc_interval_text, count_text, difference_interval_text, difference_text, sd_text, signed

#: Code name → the words a table shows. Metrics are unitless (AUC, accuracy, shares) unless a unit is named.
LABELS: dict[str, str] = {
    # identity of a row
    "split": "Split", "partition": "Partition", "model": "Model", "run": "Run", "seed": "Training seed", "seeds": "Training seeds",
    "gsm": "Library (GSM)", "condition": "Genotype", "day": "Day", "test_day": "Test day", "val_day": "Validation day",
    "scheme": "Split scheme", "unit": "Unit held out", "comparison": "Comparison", "metric": "Metric",
    "contrast": "Contrast", "configuration": "Configuration", "higher": "Library expected higher", "lower": "Library expected lower",
    "shared_by_train_and_test": "Shared by training and test", "still_confounded_with_genotype":
        "Still confounded with genotype", "y_true": "Patient (1) or control (0)",
    # sizes
    "n_test": "Test cells", "n_cells": "Cells", "cells": "Cells", "libraries": "Libraries", "patients": "Patient libraries",
    "folds": "Folds", "first_better": "Folds the first is higher", "called_right": "Libraries called right at the threshold",
    "ranked_right": "Libraries right of every opposite", "role": "Kind of study",
    "scenario": "Simulated scenario", "study_auc": "Mean day-matched AUC (± sd over studies)",
    "auc_rule_text": "AUC rule claims (95% interval)", "ranking_rule_text": "Ranking rule claims (95% interval)",
    "p_text": "This build's empirical p (floor)", "line_units": "Line effect (library differences)", "sd_auc": "sd over studies",
    "auc_rule_claims": "AUC rule: claims", "ranking_rule_claims": "Ranking rule: claims", "reach_auc": "Studies reaching this AUC",
    "reach_ranking": "Studies reaching this ranking", "auc_rule": "AUC rule: 95% interval of the rate",
    "ranking_rule": "Ranking rule: 95% interval of the rate", "auc_ci": "95% interval over held-out days",
    "ranking_pairs_right": "Library pairs ranked right", "ranking_pairs_total": "Library pairs", "empirical_p": "Empirical p", "p_floor": "Smallest possible p", "gsm_total": "Test libraries", "pairs_total": "Library pairs", "pairs_right": "Pairs ranked right",
    "assignments": "Label assignments",
    # cell-level metrics
    "test_auc": "Test AUC", "val_auc": "Validation AUC", "test_acc": "Accuracy at 0.5",
    "test_bal_acc": "Balanced accuracy (val. threshold)", "threshold": "Threshold (val., Youden's J)",
    "test_geno_loss": "Genotype loss (nats per cell)", "test_combined_loss": "Combined loss (nats per cell)",
    "day_acc": "Day accuracy", "auc": "AUC", "A_auc": "Model A test AUC", "B_auc": "Model B test AUC",
    "logreg_auc": "Logistic regression test AUC", "delta": "Δ AUC (B − A)", "distance_from_half": "|AUC − 0.5|",
    "paper AUC (real data)": "Paper: test AUC (real data)", "paper acc (real data)": "Paper: accuracy at 0.5 (real data)",
    # library-level results
    "gsm_correct": "Test libraries right of threshold", "A_gsm_correct": "Model A: libraries right of threshold",
    "logreg_gsm_correct": "Logistic regression: libraries right of threshold", "mean_p": "Mean patient probability",
    "correct": "Right of validation threshold", "correct_at_05": "Right of 0.5", "score": "Library score",
    "rank": "Rank in fold (1 = most patient-like)", "right_of_every_opposite": "Right of every opposite library",
    "threshold_right": "Share of seeds right of threshold", "tested_in": "Splits testing it",
    "gsm_auc": "Library-level AUC", "in_pooled": "In pooled test", "p_value": "Exact permutation p",
    # comparisons and intervals
    "mean": "Mean difference", "ci": "95% interval over held-out days", "fold_ci": "95% interval over held-out days",
    "test_auc_boot": "Test AUC, 95% cell bootstrap", "per_fold": "Per fold", "verdict": "Verdict", "rule": "Rule",
    "lowest_auc": "Lower side's lowest AUC",
    # preparation
    "cells_raw": "Cells before QC", "cells_qc": "Cells after QC", "cells_kept": "Cells kept (subsampled)",
    "median_genes_raw": "Median genes per cell, before QC", "median_genes_qc": "Median genes per cell, after QC",
    "mean_pct_mt_raw": "Mitochondrial counts (%), before QC", "mean_pct_mt_qc": "Mitochondrial counts (%), after QC",
    "share_removed_by_qc": "Share removed by QC", "train": "Training cells", "val": "Validation cells",
    "test": "Test cells", "factor": "Factor", "all PCs": "All top PCs",
    # training
    "best_epoch": "Best epoch", "epochs_run": "Epochs run", "train_seconds": "Training time (s)",
    "depth": "Depth (layers)", "width": "Width (units)", "epochs": "Epoch budget", "batch_size": "Batch size",
    "activation": "Activation", "optimizer": "Optimizer", "loss_w_day": "Day-loss weight",
    "dropout": "Dropout", "head_width": "Extra head layer (units; 0 = none)", "arch": "Backbone",
    "layer_widths": "Dense layer widths", "loss_geno": "Genotype loss", "threshold_rule": "Threshold rule",
    "test_auc_keras": "Test AUC, Keras 200 thresholds", "val_auc_exact": "Validation AUC over epochs, exact",
    "val_auc_keras": "Validation AUC over epochs, Keras", "best_epoch_keras": "Epoch Keras' AUC would pick",
    "keras_minus_exact": "Keras − exact test AUC",
    "times_tested": "Splits testing it",
    # calibration and attribution
    "effect_scale": "Effect scale (0 = null)", "library_effect_scale": "Library-effect scale", "sim_seed": "Simulation seed",
    "replicates": "Replicates", "mean_auc": "Mean day-matched test AUC", "auc_decision": "AUC rule claims a signal",
    "ranking_decision": "Ranking rule claims a signal", "ranking_p": "Library ranking: exact p",
    "auc_rule_rate": "AUC rule: share claiming a signal", "ranking_rule_rate": "Ranking rule: share claiming a signal",
    "meaning": "What the share is", "method": "Ranking", "gene_id": "Gene ID", "symbol": "Gene",
    "planted": "Planted patient effect", "day_program": "Day-program gene", "gene_rank": "Gene's rank (1 = most used)",
    "attribution": "Attribution (mean |gradient × input|)", "planted_all": "Planted genes among all HVGs",
    "day_program_all": "Day-program genes among all HVGs", "mt_in_top_20": "Mitochondrial genes in top 20",
    **{f"{kind}_at_{k}": f"{'Planted' if kind == 'planted' else 'Day-program'} genes in top {k}"
       for kind in ("planted", "day_program") for k in (20, 50, 100)},
    # the two worlds and the donors
    "world": "World", "row": "Row of the paper's Table 1", "paper_auc": "Paper: test AUC (real data)",
    "G": "World G: test AUC (mean ± sd over studies)", "L": "World L: test AUC (mean ± sd over studies)",
    "G_n": "World G: studies", "L_n": "World L: studies", "G_meets": "World G reproduces the paper",
    "L_meets": "World L reproduces the paper", "build_auc": "This build: test AUC (default data)",
    "knob": "Knob fitted", "scale": "Scale tried", "kept": "Kept", "size": "Size",
    "day_matched": "Paper's day-matched folds", "donors": "Donors per genotype",
    "donors_per_genotype": "Donors per genotype", "donor_p": "Donors as the unit: exact p",
    "donor_claim": "Donors as the unit: claims a signal", "library_p": "Libraries as the unit: exact p",
    "library_claim": "Libraries as the unit: claims a signal", "held_out_auc": "Held-out test AUC (mean ± sd over studies)",
    "studies": "Studies", "mean_pairs_right": "Library pairs ranked right (mean over studies)",
    "pairs_text": "Library pairs ranked right (mean)",
}


#: Counts: shown as whole numbers (`:g`, so a mean over seeds such as 1.5 keeps its half), never as 1.000.
COUNTS: frozenset[str] = frozenset({
    "n_test", "n_cells", "cells", "libraries", "patients", "folds", "gsm_total", "gsm_correct", "A_gsm_correct",
    "logreg_gsm_correct", "pairs_total", "pairs_right", "assignments", "seeds", "seed", "best_epoch", "epochs_run",
    "best_epoch_keras",
    "depth", "width", "epochs", "batch_size", "head_width", "rank", "gene_rank", "mt_in_top_20", "tested_in", "day", "test_day", "val_day",
    "cells_raw", "cells_qc", "cells_kept", "median_genes_raw", "median_genes_qc", "train", "val", "test",
    "times_tested", "sim_seed", "replicates", "first_better", "called_right", "ranked_right", "auc_rule_claims",
    "ranking_rule_claims", "reach_auc", "reach_ranking", "ranking_pairs_right", "ranking_pairs_total",
    "G_n", "L_n", "donors", "donors_per_genotype", "studies",
})


def label(name: str) -> str:
    """The words for a column: `LABELS`, else the name with spaces (a new column is still readable)."""
    return LABELS.get(name, name.replace("_", " "))


#: Values that can be tiny (a threshold chosen on saturated scores): shown to 3 significant digits, never "0.000".
SIGNIFICANT: frozenset[str] = frozenset({"threshold"})
#: Signed differences: shown by `difference_text` (sign always, two significant digits under 0.001, never "-0.000").
DIFFERENCES: frozenset[str] = frozenset({"delta", "keras_minus_exact", "mean"})
#: Columns whose values are code names: shown in words (a split's name, a factor's column name, a scenario).
NAMED_VALUES: frozenset[str] = frozenset({"split", "factor", "scenario"})


def _cell(value: Any, digits: int, count: bool = False, significant: bool = False) -> str:
    """One value as text: floats to `digits` (counts by `count_text`), booleans as yes/no, missing as "–"."""
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating, int, np.integer)) and count:
        return count_text(float(value))
    if isinstance(value, (float, np.floating)):
        if significant:
            return signed(f"{float(value):.3g}")
        v = 0.0 if round(float(value), digits) == 0 else float(value)  # never "−0.000"
        return signed(f"{v:.{digits}f}")
    return str(value)


def for_people(table: pd.DataFrame, digits: int = 3, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The table as text columns: pairs merged, values formatted, columns in words, index dropped."""
    names = {**LABELS, **(labels or {})}
    table = table.reset_index(drop=True)
    out: dict[str, list[str]] = {}
    for col in table.columns:
        stem, _, suffix = str(col).rpartition("_")
        if suffix == "sd" and f"{stem}_mean" in table or suffix == "hi" and f"{stem}_lo" in table:
            continue  # merged into its _mean / _lo column
        if suffix == "mean" and stem:
            sd = table[f"{stem}_sd"] if f"{stem}_sd" in table else [math.nan] * len(table)
            values = [_mean_sd(m, s, digits, stem in COUNTS) for m, s in zip(table[col], sd)]
        elif suffix == "lo" and f"{stem}_hi" in table:
            values = [_interval(lo, hi, digits) for lo, hi in zip(table[col], table[f"{stem}_hi"])]
        elif str(col) in DIFFERENCES:
            stem, values = str(col), [difference_text(float(v)) for v in table[col]]
        elif str(col) in NAMED_VALUES:
            stem, values = str(col), [split_words(v) if col == "split" else label(str(v)) for v in table[col]]
        else:
            stem, values = str(col), [_cell(v, digits, str(col) in COUNTS, str(col) in SIGNIFICANT) for v in table[col]]
        out[names.get(stem, stem.replace("_", " "))] = values
    return pd.DataFrame(out)


def _mean_sd(mean: float, sd: float, digits: int, count: bool) -> str:
    if mean is None or math.isnan(mean):
        return "–"
    return _cell(float(mean), digits, count) + sd_text(sd, digits)


def _interval(lo: float, hi: float, digits: int) -> str:
    """An interval column: signed differences when a bound is negative, else an AUC's or a rate's (`auc_interval_text`)."""
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return "–"
    if min(lo, hi) < 0:
        return difference_interval_text(lo, hi)
    return auc_interval_text(lo, hi, digits)


@dataclass(frozen=True)
class Table:
    """A table as a page shows it: its caption as a paragraph above it, then the table without an index column.

    The caption sits outside the table so that it wraps at the page's width even when a wide table scrolls.
    """

    caption: str
    shown: pd.DataFrame

    def _repr_html_(self) -> str:
        table = self.shown.style.hide(axis="index").set_table_attributes('class="dataframe"')  # the book's look
        return f'<p class="table-caption"><em>{html.escape(self.caption)}</em></p>\n{table.to_html()}'

    def __repr__(self) -> str:
        return f"{self.caption}\n{self.shown.to_string(index=False)}"


def show_table(table: pd.DataFrame, caption: str, digits: int = 3, labels: Mapping[str, str] | None = None) -> Table:
    """A table for a page: `for_people` (columns in words, pairs merged, no index) under a caption saying what a row is."""
    if not caption:
        raise ValueError("show_table needs a caption that says what one row is")
    return Table(caption, for_people(table, digits, labels))
