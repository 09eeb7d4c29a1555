"""Figures of the evaluation (`pl.evaluation`), read as a reader would: at the book's column width."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lmna_scrna.pl import plot_auc_by_split, plot_library_contrasts, plot_sweep_auc  # noqa: E402
from lmna_scrna.pl.style import DPI, FULL_WIDTH  # noqa: E402

GROUPS = ["original split", "test day 0", "test day 9", "day-matched mean (2 held-out days)"]


def _headline() -> tuple[pd.DataFrame, pd.DataFrame]:
    nan = float("nan")
    bars = pd.DataFrame([
        {"split": g, "model": m, "auc": (0.7 if g.startswith("day-matched") else 0.6 + 0.1 * i) + (0.02 if m == "B" else 0.0),
         "lo": 0.5 if g.startswith("day-matched") else nan, "hi": 0.9 if g.startswith("day-matched") else nan,
         "delta": "+0.020"} for i, g in enumerate(GROUPS) for m in "AB"])
    seeds = pd.DataFrame([{"split": g, "model": m, "seed": s, "auc": 0.6 + 0.1 * i + 0.01 * s}
                          for i, g in enumerate(GROUPS[:-1]) for m in "AB" for s in (1, 2, 3)])
    return bars, seeds


def _pixels(fig: Figure, ax_index: int = 0) -> tuple[float, float]:
    """Width and height (px) of an axes as the saved PNG shows it, scaled to the book's column."""
    fig.set_dpi(DPI)
    fig.canvas.draw()
    box = fig.axes[ax_index].get_window_extent()
    scale = FULL_WIDTH / fig.get_figwidth()  # the book scales a wider figure down to the column
    return box.width * scale, box.height * scale


def test_headline_shows_every_seed_the_fold_interval_and_each_delta() -> None:
    bars, seeds = _headline()
    fig = plot_auc_by_split(bars, seeds)
    ax = fig.axes[0]
    dots = sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))
    assert dots == len(seeds), "one dot per training seed"
    intervals = [c for c in ax.collections if isinstance(c, LineCollection) and len(c.get_segments())]
    spans = sorted({tuple(np.round(s[:, 1], 3)) for c in intervals for s in c.get_segments()})
    assert spans == [(0.5, 0.9)], "the fold interval is drawn on the pooled group only"
    assert [t.get_text() for t in ax.get_xticklabels()][0] == "original split"
    deltas = [t.get_text() for t in ax.texts if t.get_text().startswith("Δ")]
    assert deltas == ["Δ +0.020"] * len(GROUPS)
    labels = ax.get_legend().get_texts()
    assert {"one training seed", "95% interval over held-out days"} <= {t.get_text() for t in labels}


