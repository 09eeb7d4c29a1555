"""Figures of the report's evaluation: AUC by split (the headline), the sweep, the library-only negative control,
the library scores by fold.

Each function draws frames the report has already computed and named in
words (`lmna_scrna.report.results.tables`); nothing here reads a run or formats a
number's precision, so a figure and the table beside it say the same thing.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .style import FULL_WIDTH, GENOTYPE_COLORS, MODEL_COLORS, PAPER_MARKER, PARTITION_COLORS

#: Colour of each contrast of the negative control: library only, then genotype and library together.
CONTRAST_COLORS = {"control vs control (library only)": "#7f7f7f", "patient vs control (genotype and library)": "#C44E52"}


def _wrapped(labels: list[str], width: int = 16) -> list[str]:
    """Tick labels on short lines, so six groups fit the column without rotating."""
    return [textwrap.fill(label, width, break_on_hyphens=False) for label in labels]


PAPER_LABEL = "the paper (real data, one seed)"


def paper_handle() -> Line2D:
    """The legend's key for `PAPER_MARKER` (a fresh artist per legend)."""
    return Line2D([], [], ls="none", marker="D", markerfacecolor="white", markeredgecolor="black")


def zoomed_limits(values: Iterable[float], pad: float = 0.15, headroom: float = 0.0,
                  min_span: float = 0.01) -> tuple[float, float]:
    """Axis limits around this build's AUCs: bars at 0.996–0.999 on a 0–1 axis would hide every difference.

    The range of the finite `values`, at least `min_span` wide, padded by `pad` of it on both sides and
    `headroom` more on top (room for labels); never below 0.
    """
    finite = [float(v) for v in values if np.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    span = max(hi - lo, min_span)
    middle = (lo + hi) / 2
    lo, hi = min(lo, middle - span / 2), max(hi, middle + span / 2)
    return max(0.0, lo - pad * span), hi + (pad + headroom) * span


def _auc_ticks(ax: Axes, axis: str) -> None:
    """No tick above 1 (an AUC cannot be), though the padded axis may reach past it."""
    get, put = (ax.get_yticks, ax.set_yticks) if axis == "y" else (ax.get_xticks, ax.set_xticks)
    low, high = ax.get_ylim() if axis == "y" else ax.get_xlim()
    put([t for t in get() if low <= t <= min(high, 1.0) + 1e-12])


def _paper_marks(ax: Axes, at: np.ndarray, values: pd.Series, axis: str) -> int:
    """The paper's values as open diamonds at `at`; one outside the zoomed axis sits at its edge as an arrow
    with the value printed. Returns how many were drawn."""
    low, high = ax.get_ylim() if axis == "y" else ax.get_xlim()
    drawn = 0
    for where, value in zip(at, values):
        if not np.isfinite(value):
            continue
        drawn += 1
        inside = low <= value <= high
        shown = min(max(value, low), high)
        marker = "D" if inside else {("y", True): "v", ("y", False): "^", ("x", True): "<", ("x", False): ">"}[
            (axis, value < low)]
        xy = (where, shown) if axis == "y" else (shown, where)
        ax.scatter(*xy, **{**PAPER_MARKER, "marker": marker}, clip_on=False)
        if not inside:  # the number, inside the axes beside its arrow (along the bar), clear of the tick labels
            inward = -7 if value > high else 7
            ax.annotate(f"paper {value:.3f}", xy, xytext=(0, inward) if axis == "y" else (inward, 0),
                        textcoords="offset points", fontsize="x-small", rotation=90 if axis == "y" else 0,
                        ha="center" if axis == "y" else ("right" if value > high else "left"),
                        va=("top" if value > high else "bottom") if axis == "y" else "center")
    return drawn


def plot_auc_by_split(bars: pd.DataFrame, seeds: pd.DataFrame) -> Figure:
    """Genotype test AUC of Model A and B per split: bar = mean over training seeds, one dot per seed, and the
    95% interval over held-out days where a group has one (the day-matched folds' mean); Δ = B − A above;
    the paper's AUC (open diamond) beside each bar it reports.

    The axis is zoomed to this build's values (`zoomed_limits`), so bars start at its lower edge, not at 0;
    a paper value outside it is an arrow at the edge with its number.

    `bars`: split (words, in drawing order), model ("A"/"B"), auc, lo, hi (NaN without an interval), delta
    (text, formatted by the caller to its precision), paper (optional: the paper's AUC, NaN where it has none).
    `seeds`: split, model, auc, one row per training seed.
    """
    groups = list(dict.fromkeys(bars["split"]))
    models = list(dict.fromkeys(bars["model"]))
    paper = bars["paper"] if "paper" in bars else pd.Series(np.nan, index=bars.index)
    bars = bars.assign(lo=bars["lo"].clip(lower=0.0), hi=bars["hi"].clip(upper=1.0))  # an AUC's interval ends at 1
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 4.4))
    low, high = zoomed_limits(pd.concat([bars["auc"], bars["lo"], bars["hi"], seeds["auc"]]), headroom=0.2)
    ax.set(ylim=(low, high), xlim=(-0.5, len(groups) - 0.5))
    x = np.arange(len(groups))
    rng = np.random.default_rng(0)  # the dots' jitter only, so reruns draw the same figure
    papers = 0
    for k, model in enumerate(models):
        mine = bars["model"] == model
        rows = bars[mine].set_index("split").reindex(groups)
        at = x + (k - (len(models) - 1) / 2) * width
        color = MODEL_COLORS.get(model, "black")
        ax.bar(at, rows["auc"] - low, width * 0.92, bottom=low, color=color, alpha=0.45, label=f"Model {model} (mean)")
        where = rows["lo"].notna().to_numpy()
        ax.errorbar(at[where], rows["auc"][where], fmt="none", ecolor="black", elinewidth=1.4, capsize=5,
                    yerr=np.vstack([rows["auc"] - rows["lo"], rows["hi"] - rows["auc"]])[:, where])
        dots = seeds[seeds["model"] == model]
        dot_x = at[[groups.index(s) for s in dots["split"]]] + rng.uniform(-0.25, 0.25, len(dots)) * width
        ax.scatter(dot_x, dots["auc"], s=16, color=color, edgecolor="white", linewidth=0.5, zorder=3)
        papers += _paper_marks(ax, at + 0.3 * width, paper[mine].set_axis(bars.loc[mine, "split"]).reindex(groups), "y")
    top = ax.get_xaxis_transform()  # x in data, y in axes fraction: the Δ row stays put whatever the zoom
    for i, group in enumerate(groups):
        ax.text(i, 0.97, f"Δ {bars.loc[bars['split'] == group, 'delta'].iloc[0]}", transform=top, ha="center",
                va="top", fontsize="small")
    if bars["lo"].notna().any():  # the pooled group sits apart from the single splits it summarises
        first = groups.index(bars.loc[bars["lo"].notna(), "split"].iloc[0])
        ax.axvline(first - 0.5, color="grey", lw=0.8, ls=":")
    if low <= 0.5 <= high:
        ax.axhline(0.5, color="grey", ls="--", lw=1)
        ax.text(1.005, 0.5, "chance", color="grey", fontsize="small", va="center", transform=ax.get_yaxis_transform())
    _auc_ticks(ax, "y")
    ax.set_xticks(x, _wrapped(groups, 14))
    ax.set_ylabel("genotype test ROC-AUC" + ("" if low == 0 else "\n(axis zoomed to this build's values)"))
    ax.set_title("Genotype test AUC by split; Δ = B − A", pad=34)
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], ls="none", marker="o", color="#555555", markersize=4),
                Line2D([], [], color="black", marker="_", markersize=10, lw=1.4)]
    labels += ["one training seed", "95% interval over held-out days"]
    if papers:
        handles.append(paper_handle())
        labels.append(PAPER_LABEL)
    # between title and axes: the axes keep the column's whole width for six groups of labels
    ax.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False,
              columnspacing=1.2, handletextpad=0.5)
    fig.tight_layout()
    return fig


