"""A throw-away project for the plan and runner tests: tiny notebooks tagged like the project's, split files, a profile."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml

from lmna_scrna.report.runner import execute as executor, ledger, plan

WRITE_CELL = """
import time
from lmna_scrna.paths import outputs_dir
out = outputs_dir() / "written"
out.mkdir(parents=True, exist_ok=True)
t0 = time.time()
time.sleep(pause)
(out / f"{tag}.json").write_text(json.dumps({"value": value, "test_day": test_day, "start": t0, "end": time.time()}))
"""

#: A notebook that publishes like the train notebooks: a run folder swapped in whole, and a table.
PUBLISH_CELL = """
from lmna_scrna.atomic import write_text_atomic
from lmna_scrna.paths import outputs_dir, run_dir
from lmna_scrna.tl.runs import building
with building(run_dir(tag)) as work:
    (work / "config.json").write_text(json.dumps({"value": value}))
    (work / "summary.json").write_text(json.dumps({"auc": value / 10}))
write_text_atomic(outputs_dir() / "tables" / f"{tag}.csv", f"value\\n{value}\\n")
"""


def make_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook whose first cell is tagged `parameters` (as every project notebook)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(cells[0], metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(src) for src in cells[1:]]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


PARAMS = 'import json\ntag = "t"\nvalue = 0\nsplit = "day_matched"\ntest_day = 9\nval_day = 0\npause = 0.0\nraw_dir = None\nrun_name = None\n'


#: Test day of each throwaway split file: a → dm_t9_v0, b → dm_t16_v0.
DAYS = {"a": 9, "b": 16}


def split_file(split: str, value: int) -> dict:
    return {"scheme": "day_matched", "test_day": DAYS[split], "val_day": 0, "value": value}


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throw-away project: notebooks, split parameter files, a profile, raw data, outputs."""
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path / "outputs"))
    # The library's source is an input of every key; pin it so edits elsewhere cannot disturb these tests.
    monkeypatch.setattr(ledger, "library_fingerprint", lambda: "library")
    monkeypatch.setattr(executor, "library_fingerprint", lambda: "library")
    make_notebook(tmp_path / "notebooks" / "write.ipynb", [PARAMS, WRITE_CELL])
    make_notebook(tmp_path / "notebooks" / "publish.ipynb", [PARAMS, PUBLISH_CELL])
    make_notebook(tmp_path / "notebooks" / "fail.ipynb", [PARAMS, "x = 1", "raise ValueError('boom in cell 2')"])
    for split, value in (("a", 1), ("b", 2)):
        write_yaml(tmp_path / "params" / "splits" / f"{split}.yaml", split_file(split, value))
    write_profile(tmp_path, [])
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "counts.txt").write_text("raw data")
    return tmp_path


def write_yaml(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_profile(root: Path, extra: list[dict], pause: float = 0.0) -> Path:
    """prepare a/b → train a/b → compare, plus `extra` executions."""
    executions = [
        {"id": f"prepare_{s}", "notebook": "write", "stage": "prepare", "params_file": f"../splits/{s}.yaml",
         "parameters": {"tag": f"prepare_{s}"}}
        for s in ("a", "b")
    ] + [
        {"id": f"train_{s}", "notebook": "write", "stage": "train", "params_file": f"../splits/{s}.yaml",
         "parameters": {"tag": f"train_{s}"}}
        for s in ("a", "b")
    ] + [{"id": "compare", "notebook": "write", "stage": "compare", "parameters": {"tag": "compare", "value": 99}}]
    spec = {"sim_size": "smoke", "parameters": {"pause": pause}, "executions": executions + extra}
    return write_yaml(root / "params" / "profiles" / "test.yaml", spec)


def load(root: Path) -> plan.Profile:
    return plan.load_profile(root / "params" / "profiles" / "test.yaml", notebooks_dir=root / "notebooks")
