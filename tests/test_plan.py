"""The plan (report/plan.py, report/param_files.py) on a throw-away project: dependencies, parameter merging,
sweeps, profiles that inherit, and the errors that name a bad profile."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from _runner_fixtures import PARAMS, WRITE_CELL, load, make_notebook, project, split_file, write_profile, write_yaml  # noqa: F401 (project: a fixture)

from lmna_scrna.errors import InputError
from lmna_scrna.report.runner import ledger, plan
from lmna_scrna.report.runner.param_files import merge_profile
from lmna_scrna.report.runner.plan import load_profile


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


def _sweep_on_a_sweep(project: Path) -> list[dict]:
    """Sweep s (runs r1, r2) and sweep v (runs v1, v2) that builds on it, with a notebook that takes a sweep run."""
    make_notebook(project / "notebooks" / "variant.ipynb", [PARAMS + "sweep_file = None\nsweep_run = None\n", WRITE_CELL])
    write_yaml(project / "params/sweeps/s.yaml", {"params_file": "../splits/a.yaml", "runs": {"r1": {"value": 7}, "r2": {}}})
    write_yaml(project / "params/sweeps/v.yaml", {"params_file": "../splits/a.yaml", "builds_on": "s.yaml",
                                                  "runs": {"v1": {"value": 3}, "v2": {"value": 4}}})
    return [{"id": "sweep", "notebook": "write", "stage": "train", "sweep_file": "../sweeps/s.yaml"},
            {"id": "variants", "notebook": "variant", "stage": "train", "sweep_file": "../sweeps/v.yaml"},
            {"id": "table", "notebook": "write", "stage": "sweep", "params_file": "../splits/a.yaml"}]


def test_sweep_that_builds_on_another_waits_for_all_its_runs_and_resolves_its_settings_at_run_time(project: Path) -> None:
    write_profile(project, _sweep_on_a_sweep(project))
    profile = load(project)
    steps = profile.by_id()
    v1 = steps["sweep_v1"]
    assert v1.notebook.name == "variant.ipynb" and v1.split == "dm_t9_v0"
    assert v1.parameters["sweep_file"] == str(project / "params/sweeps/v.yaml")  # the notebook reads its run there
    assert (v1.parameters["sweep_run"], v1.parameters["run_name"]) == ("v1", "sweep_v1")
    assert v1.parameters["value"] == 1  # the run's own settings are not parameters: they apply over the base run
    assert set(v1.after) == {"sweep_r1", "sweep_r2", "prepare_a"}
    assert set(steps["sweep_v2"].after) == set(v1.after)
    order = [e.id for e in profile.executions]
    assert max(order.index("sweep_r1"), order.index("sweep_r2")) < order.index("sweep_v1")
    assert {"sweep_r1", "sweep_r2", "sweep_v1", "sweep_v2"} <= set(steps["table"].after)  # the sweep page reads both
    before = ledger.execution_keys(profile, "context")
    write_yaml(project / "params/sweeps/s.yaml", {"params_file": "../splits/a.yaml", "runs": {"r1": {"value": 8}, "r2": {}}})
    after = ledger.execution_keys(load(project), "context")
    assert after["sweep_v1"] != before["sweep_v1"]  # a change to the base sweep reaches its variants' keys


def test_sweep_that_builds_on_a_sweep_the_profile_lacks_is_an_error(project: Path) -> None:
    write_profile(project, _sweep_on_a_sweep(project)[1:])
    with pytest.raises(InputError, match=r"execution sweep_v1: `after` \(or the sweep its sweep file builds on\) names "
                                         r"unknown id\(s\) sweep_r1, sweep_r2"):
        load(project)


def test_sweep_file_that_builds_on_a_missing_file_is_an_error(project: Path) -> None:
    write_yaml(project / "params/sweeps/v.yaml", {"params_file": "../splits/a.yaml", "builds_on": "nope.yaml", "runs": {"v": {}}})
    with pytest.raises(InputError, match=r"v.yaml: `builds_on: nope.yaml` but .*nope.yaml does not exist"):
        plan.load_sweep(project / "params/sweeps/v.yaml")


def test_the_report_trains_the_model_b_variants_as_executions_after_the_model_a_sweep() -> None:
    """Each Model B run of the sweep is a 04_train_B execution after all six Model A runs; 05 only reads them."""
    for profile in ("smoke", "full"):
        steps = plan.load_profile(profile).by_id()
        a_runs = {e for e in steps if e.startswith("sweep_code_A_")}
        b_runs = {e for e in steps if e.startswith("sweep_code_B_")}
        assert len(a_runs) == 6 and b_runs == {"sweep_code_B_w0.1", "sweep_code_B_w0.3", "sweep_code_B_w0.5"}
        for b in b_runs:
            assert steps[b].notebook.stem == "04_train_B" and a_runs <= set(steps[b].after)
            assert steps[b].parameters["sweep_file"].endswith("sweep_B_paper_code.yaml")
            assert steps[b].parameters["run_name"] == b and steps[b].parameters["seeds"] == [42]
        page = steps["hyperparameter_sweep"]
        assert a_runs | b_runs <= set(page.after) and page.parameters["sweep_b_file"].endswith("sweep_B_paper_code.yaml")
        assert "seeds" not in page.parameters  # it trains nothing


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


# --------------------------------------------------------------------------- profiles that inherit


def write_child(root: Path, spec: dict, name: str = "child") -> Path:
    """A profile beside test.yaml (the parent of the inheritance tests)."""
    return write_yaml(root / "params" / "profiles" / f"{name}.yaml", spec)


def load_child(root: Path, name: str = "child") -> plan.Profile:
    return plan.load_profile(root / "params" / "profiles" / f"{name}.yaml", notebooks_dir=root / "notebooks")


def test_inheriting_profile_states_only_how_it_differs(project: Path) -> None:
    write_child(project, {
        "inherits": "test",
        "sim_size": "full",
        "parameters": {"value": 5},  # merged into the parent's `parameters` (its pause stays)
        "stages": {"train": {"value": 6}},
        "executions": [
            {"id": "train_b", "parameters": {"value": 7}},  # changes the parent's entry in place
            {"id": "extra", "notebook": "write", "stage": "train", "params_file": "../splits/a.yaml"},  # appended
        ],
    })
    parent, child = load(project), load_child(project)
    assert (child.name, child.sim_size, parent.sim_size) == ("child", "full", "smoke")
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
    parent = {"sim_size": "full", "stages": {"train": {"seeds": [1, 2], "epochs": 9}},
              "executions": [{"id": "a", "notebook": "n", "parameters": {"x": 1, "y": 2}}, {"id": "b", "notebook": "n"}]}
    child = {"stages": {"train": {"seeds": [1]}, "sweep": {"seeds": [3]}},
             "executions": [{"id": "a", "parameters": {"y": 3}}, {"id": "c", "notebook": "m"}]}
    assert merge_profile(parent, child) == {
        "sim_size": "full",
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
        ({"child": {"inherits": "test", "stage": {}}}, r"child.yaml: unknown key\(s\) stage \(a profile holds inherits, sim_size"),
        ({"child": {"inherits": "other"}, "other": {"inherits": "test", "paramters": {}}}, r"other.yaml: unknown key\(s\) paramters"),
        ({"child": {"inherits": "test", "executions": [{"id": "train_a", "calibraton_file": "x"}]}},
         r"execution train_a: unknown key\(s\) calibraton_file"),
    ],
    ids=["missing-parent", "parent-by-path", "cycle", "self", "unknown-key", "unknown-key-of-parent", "unknown-entry-key"],
)
def test_bad_inheritance_is_named(project: Path, profiles: dict[str, dict], message: str) -> None:
    for name, spec in profiles.items():
        write_child(project, spec, name)
    with pytest.raises(InputError, match=message):
        load_child(project)


def test_smoke_profile_runs_fulls_executions_at_smoke_size() -> None:
    """smoke.yaml inherits full.yaml: the same executions but the calibration batches, on the smoke data."""
    full, smoke = plan.load_profile("full"), plan.load_profile("smoke")
    assert (full.sim_size, smoke.sim_size) == ("full", "smoke")

    def not_replicates(profile: plan.Profile) -> list[tuple[str, str, Path | None]]:
        return [(e.id, e.notebook.stem, e.params_file) for e in profile.executions if e.stage != "simulate"]

    assert not_replicates(smoke) == not_replicates(full)
    assert smoke.by_id()["train_A_original"].parameters["epochs"] == 4
    assert smoke.by_id()["calibration"].parameters["calibration_file"].endswith("calibration/smoke.yaml")
    assert full.by_id()["calibration"].parameters["calibration_file"].endswith("calibration/full.yaml")


# --------------------------------------------------------------------------- values checked before anything runs


@pytest.fixture()
def params_copy(tmp_path: Path) -> Path:
    """A copy of the project's params/, to damage; its smoke profile is planned with the project's notebooks."""
    import shutil

    from lmna_scrna.paths import params_dir

    shutil.copytree(params_dir(), tmp_path / "params")
    return tmp_path / "params"


def plan_smoke(params: Path) -> plan.Profile:
    from lmna_scrna.paths import PROJECT_ROOT

    return load_profile(params / "profiles" / "smoke.yaml", notebooks_dir=PROJECT_ROOT / "notebooks")


def test_a_split_file_not_named_after_its_split_is_refused_not_merged(params_copy: Path) -> None:
    (params_copy / "splits" / "dm_t16_v0.yaml").write_text(yaml.safe_dump(
        {"scheme": "day_matched", "test_day": 19, "val_day": 0}))
    with pytest.raises(InputError, match=r"split file .*dm_t16_v0\.yaml defines split dm_t19_v0 .*rename it "
                                         r"dm_t19_v0\.yaml or fix its days"):
        plan_smoke(params_copy)


def test_a_split_file_key_no_notebook_declares_is_refused(params_copy: Path) -> None:
    path = params_copy / "splits" / "dm_t9_v0.yaml"
    path.write_text(path.read_text() + "max_cels: 400\n")
    with pytest.raises(InputError, match=r"split file .*dm_t9_v0\.yaml: key\(s\) max_cels are declared by none"):
        plan_smoke(params_copy)


@pytest.mark.parametrize("stage, message", [
    ({"epochs": -1}, r"execution train_A_\w+: .*epochs.*-1.*must be >= 1"),
    ({"width": "wide"}, r"execution train_A_\w+: .*width.*'wide'.*must be an integer"),
    ({"seeds": [1, 1]}, r"execution train_A_\w+: seeds: 1 given more than once"),
])
def test_profile_values_are_checked_before_any_execution(params_copy: Path, stage: dict, message: str) -> None:
    profile = params_copy / "profiles" / "smoke.yaml"
    spec = yaml.safe_load(profile.read_text())
    spec["stages"]["train"] = {**spec["stages"]["train"], **stage}
    profile.write_text(yaml.safe_dump(spec))
    with pytest.raises(InputError, match=message):
        plan_smoke(params_copy)


def test_an_unknown_scheme_is_named_where_a_notebook_makes_the_split_name() -> None:
    from lmna_scrna.pp.splits import split_name

    with pytest.raises(InputError, match="scheme 'nosuch' is unknown; expected one of original, day_matched"):
        split_name("nosuch", 19, 0)
