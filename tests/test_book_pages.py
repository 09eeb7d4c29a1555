"""A page for readers: its preparation, its re-run command, tables in words, the quiet kernel, one figure style."""

from __future__ import annotations

import logging
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from _run_fixtures import fake_run
from papermill.cli import _resolve_type

from lmna_scrna import provenance
from lmna_scrna.io.study import CONDITIONS, DAYS, load_samples
from lmna_scrna.paths import PROJECT_ROOT, shown_path
from lmna_scrna.pp.splits import scheme_splits
from lmna_scrna.report import names, numbers, words
from lmna_scrna.report.book import pages
from lmna_scrna.report.results import tables
from lmna_scrna.report.runner import quiet
from lmna_scrna.report.runner.param_files import load_sweep, split_files

REPORT = {"profile": "smoke", "data_dir": "", "data_fingerprint": "0123456789abcdef", "version": "0.1.0",
          "finished": "2026-01-01T00:00:00+00:00"}


def executed_notebook() -> nbformat.NotebookNode:
    """An executed notebook as papermill leaves it: title, parameters, injected parameters, code with outputs."""
    code = nbformat.v4.new_code_cell
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 03 · Model A\n\ntext"),
        code("epochs = 40", metadata={"tags": ["parameters"]}),
        code('raw_dir = "/abs/outputs/data"', metadata={"tags": ["injected-parameters"]}),
        code("import lmna_scrna", outputs=[nbformat.v4.new_output("execute_result", data={"text/plain": "Config()"})]),
        code("train()", outputs=[nbformat.v4.new_output("stream", name="stderr", text="WARNING:tensorflow:retracing"),
                                 nbformat.v4.new_output("display_data", data={
                                     pages.WIDGET_MIME: {"model_id": "1"}, "text/plain": "parse GSMs: 0%"}),
                                 nbformat.v4.new_output("stream", name="stdout", text="result")]),
    ], metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {}}})


def test_page_removes_parameters_hides_code_drops_stderr_and_opens_with_its_header() -> None:
    nb = pages.prepare_page(executed_notebook(), "HEADER")
    kinds = [(c.cell_type, c.metadata.get("tags", [])) for c in nb.cells]
    assert kinds == [("markdown", []), ("markdown", [pages.HEADER_TAG]), ("markdown", []),
                     ("code", ["parameters", "remove-cell"]), ("code", ["injected-parameters", "remove-cell"]),
                     ("code", ["hide-cell"]), ("code", ["hide-input"])]
    assert [c.source for c in nb.cells[:3]] == ["# 03 · Model A", "HEADER", "text"]
    assert [o.get("name") for o in nb.cells[-1].outputs] == ["stdout"]
    assert "widgets" not in nb.metadata  # its rendering would fetch a script from a CDN


def test_rerun_command_gives_the_split_file_and_exactly_this_executions_overrides(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path / "outputs"))
    split_file = tmp_path / "copy" / "params" / "splits" / "dm_t16_v0.yaml"  # a copy of params/, as the tests use
    split_file.parent.mkdir(parents=True)
    split_file.write_text("scheme: day_matched\ntest_day: 16\nval_day: 0\n")
    parameters = {"scheme": "day_matched", "test_day": 16, "val_day": 0, "epochs": 4, "seeds": [42, 43],
                  "activation": "relu", "lr": 0.001, "sweep_a_file": str(PROJECT_ROOT / "params/sweeps/sweep_A.yaml")}
    entry = {"notebook": "03_train_A.ipynb", "parameters": parameters, "params_file": str(split_file)}
    real = {**REPORT, "data_dir": str(tmp_path / "real")}
    command = pages.rerun_command("train_A_dm_t16_v0", entry, real, frozenset({"raw_dir", *parameters}))
    assert all(line.startswith("    -") for line in command.splitlines()[2:]), "one option per line"
    argv = shlex.split(command.replace(" \\\n", " "))
    assert argv[:3] == ["papermill", "notebooks/03_train_A.ipynb", "outputs/notebooks/train_A_dm_t16_v0.ipynb"]
    assert argv[3:5] == ["-f", "params/splits/dm_t16_v0.yaml"]
    given: dict = {}  # what papermill's CLI makes of the options, in its own order
    for i in range(5, len(argv)):
        if argv[i] == "-p":
            given[argv[i + 1]] = _resolve_type(argv[i + 2])
        elif argv[i] == "-y":
            given.update(yaml.safe_load(argv[i + 1]))
    expected = {k: v for k, v in parameters.items() if k not in ("scheme", "test_day", "val_day")}
    assert given == {**expected, "sweep_a_file": "params/sweeps/sweep_A.yaml", "raw_dir": "real"}
    assert str(tmp_path) not in command and str(PROJECT_ROOT) not in command
    default = {**REPORT, "data_dir": str(tmp_path / "outputs" / "data" / "simulated_smoke")}
    assert "raw_dir" not in pages.rerun_command("x", entry, default, frozenset({"raw_dir"}))


