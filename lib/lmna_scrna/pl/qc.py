"""Figures and tables of one split's preparation (notebook 01): QC, HVGs, split sizes.

Everything draws from plain tables the preprocessing returns (per-cell QC
metrics, the per-gene train statistics, the processed obs), so the notebook
stays a sequence of calls and the same figures can be redrawn from the cache.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ..config import PrepParams
from ..pp.splits import PARTITIONS
from .style import GENOTYPE_COLORS, PARTITION_COLORS, PARTITION_WORDS


def qc_violins(qc: pd.DataFrame, params: PrepParams) -> Figure:
    """Violins per GSM of genes detected, total counts and pct_mt of every raw cell, thresholds drawn."""
    panels = (
        ("n_genes", "genes detected", (params.min_genes, params.max_genes)),
        ("total_counts", "total counts", ()),
        ("pct_mt", "% counts on MT- genes", (params.max_pct_mt,)),
    )
    order = sorted(qc["gsm"].unique())
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(8.0, 0.7 * len(order)), 9), sharex=True)
    for ax, (col, label, limits) in zip(axes, panels):
        log = col == "total_counts"
        shown = qc[qc[col] > 0] if log else qc  # a raw (unfiltered) matrix has empty barcodes; a log axis has no 0
        if log and len(shown) < len(qc):
            label += f"\n({len(qc) - len(shown):,} barcodes with 0 not shown)"
        sns.violinplot(data=shown, x="gsm", y=col, order=order, ax=ax, cut=0, density_norm="width",
                       inner=None, color="#9ecae1", linewidth=0.6, log_scale=log)
        for limit in limits:
            ax.axhline(limit, color="#C44E52", linestyle="--", linewidth=1)
        ax.set_ylabel(label)
        ax.set_xlabel("")
    axes[0].set_title("Per-cell QC of every raw cell (dashed: thresholds)")
    axes[-1].tick_params(axis="x", rotation=60)
    fig.tight_layout()
    return fig


def hvg_plot(genes: pd.DataFrame) -> Figure:
    """Train mean vs variance of every gene detected in train cells, the selected HVGs highlighted."""
    shown = genes[genes["n_cells"] > 0]
    fig, ax = plt.subplots(figsize=(6.5, 5))
    for flag, color, label in ((False, "#bdbdbd", "other genes"), (True, "#C44E52", "selected HVGs")):
        part = shown[shown["highly_variable"] == flag]
        ax.scatter(part["mean"], part["variance"], s=4, c=color, alpha=0.6, linewidths=0,
                   label=f"{label} ({len(part)})", rasterized=True)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mean of log-normalised expression (train cells)")
    ax.set_ylabel("variance (ddof=1, train cells)")
    ax.legend(markerscale=3, frameon=False)
    ax.set_title("HVG selection: top genes by train variance")
    fig.tight_layout()
    return fig


def split_size_plot(sizes: pd.DataFrame) -> Figure:
    """Left: cells per GSM coloured by partition; right: cells per partition and genotype (`pp.summaries.split_sizes`).

    Both legends sit outside the bars, titled in words.
    """
    by_gsm = sizes.pivot_table(index="gsm", columns="partition", values="cells", aggfunc="sum", fill_value=0, observed=False)
    by_gsm = by_gsm.reindex(columns=[p for p in PARTITIONS if p in by_gsm.columns])
    labels = [f"{g}\n{c[0]} d{d}" for g, c, d in sizes.drop_duplicates("gsm")[["gsm", "condition", "day"]].itertuples(index=False)]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [3, 1]})
    by_gsm.plot.bar(stacked=True, ax=ax1, color=[PARTITION_COLORS[p] for p in by_gsm.columns], width=0.8)
    ax1.set_xticks(np.arange(len(labels)), labels, rotation=60, fontsize=8)
    ax1.set_xlabel("")
    ax1.set_ylabel("cells")
    ax1.set_title("Cells per GSM (C = Control, P = Patient; d = day)")
    handles, names = ax1.get_legend_handles_labels()
    ax1.legend(handles, [PARTITION_WORDS.get(n, n) for n in names], title="cells used for", loc="upper left",
               bbox_to_anchor=(1.0, 1.0), frameon=False)
    by_label = sizes.groupby(["partition", "condition"], observed=True)["cells"].sum().reset_index()
    sns.barplot(data=by_label, x="partition", y="cells", hue="condition", ax=ax2, palette=GENOTYPE_COLORS,
                order=[p for p in PARTITIONS if p in set(by_label["partition"])])
    ax2.set_xticks(ax2.get_xticks(), [PARTITION_WORDS.get(t.get_text(), t.get_text()) for t in ax2.get_xticklabels()])
    ax2.set_title("Cells per partition and genotype")
    ax2.set_xlabel("")
    ax2.legend(title="genotype", loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    return fig
