"""The papermill runner on tiny throwaway notebooks: plan, ordering, content-hash cache,
re-running only dependents, the failure path, and the process-pool and Dask executors."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import nbformat
import pytest
import yaml

from lmna_scrna.errors import InputError
from lmna_scrna.report import execute as executor
from lmna_scrna.report import ledger, plan
from lmna_scrna.report.param_files import merge_profile
from lmna_scrna.report.plan import load_profile

WRITE_CELL = """
import time
from lmna_scrna.paths import outputs_dir
out = outputs_dir() / "written"
out.mkdir(parents=True, exist_ok=True)
t0 = time.time()
time.sleep(pause)
(out / f"{tag}.json").write_text(json.dumps({"value": value, "test_day": test_day, "start": t0, "end": time.time()}))
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
    return {"split": "day_matched", "test_day": DAYS[split], "val_day": 0, "value": value}


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throw-away project: notebooks, split parameter files, a profile, raw data, outputs."""
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path / "outputs"))
    # The library's source is an input of every key; pin it so edits elsewhere cannot disturb these tests.
    monkeypatch.setattr(ledger, "library_fingerprint", lambda: "library")
    monkeypatch.setattr(executor, "library_fingerprint", lambda: "library")
    make_notebook(tmp_path / "notebooks" / "write.ipynb", [PARAMS, WRITE_CELL])
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
    spec = {"data": "smoke", "parameters": {"pause": pause}, "executions": executions + extra}
    return write_yaml(root / "params" / "profiles" / "test.yaml", spec)


def load(root: Path) -> plan.Profile:
    return plan.load_profile(root / "params" / "profiles" / "test.yaml", notebooks_dir=root / "notebooks")


def execute(root: Path, **kwargs) -> list[str]:
    return [o.id for o in executor.execute_profile(load(root), root / "raw", **kwargs)]


def written(root: Path, tag: str) -> dict:
    return json.loads((root / "outputs" / "written" / f"{tag}.json").read_text())


# --------------------------------------------------------------------------- plan


def test_plan_infers_dependencies_by_stage_and_split(project: Path) -> None:
    steps = load(project).by_id()
    assert steps["prepare_a"].split == "dm_t9_v0"
    assert steps["prepare_a"].after == ()
    assert steps["train_a"].after == ("prepare_a",)
    assert steps["train_b"].after == ("prepare_b",)
    assert set(steps["compare"].after) == {"prepare_a", "prepare_b", "train_a", "train_b"}
    order = [e.id for e in load(project).executions]
    assert order.index("compare") == len(order) - 1


def test_parameters_merge_file_then_profile_then_stage_then_own(project: Path) -> None:
    spec = yaml.safe_load((project / "params/profiles/test.yaml").read_text())
    spec["parameters"]["value"] = 10  # profile beats the split file
    spec["stages"] = {"train": {"value": 20}}  # stage beats profile
    spec["executions"][3]["parameters"]["value"] = 30  # own beats stage
    write_yaml(project / "params/profiles/test.yaml", spec)
    steps = load(project).by_id()
    assert steps["prepare_a"].parameters["value"] == 10
    assert steps["train_a"].parameters["value"] == 20
    assert steps["train_b"].parameters["value"] == 30
    assert steps["train_b"].parameters["test_day"] == 16


def test_sweep_file_expands_to_one_execution_per_run(project: Path) -> None:
    write_yaml(project / "params/sweeps/s.yaml", {"params_file": "../splits/a.yaml", "runs": {"r1": {"value": 7}, "r2": {}}})
    write_profile(project, [{"id": "sweep", "notebook": "write", "stage": "train", "sweep_file": "../sweeps/s.yaml"}])
    steps = load(project).by_id()
    assert steps["sweep_r1"].parameters["value"] == 7
    assert steps["sweep_r1"].parameters["run_name"] == "sweep_r1"
    assert steps["sweep_r2"].parameters["value"] == 1  # from the sweep's split file
    assert steps["sweep_r2"].after == ("prepare_a",)
    assert {"sweep_r1", "sweep_r2"} <= set(steps["compare"].after)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([{"id": "x", "notebook": "write", "stage": "train", "after": ["nope"]}], "unknown id"),
        ([{"id": "x", "notebook": "missing", "stage": "train"}], "missing.ipynb does not exist"),
        ([{"id": "x", "notebook": "write"}], "stage None unknown"),
        ([{"id": "train_a", "notebook": "write", "stage": "train"}], "used twice"),
        (
            [{"id": "x", "notebook": "write", "stage": "prepare", "after": ["y"]},
             {"id": "y", "notebook": "write", "stage": "prepare", "after": ["x"]}],
            "cycle",
        ),
    ],
)
def test_bad_profiles_are_named(project: Path, extra: list[dict], message: str) -> None:
    write_profile(project, extra)
    with pytest.raises(InputError, match=message):
        load(project)


def test_notebook_gets_only_the_parameters_it_declares(project: Path) -> None:
    make_notebook(project / "notebooks" / "narrow.ipynb", ['tag = "t"\nraw_dir = None', "print(tag)"])
    write_profile(project, [{"id": "narrow", "notebook": "narrow", "stage": "train", "params_file": "../splits/a.yaml",
                             "parameters": {"tag": "narrow"}}])
    narrow = load(project).by_id()["narrow"]
    assert narrow.parameters == {"tag": "narrow"}  # value, split, days and pause are not its parameters
    assert narrow.runtime({"raw_dir": "/data", "other": 1}) == {"raw_dir": "/data"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda spec: spec["executions"][2]["parameters"].update(widht=3), r"execution train_a: notebook write.ipynb declares no parameter widht"),
        (lambda spec: spec["parameters"].update(profil="x"), r"profil of `parameters` are declared by none of its notebooks"),
        (lambda spec: spec.update(stages={"train": {"seedz": [1]}}), r"notebook write.ipynb declares no parameter seedz"),
    ],
)
def test_unknown_parameter_names_profile_and_notebook(project: Path, change, message: str) -> None:
    spec = yaml.safe_load((project / "params/profiles/test.yaml").read_text())
    change(spec)
    write_yaml(project / "params/profiles/test.yaml", spec)
    with pytest.raises(InputError, match=f"test.yaml.*{message}"):
        load(project)


def test_split_file_whose_name_disagrees_with_its_days_is_an_error(project: Path) -> None:
    write_yaml(project / "params/splits/a.yaml", {**split_file("a", 1), "split_name": "dm_t19_v0"})
    with pytest.raises(InputError, match=r"a.yaml: split_name 'dm_t19_v0' disagrees with the split it defines \(dm_t9_v0\)"):
        load(project)


def write_child(root: Path, spec: dict, name: str = "child") -> Path:
    """A profile beside test.yaml (the parent of the inheritance tests)."""
    return write_yaml(root / "params" / "profiles" / f"{name}.yaml", spec)


def load_child(root: Path, name: str = "child") -> plan.Profile:
    return plan.load_profile(root / "params" / "profiles" / f"{name}.yaml", notebooks_dir=root / "notebooks")


def test_inheriting_profile_states_only_how_it_differs(project: Path) -> None:
    write_child(project, {
        "inherits": "test",
        "data": "full",
        "parameters": {"value": 5},  # merged into the parent's `parameters` (its pause stays)
        "stages": {"train": {"value": 6}},
        "executions": [
            {"id": "train_b", "parameters": {"value": 7}},  # changes the parent's entry in place
            {"id": "extra", "notebook": "write", "stage": "train", "params_file": "../splits/a.yaml"},  # appended
        ],
    })
    parent, child = load(project), load_child(project)
    assert (child.name, child.data, parent.data) == ("child", "full", "smoke")
    steps = child.by_id()
    assert list(steps) == ["prepare_a", "prepare_b", "train_a", "train_b", "extra", "compare"]  # compare waits for it
    assert steps["prepare_a"].parameters["value"] == 5
    assert steps["train_a"].parameters["value"] == 6
    assert steps["train_b"].parameters == {**parent.by_id()["train_b"].parameters, "value": 7}  # tag and params_file kept
    assert steps["extra"].after == ("prepare_a",) and "extra" in steps["compare"].after


def test_profile_without_differences_plans_what_its_parent_plans(project: Path) -> None:
    write_child(project, {"inherits": "test.yaml"})
    assert [dataclasses.astuple(e) for e in load_child(project).executions] == [
        dataclasses.astuple(e) for e in load(project).executions
    ]


def test_merge_profile_merges_mappings_deeply_and_executions_by_id() -> None:
    parent = {"data": "full", "stages": {"train": {"seeds": [1, 2], "epochs": 9}},
              "executions": [{"id": "a", "notebook": "n", "parameters": {"x": 1, "y": 2}}, {"id": "b", "notebook": "n"}]}
    child = {"stages": {"train": {"seeds": [1]}, "sweep": {"seeds": [3]}},
             "executions": [{"id": "a", "parameters": {"y": 3}}, {"id": "c", "notebook": "m"}]}
    assert merge_profile(parent, child) == {
        "data": "full",
        "stages": {"train": {"seeds": [1], "epochs": 9}, "sweep": {"seeds": [3]}},  # lists are replaced, not joined
        "executions": [{"id": "a", "notebook": "n", "parameters": {"x": 1, "y": 3}}, {"id": "b", "notebook": "n"},
                       {"id": "c", "notebook": "m"}],
    }
    assert parent["stages"]["train"]["seeds"] == [1, 2]  # the parent is not modified


@pytest.mark.parametrize(
    ("profiles", "message"),
    [
        ({"child": {"inherits": "nope"}}, r"child.yaml: `inherits: nope` but .*nope.yaml does not exist \(profiles there: test\)"),
        ({"child": {"inherits": "../profiles/test"}}, r"`inherits` must name a profile of the same folder"),
        ({"child": {"inherits": "other"}, "other": {"inherits": "child"}}, r"`inherits` goes round in a cycle \(child -> other -> child\)"),
        ({"child": {"inherits": "child"}}, r"cycle \(child -> child\)"),
        ({"child": {"inherits": "test", "stage": {}}}, r"child.yaml: unknown key\(s\) stage \(a profile holds inherits, data"),
        ({"child": {"inherits": "other"}, "other": {"inherits": "test", "paramters": {}}}, r"other.yaml: unknown key\(s\) paramters"),
        ({"child": {"inherits": "test", "executions": [{"id": "train_a", "calibraton_file": "x"}]}},
         r"execution train_a: unknown key\(s\) calibraton_file"),
    ],
)
def test_bad_inheritance_is_named(project: Path, profiles: dict[str, dict], message: str) -> None:
    for name, spec in profiles.items():
        write_child(project, spec, name)
    with pytest.raises(InputError, match=message):
        load_child(project)


def test_smoke_profile_runs_fulls_executions_at_smoke_size() -> None:
    """smoke.yaml inherits full.yaml: the same executions but the calibration batches, on the smoke data."""
    full, smoke = plan.load_profile("full"), plan.load_profile("smoke")
    assert (full.data, smoke.data) == ("full", "smoke")

    def not_replicates(profile: plan.Profile) -> list[tuple[str, str, Path | None]]:
        return [(e.id, e.notebook.stem, e.params_file) for e in profile.executions if e.stage != "simulate"]

    assert not_replicates(smoke) == not_replicates(full)
    assert smoke.by_id()["train_A_original"].parameters["epochs"] == 4
    assert smoke.by_id()["calibration"].parameters["calibration_file"].endswith("calibration/smoke.yaml")
    assert full.by_id()["calibration"].parameters["calibration_file"].endswith("calibration/full.yaml")


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
from lmna_scrna.report.quiet import notebook_logging
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


def test_profile_not_utf8_or_bad_yaml_is_one_line(tmp_path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("data: d\u00e9j\u00e0\n".encode("latin-1"))
    with pytest.raises(InputError, match="latin.yaml is not UTF-8") as err:
        load_profile(latin)
    assert "\n" not in str(err.value)

    broken = tmp_path / "broken.yaml"
    broken.write_text("executions: [\n  - id: a\n  notebook: b\n")
    with pytest.raises(InputError, match="broken.yaml is not valid YAML") as err:
        load_profile(broken)
    assert "\n" not in str(err.value)
