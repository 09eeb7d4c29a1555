"""The figures (lmna_scrna.pl) drawn on small frames under Agg: what each holds (axes, titles, labels, artists),
so a figure that silently loses a panel, a curve or a legend entry fails here, not only in the book."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import anndata as ad  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lmna_scrna import pl  # noqa: E402
from lmna_scrna.config import PrepParams  # noqa: E402
from lmna_scrna.io.study import CONDITIONS, DAYS  # noqa: E402
from lmna_scrna.pp.splits import make_split, partition_table  # noqa: E402
from lmna_scrna.pp.summaries import split_sizes  # noqa: E402
from lmna_scrna.tl.evaluate import confusion_counts, day_columns, gsm_table, roc_points  # noqa: E402

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def close_figures():
    """Every test starts and ends with no open figure (the count of figures is asserted)."""
    plt.close("all")
    yield
    plt.close("all")


def visible_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.axison]


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def predictions(n: int = 60, day_head: bool = False) -> pd.DataFrame:
    """Test cells of two libraries, one per genotype, with a patient probability that separates them."""
    y = np.repeat([0, 1], n // 2)
    p = np.clip(0.3 + 0.4 * y + RNG.normal(0, 0.1, n), 0.01, 0.99)
    pred = pd.DataFrame({"gsm": np.where(y == 1, "GSM_P", "GSM_C"), "condition": np.array(CONDITIONS)[y],
                         "day": 19, "y_true": y, "p_geno": p})
    if day_head:
        pred["y_day"] = RNG.integers(0, len(DAYS), n)
        pred[day_columns()] = RNG.dirichlet(np.ones(len(DAYS)), n)
    return pred


def history(epochs: int = 5) -> pd.DataFrame:
    values = {k: np.linspace(0.5, 0.9, epochs) for k in ("loss", "geno_auc", "geno_acc")}
    return pd.DataFrame({**values, **{f"val_{k}": v - 0.05 for k, v in values.items()}})


# --------------------------------------------------------------------------- design (notebook 02)


def test_design_grid_has_one_row_per_gsm_and_one_column_per_day(sheet):
    fig = pl.design_grid(sheet)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(d) for d in sorted(sheet["day"].unique())]
    assert len(ax.get_yticklabels()) == len(sheet)
    assert len(ax.texts) == len(sheet)  # one annotation per library: its genotype letter and replicate
    assert ax.get_xlabel() == "day of differentiation" and ax.get_title().startswith("Study design")
    # the iPSC line: one patient line against the sister's lines, which control library is which unknown
    assert legend_texts(ax) == ["Control · control lines (unknown which)", "Patient · patient line"]
    assert ax.get_legend().get_title().get_text() == "genotype · iPSC line"
    fig.canvas.draw()
    assert ax.get_legend().get_window_extent().y1 <= ax.get_window_extent().y0, "the legend sits below the grid"


def test_partition_grid_has_a_row_per_split_and_names_them(sheet):
    splits = [make_split("original", sheet), make_split("random_cells", sheet)]
    fig = pl.partition_grid(partition_table(splits, sheet), sheet, names={"original": "the paper's split"})
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["the paper's split", "random_cells"]
    assert len(ax.get_xticklabels()) == len(sheet)
    cells = [t.get_text() for t in ax.texts]
    assert len(cells) == 2 * len(sheet) and cells[len(sheet):] == ["mixed"] * len(sheet)


def test_variance_explained_plot_draws_the_heatmap_and_one_bar_per_factor():
    table = pd.DataFrame(RNG.uniform(0, 1, (3, 13)), index=["day", "condition", "gsm"],
                         columns=[*(f"PC{i}" for i in range(1, 13)), "all PCs"])
    fig = pl.variance_explained_plot(table, n_show=10)
    heat, bars = fig.axes[:2]
    assert len(heat.texts) == 3 * 10  # R² written in each shown cell
    assert len(bars.patches) == 3 and bars.get_xlim() == (0, 1)
    assert bars.get_title() == "share of the top 12 PCs' variance"


def test_embedding_plot_has_a_panel_per_factor_and_the_partition(sheet):
    n = 48
    obs = pd.DataFrame({"gsm": np.tile(sheet["gsm"].to_numpy(), n // len(sheet)),
                        "partition": np.repeat(["train", "val", "test"], n // 3)})
    obs = obs.merge(sheet[["gsm", "day", "condition"]], on="gsm", how="left")
    obs.index = [f"c{i}" for i in range(n)]
    adata = ad.AnnData(np.zeros((n, 2), dtype=np.float32), obs=obs, obsm={"X_umap": RNG.normal(size=(n, 2))})
    fig = pl.embedding_plot(adata, "umap", words={"day": "Day", "condition": "Genotype", "gsm": "Library"})
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == ["UMAP: Day", "UMAP: Genotype", "UMAP: Library", "UMAP: Partition"]
    assert all(len([c for c in ax.collections if isinstance(c, PathCollection)]) == 2 for ax in axes)  # train, held out
    assert legend_texts(axes[3]) == ["training", "validation", "test"]
    assert legend_texts(axes[1]) == sorted(CONDITIONS, key=lambda v: (len(v), v))
    lines = visible_axes(pl.embedding_plot(adata, "umap", words={"condition": "Genotype"}, sheet=sheet))[1]
    assert lines.get_title() == "UMAP: Genotype · iPSC line"
    assert legend_texts(lines) == ["Patient · patient line", "Control · control lines (unknown which)"]
    assert lines.get_legend().get_title().get_text() == "Genotype · iPSC line"


# --------------------------------------------------------------------------- preparation (notebook 01)


def qc_frame(n: int = 90) -> pd.DataFrame:
    """Per-cell QC metrics of three libraries; three empty barcodes, as a raw matrix has."""
    return pd.DataFrame({"gsm": np.repeat(["GSM1", "GSM2", "GSM3"], n // 3),
                         "n_genes": RNG.integers(300, 4000, n), "total_counts": np.r_[np.zeros(3), RNG.integers(1, 20000, n - 3)],
                         "pct_mt": RNG.uniform(0, 30, n)})


def test_qc_violins_draw_three_panels_with_each_threshold():
    params = PrepParams()
    fig = pl.qc_violins(qc_frame(), params)
    genes, counts, mt = fig.axes
    assert [ax.get_ylabel().split("\n")[0] for ax in fig.axes] == ["genes detected", "total counts", "% counts on MT- genes"]
    assert sorted(line.get_ydata()[0] for line in genes.lines) == [params.min_genes, params.max_genes]
    assert [line.get_ydata()[0] for line in mt.lines] == [params.max_pct_mt] and len(counts.lines) == 0
    assert counts.get_yscale() == "log" and "(3 barcodes with 0 not shown)" in counts.get_ylabel()
    assert [t.get_text() for t in mt.get_xticklabels()] == ["GSM1", "GSM2", "GSM3"]


def test_hvg_plot_counts_the_selected_genes_in_its_legend():
    genes = pd.DataFrame({"mean": RNG.uniform(0.01, 3, 50), "variance": RNG.uniform(0.01, 3, 50),
                          "n_cells": np.r_[np.zeros(5), np.ones(45)], "highly_variable": np.r_[np.zeros(40), np.ones(10)] > 0})
    (ax,) = pl.hvg_plot(genes).axes
    assert legend_texts(ax) == ["other genes (35)", "selected HVGs (10)"]  # genes seen in no train cell are not drawn
    assert ax.get_xscale() == ax.get_yscale() == "log" and len(ax.collections) == 2


def test_split_size_plot_stacks_partitions_per_gsm_and_splits_genotypes():
    obs = pd.DataFrame({"gsm": ["GSM1"] * 6 + ["GSM2"] * 4, "condition": ["Control"] * 6 + ["Patient"] * 4,
                        "day": 19, "partition": ["train"] * 4 + ["val", "test"] + ["train"] * 2 + ["test"] * 2})
    left, right = pl.split_size_plot(split_sizes(obs)).axes
    assert len(left.patches) == 2 * 3  # two GSMs × three partitions, stacked
    assert [t.get_text() for t in left.get_xticklabels()] == ["GSM1\nC d19", "GSM2\nP d19"]
    assert [t.get_text() for t in right.get_xticklabels()] == ["training", "validation", "test"]
    assert sorted(legend_texts(right)) == sorted(CONDITIONS)
    assert right.get_legend().get_title().get_text() == "genotype"
    assert legend_texts(left) == ["training", "validation", "test"]
    assert left.get_legend().get_title().get_text() == "cells used for"
    left.figure.canvas.draw()
    for ax in (left, right):  # beside the bars, never over them
        assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1 - 1


# --------------------------------------------------------------------------- training (notebooks 03, 04)


def test_plot_history_has_three_panels_and_a_legend_panel():
    fig = pl.plot_history(history(), best_epoch=3)
    panels = visible_axes(fig)
    assert [ax.get_title() for ax in panels] == ["loss (combined)", "genotype ROC-AUC", "genotype accuracy at 0.5"]
    assert all(len(ax.lines) == 3 for ax in panels)  # training, validation, the restored epoch
    legend_axis = [ax for ax in fig.axes if not ax.axison]
    assert legend_texts(legend_axis[0]) == ["training", "validation", "restored best epoch (3)"]


def test_roc_curves_draw_tls_points_labelled_with_their_auc():
    pred = predictions()
    a_roc, b_roc = roc_points(pred["y_true"], pred["p_geno"], "a"), roc_points(pred["y_true"], 1 - pred["p_geno"], "b")
    fig = pl.plot_roc_curves({"a": a_roc, "b": b_roc})
    (ax,) = fig.axes
    assert len(ax.lines) == 3  # two curves and the diagonal
    for line, roc in zip(ax.lines, (a_roc, b_roc)):  # pl draws the points it is given, computes none
        np.testing.assert_array_equal(line.get_xydata(), np.column_stack([roc.fpr, roc.tpr]))
    a, b = legend_texts(ax)
    assert (a, b) == (f"a (AUC {a_roc.auc:.3f})", f"b (AUC {b_roc.auc:.3f})")
    assert float(a[7:-1]) + float(b[7:-1]) == pytest.approx(1)
    (cited,) = pl.plot_roc_curves({"a": a_roc}, paper={"a": 0.239, "b": float("nan")}).axes
    assert legend_texts(cited)[1:] == ["the paper, a: AUC 0.239 (real data)"]  # its curve is not published as data
    assert len(cited.lines) == 2, "the paper's AUC is a legend entry, not a made-up curve"
    assert pl.plot_roc(a_roc).axes[0].get_title() == "genotype ROC (test cells)"


def test_confusion_shows_counts_and_row_shares():
    confusion = confusion_counts([0, 0, 1, 1, 1], [0, 1, 1, 1, 1], 2)
    count, share = pl.plot_confusion(confusion, ["Control", "Patient"], "genotype").axes
    assert [t.get_text() for t in count.texts] == ["1", "1", "0", "3"]
    assert [t.get_text() for t in share.texts] == ["0.50", "0.50", "0.00", "1.00"]
    assert count.get_title() == "genotype: counts" and share.get_title() == "genotype: row-normalised"


def test_gsm_probability_draws_one_violin_per_library_with_its_mean_and_threshold():
    pred = predictions()
    (ax,) = pl.plot_gsm_probability(pred, 0.42, rule="fixed").axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["GSM_C\nControl d19", "GSM_P\nPatient d19"]
    assert "threshold 0.42 (fixed)" in legend_texts(ax) and "GSM mean" in legend_texts(ax)
    means = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(means) == 1 and len(means[0].get_offsets()) == 2
    np.testing.assert_allclose(means[0].get_offsets()[:, 1], gsm_table(pred, 0.42)["mean_p"])


def test_pl_draws_and_computes_no_metric():
    """ROC points, confusion counts and GSM means come from tl.evaluate, beside the metrics they must agree with."""
    import ast

    from lmna_scrna.paths import PROJECT_ROOT

    imported = {
        node.module or "" for path in sorted((PROJECT_ROOT / "lib" / "lmna_scrna" / "pl").glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ImportFrom)
    }
    assert not {m for m in imported if m.split(".")[0] in ("sklearn", "scipy")}


@pytest.mark.parametrize("day_head", [False, True], ids=["model A", "model B"])
def test_seed_figures_are_the_run_pages_figures_and_are_saved(tmp_path, day_head):
    figures = pl.seed_figures(history(), predictions(day_head=day_head), {"threshold": 0.5, "best_epoch": 2}, tmp_path)
    expected = ["curves", "roc", "confusion", "gsm_probability", *(["day_confusion"] if day_head else [])]
    assert list(figures) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{name}.png" for name in expected)
    if day_head:
        assert len(figures["day_confusion"].axes[0].get_xticklabels()) == len(DAYS)


# --------------------------------------------------------------------------- evaluation and calibration (06, 07)


def test_library_contrasts_have_a_panel_per_model_and_a_row_per_pair():
    control = pd.DataFrame({"model": ["A", "A", "B"], "seed": [1, 1, 1], "higher": ["P1", "C2", "P1"],
                            "lower": ["C1", "C1", "C1"], "auc": [0.9, 0.7, 0.8], "ci_lo": [0.85, 0.6, 0.7],
                            "ci_hi": [0.95, 0.8, 0.9],
                            "contrast": ["patient vs control (genotype and library)", "control vs control (library only)",
                                         "patient vs control (genotype and library)"]})
    a, b = pl.plot_library_contrasts(control).axes
    assert (a.get_title(), b.get_title()) == ("Model A", "Model B")
    assert [t.get_text() for t in a.get_yticklabels()] == ["P1 vs C1", "C2 vs C1"]  # a row per pair, seeds within it
    assert sorted(legend_texts(a)) == sorted(set(control["contrast"]))  # each contrast named once


def test_sensitivity_plots_every_study_the_curve_and_this_build():
    table = pd.DataFrame({"scenario": ["line_0", "line_0", "line_1", "line_1", "power_1"],
                          "line_units": [0, 0, 1, 1, 0], "mean_auc": [0.5, 0.52, 0.7, 0.75, 0.9]})
    curve = table[table["scenario"] != "power_1"].groupby(["scenario", "line_units"], as_index=False)["mean_auc"].agg(
        mean_auc="mean", sd_auc="std")
    (ax,) = pl.plot_sensitivity(table, curve, observed=0.81).axes
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points.get_offsets()) == 4  # the power study is not a line-effect study
    assert "this build's day-matched AUC, 0.810" in legend_texts(ax)


def test_claim_rates_draw_both_rules_for_every_scenario():
    summary = pd.DataFrame({"scenario": ["null", "power_1"], "role": ["null", "power"], "replicates": [19, 5],
                            **{f"{rule}_rule_{k}": v for rule in ("auc", "ranking")
                               for k, v in (("rate", [0.05, 0.8]), ("lo", [0.0, 0.3]), ("hi", [0.25, 1.0]))}})
    (ax,) = pl.plot_claim_rates(summary).axes
    assert legend_texts(ax) == ["AUC interval above 0.5", "library ranking p ≤ 0.05"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["null\n(null, n=19)", "power_1\n(power, n=5)"]
    assert len(ax.containers) == 2 and all(len(c.lines[0].get_xdata()) == 2 for c in ax.containers)


def test_save_figure_writes_a_png(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = pl.save_figure(fig, tmp_path / "sub" / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
