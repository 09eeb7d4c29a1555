"""The README's "Where to change what" walks, each made in a copy: a new split scheme is one `SCHEMES` entry plus
its split file, a new HVG flavour one function in `HVG_FLAVORS`; everything else follows from the registry."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from _run_fixtures import fake_run
from _tenx_fixtures import SMALL_PARAMS, write_study

from lmna_scrna import cli
from lmna_scrna.config import PrepParams
from lmna_scrna.errors import InputError
from lmna_scrna.io.study import load_samples
from lmna_scrna.paths import params_dir, run_dir
from lmna_scrna.pp import genes, splits
from lmna_scrna.pp.assemble import dataset_fingerprint, fit_split, prepare_split
from lmna_scrna.pp.gsm_cache import cache_key
from lmna_scrna.report import names
from lmna_scrna.report.results import tables
from lmna_scrna.report.runner.param_files import split_files


@pytest.fixture(scope="module")
def sheet() -> pd.DataFrame:
    return load_samples()


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, sheet: pd.DataFrame) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    write_study(raw, sheet)
    return raw


def held_day(sheet: pd.DataFrame, test_day: int | None, val_day: int | None) -> splits.Split:
    """A scheme the project does not have: the libraries of one day to test and of another to validation,
    whatever genotypes those days hold (day_matched demands both)."""
    assert test_day is not None and val_day is not None
    test = tuple(sheet.loc[sheet["day"] == test_day, "gsm"])
    val = tuple(sheet.loc[sheet["day"] == val_day, "gsm"])
    train = tuple(g for g in sheet["gsm"] if g not in test + val)
    return splits.Split(f"hd_t{test_day}_v{val_day}", "gsm", train, val, test, test_day, val_day, scheme="held_day")


HELD_DAY = splits.Scheme(
    "held_day", held_day, True, "gsm", "one day to test and another to validation, whatever their genotypes",
    pattern="hd_t{test_day}_v{val_day}", words="held-out day {test_day} (validation day {val_day})",
    short_words="held-out day {test_day}",
    rung=splits.Rung("held-out day (mean over folds)", "whatever the days share", "day, genotype mix", 3),
    folds=lambda sheet: [held_day(sheet, 19, 0), held_day(sheet, 9, 0)],
)


@pytest.fixture
def new_scheme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The walk in a copy: one registry entry, and its split file beside copies of the project's split files."""
    monkeypatch.setitem(splits.SCHEMES, "held_day", HELD_DAY)
    folder = tmp_path / "params"
    shutil.copytree(params_dir() / "splits", folder / "splits")
    (folder / "splits" / "hd_t19_v0.yaml").write_text("scheme: held_day\ntest_day: 19\nval_day: 0\n")
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path / "outputs"))
    return folder


def test_a_new_scheme_is_one_entry_plus_its_split_file(new_scheme: Path, study: Path, sheet: pd.DataFrame,
                                                       tmp_path: Path) -> None:
    # its split file is read, named by the entry's pattern, and ordered after the registered schemes
    assert list(split_files(new_scheme / "splits"))[-1] == "hd_t19_v0"
    assert splits.split_name("held_day", 19, 0) == "hd_t19_v0"
    # a prepared split, by the library's own preparation
    split = splits.make_split("held_day", sheet, 19, 0)
    adata = ad.read_h5ad(prepare_split(study, split, sheet, SMALL_PARAMS, tmp_path / "hd.h5ad", tmp_path / "cache"))
    assert adata.uns["split"]["name"] == "hd_t19_v0" and adata.uns["split"]["scheme"] == "held_day"
    assert set(adata.obs.loc[adata.obs["partition"] == "test", "day"]) == {19}
    # worded names and the reading order, from its entry's name pattern (no file read)
    assert names.split_words("hd_t19_v0") == "held-out day 19 (validation day 0)"
    assert names.split_words("hd_t19_v0", short=True) == "held-out day 19"
    assert names.split_words("hd_t9_v0") == "held-out day 9 (validation day 0)"  # a fold with no file
    listed = ["hd_t19_v0", "random_cells", "hd_t9_v0", "dm_t9_v0", "original"]
    assert sorted(listed, key=names.split_order) == ["original", "dm_t9_v0", "random_cells", "hd_t9_v0", "hd_t19_v0"]
    # the design page's list of splits ends with its folds
    assert [s.name for s in splits.scheme_splits(sheet)][-3:] == ["random_cells", "hd_t19_v0", "hd_t9_v0"]


