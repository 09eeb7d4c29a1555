"""Figures of the report's evaluation: AUC by split (the headline), the sweep, the library-only negative control.

Each function draws frames the report has already computed and named in
words (`lmna_scrna.report.results.tables`); nothing here reads a run or formats a
number's precision, so a figure and the table beside it say the same thing.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .style import FULL_WIDTH, MODEL_COLORS, PARTITION_COLORS

#: Colour of each contrast of the negative control: library only, then genotype and library together.
CONTRAST_COLORS = {"control vs control (library only)": "#7f7f7f", "patient vs control (genotype and library)": "#C44E52"}


def _wrapped(labels: list[str], width: int = 16) -> list[str]:
    """Tick labels on short lines, so six groups fit the column without rotating."""
    return [textwrap.fill(label, width, break_on_hyphens=False) for label in labels]


def plot_auc_by_split(bars: pd.DataFrame, seeds: pd.DataFrame) -> Figure:
    """Genotype test AUC of Model A and B per split: bar = mean over training seeds, one dot per seed, and the
    95% interval over held-out days where a group has one (the day-matched folds' mean); Δ = B − A above.

    `bars`: split (words, in drawing order), model ("A"/"B"), auc, lo, hi (NaN without an interval), delta
    (text, formatted by the caller to its precision). `seeds`: split, model, auc, one row per training seed.
    """
    groups = list(dict.fromkeys(bars["split"]))
    models = list(dict.fromkeys(bars["model"]))
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 4.2))
    x = np.arange(len(groups))
    rng = np.random.default_rng(0)  # the dots' jitter only, so reruns draw the same figure
    for k, model in enumerate(models):
        rows = bars[bars["model"] == model].set_index("split").reindex(groups)
        at = x + (k - (len(models) - 1) / 2) * width
        color = MODEL_COLORS.get(model, "black")
        ax.bar(at, rows["auc"], width * 0.92, color=color, alpha=0.45, label=f"Model {model} (mean)")
        where = rows["lo"].notna().to_numpy()
        ax.errorbar(at[where], rows["auc"][where], fmt="none", ecolor="black", elinewidth=1.4, capsize=5,
                    yerr=np.vstack([rows["auc"] - rows["lo"], rows["hi"] - rows["auc"]])[:, where])
        dots = seeds[seeds["model"] == model]
        dot_x = at[[groups.index(s) for s in dots["split"]]] + rng.uniform(-0.25, 0.25, len(dots)) * width
        ax.scatter(dot_x, dots["auc"], s=16, color=color, edgecolor="white", linewidth=0.5, zorder=3)
    for i, group in enumerate(groups):
        rows = bars[bars["split"] == group]
        top = pd.concat([rows["auc"], rows["hi"], seeds.loc[seeds["split"] == group, "auc"]]).max()  # NaN skipped
        ax.annotate(f"Δ {rows['delta'].iloc[0]}", (i, min(top, 1.0) + 0.03), ha="center", fontsize="small")
    if bars["lo"].notna().any():  # the pooled group sits apart from the single splits it summarises
        first = groups.index(bars.loc[bars["lo"].notna(), "split"].iloc[0])
        ax.axvline(first - 0.5, color="grey", lw=0.8, ls=":")
    ax.axhline(0.5, color="grey", ls="--", lw=1)
    ax.text(1.005, 0.5, "chance", color="grey", fontsize="small", va="center", transform=ax.get_yaxis_transform())
    ax.set_xticks(x, _wrapped(groups, 14))
    ax.set(ylim=(0, 1.1), xlim=(-0.5, len(groups) - 0.5), ylabel="genotype test ROC-AUC")
    ax.set_title("Genotype test AUC by split; Δ = B − A", pad=34)
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], ls="none", marker="o", color="#555555", markersize=4),
                Line2D([], [], color="black", marker="_", markersize=10, lw=1.4)]
    labels += ["one training seed", "95% interval over held-out days"]
    # one row between title and axes: the axes keep the column's whole width for six groups of labels
    ax.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(labels), frameon=False,
              columnspacing=1.2, handletextpad=0.5)
    fig.tight_layout()
    return fig


def plot_sweep_auc(table: pd.DataFrame, title: str) -> Figure:
    """Validation (which chooses) and test AUC of each sweep configuration, side by side.

    `table`: configuration (words), val_auc_mean, test_auc_mean (means over training seeds).
    """
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 0.6 * len(table) + 1.6))
    y = np.arange(len(table))
    for offset, key, name, color in ((-0.2, "val_auc_mean", "validation (chooses)", PARTITION_COLORS["val"]),
                                     (0.2, "test_auc_mean", "test", PARTITION_COLORS["test"])):
        ax.barh(y + offset, table[key], 0.4, color=color, label=name)
    ax.axvline(0.5, color="grey", ls="--", lw=1)
    ax.set_yticks(y, _wrapped(list(table["configuration"]), 34))  # two short lines: the bars keep the width
    ax.invert_yaxis()
    ax.set(xlim=(0, 1), xlabel="genotype ROC-AUC (mean over training seeds)")
    ax.set_title(title, pad=24)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
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
