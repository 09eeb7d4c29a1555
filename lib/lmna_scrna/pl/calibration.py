"""Figures of the calibration page: the null distribution against the observed result, and the power curve."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure


def plot_null_and_power(table: pd.DataFrame, summary: pd.DataFrame, observed: float | None) -> Figure:
    """Left: each replicate's mean day-matched AUC by effect scale (0 = the null), the observed value dashed.
    Right: how often each decision rule claims a genotype signal, by effect scale."""
    replicates = table.drop_duplicates(["effect_scale", "sim_seed"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    scales = sorted(replicates["effect_scale"].unique())
    for i, scale in enumerate(scales):
        values = replicates.loc[replicates["effect_scale"] == scale, "mean_auc"]
        left.scatter([i] * len(values), values, color="#C44E52" if scale else "#7f7f7f", alpha=0.8, zorder=3)
    if observed is not None:
        left.axhline(observed, color="black", ls="--", lw=1, label=f"this build: {observed:.3f}")
        left.legend(fontsize="small", loc="lower right")
    left.axhline(0.5, color="grey", ls=":", lw=1)
    left.set(xticks=range(len(scales)), xticklabels=[f"{s:g}" for s in scales], xlabel="effect scale (0 = null)",
             ylabel="mean day-matched test AUC", ylim=(0, 1), title="Replicates (one point each)")
    right.plot(summary["effect_scale"], summary["auc_rule_rate"], "o-", label="AUC interval above 0.5")
    right.plot(summary["effect_scale"], summary["ranking_rule_rate"], "s-", label="library ranking p ≤ 0.05")
    right.axhline(0.05, color="grey", ls=":", lw=1)
    right.set(xlabel="effect scale (0 = null)", ylabel="share of replicates claiming a signal", ylim=(-0.02, 1.02),
              title="False-positive rate (at 0) and power")
    right.legend(fontsize="small", loc="upper left")
    fig.tight_layout()
    return fig