def test_a_new_scheme_gets_a_ladder_rung(new_scheme: Path) -> None:
    for split, strength in {"random_cells": 0.8, "original": -0.3, "dm_t19_v0": 0.4, "hd_t19_v0": 0.6,
                            "hd_t9_v0": 0.2}.items():
        fake_run(f"{split}_A", strength)
        if split.startswith("hd_"):  # the fixture files every split with days as day-matched
            config = json.loads((run_dir(f"{split}_A") / "config.json").read_text())
            config["split"]["scheme"] = "held_day"
            (run_dir(f"{split}_A") / "config.json").write_text(json.dumps(config))
    ladder = tables.leakage_ladder(["random_cells", "original", "dm_t19_v0", "hd_t19_v0", "hd_t9_v0"])
    assert ladder["scheme"].tolist() == ["held-out day (mean over folds)", "random cells", "original",
                                         tables.DAY_MATCHED_RUNG]
    rung = ladder.iloc[0]
    aucs = [tables.metric(f"{s}_A", "test_auc")[0] for s in ("hd_t19_v0", "hd_t9_v0")]
    assert rung["folds"] == 2 and rung["A_auc"] == pytest.approx(np.mean(aucs)) and rung["unit"] == "GSM"
    assert rung["still_confounded_with_genotype"] == "day, genotype mix"


def test_a_new_scheme_is_a_choice_of_prepare(new_scheme: Path, study: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["prepare", "--help"])
    assert "held_day: one day to test and another to validation" in " ".join(capsys.readouterr().out.split())
    small = [f"--{k.replace('_', '-')}={v}" for k, v in SMALL_PARAMS.to_dict().items()]
    out = tmp_path / "cli.h5ad"
    argv = ["prepare", "--raw", str(study), "--scheme", "held_day", "--test-day", "9", "--val-day", "0",
            "--out", str(out), "--cache", str(tmp_path / "cache")]
    assert cli.main(argv + small) == 0
    assert ad.read_h5ad(out).uns["split"]["name"] == "hd_t9_v0"


@pytest.mark.parametrize(("pattern", "folds"), [("hd_t{test_day}", HELD_DAY.folds), ("hd_{day}_{val_day}", HELD_DAY.folds),
                                                ("hd_t{test_day}_v{val_day}", None)])
def test_an_entry_whose_splits_would_share_a_name_is_refused(pattern: str, folds: object) -> None:
    with pytest.raises(ValueError, match="scheme held_day"):
        replace(HELD_DAY, pattern=pattern, folds=folds)


def test_the_three_schemes_keep_their_names_words_and_order(sheet: pd.DataFrame) -> None:
    """What tables and pages show, byte for byte as before the registry carried it."""
    shown = [(s.name, names.split_words(s.to_dict()), names.split_words(s.to_dict(), short=True),
              names.split_order(s.name)) for s in splits.scheme_splits(sheet)]
    assert shown == [
        ("original", "original split", "original split", (0, -1, -1)),
        ("dm_t0_v16", "test day 0, validation day 16", "test day 0", (1, 0, 16)),
        ("dm_t9_v0", "test day 9, validation day 0", "test day 9", (1, 9, 0)),
        ("dm_t16_v0", "test day 16, validation day 0", "test day 16", (1, 16, 0)),
        ("dm_t19_v0", "test day 19, validation day 0", "test day 19", (1, 19, 0)),
        ("random_cells", "cells at random", "cells at random", (2, -1, -1)),
    ]
    assert names.split_order(None) == (4, 0, 0) and names.split_order("no_such_split") == (4, 0, 0)
    assert splits.split_name("original", 19, 0) == "original"  # the notebooks keep day defaults for any scheme


# --------------------------------------------------------------------------- HVG flavours


def mean_score(stats: genes.GeneStats) -> np.ndarray:
    """Mean log-normalised expression: additive (a sum and a count), so it may be a flavour."""
    return stats.mean


