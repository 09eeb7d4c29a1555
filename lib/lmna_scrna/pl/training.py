"""Figures of a training run (seaborn/matplotlib), each returned as a Figure.

Every function draws from plain data (a history DataFrame, a predictions
DataFrame, a metrics dict, ROC points and confusion counts computed by
`tl.evaluate`), so a notebook can redraw a finished run from `tl.load_run`
without retraining, and `style.save_figure` writes the PNG atomically. The
numbers a figure shows are computed where the metrics are, so a figure and
the metrics table cannot disagree about a curve or a count. Nothing here selects a GUI backend: callers in scripts and tests
run under Agg, notebooks under their inline backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..io.study import CONDITIONS, DAYS
from ..tl.evaluate import Confusion, RocPoints, day_columns, day_confusion, genotype_confusion, gsm_table, roc_points
from .style import FULL_WIDTH, GENOTYPE_COLORS, save_figure


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.get_figure(root=True), ax  # type: ignore[return-value]


def plot_history(history: pd.DataFrame, best_epoch: int | None = None) -> Figure:
    """Loss, genotype AUC and genotype accuracy per epoch, train vs validation; restored epoch dotted."""
    panels = [("loss", "loss (combined)"), ("geno_auc", "genotype ROC-AUC"), ("geno_acc", "genotype accuracy at 0.5")]
    fig, grid = plt.subplots(2, 2, figsize=(FULL_WIDTH, 6.4))  # two panels a row: each half the column wide
    axes = grid.flat
    epochs = np.arange(1, len(history) + 1)
    for ax, (key, title) in zip(axes, panels):
        ax.plot(epochs, history[key], marker="o", ms=4, label="training")
        ax.plot(epochs, history[f"val_{key}"], marker="o", ms=4, label="validation")
        ax.set(title=title, xlabel="epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", ls=":", lw=1, label=f"restored best epoch ({best_epoch})")
    legend = grid[1, 1]
    legend.set_axis_off()
    legend.legend(*grid[0, 0].get_legend_handles_labels(), loc="center", frameon=False)
    fig.tight_layout()
    return fig


def plot_roc_curves(curves: Mapping[str, RocPoints], ax: Axes | None = None, title: str | None = None,
                    paper: Mapping[str, float] | None = None) -> Figure:
    """Several ROC curves (`tl.roc_points`) on one axis, each labelled with its AUC (e.g. original vs day-matched).

    `paper`: the paper's reported AUC per curve label (real data). Its curves are not published as data,
    so each gets a legend entry of its own (open diamond, the curve's colour), not a line.
    """
    fig, ax = _axes(ax, (4.6, 4.4))
    colors = {}
    for label, roc in curves.items():
        line, = ax.plot(roc.fpr, roc.tpr, label=f"{label} (AUC {roc.auc:.3f})")
        colors[label] = line.get_color()
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01), aspect="equal")
    if title:
        ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()
    for label, auc in (paper or {}).items():
        if np.isfinite(auc):
            handles.append(Line2D([], [], ls="none", marker="D", markerfacecolor="white",
                                  markeredgecolor=colors.get(label, "black")))
            labels.append(f"the paper, {label}: AUC {auc:.3f} (real data)")
    ax.legend(handles, labels, loc="lower right", fontsize="small")
    return fig


def plot_roc(roc: RocPoints, label: str = "test", ax: Axes | None = None) -> Figure:
    """ROC of one model on its test cells."""
    return plot_roc_curves({label: roc}, ax=ax, title="genotype ROC (test cells)")


def plot_confusion(confusion: Confusion, labels: list[str], title: str) -> Figure:
    """A confusion (`tl.evaluate.confusion_counts`) as counts and row shares (recall per true class), side by side."""
    size = 2.2 + 0.45 * len(labels)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1.2, size))
    for ax, data, fmt, sub in ((axes[0], confusion.counts, "d", "counts"),
                               (axes[1], confusion.shares, ".2f", "row-normalised")):
        sns.heatmap(data, annot=True, fmt=fmt, cmap="Blues", cbar=False, square=True,
                    xticklabels=labels, yticklabels=labels, ax=ax)
        ax.set(xlabel="predicted", ylabel="true", title=f"{title}: {sub}")
    fig.tight_layout()
    return fig


def plot_gsm_probability(
    pred: pd.DataFrame, threshold: float, ax: Axes | None = None, rule: str = "val Youden J"
) -> Figure:
    """Patient probability of every test cell per GSM (violin), GSM mean marked (`tl.evaluate.gsm_table`), threshold drawn."""
    fig, ax = _axes(ax, (1.6 + 1.3 * pred["gsm"].nunique(), 3.8))
    data = pred.assign(label=pred["gsm"] + "\n" + pred["condition"] + " d" + pred["day"].astype(str))
    order = sorted(data["label"].unique())
    sns.violinplot(data=data, x="label", y="p_geno", hue="condition", hue_order=list(CONDITIONS), palette=GENOTYPE_COLORS,
                   order=order, cut=0, density_norm="width", inner=None, ax=ax)
    means = gsm_table(pred, threshold)["mean_p"]  # in GSM order, which is the labels' order
    ax.scatter(range(len(order)), means, color="black", marker="D", zorder=3, label="GSM mean")
    ax.axhline(threshold, color="crimson", ls="--", label=f"threshold {threshold:.3g} ({rule})")
    ax.axhline(0.5, color="grey", ls=":", lw=1, label="0.5")
    ax.set(xlabel="", ylabel="patient probability", ylim=(-0.02, 1.02), title="test cells per library (GSM)")
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def seed_figures(
    history: pd.DataFrame,
    pred: pd.DataFrame,
    metrics: dict[str, Any],
    out_dir: str | Path | None = None,
) -> dict[str, Figure]:
    """All figures of one seed; saved as <name>.png under `out_dir` when given."""
    threshold = metrics["threshold"]
    geno_labels = list(CONDITIONS)
    figures = {
        "curves": plot_history(history, metrics.get("best_epoch")),
        "roc": plot_roc(roc_points(pred["y_true"], pred["p_geno"], "test")),
        "confusion": plot_confusion(genotype_confusion(pred, threshold), geno_labels,
                                    f"genotype at threshold {threshold:.3g}"),
        "gsm_probability": plot_gsm_probability(
            pred, threshold, rule="fixed" if metrics.get("threshold_rule") == "fixed" else "val Youden J"),
    }
    if day_columns()[0] in pred:
        figures["day_confusion"] = plot_confusion(day_confusion(pred), [f"day {d}" for d in DAYS], "day")
    if out_dir is not None:
        for name, fig in figures.items():
            save_figure(fig, Path(out_dir) / f"{name}.png")
    return figures
