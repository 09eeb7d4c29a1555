"""The split files are the one list of the report's splits: a new file is picked up, in reading order."""

from __future__ import annotations

import shutil

import pytest
import yaml

from lmna_scrna.errors import InputError
from lmna_scrna.paths import params_dir
from lmna_scrna.pp.splits import SCHEMES
from lmna_scrna.report.results import tables
from lmna_scrna.report.runner.param_files import split_files


def test_project_split_files_are_the_tables_splits_in_reading_order():
    files = split_files()
    assert list(files) == ["original", "dm_t0_v16", "dm_t9_v0", "dm_t16_v0", "dm_t19_v0", "random_cells"]
    assert tables.report_splits() == tuple(n for n in files if SCHEMES[files[n]["scheme"]].unit == "gsm")
    assert tables.default_leakage_split() == "random_cells"


def test_a_new_split_file_is_all_a_new_split_takes(tmp_path):
    folder = tmp_path / "splits"
    shutil.copytree(params_dir() / "splits", folder)
    (folder / "dm_t9_v16.yaml").write_text(yaml.safe_dump({"scheme": "day_matched", "test_day": 9, "val_day": 16}))

    files = split_files(folder)
    assert list(files)[:5] == ["original", "dm_t0_v16", "dm_t9_v0", "dm_t9_v16", "dm_t16_v0"]
    assert files["dm_t9_v16"] == {"scheme": "day_matched", "test_day": 9, "val_day": 16}


def test_a_broken_split_file_is_named(tmp_path):
    (tmp_path / "odd.yaml").write_text(yaml.safe_dump({"scheme": "by_donor"}))
    with pytest.raises(InputError, match=r"split file .*odd\.yaml: `scheme` must be one of original, day_matched"):
        split_files(tmp_path)


def test_a_new_split_file_gets_its_prepare_and_training_and_the_comparison_waits(tmp_path):
    """In a copy of the project's parameters, one new split file is all it takes for the report to plan it."""
    from lmna_scrna.paths import PROJECT_ROOT
    from lmna_scrna.report.runner.plan import load_profile

    params = tmp_path / "params"
    shutil.copytree(params_dir(), params)
    (params / "splits" / "dm_t9_v16.yaml").write_text(yaml.safe_dump({"scheme": "day_matched", "test_day": 9,
                                                                      "val_day": 16}))
    before = load_profile(params_dir() / "profiles" / "full.yaml").by_id()
    after = load_profile(params / "profiles" / "full.yaml", notebooks_dir=PROJECT_ROOT / "notebooks").by_id()

    new = sorted(set(after) - set(before))
    assert new == ["prepare_dm_t9_v16", "train_A_dm_t9_v16", "train_B_dm_t9_v16"]
    assert after["train_A_dm_t9_v16"].after == ("prepare_dm_t9_v16",)
    assert after["train_A_dm_t9_v16"].parameters["test_day"] == 9 and after["train_A_dm_t9_v16"].split == "dm_t9_v16"
    assert set(new) <= set(after["compare"].after)
    order = [i for i in after if i.startswith("train_A_")]
    assert order.index("train_A_dm_t9_v16") == order.index("train_A_dm_t9_v0") + 1  # in reading order
