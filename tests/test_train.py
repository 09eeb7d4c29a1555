"""Training runs end to end on a tiny planted-signal split: learning, determinism, run folder, refusals."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")


import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from _cli_fixtures import one_error_line  # noqa: E402
from _processed_fixtures import day_matched_assignment, make_processed  # noqa: E402

import lmna_scrna  # noqa: E402
from lmna_scrna import cli, provenance  # noqa: E402
from lmna_scrna.config import TrainConfig  # noqa: E402
from lmna_scrna.errors import InputError  # noqa: E402
from lmna_scrna.io.study import load_samples  # noqa: E402
from lmna_scrna.paths import resolve_data_path  # noqa: E402
from lmna_scrna.tl import train  # noqa: E402
from lmna_scrna.tl.runs import load_run  # noqa: E402

FAST = TrainConfig(width=16, depth=1, epochs=4, batch_size=64, lr=1e-2, patience=8)


@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    return make_processed(tmp_path_factory.mktemp("data") / "planted.h5ad", n_cells=1200, n_genes=40, signal=2.0)


@pytest.fixture(scope="module")
def run_a(data_path, tmp_path_factory):
    return train.train_run(data_path, "planted_A", FAST, seeds=[7], out_dir=tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def run_b(data_path, tmp_path_factory):
    config = dataclasses.replace(FAST, model="B", epochs=2)
    return train.train_run(data_path, "planted_B", config, seeds=[1, 2], out_dir=tmp_path_factory.mktemp("runs"))


def test_planted_signal_is_learned_in_a_few_epochs(run_a):
    metrics = json.loads((run_a / "seed_7" / "metrics.json").read_text())
    assert metrics["test_auc"] > 0.9
    assert metrics["gsm_correct"] == metrics["gsm_total"] == 2
    assert 1 <= metrics["best_epoch"] <= metrics["epochs_run"] <= FAST.epochs


def test_same_seed_gives_identical_predictions(data_path, run_a, tmp_path):
    again = train.train_run(data_path, "planted_A", FAST, seeds=[7], out_dir=tmp_path)
    first = pd.read_parquet(run_a / "seed_7" / "predictions.parquet")
    second = pd.read_parquet(again / "seed_7" / "predictions.parquet")
    pd.testing.assert_frame_equal(first, second, check_exact=True)


def test_run_folder_layout_and_load_run(run_b, data_path):
    for seed in (1, 2):
        names = {p.name for p in (run_b / f"seed_{seed}").iterdir()}
        assert names == {"model.keras", "history.csv", "predictions.parquet", "metrics.json"}
    assert not list(run_b.rglob("*.part*")), "temp files left behind"
    assert not list(run_b.parent.glob(".building-*")), "build folders left behind"
    run = load_run(run_b)
    assert run["config"]["model"] == "B" and run["config"]["seeds"] == [1, 2]
    assert run["config"]["data_path"] == str(data_path) and run["config"]["fingerprint"].startswith("synthetic")
    assert run["summary"]["metrics"]["test_auc"]["values"] == [run["metrics"][s]["test_auc"] for s in (1, 2)]
    assert {"day_acc", "test_combined_loss", "gsm_correct"} <= set(run["metrics"][1])
    assert run["metrics"][1]["test_combined_loss"] > run["metrics"][1]["test_geno_loss"]
    assert {"seed", "cell", "gsm", "day", "y_true", "p_geno", "p_day_19"} <= set(run["predictions"].columns)
    assert len(run["predictions"]) == 2 * run["metrics"][1]["n_test"]
    assert set(run["histories"][1].columns) >= {"loss", "val_loss", "geno_auc", "val_geno_auc", "val_day_acc"}
    assert run["baseline"]["test_auc"] > 0.9 and run["baseline"]["C"] > 0
    assert run["config"]["early_stopping_monitor"].startswith("val_geno_auc_exact")
    assert "val_geno_auc_exact" in run["histories"][1].columns
    pred = run["predictions"]
    np.testing.assert_allclose(pred["p_geno"], 1 / (1 + np.exp(-pred["z_geno"])), rtol=1e-12)
    assert {"z_day_0", "z_day_30"} <= set(pred.columns)
    assert run["pseudobulk"]["gsm"] and {g["partition"] for g in run["pseudobulk"]["gsm"]} == {"val", "test"}
    assert run["summary"]["baseline"]["test_auc"] == run["baseline"]["test_auc"]


def test_run_config_records_packages_cpu_threads_and_commit(run_b):
    """A run says which software and machine made it (compactly: the packages that matter, not all of them)."""
    recorded = load_run(run_b)["config"]["provenance"]
    assert {"tensorflow", "keras", "numpy", "scipy", "anndata", "scikit-learn"} <= set(recorded["packages"])
    assert recorded["packages"]["tensorflow"] == importlib.metadata.version("tensorflow")
    assert recorded["cpu"] and recorded["cpu_flags"] and recorded["cores"] >= 1 and recorded["threads"] >= 1
    assert recorded["commit"] == provenance.commit() and len(recorded["packages"]) < 20


def _refuse_training(monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("training started on an unusable split")

    monkeypatch.setattr(train.Networks, "fresh", no_model)


def test_one_class_train_is_refused_before_training(tmp_path, monkeypatch):
    sheet = load_samples()
    assignment = day_matched_assignment(sheet)
    assignment.update({g: None for g in sheet.loc[sheet.condition == "Patient", "gsm"] if assignment[g] == "train"})
    path = make_processed(tmp_path / "one_class.h5ad", n_cells=240, n_genes=10, assignment=assignment)
    _refuse_training(monkeypatch)
    with pytest.raises(InputError, match=r"train part needs both genotypes.*patient=0"):
        train.train_run(path, "x", FAST, out_dir=tmp_path)


def test_empty_validation_is_refused_before_training(tmp_path, monkeypatch):
    assignment = {g: ("train" if p == "val" else p) for g, p in day_matched_assignment(load_samples()).items()}
    path = make_processed(tmp_path / "no_val.h5ad", n_cells=240, n_genes=10, assignment=assignment)
    _refuse_training(monkeypatch)
    with pytest.raises(InputError, match=r"val part needs both genotypes, has control=0 patient=0"):
        train.train_run(path, "x", FAST, out_dir=tmp_path)


def test_cli_train_writes_run_and_reports_bad_input(data_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    args = ["train", "--data", str(data_path), "--run", "cli_A", "--epochs", "1", "--width", "8", "--depth", "1"]
    assert cli.main(args) == 0
    assert (tmp_path / "runs" / "cli_A" / "summary.json").is_file()
    with pytest.raises(SystemExit) as stop:  # refused by argparse from the listed choices, before any work
        cli.main([*args, "--activation", "relux"])
    assert stop.value.code == 2 and "--activation: invalid choice: 'relux'" in capsys.readouterr().err
    assert cli.main(["train", "--data", str(tmp_path / "missing.h5ad"), "--run", "x"]) == 2


def test_missing_processed_file_names_the_command_that_writes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    with pytest.raises(InputError, match=r"dm_t9_v0\.h5ad does not exist.*papermill notebooks/01_prepare\.ipynb"):
        resolve_data_path(None, "dm_t9_v0")
    assert resolve_data_path(__file__, "ignored") == Path(__file__)


def test_failed_rerun_keeps_the_last_good_run_whole(data_path, tmp_path, monkeypatch):
    """A re-run that dies after its first seed must not leave new and old seeds mixed under a finished marker."""
    first = train.train_run(data_path, "rerun_A", FAST, seeds=[7], out_dir=tmp_path)
    before = {p.relative_to(first): p.read_bytes() for p in first.rglob("*") if p.is_file()}
    real_train_seed = train.train_seed

    def die_on_second_seed(data, config, seed_dir):
        if config.seed == 8:
            raise KeyboardInterrupt
        return real_train_seed(data, config, seed_dir)

    monkeypatch.setattr(train, "train_seed", die_on_second_seed)
    with pytest.raises(KeyboardInterrupt):
        train.train_run(data_path, "rerun_A", FAST, seeds=[7, 8], out_dir=tmp_path)
    after = {p.relative_to(first): p.read_bytes() for p in first.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rerun_A"]


def test_stale_build_of_a_killed_run_is_removed(data_path, tmp_path):
    stale = tmp_path / ".building-stale_A.12345"
    (stale / "seed_1").mkdir(parents=True)
    train.train_run(data_path, "stale_A", FAST, seeds=[7], out_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stale_A"]


# --------------------------------------------------------------------------- command line


@pytest.mark.parametrize(
    ("seeds", "message"),
    [(["-1"], "seeds=-1"), ([str(2**70)], f"seeds={2**70}"), (["1", "1"], "1 given more than once")],
    ids=["negative", "2**70", "twice"],
)
def test_bad_seeds_are_refused_before_loading_the_data(tmp_path, capsys, seeds, message):
    missing = tmp_path / "no_such.h5ad"  # never read: the seeds are checked first
    assert cli.main(["train", "--data", str(missing), "--run", "r", "--seeds", *seeds]) == 2
    assert message in one_error_line(capsys)


def test_cli_train_refuses_an_infinite_learning_rate_before_loading(tmp_path, capsys):
    assert cli.main(["train", "--data", str(tmp_path / "no_such.h5ad"), "--run", "r", "--lr", "inf"]) == 2
    assert "--lr=inf" in one_error_line(capsys)


def test_train_with_no_byte_free_is_one_line_and_leaves_no_lock(data_path, no_space):
    """The run lock's PID write failed first (ENOSPC) with a traceback, leaving an empty `runs/.R.lock`."""
    outputs = no_space / "outputs"
    env = {**os.environ, "LMNA_OUTPUTS": str(outputs), "PYTHONPATH": str(Path(lmna_scrna.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-m", "lmna_scrna.cli", "train", "--data", str(data_path), "--run", "R",
                           "--epochs", "1", "--width", "8", "--depth", "1"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == f"lmna-scrna train: error: cannot write {outputs}/runs/.R.lock: [Errno 28] No space left on device"
    assert not list(no_space.rglob("*.lock")) and not list(no_space.rglob("*building*"))
