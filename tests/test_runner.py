"""The papermill runner (report/ledger.py, report/execute.py) on tiny throwaway notebooks (`_runner_fixtures`):
content keys, re-running only dependents, the failure path, and the process-pool and Dask executors."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
import yaml
from _runner_fixtures import PARAMS, load, make_notebook, project, split_file, write_profile, write_yaml  # noqa: F401 (project: a fixture)

from lmna_scrna.report.runner import execute as executor, ledger, task


def execute(root: Path, **kwargs) -> list[str]:
    return [o.id for o in executor.execute_profile(load(root), root / "raw", **kwargs)]


def written(root: Path, tag: str) -> dict:
    return json.loads((root / "outputs" / "written" / f"{tag}.json").read_text())





def test_keys_chain_through_dependencies_and_context(project: Path) -> None:
    profile = load(project)
    keys = ledger.execution_keys(profile, "context 1")
    assert len(set(keys.values())) == len(keys)
    assert ledger.execution_keys(profile, "context 1") == keys
    assert set(ledger.execution_keys(profile, "context 2").values()).isdisjoint(keys.values())
    write_yaml(project / "params/splits/a.yaml", split_file("a", 3))
    changed = ledger.execution_keys(load(project), "context 1")
    assert {k for k in keys if keys[k] != changed[k]} == {"prepare_a", "train_a", "compare"}


# --------------------------------------------------------------------------- cache and execution


def test_second_run_skips_and_param_change_reruns_only_dependents(project: Path) -> None:
    assert sorted(execute(project)) == ["compare", "prepare_a", "prepare_b", "train_a", "train_b"]
    assert written(project, "train_b") == pytest.approx({**written(project, "train_b"), "value": 2, "test_day": 16})
    assert (project / "outputs/notebooks/train_b.ipynb").is_file()

    assert execute(project) == []

    write_yaml(project / "params/splits/b.yaml", split_file("b", 5))
    assert sorted(execute(project)) == ["compare", "prepare_b", "train_b"]
    assert written(project, "prepare_b")["value"] == 5
    record = ledger.load_ledger()
    assert record["report"]["executed"] and set(record["executions"]) == set(record["report"]["executions"])


def test_failure_names_cell_keeps_partial_and_last_good(project: Path) -> None:
    execute(project)
    good = (project / "outputs/notebooks/train_a.ipynb").read_text()
    spec = yaml.safe_load((project / "params/profiles/test.yaml").read_text())
    spec["executions"][2]["notebook"] = "fail"  # train_a now fails in its second cell
    write_yaml(project / "params/profiles/test.yaml", spec)

    with pytest.raises(executor.NotebookFailed) as info:
        execute(project)
    message = str(info.value)
    assert "train_a.failed.ipynb" in message and "ValueError: boom in cell 2" in message
    assert "cell 3" in message  # papermill's injected-parameters cell comes before the failing one
    assert "not started" in message  # compare waits for train_a and never starts
    assert "its log: " in message and (project / "outputs/notebooks/train_a.log").is_file()
    partial = nbformat.read(project / "outputs/notebooks/train_a.failed.ipynb", as_version=4)
    assert any(o.get("ename") == "ValueError" for c in partial.cells for o in c.get("outputs", []))
    assert (project / "outputs/notebooks/train_a.ipynb").read_text() == good
    assert not list((project / "outputs/notebooks").glob(".*running*"))


def test_jobs_2_runs_independent_notebooks_at_once(project: Path) -> None:
    write_profile(project, [], pause=3.0)
    spec = yaml.safe_load((project / "params/profiles/test.yaml").read_text())
    spec["executions"] = spec["executions"][:2]  # the two independent prepare executions
    write_yaml(project / "params/profiles/test.yaml", spec)
    start = time.perf_counter()
    assert sorted(execute(project, jobs=2)) == ["prepare_a", "prepare_b"]
    a, b = written(project, "prepare_a"), written(project, "prepare_b")
    assert a["start"] < b["end"] and b["start"] < a["end"], "the two notebooks did not overlap"
    assert time.perf_counter() - start > 3.0


@pytest.fixture()
def dask_cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        yield cluster


def test_dask_scheduler_executes_the_plan(project: Path, dask_cluster) -> None:
    ran = execute(project, scheduler=dask_cluster.scheduler_address)
    assert sorted(ran) == ["compare", "prepare_a", "prepare_b", "train_a", "train_b"]
    assert written(project, "compare")["value"] == 99
    assert execute(project, scheduler=dask_cluster.scheduler_address) == []


NOISY_CELL = """
import logging, os, sys, warnings
from lmna_scrna.report.runner.quiet import notebook_logging
notebook_logging()
os.write(2, b"E0000 failed call to cuInit\\n")  # what TensorFlow's C++ side writes
logging.getLogger("lmna_scrna.x").info("an info line")
warnings.warn("a library warning", FutureWarning)
from tqdm.auto import tqdm
for _ in tqdm(range(3), desc="a progress bar"):
    pass
