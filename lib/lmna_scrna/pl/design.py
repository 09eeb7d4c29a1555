"""The study design and its confounding made visible (notebook 02).

Genotype is only measured on some days and each GSM is one (day, genotype)
library, so a classifier can look good by recognising days or libraries. The
functions here draw the design and every split scheme, the cells embedded by
`tl.embedding` (a PCA fitted on train cells only, held-out cells projected
onto it, and a UMAP of that space), and how much of the top PCs' variance day,
genotype and GSM explain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..io.study import CONDITIONS, DESIGN_FACTORS, UNKNOWN_LINE
from ..pp.splits import MIXED, PARTITIONS, gsm_order
from .style import DAY_COLORS, FULL_WIDTH, GENOTYPE_COLORS, GSM_COLORS, PARTITION_COLORS, PARTITION_WORDS

if TYPE_CHECKING:  # only the embedding plot takes an AnnData; pages that draw no embedding do not load anndata
    import anndata as ad


def line_words(sheet: pd.DataFrame) -> pd.Series:
    """Each GSM's iPSC line as a reader should see it (index gsm), from the sheet's ``line`` column.

    All patient libraries come from one line; the control libraries from the sister's two lines, and the
    sources do not say which library is which (`io.study.UNKNOWN_LINE`): "control lines (unknown which)".
    """
    def words(row: pd.Series) -> str:
        if row["condition"] == "Patient":
            return "patient line"
        return "control lines (unknown which)" if row["line"] == UNKNOWN_LINE else f"control line {row['line']}"

    return sheet.set_index("gsm").apply(words, axis=1)


def genotype_line_words(sheet: pd.DataFrame) -> pd.Series:
    """Each GSM's genotype and iPSC line in one label ("Patient · patient line"): on this design they coincide."""
    return sheet.set_index("gsm")["condition"] + " · " + line_words(sheet)


def design_grid(sheet: pd.DataFrame) -> Figure:
    """GSM × day heatmap coloured by genotype: which day has which genotype, how many libraries, which iPSC
    line (the legend): genotype is one line against the sister's lines, the confound the book turns on."""
    ordered = gsm_order(sheet)
    days = sorted(sheet["day"].unique())
    grid = pd.DataFrame(np.nan, index=ordered["gsm"], columns=days)
    notes = pd.DataFrame("", index=grid.index, columns=days)
    for row in ordered.itertuples():
        grid.loc[row.gsm, row.day] = row.y_geno
        notes.loc[row.gsm, row.day] = f"{row.condition[0]}{row.replicate}"
    fig, ax = plt.subplots(figsize=(7, 6.6))
    sns.heatmap(grid, annot=notes, fmt="", cmap=ListedColormap([GENOTYPE_COLORS[c] for c in CONDITIONS]), cbar=False,
                linewidths=0.5, linecolor="white", ax=ax)
    ax.set_xlabel("day of differentiation")
    ax.set_ylabel("")
    ax.set_title("Study design: one library per GSM (C = Control, P = Patient, then replicate)")
    labels = genotype_line_words(sheet)
    handles = [Patch(color=GENOTYPE_COLORS[label.split(" · ")[0]]) for label in dict.fromkeys(labels)]
    ax.legend(handles, list(dict.fromkeys(labels)), title="genotype · iPSC line", loc="upper center",
              bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def partition_grid(table: pd.DataFrame, sheet: pd.DataFrame, names: Mapping[str, str] | None = None) -> Figure:
    """Every scheme's partition (`pp.splits.partition_table`) in one figure: rows are splits (named by
    `names`), columns GSMs ordered by day."""
    table = table.rename(index=names or {})
    states = [*PARTITIONS, MIXED]
    codes = table.apply(lambda col: col.map(states.index))
    ordered = gsm_order(sheet)
    labels = [f"{r.gsm} · {r.condition[0]} d{r.day}" for r in ordered.itertuples()]
    # the column's width, GSM labels upright: drawn wider, the book would shrink every label below 6 pt
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 0.45 * len(table) + 2.4))
    ax.set_ylabel("")
    cmap = ListedColormap([PARTITION_COLORS[p] for p in PARTITIONS] + ["#8c8c8c"])
    sns.heatmap(codes, annot=table, fmt="", cmap=cmap, vmin=-0.5, vmax=len(states) - 0.5, cbar=False,
                linewidths=0.5, linecolor="white", xticklabels=labels, ax=ax, annot_kws={"fontsize": 8})
    ax.tick_params(axis="x", labelsize=8, rotation=90)
    ax.set_xlabel("")
    ax.set_title("Split schemes: partition of each GSM (mixed = cells drawn 70/15/15 at random)")
    fig.tight_layout()
    return fig


