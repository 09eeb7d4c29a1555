"""The comparison page's registered figures: a new figure of the comparison is one entry of `COMPARE_FIGURES`.

Each entry names what the figure shows and pairs a frame computed from the
finished runs with the `pl` function that draws it; notebook 06 draws every
entry, in order, under its heading, and saves it as
``figures/compare/<name>.png``. A figure whose drawing no `pl` function does
yet needs that function too (in `pl/evaluation.py`): two files in all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from ...pl.evaluation import plot_library_scores
from ..names import split_words
from .library_tables import gsm_level
from .tables import MODELS, is_day_matched, report_splits


@dataclass(frozen=True)
class CompareFigure:
    """One figure of the comparison page: its file name, heading and caption, what it draws and how."""

    name: str  # figures/compare/<name>.png
    heading: str  # the page's heading above it
    caption: str  # what a reader sees: what a mark is, what it varies over
    frame: Callable[[Sequence[str]], pd.DataFrame]  # from the report's GSM-level splits
    draw: Callable[[pd.DataFrame], Figure]


def library_scores(splits: Sequence[str] | None = None) -> pd.DataFrame:
    """Per day-matched fold, model and test library: its score (mean patient probability over seeds), the fold
    in words, in the report's order of folds."""
    splits = report_splits() if splits is None else splits
    table = gsm_level([s for s in splits if is_day_matched(s)], MODELS)
    return table.assign(fold=[split_words(s, short=True) for s in table["split"]])[
        ["fold", "model", "gsm", "condition", "score"]]


#: The registered figures, in the order the page shows them.
COMPARE_FIGURES: tuple[CompareFigure, ...] = (
    CompareFigure(
        "library_scores", "Library scores by fold",
        "Each test library's score (its mean patient probability over training seeds) in its day-matched fold, per "
        "model: a fold's patient library is ranked right when it sits above every control library of its column.",
        library_scores, plot_library_scores),
)
