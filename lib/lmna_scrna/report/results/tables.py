"""The report's tables, computed from finished runs (read only through `tl.runs.load_run`).

Every number the comparison notebooks and the book's intro print comes from
here (and `library_tables`), so none is typed in. Tables are numeric
DataFrames: ``<metric>_mean`` / ``<metric>_sd`` are over **training seeds**
only; intervals over cells (bootstrap) and over folds are separate columns
named for what they vary over. `format_mean_sd` turns a mean/sd pair into
"0.912 ± 0.010" text for display only.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...atomic import write_text_atomic
from ...config import TrainConfig
from ...errors import InputError
from ...io.paper import paper_table1
from ...paths import run_dir
from ...pp.splits import SCHEMES, UNIT_WORDS
from ...tl.evaluate import RocPoints, roc_points
from ...tl.inference import Interval, bootstrap_auc, fold_interval
from ...tl.runs import load_run, run_name
from ..names import run_words, split_words
from ..numbers import difference_text
from ..runner.param_files import Sweep, load_sweep, split_files, sweep_run_name

MODELS: tuple[str, ...] = ("A", "B")


def report_splits() -> tuple[str, ...]:
    """GSM-level splits of Table 1, from the split files (read when asked, never at import): the paper's
    original one, then the day-matched leave-one-day-out folds by test day."""
    return tuple(n for n, i in split_files().items() if SCHEMES[i["scheme"]].unit == "gsm")


def default_leakage_split() -> str:
    """The cell-level split kept only to show library leakage: the first split file of a cell-level scheme."""
    return next((n for n, i in split_files().items() if SCHEMES[i["scheme"]].unit == "cells"), "random_cells")


#: Table 1's metrics, in the paper's column order.
TABLE1_METRICS: tuple[str, ...] = ("test_auc", "test_acc", "test_geno_loss", "test_combined_loss")


def save_table(table: pd.DataFrame, path: Path) -> Path:
    """Write a report table as CSV atomically (a rerun never leaves half a table)."""
    return write_text_atomic(path, table.to_csv(index=False))


def finished_run(name: str) -> dict[str, Any]:
    """A finished run by name, read once per process."""
    return _load(run_dir(name))


@cache
def _load(path: Path) -> dict[str, Any]:
    """One run folder, read once per process (a notebook asks for the same run in several tables)."""
    return load_run(path)


def _number(value: Any) -> float:
    """JSON null (an undefined metric, e.g. AUC of a one-class set) → NaN."""
    return float("nan") if value is None else float(value)


def metric(name: str, key: str) -> tuple[float, float]:
    """Mean and sample sd over seeds of one metric of one run (sd NaN with one seed)."""
    entry = finished_run(name)["summary"]["metrics"][key]
    return _number(entry["mean"]), _number(entry["sd"])


def split_meta(split: str) -> dict[str, Any]:
    """The split's identity as recorded by preprocessing and carried into its Model A run's config."""
    return finished_run(run_name(split, "A"))["config"]["split"]


def is_day_matched(split: str) -> bool:
    return split_meta(split)["scheme"] == "day_matched"


def split_days(split: str) -> tuple[int | None, int | None]:
    """(test_day, val_day) of a day-matched split."""
    meta = split_meta(split)
    return meta.get("test_day"), meta.get("val_day")


def table1(splits: Sequence[str] | None = None, models: Sequence[str] = MODELS) -> pd.DataFrame:
    """Split × model: n_test, test AUC, accuracy at 0.5, genotype loss, combined loss.

    Each metric has its mean and sd over training seeds; the test AUC also has
    a 95% cell-bootstrap interval (``test_auc_boot_lo``/``_hi``: cells
    resampled within each test library, libraries fixed, seeds averaged).
    """
    splits = report_splits() if splits is None else splits
    rows = []
    for model in models:
        for split in splits:
            name = run_name(split, model)
            r = finished_run(name)
            row: dict[str, Any] = {"split": split, "model": model, "seeds": len(r["config"]["seeds"])}
            row["n_test"] = int(round(metric(name, "n_test")[0]))
            for key in TABLE1_METRICS:
                row[f"{key}_mean"], row[f"{key}_sd"] = metric(name, key)
            row["test_auc_boot_lo"], row["test_auc_boot_hi"] = cell_bootstrap(name)
            rows.append(row)
    return pd.DataFrame(rows)


def cell_bootstrap(name: str) -> tuple[float, float]:
    """95% interval of a run's mean-over-seeds test AUC, cells resampled within each test library."""
    pred = finished_run(name)["predictions"]
    per_seed = [p.sort_values("cell") for _, p in pred.groupby("seed")]
    first = per_seed[0]
    return bootstrap_auc([p["p_geno"].to_numpy() for p in per_seed], first["y_true"].to_numpy(),
                         first["gsm"].to_numpy(), seed=zlib.crc32(name.encode()))


