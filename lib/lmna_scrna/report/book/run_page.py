"""What a training page (notebooks 03 and 04) says about one finished run.

Both training notebooks show the same summary, table and per-GSM result, so
they are written once here; the notebooks differ only where the models do
(Model B's day head).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ...io.study import load_samples
from ...paths import shown_path
from ...pl import seed_figures
from ..names import run_words
from ..numbers import counted
from ..results import tables
from ..runner.param_files import Sweep
from ..words import Table, for_people, label, show_table

#: Per-seed columns of the results table, in reading order (day accuracy added for Model B).
RESULT_COLUMNS: tuple[str, ...] = (
    "n_test", "test_auc", "test_acc", "test_bal_acc", "threshold", "test_geno_loss", "test_combined_loss",
    "val_auc", "gsm_correct", "gsm_total", "best_epoch", "epochs_run", "train_seconds",
)


def mean_sd(run: dict[str, Any], key: str) -> str:
    """"mean ± sd over training seeds" of one metric of a run (the sd only when there are several seeds)."""
    s = run["summary"]["metrics"][key]
    return f"{s['mean']:.3f}" + (f" ± {s['sd']:.3f} (sd over training seeds)" if s["sd"] is not None else "")


def threshold_words(config: dict[str, Any]) -> str:
    """How a run's threshold was set: fixed in advance (``threshold``) or chosen on validation."""
    fixed = config.get("threshold")
    return "the validation-chosen threshold (Youden's J)" if fixed is None else f"the fixed threshold {fixed:g}"


def training_summary(run: dict[str, Any], data_path: Path) -> str:
    """One paragraph: model, data, seeds and the cells of each partition."""
    cfg = run["config"]
    cells = cfg["cells"]
    return (
        f"Trained **Model {cfg['model']}** on `{Path(data_path).name}` ({cfg['source']} data) for "
        f"{counted(len(cfg['seeds']), 'training seed')}: {sum(cells['train'].values()):,} train, "
        f"{sum(cells['val'].values()):,} validation and {sum(cells['test'].values()):,} test cells. "
        f"Run folder: `{shown_path(run['path'])}`."
    )


def sweep_variant_summary(sweep: Sweep, run: str) -> str:
    """Which configuration a run of a sweep that builds on another started from (`tables.sweep_base` chose it)."""
    base = tables.sweep_base(sweep)
    assert sweep.builds_on is not None  # sweep_base refuses a sweep that builds on no other
    changed = ", ".join(f"{label(k).lower()} {v}" for k, v in sweep.runs[run].items() if k != "model")
    return (
        f"A run of `{sweep.path.name}` ({changed or 'no change'}) on the configuration of the best run of "
        f"`{sweep.builds_on.name}` by **validation** AUC: *{run_words(tables.finished_run(base)['config'])}*."
    )


def results_summary(run: dict[str, Any]) -> str:
    """The run's headline numbers beside the linear baseline's, in words (no verdict: one split cannot decide)."""
    summary, base = run["summary"]["metrics"], run["baseline"]
    n_gsm = int(summary["gsm_total"]["mean"])
    loss_note = (" The genotype loss is the mean squared error of the patient probability (the loss trained), "
                 "not a cross-entropy in nats." if run["config"].get("loss_geno") == "mean_squared_error" else "")
    verdict = (
        "One split is one fold: whether the network beats the baseline is decided over all folds on the "
        "comparison page."
    )
    return (
        f"Test genotype ROC-AUC **{mean_sd(run, 'test_auc')}** (baseline logistic regression "
        f"{base['test_auc']:.3f}); accuracy at 0.5 {mean_sd(run, 'test_acc')}; balanced accuracy at "
        f"{threshold_words(run['config'])} {mean_sd(run, 'test_bal_acc')}.{loss_note} Per library, on average "
        f"{summary['gsm_correct']['mean']:.1f} of {n_gsm} test GSMs fall on the right side of the threshold "
        f"(baseline {base['gsm_correct']} of {base['gsm_total']}). {verdict}"
    )


def results_table(run: dict[str, Any]) -> pd.DataFrame:
    """One row per seed, then the baseline (named in the first column): the metrics of `RESULT_COLUMNS`."""
    columns = list(RESULT_COLUMNS) + (["day_acc"] if run["config"]["model"] == "B" else [])
    table = pd.DataFrame({f"seed {s}": m for s, m in run["metrics"].items()} | {"baseline": run["baseline"]}).T
    table = table.reindex(columns=columns).astype(float)  # rounded when shown (a tiny threshold keeps its digits)
    return table.rename_axis("trained").reset_index()


