"""Figures of the calibration page: the line-effect sensitivity curve, and how often each rule claims a signal."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

#: One colour per decision rule, the same in every calibration figure.
RULE_COLORS = {"auc": "#4C72B0", "ranking": "#DD8452"}
RULE_LABELS = {"auc": "AUC interval above 0.5", "ranking": "library ranking p ≤ 0.05"}


def plot_sensitivity(table: pd.DataFrame, curve: pd.DataFrame, observed: float) -> Figure:
    """Each no-genotype replicate's mean day-matched AUC against its line effect, the curve of means, this build."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    points = table[table["scenario"].isin(curve["scenario"])]
    jitter = np.random.default_rng(0).uniform(-0.03, 0.03, len(points)) * max(1.0, curve["line_units"].max())
    ax.scatter(points["line_units"] + jitter, points["mean_auc"], s=14, color="#7f7f7f", alpha=0.6,
               label="one simulated study (no genotype effect)", zorder=2)
    # points, not a curve: a few line scales with a few studies each say nothing about the values between them
    ax.errorbar(curve["line_units"], curve["mean_auc"], yerr=curve["sd_auc"], fmt="o", color="black", capsize=3,
                label="mean ± sd over studies", zorder=3)
    ax.axhline(observed, color="#C44E52", ls="--", lw=1.2, label=f"this build's day-matched AUC, {observed:.3f}")
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set(xlabel="line effect (units of the between-control-library difference)",
           ylabel="mean day-matched test AUC", ylim=(0, 1.02), title="What a line effect alone produces")
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig


def plot_claim_rates(summary: pd.DataFrame) -> Figure:
    """Per scenario, the share of studies in which each rule claims a signal, with 95% Clopper–Pearson bars.

    The two rules are drawn side by side (never on top of each other); the
    scenarios are categories, in the design's order, so no axis pretends
    they lie on one numeric scale.
    """
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    x = np.arange(len(summary))
    for offset, rule in ((-0.15, "auc"), (0.15, "ranking")):
        rate = summary[f"{rule}_rule_rate"].to_numpy()
        err = np.vstack([rate - summary[f"{rule}_rule_lo"], summary[f"{rule}_rule_hi"] - rate])
        ax.errorbar(x + offset, rate, yerr=err, fmt="o", color=RULE_COLORS[rule], capsize=3, label=RULE_LABELS[rule])
    ax.axhline(0.05, color="grey", ls=":", lw=1)
    ax.text(len(summary) - 0.5, 0.06, "0.05", color="grey", fontsize="small", ha="right", va="bottom")
    # one word per line: nine scenarios share a column-wide axis, and "power 0.25 (power, n=5)" on two lines overlapped
    labels = [f"{c.replace(' ', chr(10))}\n({r}, n={n})" for c, r, n in
              zip(summary["scenario"].astype(str), summary["role"], summary["replicates"])]
    ax.set_xticks(x, labels, fontsize="x-small")
    ax.set(ylabel="share of studies claiming a signal", ylim=(-0.03, 1.03), xlim=(-0.5, len(summary) - 0.5))
    ax.set_title("False positives (null, line) and power, with 95% intervals", pad=24)
    ax.legend(fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)  # clear of the bars
    fig.tight_layout()
    return fig