def format_mean_sd(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Replace each ``<m>_mean``/``<m>_sd`` pair by one "mean ± sd" text column (display only)."""
    out = table.copy()
    for col in [c for c in table.columns if c.endswith("_mean")]:
        stem = col.removesuffix("_mean")
        sd = table.get(f"{stem}_sd", pd.Series(np.nan, index=table.index))
        out[stem] = [_mean_sd_text(m, s, digits) for m, s in zip(table[col], sd)]
        out = out.drop(columns=[col, f"{stem}_sd"], errors="ignore")
    return out


def _mean_sd_text(mean: float, sd: float, digits: int) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f}" if math.isnan(sd) else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def auc_by_split(splits: Sequence[str] | None = None) -> pd.DataFrame:
    """Test AUC of Model A and B per split and Δ = B − A (Figure 2)."""
    splits = report_splits() if splits is None else splits
    rows = []
    for split in splits:
        (a, a_sd), (b, b_sd) = metric(run_name(split, "A"), "test_auc"), metric(run_name(split, "B"), "test_auc")
        rows.append({"split": split, "A_mean": a, "A_sd": a_sd, "B_mean": b, "B_sd": b_sd, "delta": b - a})
    return pd.DataFrame(rows)


def auc_by_seed(splits: Sequence[str] | None = None) -> pd.DataFrame:
    """Test AUC of every training seed of Models A and B per split: the spread behind each mean."""
    splits = report_splits() if splits is None else splits
    return pd.DataFrame([{"split": split, "model": model, "seed": int(seed), "auc": _number(m["test_auc"])}
                         for split in splits for model in MODELS
                         for seed, m in finished_run(run_name(split, model))["metrics"].items()])


def auc_figure_frames(splits: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The headline figure's frames, splits in words (`pl.plot_auc_by_split`).

    Bars: one row per split and model (mean over seeds, Δ = B − A as text to
    its precision, the paper's AUC of that split and model where its Table 1
    has one), then the day-matched folds' mean with its 95% interval over
    held-out days (the only interval a single split cannot have; the paper
    reported none, so no paper value). Seeds: one row per split, model and
    training seed.
    """
    splits = report_splits() if splits is None else splits
    wide = auc_by_split(splits)
    nan = float("nan")
    paper = paper_table1().set_index(["split", "model"])["test_auc"]
    rows = [{"split": split_words(r["split"], short=True), "model": model, "auc": r[f"{model}_mean"], "lo": nan,
             "hi": nan, "delta": difference_text(r["delta"]), "paper": float(paper.get((r["split"], model), nan))}
            for _, r in wide.iterrows() for model in MODELS]
    day_matched = wide[[is_day_matched(s) for s in wide["split"]]]
    if len(day_matched) > 1:
        folds = {model: fold_interval(day_matched[f"{model}_mean"].tolist()) for model in MODELS}
        rows += [{"split": f"day-matched mean ({len(day_matched)} held-out days)", "model": model, "auc": iv.mean,
                  "lo": iv.lo, "hi": iv.hi, "delta": difference_text(folds["B"].mean - folds["A"].mean), "paper": nan}
                 for model, iv in folds.items()]
    seeds = auc_by_seed(splits)
    return pd.DataFrame(rows), seeds.assign(split=[split_words(s, short=True) for s in seeds["split"]])


def lodo_summary(splits: Sequence[str] | None = None) -> pd.DataFrame:
    """Leave-one-day-out: each day with both genotypes held out once (the day-matched splits)."""
    splits = report_splits() if splits is None else splits
    rows = []
    for split in (s for s in splits if is_day_matched(s)):
        test_day, val_day = split_days(split)
        a, b = run_name(split, "A"), run_name(split, "B")
        rows.append({
            "test_day": test_day,
            "val_day": val_day,
            "A_auc": metric(a, "test_auc")[0],
            "B_auc": metric(b, "test_auc")[0],
            "delta": metric(b, "test_auc")[0] - metric(a, "test_auc")[0],
            "logreg_auc": _number(finished_run(a)["baseline"]["test_auc"]),
            "A_gsm_correct": metric(a, "gsm_correct")[0],
            "gsm_total": int(metric(a, "gsm_total")[0]),
        })
    return pd.DataFrame(rows).sort_values("test_day", ignore_index=True)


#: The ladder's day-matched rung (looked up by this name, never by position).
DAY_MATCHED_RUNG = SCHEMES["day_matched"].rung.words


def leakage_ladder(splits: Sequence[str] | None = None) -> pd.DataFrame:
    """Model A's test AUC from the leakiest scheme to the most honest one: one rung (`pp.splits.Rung`) per
    scheme of `splits`, a scheme that takes days as the mean over its folds.

    Cell-level random split (library identity leaks) → GSM-level original split
    (days confounded with genotype) → day-matched splits (mean over folds).
    No rung removes what the design fixes: all patient libraries come from one
    donor's one iPSC line (one clone), so donor and line stay confounded.
    """
    splits = (default_leakage_split(), *report_splits()) if splits is None else splits
    by_scheme: dict[str, list[float]] = {}
    for split in splits:
        name = split_meta(split)["scheme"]
        if name not in SCHEMES:
            raise InputError(f"split {split}: scheme {name!r} is not registered in pp.splits.SCHEMES")
        by_scheme.setdefault(name, []).append(metric(run_name(split, "A"), "test_auc")[0])
    rows, nan = [], float("nan")
    for name, aucs in sorted(by_scheme.items(), key=lambda item: -SCHEMES[item[0]].rung.leakage):
        scheme = SCHEMES[name]
        folds = fold_interval(aucs) if scheme.takes_days else Interval(aucs[0], nan, nan, 1)
        rows.append({"scheme": scheme.rung.words, "unit": UNIT_WORDS[scheme.unit],
                     "shared_by_train_and_test": scheme.rung.shared,
                     "still_confounded_with_genotype": scheme.rung.confounded,
                     "A_auc": folds.mean, "folds": folds.n, "fold_ci_lo": folds.lo, "fold_ci_hi": folds.hi})
    return pd.DataFrame(rows)


def baseline_comparison(splits: Sequence[str] | None = None) -> pd.DataFrame:
    """Logistic-regression baseline beside Models A and B: test AUC and held-out GSMs right of the threshold."""
    splits = report_splits() if splits is None else splits
    rows = []
    for split in splits:
        a = finished_run(run_name(split, "A"))
        rows.append({
            "split": split,
            "logreg_auc": _number(a["baseline"]["test_auc"]),
            "A_auc": metric(run_name(split, "A"), "test_auc")[0],
            "B_auc": metric(run_name(split, "B"), "test_auc")[0],
            "logreg_gsm_correct": _number(a["baseline"]["gsm_correct"]),
            "A_gsm_correct": metric(run_name(split, "A"), "gsm_correct")[0],
            "gsm_total": int(metric(run_name(split, "A"), "gsm_total")[0]),
        })
    return pd.DataFrame(rows)


def sweep_table(names: Iterable[str]) -> pd.DataFrame:
    """Table 2: each sweep run's settings, validation AUC (the selection criterion) and test metrics."""
    rows = []
    for name in names:
        config = finished_run(name)["config"]
        row: dict[str, Any] = {"run": name, **{k: config[k] for k in (
            "model", "depth", "width", "epochs", "batch_size", "activation", "optimizer", "loss_w_day")}}
        row |= {k: config.get(k, default) for k, default in (("dropout", 0.3), ("head_width", 0))}  # older runs: defaults
        row["epochs_run"] = metric(name, "epochs_run")[0]
        for key in ("val_auc", "test_auc", "test_acc", "test_geno_loss"):
            row[f"{key}_mean"], row[f"{key}_sd"] = metric(name, key)
        rows.append(row)
    return pd.DataFrame(rows)


def sweep_for_page(table: pd.DataFrame) -> pd.DataFrame:
    """Table 2 as a page shows it: validation and test AUC first, then accuracy, the configuration in words and
    the epochs run. Settings shared by every run (width, dropout, extra layer) are said by the caption; the CSV
    keeps every column."""
    shown = table[[f"{k}_{s}" for k in ("val_auc", "test_auc", "test_acc") for s in ("mean", "sd")] + ["epochs_run"]]
    words, seen = [], Counter[str]()
    for row in table.to_dict("records"):  # a profile that caps the epochs can give two runs the same words
        text = run_words(row)
        seen[text] += 1
        words.append(text if seen[text] == 1 else f"{text} (run {seen[text]})")
    return shown.assign(configuration=words)[["configuration", *shown.columns]]


def best_by_validation(table: pd.DataFrame) -> str:
    """The run with the highest mean validation AUC (test AUC never chooses; ties: first listed)."""
    if table["val_auc_mean"].isna().all():
        raise ValueError("no sweep run has a validation AUC: cannot choose a configuration")
    return str(table.loc[table["val_auc_mean"].idxmax(), "run"])


def train_config(name: str) -> TrainConfig:
    """The TrainConfig a finished run was trained with (to derive sweep variants from it)."""
    config = finished_run(name)["config"]
    fields = TrainConfig().to_dict()
    return TrainConfig(**{k: config[k] for k in fields if k in config})


def sweep_base(sweep: Sweep) -> str:
    """The run a sweep that ``builds_on`` another starts from: that sweep's best run by validation AUC.

    The one place the choice is made: each variant's training (`sweep_variant_config`) and the sweep page,
    which says what was chosen, both ask here.
    """
    if sweep.builds_on is None:
        raise InputError(f"sweep file {sweep.path} builds on no other sweep (`builds_on:`), so it has no base run")
    base = load_sweep(sweep.builds_on)
    return best_by_validation(sweep_table(sweep_run_name(r) for r in base.runs))


def sweep_variant_config(sweep: Sweep, run: str, model: str) -> TrainConfig:
    """One run of a sweep that builds on another, for a notebook of `model`: the base run's configuration
    with this run's overrides."""
    if run not in sweep.runs:
        raise InputError(f"sweep file {sweep.path} has no run {run!r} (it has {', '.join(sweep.runs)})")
    config = dataclasses.replace(train_config(sweep_base(sweep)), **{"model": model, **sweep.runs[run]})
    if config.model != model:
        raise InputError(f"run {run} of sweep file {sweep.path} trains Model {config.model}, not Model {model}: "
                         "execute it with that model's training notebook")
    return config


def roc_curves(runs: dict[str, str]) -> dict[str, RocPoints]:
    """{label: ROC points and AUC} of each run's first seed's test cells (`tl.roc_points`), for `pl.plot_roc_curves`."""
    out = {}
    for label, name in runs.items():
        finished = finished_run(name)
        pred = finished["predictions"]
        first = pred[pred["seed"] == finished["config"]["seeds"][0]]
        out[label] = roc_points(first["y_true"].to_numpy(), first["p_geno"].to_numpy(), label)
    return out


def keras_auc_gap(names: Iterable[str]) -> pd.DataFrame:
    """What the paper's code would have seen: Keras' 200-threshold AUC beside the exact AUC, per run.

    Per run (first seed): the exact test AUC and Keras' test AUC; the range over
    epochs of the validation AUC each way; the epoch early stopping restored
    (chosen on the exact AUC) and the epoch Keras' AUC would have picked among
    the same epochs. Runs trained before ``test_auc_keras`` was recorded give NaN.
    """
    rows = []
    for name in names:
        finished = finished_run(name)
        seed = finished["config"]["seeds"][0]
        history, metrics = finished["histories"][seed], finished["metrics"][seed]
        rows.append({
            "run": name, "test_auc": _number(metrics["test_auc"]),
            "test_auc_keras": _number(metrics.get("test_auc_keras")),
            "val_auc_exact_lo": history["val_geno_auc_exact"].min(), "val_auc_exact_hi": history["val_geno_auc_exact"].max(),
            "val_auc_keras_lo": history["val_geno_auc"].min(), "val_auc_keras_hi": history["val_geno_auc"].max(),
            "best_epoch": int(metrics["best_epoch"]),
            "best_epoch_keras": int(history.loc[history["val_geno_auc"].idxmax(), "epoch"]),
        })
    table = pd.DataFrame(rows)
    table["keras_minus_exact"] = table["test_auc_keras"] - table["test_auc"]
    return table
