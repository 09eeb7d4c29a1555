"""Figures of the worlds and donors pages: the paper beside two worlds, the fit, and claims by number of donors."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .style import FULL_WIDTH

#: World G (an LMNA effect) and world L (a line effect), in every figure that shows them.
WORLD_COLORS: dict[str, str] = {"G": "#009E73", "L": "#CC79A7"}
WORLD_LABELS: dict[str, str] = {"G": "world G: LMNA effect, no line effect", "L": "world L: line effect, no LMNA effect"}


def _zoomed(values: np.ndarray) -> tuple[float, float]:
    """A y range around the data (never past the AUC's bounds), so differences of a few hundredths show."""
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    pad = max(0.03, 0.08 * (hi - lo))
    return max(0.0, lo - pad), min(1.0, hi + pad)


def plot_worlds_beside_paper(long: pd.DataFrame, beside: pd.DataFrame, row_labels: list[str]) -> Figure:
    """Per row of the paper's Table 1: each world's studies (dots) and mean (bar), the paper's value (diamond)."""
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 4.2))
    x = np.arange(len(beside))
    rng = np.random.default_rng(0)
    for offset, world in ((-0.18, "G"), (0.18, "L")):
        for i, (_, row) in enumerate(beside.iterrows()):
            values = long.loc[(long["world"] == world) & (long["split"] == row["split"]) & (long["model"] == row["model"]),
                              "test_auc"].to_numpy()
            ax.scatter(np.full(values.size, i + offset) + rng.uniform(-0.05, 0.05, values.size), values, s=10,
                       color=WORLD_COLORS[world], alpha=0.45, lw=0)
        ax.errorbar(x + offset, beside[f"{world}_mean"], yerr=beside[f"{world}_sd"], fmt="_", ms=16, mew=2.5,
                    color=WORLD_COLORS[world], capsize=3, label=f"{WORLD_LABELS[world]} (mean ± sd over studies)")
    ax.scatter(x, beside["paper_auc"], marker="D", s=40, color="black", zorder=4, label="the paper (real data)")
    if "build_auc" in beside:
        ax.scatter(x, beside["build_auc"], marker="x", s=40, color="#C44E52", zorder=4,
                   label="this build (default data, mean over seeds)")
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    values = np.concatenate([long["test_auc"].to_numpy(), beside["paper_auc"].to_numpy(), [0.5]])
    ax.set(ylabel="test AUC", ylim=_zoomed(values), xlim=(-0.6, len(beside) - 0.4))
    ax.set_xticks(x, row_labels, fontsize="x-small")
    ax.set_title("The paper's Table 1 beside the two worlds", pad=30)
    ax.legend(fontsize="x-small", loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def plot_world_fit(evaluations: pd.DataFrame, target: float) -> Figure:
    """Each scale the fit tried: the mean day-matched AUC over studies, the kept scale ringed, the paper's mean."""
    worlds = list(dict.fromkeys(evaluations["world"]))
    fig, axes = plt.subplots(1, len(worlds), figsize=(FULL_WIDTH, 3.2), sharey=True, squeeze=False)
    for ax, world in zip(axes[0], worlds, strict=True):
        rows = evaluations[evaluations["world"] == world].sort_values("scale")
        for (size, part), style in zip(rows.groupby("size", sort=False), ("o-", "s--", "^:"), strict=False):
            ax.plot(part["scale"], part["day_matched_mean"], style, color=WORLD_COLORS[world], alpha=0.8,
                    label=f"{size} size")
            kept = part[part["kept"]]
            ax.scatter(kept["scale"], kept["day_matched_mean"], s=140, facecolors="none", edgecolors="black",
                       zorder=4)
        ax.axhline(target, color="black", ls="--", lw=1)
        ax.set(xscale="log", xlabel=f"{rows['knob'].iloc[0]} (log axis)", title=WORLD_LABELS[world])
        ax.title.set_fontsize("small")
    axes[0][0].set_ylabel("mean day-matched AUC\n(paper's three folds)")
    for ax in axes[0]:
        ax.legend(fontsize="x-small", loc="lower right")
    fig.tight_layout()
    return fig


def plot_donor_claims(summary: pd.DataFrame) -> Figure:
    """Claim rate by number of donors per genotype, one panel per rule, each world a line with 95% Clopper–Pearson
    bars; the first screen's criterion drawn in (world L at most 0.05, world G at least 0.8)."""
    rules = {"donor": "donors as the unit (the honest test)", "library": "libraries as the unit (the report's ranking)"}
    fig, axes = plt.subplots(1, 2, figsize=(FULL_WIDTH, 3.6), sharey=True)
    for ax, (rule, title) in zip(axes, rules.items(), strict=True):
        for world, offset in (("G", -0.05), ("L", 0.05)):
            part = summary[(summary["world"] == world) & (summary["rule"] == rule)].sort_values("donors")
            err = np.vstack([part["rate"] - part["lo"], part["hi"] - part["rate"]])
            ax.errorbar(part["donors"] + offset, part["rate"], yerr=err, marker="o", capsize=3,
                        color=WORLD_COLORS[world], label=WORLD_LABELS[world])
        ax.axhline(0.05, color="grey", ls=":", lw=1)
        ax.axhline(0.8, color="grey", ls="--", lw=1)
        ax.set(xlabel="donors per genotype (each its own iPSC line)", title=title, ylim=(-0.03, 1.03))
        ax.title.set_fontsize("small")
        ax.set_xticks(sorted(summary["donors"].unique()))
    axes[0].set_ylabel("share of studies claiming a signal")
    fig.tight_layout()
    fig.legend(*axes[0].get_legend_handles_labels(), fontsize="x-small", loc="upper center", ncol=2,
               bbox_to_anchor=(0.5, 0.0), frameon=False)  # below both panels, clear of the bars
    return fig
