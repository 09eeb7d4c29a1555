"""The options taken from the paper's code, end to end on tiny data: CNN backbone, per-layer widths,
rmsprop, MSE genotype loss, a fixed threshold, the raw matrix set, and the sweep as the code ran it."""

from __future__ import annotations

import dataclasses
import json

import anndata as ad
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from _processed_fixtures import make_processed  # noqa: E402
from _tenx_fixtures import SMALL_PARAMS, Written, write_library, write_study  # noqa: E402
from sklearn.metrics import brier_score_loss, roc_auc_score  # noqa: E402

from lmna_scrna import cli  # noqa: E402
from lmna_scrna.config import PrepParams, TrainConfig  # noqa: E402
from lmna_scrna.errors import InputError  # noqa: E402
from lmna_scrna.io.study import load_samples  # noqa: E402
from lmna_scrna.paths import params_dir  # noqa: E402
from lmna_scrna.pp.assemble import prepare_split  # noqa: E402
from lmna_scrna.pp.splits import make_split  # noqa: E402
from lmna_scrna.report.results import paper, tables  # noqa: E402
from lmna_scrna.report.runner import plan  # noqa: E402
from lmna_scrna.tl import train  # noqa: E402
from lmna_scrna.tl.runs import load_run  # noqa: E402


@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    return make_processed(tmp_path_factory.mktemp("data") / "tiny.h5ad", n_cells=360, n_genes=20, signal=2.0)


def test_cli_trains_the_cnn_with_per_layer_widths_and_rmsprop(data_path, tmp_path, monkeypatch):
    """The issue's acceptance command, on a tiny split and one epoch."""
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    args = ["train", "--data", str(data_path), "--run", "cnn", "--arch", "cnn", "--widths", "512,256",
            "--optimizer", "rmsprop", "--epochs", "1", "--conv-filters", "4", "--kernel-size", "3"]
    assert cli.main(args) == 0
    config = json.loads((tmp_path / "runs" / "cnn" / "config.json").read_text())
    assert (config["arch"], config["optimizer"], config["widths"]) == ("cnn", "rmsprop", [512, 256])
    assert config["layer_widths"] == [512, 256] and config["conv_filters"] == 4 and config["threshold"] is None
    assert (tmp_path / "runs" / "cnn" / "summary.json").is_file()


