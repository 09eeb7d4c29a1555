"""Steering the runner (report/runner/why.py, execute.py, task.py) on real executions of tiny notebooks
(`_runner_fixtures`) and on the real smoke profile's CLI: `--dry-run` says why, `--only`/`--force` run exactly
what they say, a cell past the timeout fails its execution, and on Dask each execution keeps its own log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from _runner_fixtures import PARAMS, load, make_notebook, project, split_file, write_profile, write_yaml  # noqa: F401 (project: a fixture)

from lmna_scrna.errors import InputError
from lmna_scrna.report.runner import execute as executor, ledger

ALL = ["compare", "prepare_a", "prepare_b", "train_a", "train_b"]


def execute(root: Path, **kwargs) -> list[str]:
    return sorted(o.id for o in executor.execute_profile(load(root), root / "raw", **kwargs))


def dry(root: Path, **kwargs) -> dict[str, str]:
    """The dry run's lines after its summary, by execution id."""
    lines = executor.dry_run(load(root), root / "raw", **kwargs)
    assert lines[0].startswith("profile test: 5 executions")
    return {line[6:].split(":")[0]: line for line in lines[1:]}


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folder`, with its bytes and modification time: what "wrote nothing" compares."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def cli(outputs: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lmna_scrna.cli", *argv], env={**os.environ, "LMNA_OUTPUTS": str(outputs)},
                          capture_output=True, text=True, check=False, timeout=300)


# --------------------------------------------------------------------------- --dry-run


def test_dry_run_names_the_changed_split_file_and_writes_nothing(project: Path) -> None:
    assert set(dry(project).values()) == {f"run   {i}: never succeeded" for i in load(project).by_id()}
    assert not (project / "outputs").exists()  # not even the outputs folder
    execute(project)
    assert set(dry(project).values()) == {f"fresh {i}" for i in load(project).by_id()}

    write_yaml(project / "params/splits/a.yaml", split_file("a", 3))
    before = snapshot(project / "outputs")
    lines = dry(project)
    split = project / "params/splits/a.yaml"
    assert lines["prepare_a"] == f"run   prepare_a: parameters changed: value 1 → 3; split file {split} changed"
    assert lines["train_a"] == (f"run   train_a: parameters changed: value 1 → 3; split file {split} changed; "
                                "input prepare_a stale (upstream)")
    assert lines["compare"] == "run   compare: input prepare_a stale (upstream); input train_a stale (upstream)"
    assert lines["prepare_b"] == "fresh prepare_b" and lines["train_b"] == "fresh train_b"
    assert snapshot(project / "outputs") == before  # no ledger, notebook, log or digest memo written
    assert execute(project) == ["compare", "prepare_a", "train_a"]  # what it said would run


def test_dry_run_names_the_notebook_the_library_and_old_ledger_entries(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    execute(project)
    monkeypatch.setattr(executor, "library_fingerprint", lambda: "library 2")
    assert set(dry(project).values()) == {f"run   {i}: library (lmna_scrna's source) changed" for i in ALL}
    monkeypatch.setattr(executor, "library_fingerprint", lambda: "library")
    installed = ledger.provenance.packages()
    monkeypatch.setattr(ledger.provenance, "packages", lambda: {**installed, "numpy": "0.0.1"})
    assert set(dry(project).values()) == {f"run   {i}: environment (installed packages) changed" for i in ALL}
    monkeypatch.setattr(ledger.provenance, "packages", lambda: installed)

    make_notebook(project / "notebooks/write.ipynb", [PARAMS, "print('edited')"])
    assert dry(project)["train_b"] == "run   train_b: notebook write.ipynb changed; input prepare_b stale (upstream)"

    whole = json.loads(ledger.ledger_path().read_text())  # a ledger written before the inputs were kept
    for entry in whole["executions"].values():
        del entry["inputs"]
    ledger.save_ledger(whole)
    assert dry(project)["train_b"] == "run   train_b: its inputs changed (recorded before components were kept)"


def test_dry_run_of_the_smoke_profile_on_the_cli_runs_and_writes_nothing(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    result = cli(outputs, "report", "--profile", "smoke", "--dry-run", "--only", "compare")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("profile smoke: 38 executions, ") and "stale but held (outside --only/--force)" in lines[0]
    assert "the simulated 'smoke' data set is not there yet" in lines[1]
    assert "run   compare: never succeeded" in lines and "run   prepare_original: never succeeded" in lines
    assert "held  donors: never succeeded" in lines  # not upstream of compare
    assert not outputs.exists()


# --------------------------------------------------------------------------- --only, --force


def test_only_runs_the_named_executions_and_their_stale_upstream(project: Path) -> None:
    execute(project)
    write_yaml(project / "params/splits/a.yaml", split_file("a", 3))
    write_yaml(project / "params/splits/b.yaml", split_file("b", 4))
    assert execute(project, only=["train_a"]) == ["prepare_a", "train_a"]
    assert json.loads((project / "outputs/written/train_b.json").read_text())["value"] == 2  # b left as it was
    lines = dry(project)
    assert lines["train_a"] == "fresh train_a"
    assert lines["train_b"].startswith("run   train_b: parameters changed: value 2 → 4")
    assert execute(project, only=["train_a"]) == []  # fresh: --only does not force
    assert execute(project) == ["compare", "prepare_b", "train_b"]


def test_force_reruns_a_fresh_execution_and_what_read_it_is_stale_for_the_next_report(project: Path) -> None:
    execute(project)
    runs = {i: e["run"] for i, e in ledger.read_ledger()["executions"].items()}
    assert execute(project, force=["train_b"]) == ["train_b"]
    after = {i: e["run"] for i, e in ledger.read_ledger()["executions"].items()}
    assert [i for i in ALL if after[i] != runs[i]] == ["train_b"]
    assert dry(project)["compare"] == "run   compare: upstream train_b ran again after it"
    assert dry(project, force=["prepare_a"])["prepare_a"] == "run   prepare_a: forced (--force): it was fresh"
    assert execute(project) == ["compare"]
    assert execute(project) == []


def test_unknown_ids_are_refused_naming_close_ones_before_any_work(project: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^--force: no execution of profile test is called trian_a \(close: train_a"):
        execute(project, force=["trian_a"])
    assert not (project / "outputs").exists()
    result = cli(tmp_path / "cli-outputs", "report", "--profile", "smoke", "--only", "train_A_dm_t19", "nosuch")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert ("--only: no execution of profile smoke is called train_A_dm_t19 (close: train_A_dm_t19_v0" in result.stderr
            and "train_B_dm_t19_v0); nosuch (`lmna-scrna report --profile smoke --dry-run` lists them)" in result.stderr)
    assert not (tmp_path / "cli-outputs" / "data").exists()  # refused before the data was simulated


# --------------------------------------------------------------------------- the cell timeout


def test_a_cell_past_the_timeout_fails_its_execution_and_keeps_the_last_good(project: Path) -> None:
    spec = yaml.safe_load((project / "params/profiles/test.yaml").read_text())
    spec["cell_timeout_s"] = 5
    write_yaml(project / "params/profiles/test.yaml", spec)
    execute(project)
    good = (project / "outputs/notebooks/compare.ipynb").read_bytes()
    spec["executions"][-1]["parameters"]["pause"] = 120  # compare's cell now hangs
    write_yaml(project / "params/profiles/test.yaml", spec)
    start = time.perf_counter()
    with pytest.raises(executor.NotebookFailed) as info:
        execute(project)
    assert time.perf_counter() - start < 60  # the hung kernel was stopped, not waited for
    assert "compare.failed.ipynb failed: cell 2 exceeded the 5 s cell timeout" in str(info.value)
    assert (project / "outputs/notebooks/compare.ipynb").read_bytes() == good
    assert (project / "outputs/notebooks/compare.failed.ipynb").is_file()
    assert dry(project)["compare"].endswith("its last run failed (outputs/notebooks/compare.failed.ipynb)")
    with pytest.raises(executor.NotebookFailed, match="exceeded the 1 s cell timeout"):
        execute(project, cell_timeout_s=1, only=["compare"])  # --cell-timeout beats the profile


@pytest.mark.parametrize("value", [0, -1, "soon", True])
def test_a_bad_cell_timeout_in_a_profile_is_refused(project: Path, value: object) -> None:
    spec = yaml.safe_load((project / "params/profiles/test.yaml").read_text())
    write_yaml(project / "params/profiles/test.yaml", {**spec, "cell_timeout_s": value})
    with pytest.raises(InputError, match=rf"test.yaml: cell_timeout_s must be a positive number of seconds \(got {value!r}\)"):
        load(project)


def test_a_bad_cell_timeout_on_the_cli_is_refused_in_one_line(tmp_path: Path) -> None:
    result = cli(tmp_path / "outputs", "report", "--profile", "smoke", "--cell-timeout", "0")
    assert result.returncode == 2 and result.stderr == (
        "lmna-scrna report: error: --cell-timeout must be a positive number of seconds (got 0.0)\n")


# --------------------------------------------------------------------------- Dask: a process per notebook

WHOAMI_CELL = """
import os, time
from lmna_scrna.paths import outputs_dir
from lmna_scrna.report.runner.quiet import notebook_logging
notebook_logging()
os.write(2, f"kernel of {tag}\\n".encode())
print(f"notebook {tag} says hello")
t0 = time.time()
time.sleep(pause)
(outputs_dir() / "written").mkdir(parents=True, exist_ok=True)
(outputs_dir() / "written" / f"{tag}.json").write_text(json.dumps(
    {"start": t0, "end": time.time(), "cwd": os.getcwd(), "log": os.environ.get("LMNA_NOTEBOOK_LOG")}))
"""


def test_on_dask_concurrent_executions_keep_their_own_logs_cwd_and_environment(project: Path) -> None:
    from distributed import LocalCluster

    make_notebook(project / "notebooks/whoami.ipynb", [PARAMS, WHOAMI_CELL])
    spec = yaml.safe_load((project / "params/profiles/test.yaml").read_text())
    spec["parameters"]["pause"] = 4.0
    spec["executions"] = [{**e, "notebook": "whoami"} for e in spec["executions"][:2]]  # prepare_a, prepare_b
    write_yaml(project / "params/profiles/test.yaml", spec)
    with LocalCluster(n_workers=1, processes=True, threads_per_worker=2, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        outcomes = executor.execute_profile(load(project), project / "raw", scheduler=cluster.scheduler_address)
    notebooks = project / "outputs/notebooks"
    assert sorted((o.id, o.log) for o in outcomes) == [(i, str(notebooks / f"{i}.log")) for i in ("prepare_a", "prepare_b")]
    seen = {i: json.loads((project / f"outputs/written/{i}.json").read_text()) for i in ("prepare_a", "prepare_b")}
    a, b = seen["prepare_a"], seen["prepare_b"]
    assert a["start"] < b["end"] and b["start"] < a["end"], "the two executions did not overlap"
    for mine, other in (("prepare_a", "prepare_b"), ("prepare_b", "prepare_a")):
        log = (notebooks / f"{mine}.log").read_text()
        assert f"kernel of {mine}" in log and f"kernel of {other}" not in log
        assert seen[mine]["log"] == str(notebooks / f"{mine}.log")  # its own environment, not its neighbour's
        assert seen[mine]["cwd"] == str(project / "notebooks")
