"""Figures of the report's library-level evaluation."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

#: Colour of each contrast of the negative control: library only, then genotype and library together.
CONTRAST_COLORS = {"control vs control (library only)": "#7f7f7f", "patient vs control (genotype and library)": "#C44E52"}


def plot_library_contrasts(control: pd.DataFrame) -> Figure:
    """AUC of each library pair of the negative-control fold, per model and seed, with cell-bootstrap intervals.

    Reading it: the grey points (two control libraries) show how far from 0.5
    library identity alone moves the genotype score; red points (patient vs
    control) count as genotype evidence only where they sit further out.
    """
    models = list(dict.fromkeys(control["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 0.5 * control.groupby("model").size().max() + 1.6),
                             sharex=True, squeeze=False)
    for ax, model in zip(axes[0], models):
        rows = control[control["model"] == model].reset_index(drop=True)
        labels = [f"{r.higher} vs {r.lower} (seed {r.seed})" for r in rows.itertuples()]
        for i, r in rows.iterrows():
            color = CONTRAST_COLORS.get(r["contrast"], "black")
            ax.errorbar(r["auc"], i, xerr=[[r["auc"] - r["ci_lo"]], [r["ci_hi"] - r["auc"]]], fmt="o", color=color,
                        capsize=3, label=r["contrast"] if r["contrast"] not in ax.get_legend_handles_labels()[1] else None)
        ax.axvline(0.5, color="black", lw=1, ls="--")
        ax.set(yticks=range(len(rows)), yticklabels=labels, xlim=(0, 1), xlabel="AUC of the genotype score",
               title=f"Model {model}")
        ax.invert_yaxis()
    axes[0][0].legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.25), frameon=False)
    fig.tight_layout()
    return fig