def test_header_names_data_and_command_without_the_machines_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    entry = {"notebook": "06_compare.ipynb", "parameters": {}, "finished": "2026-01-02T03:04:05+00:00",
             "seconds": 8.0}
    report = {**REPORT, "data_dir": str(tmp_path / "data" / "simulated_smoke")}
    header = pages.header_markdown("compare", entry, report, "simulated", frozenset({"sim_size"}))
    assert "papermill notebooks/06_compare.ipynb \\\n    outputs/notebooks/compare.ipynb \\\n    -p sim_size smoke" in header
    assert "`outputs/data/simulated_smoke`" in header and "0123456789ab" in header and str(tmp_path) not in header
    line = pages.provenance_line(report, "simulated")
    assert "0123456789ab" in line and "0.1.0" in line and "2026-01-01" in line and "/generated/provenance" in line
    assert f"commit {provenance.commit()[:12]}" in line and provenance.cpu()["model"] in line  # the intro cites both


def test_shown_paths_are_relative_to_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path / "out"))
    assert shown_path(tmp_path / "out" / "runs" / "dm_t9_v0_A") == "outputs/runs/dm_t9_v0_A"
    assert shown_path(PROJECT_ROOT / "params" / "samples.csv") == "params/samples.csv"
    assert shown_path(tmp_path / "elsewhere" / "GSE269705") == "GSE269705"


# --------------------------------------------------------------------------- tables for people


def test_table_for_people_merges_pairs_names_columns_and_drops_the_index() -> None:
    table = pd.DataFrame({"split": ["dm_t9_v0"], "n_test": [1391.0], "test_auc_mean": [0.71], "test_auc_sd": [0.02],
                          "ci_lo": [-0.1], "ci_hi": [0.25], "gsm_correct": [1.5], "p_value": [float("nan")]},
                         index=["row label"])
    shown = words.for_people(table)
    assert list(shown.columns) == ["Split", "Test cells", "Test AUC", "95% interval over held-out days",
                                   "Test libraries right of threshold", "Exact permutation p"]
    assert shown.iloc[0].tolist() == ["test day 9, validation day 0", "1391", "0.710 ± 0.020", "\u22120.100 to +0.250", "1½",
                                      "–"]
    assert words.for_people(table.assign(ci_lo=0.1)).iloc[0, 3] == "0.100–0.250"
    html = words.show_table(table, "One row per split & model.")._repr_html_()
    assert html.startswith('<p class="table-caption"><em>One row per split &amp; model.</em></p>')
    assert "row label" not in html and "test_auc" not in html and "<th" in html
    with pytest.raises(ValueError, match="caption"):
        words.show_table(table, "")


def test_counts_thresholds_and_zero_width_intervals_read_as_numbers_people_use() -> None:
    assert [numbers.count_text(v) for v in (4.0, 4 + 1 / 3, 2 / 3, 1.5, 4.2, 0.0)] == ["4", "4⅓", "⅔", "1½", "4.2", "0"]
    table = pd.DataFrame({"threshold": [0.0000123], "auc_ci_lo": [0.0], "auc_ci_hi": [0.0], "test_auc_boot_lo": [1.0],
                          "test_auc_boot_hi": [1.0], "gsm_correct_mean": [4 / 3], "gsm_correct_sd": [0.5]})
    row = words.for_people(table).iloc[0].tolist()
    assert row == ["1.23e\u221205", "0 (at the floor)", "1 (at the ceiling)", "1⅓ ± 0.500"]


