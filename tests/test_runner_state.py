"""The report's own state (report/runner/ledger.py): a ledger that cannot lie, on real executions of tiny notebooks
(`_runner_fixtures`). A cut executed notebook, a damaged ledger and a notebook run by hand beside the report
each make the runner re-check and re-run, rather than trust or die."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from _runner_fixtures import load, project, write_profile  # noqa: F401 (project: a fixture)

from lmna_scrna.report.runner import execute as executor, ledger

ALL = ["compare", "prepare_a", "prepare_b", "run_a", "train_a", "train_b"]
PLAIN = [i for i in ALL if i != "run_a"]  # the fixture's profile, without `publishing`


def execute(root: Path, **kwargs) -> list[str]:
    return sorted(o.id for o in executor.execute_profile(load(root), root / "raw", **kwargs))


def publishing(root: Path) -> Path:
    """The fixture's profile plus `run_a`, a training-stage notebook that publishes a run folder and a table."""
    write_profile(root, [{"id": "run_a", "notebook": "publish", "stage": "train", "params_file": "../splits/a.yaml",
                          "parameters": {"tag": "run_a", "value": 3}}])
    return root


def hand_run(notebook: Path, **values: object) -> None:
    """Execute a notebook as a person does in Jupyter: nbclient, its own defaults overridden in the first cell."""
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    nb.cells[0].source += "".join(f"\n{name} = {value!r}" for name, value in values.items())
    NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(notebook.parent)}}).execute()


