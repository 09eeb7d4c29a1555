"""The report's tables on fake run folders written in the training contract's layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _run_fixtures import fake_run

from lmna_scrna.config import TrainConfig
from lmna_scrna.errors import InputError
from lmna_scrna.paths import run_dir
from lmna_scrna.report.book.run_page import sweep_variant_summary
from lmna_scrna.report.results import tables
from lmna_scrna.report.runner import load_sweep


@pytest.fixture()
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    strengths = {"original": -0.3, "dm_t0_v16": 0.2, "dm_t19_v0": 0.4, "random_cells": 0.8}
    for split, s in strengths.items():
        fake_run(f"{split}_A", s)
        fake_run(f"{split}_B", s + 0.1, model="B")


GSM_SPLITS = ["original", "dm_t0_v16", "dm_t19_v0"]


def test_table1_has_one_row_per_split_and_model_with_mean_and_sd(runs: None) -> None:
    t1 = tables.table1(GSM_SPLITS)
    assert list(zip(t1["split"], t1["model"])) == [(s, m) for m in "AB" for s in GSM_SPLITS]
    assert (t1["n_test"] == 100).all() and (t1["seeds"] == 2).all()
    row = t1.set_index(["split", "model"]).loc[("original", "A")]
    assert row["test_auc_mean"] < 0.5 < t1.set_index(["split", "model"]).loc[("dm_t19_v0", "A"), "test_auc_mean"]
    assert row["test_auc_sd"] >= 0
    shown = tables.format_mean_sd(t1)
    assert "test_auc" in shown and "test_auc_mean" not in shown
    assert " ± " in shown.loc[0, "test_auc"]


def test_auc_by_split_delta_and_lodo(runs: None) -> None:
    auc = tables.auc_by_split(GSM_SPLITS)
    assert np.allclose(auc["delta"], auc["B_mean"] - auc["A_mean"])
    lodo = tables.lodo_summary(GSM_SPLITS)
    assert lodo["test_day"].tolist() == [0, 19] and lodo["val_day"].tolist() == [16, 0]
    assert (lodo["gsm_total"] == 2).all()


def test_leakage_ladder_orders_random_original_day_matched(runs: None) -> None:
    ladder = tables.leakage_ladder(["random_cells", *GSM_SPLITS])
    assert ladder["scheme"].tolist() == ["random cells", "original", "day-matched (mean over folds)"]
    dm = [tables.metric(f"{s}_A", "test_auc")[0] for s in ("dm_t0_v16", "dm_t19_v0")]
    assert ladder.loc[2, "A_auc"] == pytest.approx(np.mean(dm)) and ladder.loc[2, "folds"] == 2
    half = 12.7062047 * np.std(dm, ddof=1) / np.sqrt(2)  # t(0.975, 1 df): two folds give a wide interval
    assert ladder.loc[2, "fold_ci_lo"] == pytest.approx(np.mean(dm) - half)
    assert "none" not in " ".join(ladder["still_confounded_with_genotype"])
    assert all(w in ladder.loc[2, "still_confounded_with_genotype"] for w in ("library", "donor", "line", "clone"))
    assert ladder.loc[0, "A_auc"] > ladder.loc[2, "A_auc"] > ladder.loc[1, "A_auc"]


def test_table1_has_a_cell_bootstrap_interval_around_the_auc(runs: None) -> None:
    t1 = tables.table1(["dm_t19_v0"], ("A",))
    row = t1.iloc[0]
    assert row["test_auc_boot_lo"] <= row["test_auc_mean"] <= row["test_auc_boot_hi"]
    assert row["test_auc_boot_hi"] - row["test_auc_boot_lo"] > 0
    again = tables.table1(["dm_t19_v0"], ("A",))
    assert again["test_auc_boot_lo"].iloc[0] == row["test_auc_boot_lo"]  # seeded: same table every rebuild


def test_baseline_sweep_and_best_by_validation_not_test(runs: None, tmp_path: Path) -> None:
    base = tables.baseline_comparison(GSM_SPLITS)
    assert {"logreg_auc", "A_auc", "B_auc"} <= set(base.columns)
    fake_run("sweep_x", 0.4, depth=1, batch_size=128)
    fake_run("sweep_y", 0.1, depth=2, activation="tanh")
    table2 = tables.sweep_table(["sweep_x", "sweep_y"])
    assert table2["depth"].tolist() == [1, 2] and table2["activation"].tolist() == ["relu", "tanh"]
    # make y best on validation while x stays best on test: the choice must follow validation
    table2.loc[1, "val_auc_mean"] = 1.0
    assert table2.loc[0, "test_auc_mean"] > table2.loc[1, "test_auc_mean"]
    assert tables.best_by_validation(table2) == "sweep_y"
    assert tables.train_config("sweep_y") == TrainConfig(depth=2, activation="tanh")


def _sweeps(folder: Path, base: str | None = "a.yaml") -> Path:
    """Sweep a.yaml (runs a1, a2) and b.yaml, a Model B sweep that builds on `base`; returns b.yaml."""
    (folder / "split.yaml").write_text("scheme: day_matched\ntest_day: 19\nval_day: 0\n")
    (folder / "a.yaml").write_text(json.dumps({"params_file": "split.yaml", "runs": {
        "a1": {"depth": 1}, "a2": {"depth": 2, "activation": "tanh"}}}))
    (folder / "b.yaml").write_text(json.dumps({"params_file": "split.yaml", "runs": {"w": {"model": "B", "loss_w_day": 0.1}},
                                               **({"builds_on": base} if base else {})}))
    return folder / "b.yaml"


def test_a_sweep_on_a_sweep_starts_from_its_best_run_by_validation_never_test(runs: None, tmp_path: Path) -> None:
    fake_run("sweep_a1", 0.4, depth=1)  # the better on test
    fake_run("sweep_a2", 0.1, depth=2, activation="tanh")
    summary = run_dir("sweep_a2") / "summary.json"  # ... and a2 the better on validation
    data = json.loads(summary.read_text())
    data["metrics"]["val_auc"]["mean"] = 1.0
    summary.write_text(json.dumps(data))
    assert tables.metric("sweep_a1", "test_auc")[0] > tables.metric("sweep_a2", "test_auc")[0]
    sweep = load_sweep(_sweeps(tmp_path))
    assert tables.sweep_base(sweep) == "sweep_a2"
    assert tables.sweep_variant_config(sweep, "w", "B") == TrainConfig(model="B", depth=2, activation="tanh", loss_w_day=0.1)
    words = sweep_variant_summary(sweep, "w")  # what the variant's page says it started from
    assert "`a.yaml`" in words and "**validation**" in words and "depth 2" in words and "day-loss weight 0.1" in words
    with pytest.raises(InputError, match="b.yaml has no run 'nope' \\(it has w\\)"):
        tables.sweep_variant_config(sweep, "nope", "B")
    with pytest.raises(InputError, match="run w of sweep file .*b.yaml trains Model B, not Model A"):
        tables.sweep_variant_config(sweep, "w", "A")
    with pytest.raises(InputError, match="builds on no other sweep"):
        tables.sweep_base(load_sweep(_sweeps(tmp_path, base=None)))


def test_roc_curves_are_the_first_seeds_test_cells(runs: None) -> None:
    from sklearn.metrics import roc_auc_score

    curve = tables.roc_curves({"original": "original_A"})["original"]
    pred = tables.finished_run("original_A")["predictions"]
    first = pred[pred["seed"] == pred["seed"].min()]
    assert curve.auc == pytest.approx(roc_auc_score(first["y_true"], first["p_geno"]))
    assert curve.fpr[0] == 0 and curve.tpr[-1] == 1


def test_missing_run_names_the_folder(runs: None) -> None:
    with pytest.raises(Exception, match="nope_A"):
        tables.table1(["nope"])


def test_save_table_round_trips_atomically(tmp_path):
    table = pd.DataFrame({"split": ["original", "dm_t19_v0"], "test_auc_mean": [0.25, 0.875]})
    path = tables.save_table(table, tmp_path / "tables" / "t.csv")
    pd.testing.assert_frame_equal(pd.read_csv(path), table)
    assert [p.name for p in path.parent.iterdir()] == ["t.csv"]


def test_headline_frames_carry_the_papers_auc_where_its_table_1_has_the_split(runs: None) -> None:
    bars, _ = tables.auc_figure_frames(GSM_SPLITS)
    paper = bars.set_index(["split", "model"])["paper"]
    assert paper[("original split", "A")] == 0.239 and paper[("original split", "B")] == 0.141
    assert paper[("test day 19", "A")] == 0.871
    assert paper[[s.startswith("day-matched mean") for s, _ in paper.index]].isna().all()  # the paper pooled none


def test_sweep_rows_get_the_papers_auc_of_the_same_settings_model_a_only() -> None:
    from lmna_scrna.report.results import paper

    sweep = pd.DataFrame([{"model": m, "depth": 1, "epochs": 20, "batch_size": b, "activation": "tanh" if b == 128 else "relu",
                           "optimizer": "adam"} for m, b in (("A", 128), ("A", 512), ("B", 128), ("A", 64))])
    assert paper.sweep_paper_auc(sweep).tolist()[:3] == [0.936, 0.929, pytest.approx(np.nan, nan_ok=True)]
    assert np.isnan(paper.sweep_paper_auc(sweep).iloc[3])  # no paper run with batch 64
    assert paper.paper_auc("dm_t16_v0", "B") == 0.960 and np.isnan(paper.paper_auc("dm_t9_v0", "A"))