def test_cli_refuses_bad_widths_and_names_a_bad_architecture(data_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    base = ["train", "--data", str(data_path), "--run", "x", "--epochs", "1"]
    with pytest.raises(SystemExit) as exit_:
        cli.main([*base, "--widths", "512,big"])
    assert exit_.value.code == 2 and "512,big" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # argparse refuses it from the listed choices, before any work
        cli.main([*base, "--arch", "rnn"])
    assert exit_.value.code == 2 and "--arch: invalid choice: 'rnn'" in capsys.readouterr().err
    assert cli.main([*base, "--threshold", "2"]) == 2
    assert "--threshold=2.0" in capsys.readouterr().err


def test_model_b_with_the_cnn_mse_loss_and_a_fixed_threshold(data_path, tmp_path):
    """Every new option at once on Model B: the day head still trains, losses are exact, the threshold is fixed."""
    config = TrainConfig(model="B", arch="cnn", conv_filters=4, kernel_size=3, pool_size=2, widths=(8,),
                         head_width=4, loss_geno="mean_squared_error", threshold=0.6, epochs=2, batch_size=64,
                         loss_w_day=0.5)
    run = load_run(train.train_run(data_path, "b_all", config, seeds=[5], out_dir=tmp_path))
    metrics, pred = run["metrics"][5], run["predictions"]
    assert metrics["threshold"] == 0.6 and metrics["threshold_rule"] == "fixed"
    assert run["baseline"]["threshold"] == 0.6 and run["baseline"]["threshold_rule"] == "fixed"
    assert metrics["test_geno_loss"] == pytest.approx(brier_score_loss(pred["y_true"], pred["p_geno"]), rel=1e-12)
    assert metrics["test_combined_loss"] == pytest.approx(metrics["test_geno_loss"] + 0.5 * metrics["test_day_loss"])
    assert "day_acc" in metrics and {"p_day_0", "z_day_30"} <= set(pred.columns)
    assert metrics["test_auc"] == pytest.approx(roc_auc_score(pred["y_true"], pred["p_geno"]))
    assert 0.0 <= metrics["test_auc_keras"] <= 1.0  # what the paper's code would have reported, kept beside it
    assert run["config"]["loss_geno"] == "mean_squared_error" and run["config"]["layer_widths"] == [8]


def test_keras_auc_lumps_confident_outputs_that_the_exact_auc_ranks():
    """Confident outputs beyond Keras' outermost thresholds tie in one bin: the exact AUC still ranks them."""
    y = np.array([0, 0, 1, 1] * 25)
    p = np.where(y == 1, 0.9996, 0.9990) + np.linspace(0, 1e-5, len(y))  # every cell above 0.995, perfectly ranked
    assert roc_auc_score(y, p) == 1.0
    assert train.keras_auc(y, p) == pytest.approx(0.5, abs=0.01)
    assert np.isnan(train.keras_auc(np.zeros(4), np.full(4, 0.3)))


# ------------------------------------------------------------------ the raw matrix set


@pytest.fixture(scope="module")
def raw_and_filtered(tmp_path_factory):
    """Each GSM as GEO ships it: its filtered cells, and a raw set holding them plus near-empty droplets."""
    folder, sheet = tmp_path_factory.mktemp("study"), load_samples()
    written = write_study(folder, sheet)
    rng = np.random.default_rng(0)
    for row in sheet.itertuples(index=False):
        c = written[row.gsm]
        empties = sp.csr_matrix(rng.poisson(0.002, size=(40, c.X.shape[1])).astype(np.int32))
        barcodes = np.concatenate([c.barcodes, [f"EMPTY{i:07d}-1" for i in range(40)]])
        library = Written(X=sp.vstack([c.X, empties]).tocsr(), barcodes=barcodes, ids=c.gene_ids,
                          symbols=c.gene_symbols, types=np.full(len(c.gene_ids), "Gene Expression"), paths=[])
        write_library(folder, library, row.gsm, matrix_kind="raw", middle=f"{row.condition}_day{row.day}{row.replicate}")
    return folder, sheet


def test_prepare_reads_the_raw_set_when_asked_and_qc_removes_its_empty_droplets(raw_and_filtered, tmp_path):
    folder, sheet = raw_and_filtered
    split = make_split("day_matched", sheet, test_day=19, val_day=0)
    raw_params = dataclasses.replace(SMALL_PARAMS, matrix_kind="raw")
    filtered = ad.read_h5ad(prepare_split(folder, split, sheet, SMALL_PARAMS, tmp_path / "f.h5ad", tmp_path / "c"))
    raw = ad.read_h5ad(prepare_split(folder, split, sheet, raw_params, tmp_path / "r.h5ad", tmp_path / "c"))
    assert raw.uns["params"]["matrix_kind"] == "raw" and filtered.uns["params"]["matrix_kind"] == "filtered"
    assert not raw.obs_names.str.contains("EMPTY").any()  # near-empty droplets fail min_genes
    assert list(raw.obs_names) == list(filtered.obs_names)
    assert (raw.X != filtered.X).nnz == 0  # the same cells, normalised alike
    assert raw.uns["fingerprint"] != filtered.uns["fingerprint"]  # another input set, another identity
    assert len(list((tmp_path / "c").glob("*.h5"))) == 2 * len(sheet)  # the two sets are cached apart


def test_cli_prepare_takes_kind_and_a_missing_raw_set_names_it(raw_and_filtered, tmp_path, capsys):
    folder, _ = raw_and_filtered
    out = tmp_path / "r.h5ad"
    args = ["prepare", "--raw", str(folder), "--scheme", "day_matched", "--test-day", "19", "--val-day", "0",
            "--out", str(out), "--cache", str(tmp_path / "c"), "--matrix-kind", "raw", "--min-genes", "60",
            "--max-genes", "320", "--min-cells-per-gene", "5", "--n-hvg", "60"]
    assert cli.main(args) == 0
    assert ad.read_h5ad(out).uns["params"]["matrix_kind"] == "raw"
    only_filtered = tmp_path / "filtered_only"
    write_study(only_filtered, load_samples(), n_cells=40)
    args[2] = str(only_filtered)
    assert cli.main(args) == 2
    assert "no raw 10x files" in capsys.readouterr().err


def test_prep_params_refuse_an_unknown_matrix_set():
    PrepParams(matrix_kind="raw").check()
    with pytest.raises(InputError, match="PrepParams.matrix_kind='cellbender'"):
        PrepParams(matrix_kind="cellbender").check()


# ------------------------------------------------------------------ the sweep as the code ran it


def test_paper_code_sweep_shares_dropout_0_and_the_head_layer_and_the_report_runs_it():
    sweep = plan.load_sweep(params_dir() / "sweeps" / "sweep_A_paper_code.yaml")
    text = plan.load_sweep(params_dir() / "sweeps" / "sweep_A.yaml")
    assert sweep.protocol == {"dropout": 0.0, "head_width": 256} and text.protocol == {}
    assert all(r["dropout"] == 0.0 and r["head_width"] == 256 for r in sweep.runs.values())
    strip = {name.removeprefix("code_"): {k: v for k, v in r.items() if k not in sweep.protocol}
             for name, r in sweep.runs.items()}
    assert strip == text.runs  # the same six runs, under the other protocol
    for profile in ("smoke", "full"):
        steps = plan.load_profile(profile).by_id()
        sweep_steps = [e for e in steps.values() if e.id.startswith("sweep_code_A_")]
        assert len(sweep_steps) == 6 and not any(e.id.startswith("sweep_A_") for e in steps.values())
        assert all(e.parameters["dropout"] == 0.0 and e.parameters["head_width"] == 256 for e in sweep_steps)
        assert steps["hyperparameter_sweep"].parameters["sweep_b_file"].endswith("sweep_B_paper_code.yaml")
    assert plan.load_sweep(params_dir() / "sweeps" / "sweep_B_paper_code.yaml").builds_on == sweep.path  # its Model A
    assert plan.load_sweep(params_dir() / "sweeps" / "sweep_B.yaml").builds_on == text.path


def test_a_run_overrides_the_sweep_protocol(tmp_path):
    (tmp_path / "split.yaml").write_text("scheme: day_matched\ntest_day: 19\nval_day: 0\n")
    (tmp_path / "s.yaml").write_text("params_file: split.yaml\nprotocol: {dropout: 0.0}\n"
                                     "runs: {a: {}, b: {dropout: 0.2}}\n")
    assert plan.load_sweep(tmp_path / "s.yaml").runs == {"a": {"dropout": 0.0}, "b": {"dropout": 0.2}}
    (tmp_path / "bad.yaml").write_text("params_file: split.yaml\nprotocol: [1]\nruns: {a: {}}\n")
    with pytest.raises(InputError, match="protocol"):
        plan.load_sweep(tmp_path / "bad.yaml")


def _sweep_rows(dropout: float, head_width: int) -> pd.DataFrame:
    paper2 = paper.paper_table2()
    rows = paper2.loc[[0, 3, 5], list(paper.TABLE2_SETTINGS)].assign(
        run=lambda t: "sweep_code_" + paper2.loc[t.index, "run"], test_auc_mean=[0.8, 0.9, 0.7],
        test_acc_mean=0.75, dropout=dropout, head_width=head_width)
    return rows.reset_index(drop=True)


def test_table2_beside_the_paper_matches_runs_on_their_settings():
    beside = paper.beside_paper_table2(_sweep_rows(0.0, 256), "simulated")
    assert len(beside) == 6 and beside["paper AUC (real data)"].tolist()[:2] == [0.907, 0.913]
    matched = beside.dropna(subset=["this build AUC (simulated data)"])
    assert matched["run"].tolist() == ["A_d1_e20_b128_relu_adam", "A_d1_e20_b512_relu_adam", "A_d1_e20_b128_relu_sgd"]
    assert matched["this build AUC (simulated data)"].tolist() == [0.8, 0.9, 0.7]
    assert matched["this build's run (simulated data)"].str.startswith("sweep_code_").all()


def test_the_page_names_the_protocol_from_the_runs_themselves():
    assert paper.protocol_words(_sweep_rows(0.0, 256)).startswith("the paper code's protocol (dropout 0, extra head")
    assert paper.protocol_words(_sweep_rows(0.3, 0)).startswith("the paper text's protocol (dropout 0.3, no extra")
    assert paper.protocol_words(_sweep_rows(0.3, 256)).startswith("neither")


def test_sweep_table_and_keras_gap_read_the_runs(data_path, tmp_path, monkeypatch):
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    tables._load.cache_clear()
    config = TrainConfig(width=8, depth=1, epochs=2, batch_size=64, dropout=0.0, head_width=4)
    train.train_run(data_path, "sweep_code_tiny", config, seeds=[3])
    row = tables.sweep_table(["sweep_code_tiny"]).iloc[0]
    assert (row["dropout"], row["head_width"]) == (0.0, 4)
    gap = tables.keras_auc_gap(["sweep_code_tiny"]).iloc[0]
    assert gap["keras_minus_exact"] == pytest.approx(gap["test_auc_keras"] - gap["test_auc"])
    assert gap["val_auc_exact_lo"] <= gap["val_auc_exact_hi"] and 1 <= gap["best_epoch_keras"] <= 2
    assert tables.train_config("sweep_code_tiny") == dataclasses.replace(config, seed=42)


@pytest.mark.slow
def test_sweep_notebook_puts_table2_beside_the_paper_and_names_the_protocol(tmp_path, monkeypatch):
    """04_train_B as a run of the Model B sweep, then 05_sweep, under papermill on two tiny paper-protocol runs."""
    import papermill as pm

    from lmna_scrna.paths import PROJECT_ROOT

    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    tables._load.cache_clear()
    data = make_processed(tmp_path / "processed" / "dm_t19_v0.h5ad", n_cells=360, n_genes=20, signal=2.0)
    split = params_dir() / "splits" / "dm_t19_v0.yaml"
    runs = {"code_A_d1_e20_b128_relu_adam": {"optimizer": "adam"}, "code_A_d1_e20_b128_relu_sgd": {"optimizer": "sgd"}}
    (tmp_path / "a.yaml").write_text(json.dumps({"params_file": str(split), "protocol": {"dropout": 0.0, "head_width": 4},
                                                 "runs": {k: {"depth": 1, **v} for k, v in runs.items()}}))
    (tmp_path / "b.yaml").write_text(json.dumps({"params_file": str(split), "builds_on": "a.yaml",
                                                 "runs": {"code_B_w0.3": {"model": "B"}}}))
    for name, overrides in runs.items():  # what the sweep's 03_train_A executions write (settings as in Table 2)
        config = TrainConfig(width=8, depth=1, epochs=20, patience=1, batch_size=128, dropout=0.0, head_width=4,
                             **overrides)  # patience 1: the tiny split stops after a few of its 20 epochs
        train.train_run(data, plan.sweep_run_name(name), config, seeds=[42])
    pm.execute_notebook(PROJECT_ROOT / "notebooks" / "04_train_B.ipynb", tmp_path / "04.ipynb", kernel_name="python3",
                        progress_bar=False, cwd=PROJECT_ROOT / "notebooks",
                        parameters={"sweep_file": str(tmp_path / "b.yaml"), "sweep_run": "code_B_w0.3",
                                    "run_name": "sweep_code_B_w0.3", "seeds": [42]})  # as the report's plan gives them
    b_config = json.loads((tmp_path / "runs" / "sweep_code_B_w0.3" / "config.json").read_text())
    tables._load.cache_clear()
    best = tables.sweep_base(plan.load_sweep(tmp_path / "b.yaml"))
    assert {k: b_config[k] for k in ("model", "optimizer", "dropout", "head_width")} == {
        "model": "B", "optimizer": tables.finished_run(best)["config"]["optimizer"], "dropout": 0.0, "head_width": 4}
    out = tmp_path / "05.ipynb"
    pm.execute_notebook(PROJECT_ROOT / "notebooks" / "05_sweep.ipynb", out, kernel_name="python3", progress_bar=False,
                        parameters={"sweep_b_file": str(tmp_path / "b.yaml")}, cwd=PROJECT_ROOT / "notebooks")
    text = out.read_text()
    assert "the paper code&#x27;s protocol" in text or "the paper code's protocol" in text
    assert "Paper: test AUC (real data)" in text and "Keras" in text
    assert "this build AUC" in text and "Configuration" in text
    assert text.count("depth 1, 20 epochs, batch 128, ReLU, SGD") >= 2  # in words: Table 2, and matched beside the paper
    assert "One row per day-loss weight" in text  # 05 reads the Model B run it did not train


@pytest.mark.slow
def test_training_notebook_passes_the_code_options_to_model_b(data_path, tmp_path, monkeypatch):
    import papermill as pm

    from lmna_scrna.paths import PROJECT_ROOT

    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    options = {"arch": "cnn", "widths": [8, 4], "conv_filters": 2, "kernel_size": 3, "pool_size": 2,
               "optimizer": "rmsprop", "loss_geno": "mean_squared_error", "threshold": 0.6}
    pm.execute_notebook(PROJECT_ROOT / "notebooks" / "04_train_B.ipynb", tmp_path / "04.ipynb", kernel_name="python3",
                        progress_bar=False, cwd=PROJECT_ROOT / "notebooks",
                        parameters={"data_path": str(data_path), "run_name": "nb_B", "epochs": 1, "seeds": [3], **options})
    config = json.loads((tmp_path / "runs" / "nb_B" / "config.json").read_text())
    assert {k: config[k] for k in options} == options and config["model"] == "B"
    text = (tmp_path / "04.ipynb").read_text()
    assert "the fixed threshold 0.6" in text and "mean squared error" in text


@pytest.mark.slow
def test_prepare_notebook_reads_the_raw_set(raw_and_filtered, tmp_path, monkeypatch):
    import papermill as pm

    from lmna_scrna.paths import PROJECT_ROOT

    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    folder, _ = raw_and_filtered
    small = {k: v for k, v in SMALL_PARAMS.to_dict().items() if k != "matrix_kind"}
    pm.execute_notebook(PROJECT_ROOT / "notebooks" / "01_prepare.ipynb", tmp_path / "01.ipynb", kernel_name="python3",
                        progress_bar=False, cwd=PROJECT_ROOT / "notebooks",
                        parameters={"raw_dir": str(folder), "out_path": str(tmp_path / "r.h5ad"), "matrix_kind": "raw",
                                    **small})
    assert ad.read_h5ad(tmp_path / "r.h5ad").uns["params"]["matrix_kind"] == "raw"
