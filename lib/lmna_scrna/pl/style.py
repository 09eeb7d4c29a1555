"""One look for every figure: palettes (genotype, day, partition, model), fonts and sizes, and how a figure is saved.

Each notebook calls `set_style` once, so every figure of the report (and any a
reader draws in that notebook) shares the same fonts, sizes and colour cycle;
importing the package changes nothing. Figures are sized for the book's text
column (about 8 inches at 120 dpi) so their labels stay readable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import seaborn as sns
from matplotlib.figure import Figure

from ..atomic import atomic_path
from ..io.study import DAYS

PARTITION_COLORS: dict[str, str] = {"train": "#4C72B0", "val": "#DD8452", "test": "#C44E52"}
#: The partitions as a legend says them.
PARTITION_WORDS: dict[str, str] = {"train": "training", "val": "validation", "test": "test"}
#: Control and Patient in every figure: a colour-blind-safe blue/vermillion pair (Okabe–Ito).
GENOTYPE_COLORS: dict[str, str] = {"Control": "#0072B2", "Patient": "#D55E00"}
#: Differentiation days: seven distinct hues (a sequential scale of seven steps cannot be told apart in a scatter).
DAY_COLORS: dict[int, str] = dict(zip(DAYS, ["#332288", "#88CCEE", "#44AA99", "#117733", "#DDCC77", "#CC6677",
                                            "#AA4499"]))  # Paul Tol's muted scheme, colour-blind safe
#: Libraries (GSMs): twelve distinct colours, not tab20's pale pairs.
GSM_COLORS: tuple[str, ...] = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                               "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#f5c400")
#: The two networks and the linear baselines, wherever models are compared.
MODEL_COLORS: dict[str, str] = {"A": "#4C72B0", "B": "#55A868", "logreg": "#8C8C8C", "pseudobulk": "#B07AA1"}

#: The paper's own values (real data, one seed each) wherever they are drawn beside this build's: an open diamond.
PAPER_MARKER: dict[str, Any] = {"marker": "D", "s": 34, "facecolor": "white", "edgecolor": "black", "linewidth": 1.2,
                                "zorder": 4}

#: Widths a figure is drawn at (inches): the book's text column and half of it.
FULL_WIDTH, HALF_WIDTH = 8.0, 4.2

#: Resolution of every saved figure.
DPI = 120
RC_PARAMS: dict[str, object] = {
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "figure.constrained_layout.use": False,
}


def set_style() -> None:
    """Set the report's look (seaborn's ticks theme, our fonts and sizes, the model colours as cycle).

    Global matplotlib state, so it is set on request (each notebook calls it once), never on import:
    importing the plotting package into a user's own session leaves their figures as they were.
    """
    sns.set_theme(style="ticks", palette=list(MODEL_COLORS.values()), rc=RC_PARAMS)


def save_figure(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Write `fig` as PNG atomically (a killed run leaves no truncated image)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    return Path(path)