def plot_sweep_auc(table: pd.DataFrame, title: str, paper: pd.Series | None = None) -> Figure:
    """Validation (which chooses) and test AUC of each sweep configuration, side by side, on an axis zoomed to
    them (`zoomed_limits`); the paper's test AUC of the same settings (open diamond) where it ran them.

    `table`: configuration (words), val_auc_mean, test_auc_mean (means over training seeds). `paper`: the
    paper's test AUC per row of `table` (NaN where it has no run of those settings).
    """
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 0.6 * len(table) + 1.8))
    y = np.arange(len(table))
    low, high = zoomed_limits(pd.concat([table["val_auc_mean"], table["test_auc_mean"]]))
    ax.set_xlim(low, high)
    for offset, key, name, color in ((-0.2, "val_auc_mean", "validation (chooses)", PARTITION_COLORS["val"]),
                                     (0.2, "test_auc_mean", "test", PARTITION_COLORS["test"])):
        ax.barh(y + offset, table[key] - low, 0.4, left=low, color=color, label=name)
    drawn = 0 if paper is None else _paper_marks(ax, y + 0.2, pd.Series(paper).reset_index(drop=True), "x")
    if low <= 0.5 <= high:
        ax.axvline(0.5, color="grey", ls="--", lw=1)
    ax.set_yticks(y, _wrapped(list(table["configuration"]), 34))  # two short lines: the bars keep the width
    ax.set_ylim(len(table) - 0.5, -0.5)
    _auc_ticks(ax, "x")
    ax.set_xlabel("genotype ROC-AUC (mean over training seeds)" + ("" if low == 0 else ", axis zoomed to this build"))
    ax.set_title(title, pad=24)
    handles, labels = ax.get_legend_handles_labels()
    if drawn:
        handles.append(paper_handle())
        labels.append(f"{PAPER_LABEL}, test")
    ax.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(labels), frameon=False)
    fig.tight_layout()
    return fig