def test_a_new_hvg_flavour_is_one_function_in_the_registry(study: Path, sheet: pd.DataFrame, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(genes.HVG_FLAVORS, "mean", mean_score)
    split = splits.make_split("day_matched", sheet, 19, 0)
    cache = tmp_path / "cache"
    by_variance = ad.read_h5ad(prepare_split(study, split, sheet, SMALL_PARAMS, tmp_path / "v.h5ad", cache))
    cached = sorted(p.name for p in cache.iterdir())
    by_mean = replace(SMALL_PARAMS, hvg_flavor="mean")
    adata = ad.read_h5ad(prepare_split(study, split, sheet, by_mean, tmp_path / "m.h5ad", cache))
    assert sorted(p.name for p in cache.iterdir()) == cached  # the per-GSM cache does not depend on the flavour
    fit = fit_split(study, split, sheet, by_mean, cache)
    eligible = np.flatnonzero(fit.stats.nnz >= by_mean.min_cells_per_gene)
    top = eligible[np.argsort(-fit.stats.mean[eligible], kind="stable")[: by_mean.n_hvg]]  # ties by gene index
    gene_ids = next(iter(fit.cached.values())).gene_ids
    assert list(adata.var["gene_id"]) == list(gene_ids[np.sort(top)])
    assert list(adata.var["gene_id"]) != list(by_variance.var["gene_id"])
    assert adata.uns["params"]["hvg_flavor"] == "mean" and "hvg_flavor" not in by_variance.uns["params"]
    assert adata.uns["fingerprint"] != by_variance.uns["fingerprint"]


def test_a_new_hvg_flavour_is_a_choice_of_prepare(study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(genes.HVG_FLAVORS, "mean", mean_score)
    with pytest.raises(SystemExit):
        cli.main(["prepare", "--help"])
    assert "--hvg-flavor {variance,mean}" in capsys.readouterr().out
    small = [f"--{k.replace('_', '-')}={v}" for k, v in SMALL_PARAMS.to_dict().items()]
    out = tmp_path / "cli.h5ad"
    argv = ["prepare", "--raw", str(study), "--scheme", "original", "--out", str(out), "--cache", str(tmp_path / "c")]
    assert cli.main([*argv, *small, "--hvg-flavor", "mean"]) == 0
    assert ad.read_h5ad(out).uns["params"]["hvg_flavor"] == "mean"


@pytest.mark.parametrize(("flavor", "typed"), [("seurat_v3", "'seurat_v3'"), (["variance"], r"\['variance'\]")])
def test_an_unknown_flavour_is_named_before_any_gsm_is_read(sheet: pd.DataFrame, tmp_path: Path, flavor: object,
                                                            typed: str) -> None:
    out = tmp_path / "x.h5ad"
    with pytest.raises(InputError, match=rf"^PrepParams.hvg_flavor={typed}: expected one of variance$"):
        prepare_split(tmp_path / "no_raw_folder", splits.make_split("original", sheet), sheet,
                      replace(SMALL_PARAMS, hvg_flavor=flavor), out, tmp_path / "cache")
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_the_default_flavour_is_the_variance_rank_and_leaves_every_key_as_it_was(sheet: pd.DataFrame) -> None:
    """Keys and fingerprints computed by main before flavours existed (dcd381d): the default flavour is not
    recorded, so no cached GSM, processed split or calibration result is rebuilt or refused for it."""
    assert "hvg_flavor" not in PrepParams().to_dict() and "hvg_flavor" not in SMALL_PARAMS.to_dict()
    assert PrepParams(hvg_flavor="variance") == PrepParams()
    inputs = {"GSM8325046": "a", "GSM8325047": "b"}
    split = splits.make_split("original", sheet)
    assert dataset_fingerprint(inputs, PrepParams(), split, sheet.set_index("gsm")) == (
        "6c0e4abdddff01786c7e0d6a1a928b2d7192ea96ad4e1802a285b728d81695fb")
    assert cache_key("GSM8325046", "fp", PrepParams(), "filtered") == "cd5ed0faa765a6549585"
    stats = genes.GeneStats(5, np.array([3.0, 1.0, 3.0, 2.0]), np.array([9.0, 1.0, 5.0, 2.0]), np.array([5, 1, 3, 2]))
    order = np.lexsort((np.arange(4), -stats.variance))  # the rule before flavours: variance, ties by gene index
    assert list(genes.select_hvg(stats, 0, 2)) == sorted(order[:2])


def test_a_new_compare_figure_is_one_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk in a copy: one entry in `COMPARE_FIGURES` (here drawn by its own function, as a figure no `pl`
    function draws yet would be), and the comparison page's own cell draws it, under its heading, into its file."""
    import matplotlib.pyplot as plt
    import nbformat

    from lmna_scrna.paths import PROJECT_ROOT
    from lmna_scrna.report.results import compare_figures, library_tables

    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    for split, strength in {"dm_t0_v16": 0.2, "dm_t19_v0": 0.4}.items():
        fake_run(f"{split}_A", strength)
        fake_run(f"{split}_B", strength + 0.1, model="B")

    def bars(frame: pd.DataFrame) -> plt.Figure:
        fig, ax = plt.subplots()
        ax.bar(frame["split"] + " " + frame["gsm"], frame["score"])
        return fig

    entry = compare_figures.CompareFigure(
        "pseudobulk_scores", "Pseudobulk scores by fold", "One bar per test library: its pseudobulk logit.",
        lambda chosen: library_tables.gsm_level(chosen, ("pseudobulk",)), bars)
    monkeypatch.setattr(compare_figures, "COMPARE_FIGURES", (*compare_figures.COMPARE_FIGURES, entry))

    page = nbformat.read(PROJECT_ROOT / "notebooks" / "06_compare.ipynb", as_version=4)
    cell = next(c.source for c in page.cells if c.cell_type == "code" and "in COMPARE_FIGURES" in c.source)
    shown: list[object] = []
    namespace: dict[str, object] = {"splits": ["dm_t0_v16", "dm_t19_v0"], "fig_dir": tmp_path / "figures" / "compare"}
    exec("import matplotlib.pyplot as plt\nfrom IPython.display import Markdown\nfrom lmna_scrna.pl import save_figure\n"
         "from lmna_scrna.report.results.compare_figures import COMPARE_FIGURES\n", namespace)
    namespace["display"] = shown.append
    exec(cell, namespace)

    headings = [m.data for m in shown if m.data.startswith("### ")]
    assert headings == [f"### {f.heading}" for f in compare_figures.COMPARE_FIGURES]
    assert headings[-1] == "### Pseudobulk scores by fold"
    for figure in compare_figures.COMPARE_FIGURES:
        assert (tmp_path / "figures" / "compare" / f"{figure.name}.png").stat().st_size > 0


def test_the_library_scores_figure_draws_every_test_library_of_each_fold(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from lmna_scrna.report.results import compare_figures

    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    for split, strength in {"original": -0.3, "dm_t0_v16": 0.2, "dm_t19_v0": 0.4}.items():
        fake_run(f"{split}_A", strength)
        fake_run(f"{split}_B", strength + 0.1, model="B")
    frame = compare_figures.library_scores(["original", "dm_t0_v16", "dm_t19_v0"])  # the original split: no fold
    assert list(dict.fromkeys(frame["fold"])) == ["test day 0", "test day 19"]
    assert len(frame) == 2 * 2 * 2 and set(frame["condition"]) == {"Control", "Patient"}
    fig = compare_figures.COMPARE_FIGURES[0].draw(frame)
    assert [ax.get_title() for ax in fig.axes] == ["Model A", "Model B"]
    assert sum(len(c.get_offsets()) for ax in fig.axes for c in ax.collections) == len(frame)


def test_the_readmes_walks_name_files_that_exist_and_the_registries_they_describe() -> None:
    """The three walks of the README's "Where to change what", each one or two files, point at the real places."""
    import re

    from lmna_scrna.paths import PROJECT_ROOT
    from lmna_scrna.report.results import compare_figures

    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Where to change what", 1)[1].split("\n## ", 1)[0]
    walks = re.split(r"\n\*\*(?=A new )", section)[1:]
    assert [w.split("**", 1)[0] for w in walks] == [
        "A new split scheme", "A new HVG flavour", "A new figure of the comparison page"]
    for walk in walks:
        files = set(re.findall(r"`((?:lib|params)/[\w/<>.]+)`", walk))
        assert 1 <= len({f for f in files if f.endswith(".py")}) <= 2, walk[:40]
        assert all((PROJECT_ROOT / f).is_file() for f in files if "<" not in f), files
    assert "SCHEMES" in walks[0] and "HVG_FLAVORS" in walks[1] and "COMPARE_FIGURES" in walks[2]
    assert hasattr(splits, "SCHEMES") and hasattr(genes, "HVG_FLAVORS") and hasattr(compare_figures, "COMPARE_FIGURES")


def test_a_split_name_is_read_back_from_its_schemes_pattern_and_two_patterns_that_collide_are_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert splits.identity_of_name("dm_t16_v0") == {"scheme": "day_matched", "test_day": 16, "val_day": 0}
    assert splits.identity_of_name("random_cells") == {"scheme": "random_cells", "test_day": None, "val_day": None}
    assert splits.identity_of_name("dm_t16") is None and splits.identity_of_name("pooled leave-one-day-out") is None
    for scheme, test_day, val_day in [("original", None, None), ("day_matched", 9, 0), ("random_cells", None, None)]:
        name = splits.split_name(scheme, test_day, val_day)
        assert splits.identity_of_name(name) == {"scheme": scheme, "test_day": test_day, "val_day": val_day}
    monkeypatch.setitem(splits.SCHEMES, "held_day", replace(HELD_DAY, pattern="dm_t{test_day}_v{val_day}"))
    with pytest.raises(ValueError, match="'dm_t19_v0' fits the patterns of schemes day_matched, held_day"):
        splits.identity_of_name("dm_t19_v0")