def test_sweep_chart_names_configurations_and_both_sets() -> None:
    table = pd.DataFrame({"configuration": ["depth 1, batch 128, ReLU, Adam", "depth 2, batch 512, ReLU, SGD"],
                          "val_auc_mean": [0.7, 0.8], "test_auc_mean": [0.6, 0.9]})
    ax = plot_sweep_auc(table, "Sweep").axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(table["configuration"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["validation (chooses)", "test"]


def _control(seeds: tuple[int, ...] = (1, 2, 3)) -> pd.DataFrame:
    pairs = [("control vs control (library only)", "GSM8325050", "GSM8325049"),
             ("patient vs control (genotype and library)", "GSM8325055", "GSM8325049"),
             ("patient vs control (genotype and library)", "GSM8325055", "GSM8325050")]
    return pd.DataFrame([{"split": "dm_t9_v0", "model": m, "seed": s, "contrast": c, "higher": h, "lower": lo,
                          "auc": 0.6 + 0.1 * i, "ci_lo": 0.58 + 0.1 * i, "ci_hi": 0.62 + 0.1 * i}
                         for m in "AB" for s in seeds for i, (c, h, lo) in enumerate(pairs)])


def test_negative_control_spans_the_column_shows_its_intervals_and_keeps_its_legend_close() -> None:
    control = _control()
    fig = plot_library_contrasts(control)
    width, _ = _pixels(fig)
    assert width > 0.55 * FULL_WIDTH * DPI, f"the 0–1 axis is squeezed into {width:.0f} px"
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["GSM8325050 vs GSM8325049", "GSM8325055 vs GSM8325049",
                                                            "GSM8325055 vs GSM8325050"]
    bands = [s for c in ax.collections if isinstance(c, LineCollection) and max(c.get_linewidths()) >= 4
             for s in c.get_segments()]
    assert len(bands) == len(control[control["model"] == "A"]), "every pair and seed has its interval band"
    assert max(bands[0][:, 0]) - min(bands[0][:, 0]) > 0.03
    fig.canvas.draw()
    legend, top = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert 0 <= legend.y0 - top.y1 < 0.6 * DPI, "the legend sits right above the first panel"


def _at_the_ceiling() -> tuple[pd.DataFrame, pd.DataFrame]:
    """This build's AUCs at 0.996–0.999 (the simulated default data), the paper's far below on some splits."""
    nan = float("nan")
    groups = GROUPS[:2] + GROUPS[3:]
    auc = {("original split", "A"): 0.996, ("original split", "B"): 0.997, ("test day 0", "A"): 0.998,
           ("test day 0", "B"): 0.999}
    paper = {("original split", "A"): 0.239, ("original split", "B"): 0.141, ("test day 0", "A"): 0.9975}
    bars = pd.DataFrame([{"split": g, "model": m, "auc": auc.get((g, m), 0.9975), "delta": "+0.001",
                          "lo": 0.996 if g == groups[-1] else nan, "hi": 1.001 if g == groups[-1] else nan,
                          "paper": paper.get((g, m), nan)} for g in groups for m in "AB"])
    seeds = pd.DataFrame([{"split": g, "model": m, "seed": s, "auc": auc[(g, m)] + 0.0002 * (s - 2)}
                          for g in groups[:2] for m in "AB" for s in (1, 2, 3)])
    return bars, seeds


def test_headline_zooms_to_this_builds_aucs_and_draws_the_papers_beside_them() -> None:
    fig = plot_auc_by_split(*_at_the_ceiling())
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    assert 0.99 < low < 0.9956 and 1.001 < high < 1.01, f"axis {low:.4f}–{high:.4f} is not zoomed to 0.9956–1.001"
    assert max(ax.get_yticks()) <= 1.0, "no tick above an AUC of 1"
    tops = sorted(round(p.get_y() + p.get_height(), 4) for p in ax.patches)
    assert tops[:2] == [0.996, 0.997] and all(p.get_y() == low for p in ax.patches), "bars rise from the axis edge"
    printed = sorted(t.get_text() for t in ax.texts if t.get_text().startswith("paper"))
    assert printed == ["paper 0.141", "paper 0.239"], "a paper value below the axis is printed at its edge"
    marks = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_facecolor()[0].tolist() == [1, 1, 1, 1]]
    assert len(marks) == 3, "each paper value of Table 1 drawn once (the pooled group has none)"
    assert "the paper (real data, one seed)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert not [t for t in ax.texts if t.get_text() == "chance"], "0.5 is off this axis: no chance line"
    assert [t.get_text() for t in ax.texts if t.get_text().startswith("Δ")] == ["Δ +0.001"] * 3
    tops = [seg[:, 1].max() for c in ax.collections if isinstance(c, LineCollection) for seg in c.get_segments()]
    assert tops and max(tops) <= 1.0, "an interval over held-out days is drawn clipped at an AUC of 1 (it reached 1.001)"


def test_sweep_chart_zooms_to_its_aucs_and_marks_the_papers_runs() -> None:
    table = pd.DataFrame({"configuration": ["depth 1, batch 128, tanh, Adam", "depth 2, batch 512, ReLU, SGD"],
                          "val_auc_mean": [0.997, 0.999], "test_auc_mean": [0.996, 0.998]})
    ax = plot_sweep_auc(table, "Sweep", paper=pd.Series([0.936, float("nan")])).axes[0]
    low, high = ax.get_xlim()
    assert 0.99 < low < 0.996 and 0.999 < high < 1.01 and max(ax.get_xticks()) <= 1.0
    assert [t.get_text() for t in ax.texts] == ["paper 0.936"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "validation (chooses)", "test", "the paper (real data, one seed), test"]
    inside = plot_sweep_auc(table.assign(test_auc_mean=[0.6, 0.9]), "Sweep", paper=pd.Series([0.8, 0.95])).axes[0]
    assert inside.get_xlim()[0] < 0.6 and not inside.texts, "paper values within the axis are diamonds, no arrows"
