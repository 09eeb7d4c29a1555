"""One look for every figure: the palettes of genotypes and partitions, and how a figure is saved."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from ..atomic import atomic_path

PARTITION_COLORS: dict[str, str] = {"train": "#4C72B0", "val": "#DD8452", "test": "#C44E52"}
GENOTYPE_COLORS: dict[str, str] = {"Control": "#8172B3", "Patient": "#CCB974"}


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write `fig` as PNG atomically (a killed run leaves no truncated image)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    return Path(path)