def test_splits_runs_and_pages_are_named_in_words_from_their_identity() -> None:
    assert names.split_words("dm_t16_v0") == "test day 16, validation day 0"
    assert names.split_words({"scheme": "day_matched", "test_day": 9, "val_day": 0}, short=True) == "test day 9"
    assert names.split_words("original") == "original split" and names.split_words("random_cells") == "cells at random"
    assert names.split_words("pooled leave-one-day-out") == "pooled leave-one-day-out"  # no split: its own words
    settings = {"depth": 1, "epochs": 20, "batch_size": 512, "activation": "relu", "optimizer": "adam", "model": "A"}
    assert names.run_words(settings) == "depth 1, 20 epochs, batch 512, ReLU, Adam"
    assert names.run_words(settings | {"model": "B", "loss_w_day": 0.3}).endswith("Adam, day-loss weight 0.3")
    entry = {"notebook": "03_train_A.ipynb", "split": "dm_t0_v16",
             "parameters": {"scheme": "day_matched", "test_day": 0, "val_day": 16}}
    assert names.page_title(entry) == "Model A (genotype only) — test day 0, validation day 16"
    sweep = {"notebook": "03_train_A.ipynb", "parameters": {**settings, "run_name": "sweep_code_A_d1_e20_b512_relu_adam"}}
    assert names.page_title(sweep) == "Sweep, Model A (genotype only): depth 1, 20 epochs, batch 512, ReLU, Adam"
    variant = {"notebook": "04_train_B.ipynb", "parameters": {  # its settings come from the sweep file, not parameters
        "sweep_file": str(PROJECT_ROOT / "params/sweeps/sweep_B_paper_code.yaml"), "sweep_run": "code_B_w0.1",
        "run_name": "sweep_code_B_w0.1", "epochs": 4}}
    own = load_sweep(variant["parameters"]["sweep_file"]).runs["code_B_w0.1"]  # read by the book's build
    assert names.page_title(variant, own) == "Sweep, Model B (genotype + day): day-loss weight 0.1 on the best Model A configuration"
    replicate = {"notebook": "07_calibration_replicate.ipynb", "parameters": {"scenario": "line_matched",
                                                                             "sim_seeds": [1, 2, 3]}}
    assert names.page_title(replicate) == "Calibration replicates — scenario “line matched”, simulated studies 1–3"
    assert names.page_title({"notebook": "06_compare.ipynb", "parameters": {}}) is None


def test_every_split_the_project_defines_has_words() -> None:
    """A new split file gets its words from its identity; none is shown by its code name."""
    for name in [*split_files(), *(s.name for s in scheme_splits(load_samples()))]:
        shown = names.split_words(name)
        assert "_" not in shown and shown != name, name


def test_every_column_of_the_report_tables_has_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    for i, split in enumerate([*tables.report_splits(), tables.default_leakage_split()]):
        fake_run(f"{split}_A", 0.1 * i - 0.2)
        fake_run(f"{split}_B", 0.1 * i, model="B")
    shown = [tables.table1(tables.report_splits()), tables.lodo_summary(tables.report_splits()),
             tables.leakage_ladder(),
             tables.baseline_comparison(tables.report_splits()), tables.sweep_table(["dm_t19_v0_A", "dm_t19_v0_B"]),
             tables.sweep_for_page(tables.sweep_table(["dm_t19_v0_A", "dm_t19_v0_B"]))]
    for table in shown:
        unnamed = [c for c in words.for_people(table).columns if c not in words.LABELS.values()]
        assert not unnamed, f"columns without words: {unnamed}"


# --------------------------------------------------------------------------- a quiet kernel and terminal


def test_notebook_logging_sends_logs_warnings_and_stderr_to_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log_file = tmp_path / "train.log"
    monkeypatch.setenv(quiet.LOG_ENV, str(log_file))
    monkeypatch.setattr(sys, "stderr", sys.stderr)  # restored after the test
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        assert quiet.notebook_logging() == log_file
        logging.getLogger("lmna_scrna.test").info("an info line")
        logging.getLogger("tensorflow").warning("5 out of the last 9 calls triggered tf.function retracing")
        warnings.warn("a library warning", FutureWarning, stacklevel=1)
        print("printed to stderr", file=sys.stderr)
        sys.stderr.flush()
    finally:
        logging.captureWarnings(False)
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    text = log_file.read_text()
    for line in ("an info line", "retracing", "a library warning", "printed to stderr"):
        assert line in text


def test_fds_to_catches_a_child_process_output(tmp_path: Path) -> None:
    log_file = tmp_path / "kernel.log"
    with quiet.fds_to(log_file):
        subprocess.run([sys.executable, "-c", "import os; os.write(2, b'E0000 cuInit failed\\n'); print('out')"],
                       check=True)
    assert log_file.read_text().splitlines() == ["E0000 cuInit failed", "out"]


# --------------------------------------------------------------------------- one figure style


def test_pl_styles_on_request_not_on_import_and_palettes_cover_every_label() -> None:
    code = ("import matplotlib; matplotlib.rcParams['font.size'] = 3; import lmna_scrna.pl as pl; "
            "print(matplotlib.rcParams['font.size']); pl.set_style(); print(matplotlib.rcParams['font.size'])")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    import lmna_scrna.pl as pl

    assert shown == ["3.0", str(float(pl.style.RC_PARAMS["font.size"]))]  # a user's own setting survives the import
    assert set(pl.GENOTYPE_COLORS) == set(CONDITIONS) and set(pl.DAY_COLORS) == set(DAYS)
    assert len(set(pl.DAY_COLORS.values())) == len(DAYS)