def show_results(run: dict[str, Any]) -> Table:
    """`results_table` for the page, one column per seed and the baseline (a row each would not fit the page)."""
    shown = for_people(results_table(run), labels={"trained": "Trained"})
    return Table((
        f"Model {run['config']['model']} on the test libraries: one column per training seed, then the "
        "logistic-regression baseline on the same features and split; one row per metric. Losses are from the logits."
    ), shown.set_index("Trained").T.rename_axis("Metric").reset_index())


def first_seed(run: dict[str, Any]) -> int:
    return int(run["config"]["seeds"][0])


def gsm_results(run: dict[str, Any]) -> pd.DataFrame:
    """Per test GSM of the first seed: mean patient probability and the calls at both thresholds."""
    return pd.DataFrame(run["metrics"][first_seed(run)]["gsm"]).round(3)


def show_gsm_results(run: dict[str, Any]) -> Table:
    """`gsm_results` for the page."""
    return show_table(gsm_results(run), (
        f"One row per test library (GSM), training seed {first_seed(run)}: its mean patient probability over its "
        f"cells and whether that falls on the right side of {threshold_words(run['config'])} and of 0.5."
    ))


def day_head_summary(run: dict[str, Any]) -> str:
    """Model B: day accuracy, and whether the test days were seen in training."""
    sheet = load_samples()
    train = run["config"]["split"].get("train", [])
    train_days = sorted(sheet.loc[sheet["gsm"].isin(train), "day"].unique())
    test_days = sorted(run["predictions"]["day"].unique())
    seen = "all seen" if set(test_days) <= set(train_days) else "not all seen"
    return (
        f"Day accuracy on test cells: {mean_sd(run, 'day_acc')}. Training days: "
        f"{', '.join(map(str, train_days))}; {'test day' if len(test_days) == 1 else 'test days'}: {', '.join(map(str, test_days))} ({seen} in training)."
    )


#: Sub-headings of a run's figures, in the order the page shows them.
FIGURE_HEADINGS: dict[str, str] = {
    "curves": "Training curves", "roc": "ROC curve of the test cells", "confusion": "Genotype confusion matrix",
    "gsm_probability": "Patient probability per test library", "day_confusion": "Day confusion matrix (day head)",
}


def _days(values: Any) -> str:
    days = sorted({int(d) for d in values})
    return ", ".join(map(str, days))


def figure_caption(run: dict[str, Any], name: str, pred: pd.DataFrame) -> str:
    """What one figure of a run shows, in a sentence or two (empty where the heading says it all)."""
    metrics = run["metrics"][first_seed(run)]
    if name == "curves":
        return ("Training and validation per epoch; the dotted line marks the epoch whose weights were restored "
                "(best validation genotype AUC).")
    if name == "confusion":
        return (f"Test cells called at {threshold_words(run['config'])} ({metrics['threshold']:.3g}); left counts, "
                "right the share of each true genotype.")
    if name == "day_confusion":
        sheet = load_samples()
        train = sheet.loc[sheet["gsm"].isin(run["config"]["split"].get("train", [])), "day"]
        tested = _days(pred["day"])
        unseen = sorted({int(d) for d in pred["day"]} - {int(d) for d in train})
        return (f"Rows are the true day of the test cells, columns the day the head predicts. This split's test "
                f"libraries are from day {tested} only, so the other rows are empty: no test cell has those days. "
                f"The head was trained on days {_days(train) or 'of every library'}"
                + (f"; day {', '.join(map(str, unseen))} was never seen in training, so no test cell can be "
                   "predicted right and the head names the training day it resembles." if unseen else "."))
    return ""


def training_figures(run: dict[str, Any]) -> list[tuple[str, str, Figure, str]]:
    """The first seed's figures of a run as the page shows them: (file name, heading, figure, caption), in order."""
    first = first_seed(run)
    pred = run["predictions"].query("seed == @first")
    made = seed_figures(run["histories"][first], pred, run["metrics"][first])
    return [(name, FIGURE_HEADINGS.get(name, label(name)), fig, figure_caption(run, name, pred))
            for name, fig in made.items()]