def cli(outputs: Path, *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LMNA_OUTPUTS": str(outputs)}
    return subprocess.run([sys.executable, "-m", "lmna_scrna.cli", *argv], env=env, cwd=cwd, capture_output=True,
                          text=True, check=False, timeout=300)


# --------------------------------------------------------------------------- executed notebooks


def test_a_cut_executed_notebook_is_not_fresh(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    publishing(project)
    assert execute(project) == ALL
    notebook = project / "outputs/notebooks/compare.ipynb"
    notebook.write_bytes(notebook.read_bytes()[:300])
    with caplog.at_level(logging.WARNING):
        assert execute(project) == ["compare"]
    assert "compare runs again: its executed notebook outputs/notebooks/compare.ipynb is cut or unreadable" in caplog.text
    assert ledger.notebook_problem(notebook) is None


def test_an_executed_notebook_must_be_one_papermill_finished(project: Path) -> None:
    execute(project)
    notebook = project / "outputs/notebooks/train_a.ipynb"
    good = notebook.read_text()
    damages = {
        "is cut or unreadable (NotJSONError)": "garbage {",
        "was not finished by papermill": good.replace('"end_time": "', '"end_time": "", "x": "'),
        "has a code cell that did not run": good.replace('"execution_count": 2', '"execution_count": null'),
    }
    for problem, text in damages.items():
        copy = project / "damaged.ipynb"
        copy.write_text(text)
        assert ledger.notebook_problem(copy) == problem
    assert ledger.notebook_problem(notebook) is None


# --------------------------------------------------------------------------- the ledger itself

DAMAGED = {
    "cut": lambda good: good[: len(good) // 2],
    "garbage": lambda good: "garbage {",
    "a list": lambda good: "[]",
    "empty": lambda good: "",
    "no executions": lambda good: '{"report": {}}',
    "an entry without key": lambda good: json.dumps(
        {**json.loads(good), "executions": {k: {kk: vv for kk, vv in v.items() if kk != "key"}
                                            for k, v in json.loads(good)["executions"].items()}}),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_ledger_is_set_aside_with_one_line(project: Path, case: str, caplog: pytest.LogCaptureFixture) -> None:
    good = json.dumps({"executions": {"prepare_a": {"key": "k", "notebook": "write.ipynb", "stage": "prepare",
                                                    "parameters": {}}}, "report": {}})
    path = ledger.ledger_path()
    path.parent.mkdir(parents=True)
    path.write_text(DAMAGED[case](good))
    with caplog.at_level(logging.WARNING):
        assert ledger.load_ledger() == {"executions": {}, "report": {}}
    aside = list(path.parent.glob("ledger.json.damaged-*"))
    assert not path.exists() and len(aside) == 1 and aside[0].read_text() == DAMAGED[case](good)
    assert len(caplog.records) == 1 and "is damaged" in caplog.text and "set aside as outputs/notebooks/ledger.json.damaged-" in caplog.text


def test_the_report_rechecks_every_execution_after_a_damaged_ledger_and_book_says_one_line(project: Path) -> None:
    assert execute(project) == PLAIN
    path = ledger.ledger_path()
    path.write_text(path.read_text()[:500])

    book = cli(project / "outputs", "book")
    assert book.returncode == 2, book.stderr
    assert book.stderr.count("\n") == 1 and f"ledger {path} is damaged: not JSON" in book.stderr

    assert execute(project) == PLAIN  # every execution re-checked: none can be trusted
    assert set(ledger.read_ledger()["executions"]) == set(ALL) - {"run_a"}


# --------------------------------------------------------------------------- runs by hand beside the report


def test_a_notebook_run_by_hand_that_retrains_a_run_makes_the_report_rerun_it_and_its_readers(project: Path) -> None:
    publishing(project)
    execute(project)
    run = project / "outputs/runs/run_a/config.json"
    assert json.loads(run.read_text()) == {"value": 3}
    recorded = ledger.read_ledger()["executions"]["run_a"]["results"]
    assert set(recorded) == {"runs/run_a", "tables/run_a.csv"}

    hand_run(project / "notebooks/publish.ipynb", tag="run_a", value=7)  # its defaults, as a person runs it
    assert json.loads(run.read_text()) == {"value": 7}

    assert execute(project) == ["compare", "run_a"]  # the run the book describes is back, and what read it redone
    assert json.loads(run.read_text()) == {"value": 3}
    assert execute(project) == []


def test_results_are_recorded_under_a_dask_scheduler_too(project: Path) -> None:
    from distributed import LocalCluster

    publishing(project)
    with LocalCluster(n_workers=1, processes=True, threads_per_worker=2, dashboard_address=None) as cluster:
        execute(project, scheduler=cluster.scheduler_address)
    assert set(ledger.read_ledger()["executions"]["run_a"]["results"]) == {"runs/run_a", "tables/run_a.csv"}


def test_a_table_rewritten_by_hand_makes_its_execution_stale(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    publishing(project)
    execute(project)
    (project / "outputs/tables/run_a.csv").write_text("value\n99\n")
    with caplog.at_level(logging.WARNING):
        assert execute(project) == ["compare", "run_a"]
    assert "outputs/tables/run_a.csv changed since it made it" in caplog.text
    assert (project / "outputs/tables/run_a.csv").read_text() == "value\n3\n"


# --------------------------------------------------------------------------- where and how a report runs


def test_a_relative_LMNA_OUTPUTS_is_made_absolute(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    monkeypatch.setenv("LMNA_OUTPUTS", "relout")  # the kernels start in notebooks/: relative would be elsewhere
    assert execute(project) == PLAIN
    assert (project / "relout/written/compare.json").is_file() and not (project / "notebooks/relout").exists()


def test_jobs_are_capped_at_the_cores_saying_so(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    from lmna_scrna import threads

    with caplog.at_level(logging.WARNING):
        execute(project, jobs=1000)
    assert f"--jobs 1000 capped at {threads.cores()}" in caplog.text


@pytest.mark.parametrize("jobs", ["0", "-3"])
def test_jobs_below_one_are_refused_even_when_nothing_is_stale(tmp_path: Path, jobs: str) -> None:
    result = cli(tmp_path / "outputs", "report", "--profile", "smoke", "--jobs", jobs)
    assert result.returncode == 2 and result.stderr == f"lmna-scrna report: error: --jobs must be at least 1 (got {jobs})\n"


@pytest.mark.parametrize("address, says", [
    ("nonsense", "is not a scheduler address such as tcp://host:8786"),
    ("tcp://127.0.0.1:9", "no scheduler answers there"),
])
def test_an_unusable_scheduler_is_refused_at_once(tmp_path: Path, address: str, says: str) -> None:
    import time

    start = time.perf_counter()
    result = cli(tmp_path / "outputs", "report", "--profile", "smoke", "--scheduler", address)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and says in result.stderr, result.stderr
    assert f"--scheduler {address}" in result.stderr.replace("'", "")
    assert time.perf_counter() - start < 20
    assert not (tmp_path / "outputs" / "data").exists()  # refused before any data was simulated


def test_a_second_report_on_the_same_outputs_is_refused_naming_the_first(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom lmna_scrna.report.runner import report_lock\n"
         "with report_lock():\n    print('locked', flush=True)\n    time.sleep(60)\n"],
        env={**os.environ, "LMNA_OUTPUTS": str(tmp_path / "outputs")}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        for argv in (["book"], ["report", "--profile", "smoke"]):
            result = cli(tmp_path / "outputs", *argv)
            assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
            assert "another report (host " in result.stderr and f"PID {holder.pid}) is running" in result.stderr
    finally:
        holder.kill()
        holder.wait()
    assert "another report" not in cli(tmp_path / "outputs", "book").stderr  # a killed holder holds nothing


def read_only_cli(outputs: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """The CLI on a read-only outputs folder: by permissions, or, for root (whom they do not stop), through a
    read-only bind mount in a mount namespace of the child's own (the machine's mounts are untouched)."""
    if os.geteuid() != 0:
        outputs.chmod(0o555)
        try:
            return cli(outputs, *argv)
        finally:
            outputs.chmod(0o755)
    command = " ".join([sys.executable, "-m", "lmna_scrna.cli", *argv])
    script = f"mount --bind {outputs} {outputs} && mount -o remount,bind,ro {outputs} || exit 99; exec {command}"
    result = subprocess.run(["unshare", "--mount", "sh", "-c", script], env={**os.environ, "LMNA_OUTPUTS": str(outputs)},
                            capture_output=True, text=True, check=False, timeout=300)
    if result.returncode == 99 or "unshare:" in result.stderr:
        pytest.skip(f"no read-only folder can be made here: {result.stderr.strip()}")
    return result


def test_a_read_only_outputs_folder_is_refused_up_front(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    result = read_only_cli(outputs, "report", "--profile", "smoke")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"outputs folder {outputs} cannot be written (Read-only file system)" in result.stderr


# --------------------------------------------------------------------------- parameters given by hand


def test_the_old_split_parameter_given_by_hand_is_named_not_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`papermill 01_prepare.ipynb out.ipynb -p split nosuch`: papermill only warns about an undeclared name."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from lmna_scrna.report.runner.plan import NOTEBOOKS_DIR

    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path / "outputs"))
    with pytest.raises(PapermillExecutionError, match=r"InputError.*parameter split='nosuch': `split` is now `scheme`"):
        papermill.execute_notebook(str(NOTEBOOKS_DIR / "01_prepare.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters={"split": "nosuch"}, kernel_name="python3", cwd=str(NOTEBOOKS_DIR),
                                   progress_bar=False)
    assert not (tmp_path / "outputs" / "data").exists()  # refused before any data was simulated


def test_executions_a_removed_split_file_drops_are_named(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    import yaml

    execute(project)
    profile = project / "params/profiles/test.yaml"
    spec = yaml.safe_load(profile.read_text())
    spec["executions"] = [e for e in spec["executions"] if "b.yaml" not in e.get("params_file", "")]
    profile.write_text(yaml.safe_dump(spec))
    (project / "params/splits/b.yaml").unlink()
    with caplog.at_level(logging.WARNING):
        execute(project)
    assert "2 execution(s) of the last report of profile test are no longer planned" in caplog.text
    assert "prepare_b, train_b" in caplog.text


def test_a_faces_stub_is_part_of_the_librarys_fingerprint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stub says which module each name of a face loads: editing one changes what every notebook runs."""
    import shutil

    copy = tmp_path / "lmna_scrna"
    shutil.copytree(ledger.LIBRARY_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(ledger, "LIBRARY_DIR", copy)
    before = ledger.library_fingerprint()
    stub = copy / "report" / "results" / "__init__.pyi"
    stub.write_text(stub.read_text().replace("table1 as table1", "table1 as table1, leakage_ladder as leakage_ladder"))
    assert ledger.library_fingerprint() != before
