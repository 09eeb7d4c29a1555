"""03_train_A and 04_train_B execute under papermill on a small processed split and write their runs."""

from __future__ import annotations

import json

import papermill as pm
import pytest
from _processed_fixtures import make_processed

from lmna_scrna.paths import PROJECT_ROOT

FAST = {"width": 16, "depth": 1, "epochs": 2, "batch_size": 64, "seeds": [3]}


@pytest.mark.slow
@pytest.mark.parametrize("notebook, model", [("03_train_A", "A"), ("04_train_B", "B")])
def test_training_notebook_runs_and_writes_the_run(notebook, model, tmp_path, monkeypatch):
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))  # inherited by the kernel
    make_processed(tmp_path / "processed" / "tiny.h5ad", n_cells=600, n_genes=30, signal=2.0)
    out = tmp_path / f"{notebook}.ipynb"
    pm.execute_notebook(
        PROJECT_ROOT / "notebooks" / f"{notebook}.ipynb", out, kernel_name="python3", progress_bar=False,
        parameters={"data_path": str(tmp_path / "processed" / "tiny.h5ad"), "run_name": f"tiny_{model}", **FAST},
        cwd=PROJECT_ROOT / "notebooks",
    )
    run_dir = tmp_path / "runs" / f"tiny_{model}"
    assert json.loads((run_dir / "config.json").read_text())["model"] == model
    assert (run_dir / "summary.json").is_file() and (tmp_path / "figures" / f"tiny_{model}" / "roc.png").is_file()
    text = out.read_text()
    assert "Test genotype ROC-AUC" in text and "image/png" in text


@pytest.mark.slow
def test_missing_processed_file_fails_with_the_command_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    with pytest.raises(pm.PapermillExecutionError, match="papermill notebooks/01_prepare.ipynb"):
        pm.execute_notebook(
            PROJECT_ROOT / "notebooks" / "03_train_A.ipynb", tmp_path / "out.ipynb", kernel_name="python3",
            progress_bar=False, parameters={"test_day": 16, "val_day": 9}, cwd=PROJECT_ROOT / "notebooks",
        )