def variance_explained_plot(table: pd.DataFrame, n_show: int = 10) -> Figure:
    """Heatmap of R² per factor and PC (first ``n_show``), and the pooled share as bars."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.2), gridspec_kw={"width_ratios": [3, 1]})
    sns.heatmap(table.iloc[:, :n_show], annot=True, fmt=".2f", vmin=0, vmax=1, cmap="viridis", ax=ax1)
    ax1.set_title("R² of each PC on each factor (train-fitted PCA)")
    table["all PCs"].plot.barh(ax=ax2, color="#4C72B0")
    ax2.set_xlim(0, 1)
    ax2.set_title(f"share of the top {table.shape[1] - 1} PCs' variance")
    fig.tight_layout()
    return fig


def embedding_plot(adata: ad.AnnData, basis: str, factors: tuple[str, ...] = DESIGN_FACTORS,
                   words: Mapping[str, str] | None = None, sheet: pd.DataFrame | None = None) -> Figure:
    """A 2 × 2 grid: one panel per factor (held-out cells as black-edged crosses on top), then the partition itself.

    `words` names the factors in titles and legends (the report passes its label map, `report.words.LABELS`).
    With the study `sheet`, the genotype panel names each cell's iPSC line too (`genotype_line_words`): the
    colours that separate the genotypes separate the patient line from the sister's lines just as well.
    """
    label = {**(words or {}), "partition": "Partition"}.get
    coords: np.ndarray = np.asarray(adata.obsm[f"X_{basis}"])[:, :2]
    obs = cast(pd.DataFrame, adata.obs)  # in memory (anndata 0.13 also types obs as a lazy Dataset2D)
    frame = obs[list(factors) + ["partition"]].astype(str).assign(x=coords[:, 0], y=coords[:, 1])
    if sheet is not None and "condition" in factors:
        lines = obs["gsm"].astype(str).map(genotype_line_words(sheet))
        frame["condition"] = lines.fillna(frame["condition"] + " · line not in the sheet").to_numpy()
        label = {**(words or {}), "partition": "Partition", "condition": "Genotype · iPSC line"}.get
    frame["cells"] = np.where(frame["partition"] == "train", "training", "held out")
    frame = frame.sort_values("cells", ascending=False, kind="stable")  # held-out cells drawn last, on top
    panels = [*factors, "partition"]
    rows = (len(panels) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(FULL_WIDTH * 1.2, 3.9 * rows), squeeze=False)
    for ax, factor in zip(axes.flat, panels):
        hue_order = sorted(frame[factor].unique(), key=lambda v: (len(v), v))
        if factor == "partition":
            hue_order = [p for p in PARTITIONS if p in set(frame["partition"])]
        for cells, marker, size, edge in (("training", "o", 7, "none"), ("held out", "X", 22, "black")):
            part = frame[frame["cells"] == cells]
            sns.scatterplot(data=part, x="x", y="y", hue=factor, hue_order=hue_order, marker=marker, s=size,
                            edgecolor=edge, linewidth=0.3 if edge != "none" else 0, alpha=0.8, ax=ax,
                            palette=_palette(factor, hue_order), rasterized=True, legend=cells == "training")
        ax.set_title(f"{basis.upper()}: {label(factor, factor)}")
        ax.set(xlabel=f"{basis.upper()}1", ylabel=f"{basis.upper()}2")
        handles, names = ax.get_legend_handles_labels()
        words = PARTITION_WORDS if factor == "partition" else {}
        ax.legend(handles, [words.get(n, n) for n in names], title=label(factor, factor),
                  fontsize=7, markerscale=1.5, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_axis_off()
    fig.suptitle("Dots: training cells; black-edged crosses: held-out (validation and test) cells", fontsize=10)
    fig.tight_layout()
    return fig


def _palette(factor: str, order: list[str]) -> dict[str, str]:
    """The report's colours: genotype, day and partition as everywhere; twelve distinct colours for GSMs."""
    if factor == "condition":  # genotype, or genotype · line: coloured by the genotype it starts with
        return {value: GENOTYPE_COLORS[value.split(" · ")[0]] for value in order}
    if factor == "day":
        return {str(day): color for day, color in DAY_COLORS.items()}
    if factor == "partition":
        return PARTITION_COLORS
    return {value: GSM_COLORS[i % len(GSM_COLORS)] for i, value in enumerate(order)}