def plot_library_contrasts(control: pd.DataFrame) -> Figure:
    """AUC of each library pair of the negative-control fold, per model and seed, with cell-bootstrap intervals.

    Reading it: the grey points (two control libraries) show how far from 0.5
    library identity alone moves the genotype score; red points (patient vs
    control) count as genotype evidence only where they sit further out. One
    row per library pair, its seeds side by side within the row; models
    stacked, so each panel spans the column and the legend sits beside them.
    """
    models = list(dict.fromkeys(control["model"]))
    pairs = list(dict.fromkeys(zip(control["contrast"], control["higher"], control["lower"])))
    fig, axes = plt.subplots(len(models), 1, figsize=(FULL_WIDTH, len(models) * (0.55 * len(pairs) + 1.0) + 0.6),
                             sharex=True, squeeze=False)
    seeds = sorted(control["seed"].unique())
    offsets = dict(zip(seeds, np.linspace(-0.25, 0.25, len(seeds)) if len(seeds) > 1 else [0.0]))
    for ax, model in zip(axes[:, 0], models):
        rows = control[control["model"] == model]
        for i, (contrast, high, low) in enumerate(pairs):
            pair = rows[(rows["higher"] == high) & (rows["lower"] == low)]
            y = i + pair["seed"].map(offsets).to_numpy()
            color = CONTRAST_COLORS.get(contrast, "black")
            # the interval as a thick band with end ticks behind a small dot, so a narrow one still shows
            # (a percentile bootstrap interval need not contain its AUC, so no error bars relative to the dot)
            ax.hlines(y, pair["ci_lo"], pair["ci_hi"], color=color, lw=5, alpha=0.35)
            ax.scatter(np.r_[pair["ci_lo"], pair["ci_hi"]], np.r_[y, y], marker="|", s=60, color=color, lw=1)
            ax.scatter(pair["auc"], y, s=18, color=color, edgecolor="white", linewidth=0.5, zorder=3)
        ax.axvline(0.5, color="black", lw=1, ls="--")
        ax.set_yticks(range(len(pairs)), [f"{high} vs {low}" for _, high, low in pairs])
        ax.set(xlim=(0, 1), ylim=(len(pairs) - 0.5, -0.5), title=f"Model {model}")
    axes[-1, 0].set_xlabel("AUC of the genotype score: library named first vs second")
    handles = [Line2D([], [], color=c, marker="o", ms=4, lw=5, alpha=0.6) for c in CONTRAST_COLORS.values()]
    seeds_note = f" ({len(seeds)} training seeds per row)" if len(seeds) > 1 else ""
    axes[0, 0].legend(handles, [f"{k}{seeds_note}" for k in CONTRAST_COLORS], loc="lower left",
                      bbox_to_anchor=(0.0, 1.12), frameon=False, title="dot: AUC; band: 95% cell-bootstrap interval",
                      alignment="left")
    fig.tight_layout()
    return fig


def plot_library_scores(scores: pd.DataFrame) -> Figure:
    """Each test library's score in its fold, per model: the ranking rule's question, drawn.

    Reading it: one column per held-out day, one dot per test library (its mean
    patient probability over training seeds), coloured by genotype. The fold's
    patient library ranks right when it sits above every control of its column.
    Libraries of one column are spread a little sideways in their order, never at random.
    """
    models = list(dict.fromkeys(scores["model"]))
    folds = list(dict.fromkeys(scores["fold"]))
    fig, axes = plt.subplots(1, len(models), figsize=(FULL_WIDTH, 3.2), sharey=True, squeeze=False)
    for ax, model in zip(axes[0], models):
        rows = scores[scores["model"] == model]
        for i, fold in enumerate(folds):
            column = rows[rows["fold"] == fold].reset_index(drop=True)
            spread = np.linspace(-0.15, 0.15, len(column)) if len(column) > 1 else np.zeros(len(column))
            ax.scatter(i + spread, column["score"], s=28, edgecolor="white", linewidth=0.5, zorder=3,
                       color=[GENOTYPE_COLORS.get(c, "black") for c in column["condition"]])
        ax.set_xticks(range(len(folds)), _wrapped(folds, 10))
        ax.set(ylim=(-0.02, 1.02), title=f"Model {model}", xlabel="Held-out fold")
    axes[0, 0].set_ylabel("Library score (mean patient probability)")
    handles = [Line2D([], [], color=c, marker="o", ls="", ms=5) for c in GENOTYPE_COLORS.values()]
    axes[0, -1].legend(handles, list(GENOTYPE_COLORS), loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    return fig