print("a result")
"""


def test_kernel_and_library_noise_goes_to_the_log_not_the_notebook(project: Path) -> None:
    make_notebook(project / "notebooks" / "noisy.ipynb", [PARAMS, NOISY_CELL])
    write_profile(project, [{"id": "noisy", "notebook": "noisy", "stage": "compare"}])
    execute(project)
    nb = nbformat.read(project / "outputs/notebooks/noisy.ipynb", as_version=4)
    streams = [(o["name"], o["text"]) for c in nb.cells for o in c.get("outputs", []) if o["output_type"] == "stream"]
    assert streams == [("stdout", "a result\n")]
    assert not [o for c in nb.cells for o in c.get("outputs", []) if "a progress bar" in str(o)]
    log = (project / "outputs/notebooks/noisy.log").read_text()
    for line in ("E0000 failed call to cuInit", "an info line", "a library warning", "Kernel is running over TCP"):
        assert line in log


@pytest.fixture
def own_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`execute_task` sets the environment and working directory of the process it runs in (a pool worker's):
    run in this one, then put both back."""
    saved = dict(os.environ)
    monkeypatch.chdir(tmp_path)
    yield
    os.environ.clear()
    os.environ.update(saved)


def _kernel_dies_first(monkeypatch: pytest.MonkeyPatch, deaths: int, cell_started: bool = False) -> list[int]:
    """papermill as it behaves when another process takes a kernel's port: the partial notebook is written, then
    nbclient gives up waiting for the kernel's first reply; after `deaths` such starts, papermill itself."""
    import papermill

    real, calls = papermill.execute_notebook, []

    def execute(source: str, output: str, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) > deaths:
            return real(source, output, **kwargs)
        nb = nbformat.read(source, as_version=4)
        if cell_started:
            nb.cells[0].metadata["papermill"] = {"start_time": "2026-12-07T00:00:00"}
        nbformat.write(nb, output)
        raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    return calls


def _task(tmp_path: Path) -> task.Task:
    notebook = make_notebook(tmp_path / "notebooks" / "one.ipynb", [PARAMS, "x = value + 1"])
    return task.Task(id="one", source=str(notebook), output=str(tmp_path / "outputs" / "one.ipynb"),
                     parameters={"value": 1}, cwd=str(notebook.parent), env={})


def test_a_kernel_that_dies_before_any_cell_is_started_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            own_process: None) -> None:
    calls = _kernel_dies_first(monkeypatch, deaths=1)
    outcome = task.execute_task(_task(tmp_path))
    assert outcome.ok and len(calls) == 2, outcome.error
    assert "the kernel died before it started" in Path(outcome.log).read_text()
    assert not (tmp_path / "outputs" / "one.failed.ipynb").exists()


@pytest.mark.parametrize(("deaths", "cell_started", "starts"), [(9, False, task.KERNEL_START_TRIES), (9, True, 1)])
def test_a_kernel_is_started_again_only_while_no_cell_ran_and_only_so_often(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_process: None, deaths: int, cell_started: bool,
        starts: int) -> None:
    calls = _kernel_dies_first(monkeypatch, deaths=deaths, cell_started=cell_started)
    outcome = task.execute_task(_task(tmp_path))
    assert not outcome.ok and len(calls) == starts
    assert outcome.error == "RuntimeError: Kernel died before replying to kernel_info"
    assert Path(outcome.notebook).name == "one.failed.ipynb"
