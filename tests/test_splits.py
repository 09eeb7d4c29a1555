"""Split schemes: the paper's lists, day-matched rules and errors, random cells, LODO folds."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from lmna_scrna.errors import InputError
from lmna_scrna.io.study import gsm_number, load_samples
from lmna_scrna.paths import params_dir
from lmna_scrna.pp.splits import (
    assign_cells,
    leave_one_day_out,
    make_split,
    split_identity,
)


@pytest.fixture(scope="module")
def sheet():
    return load_samples()


def test_original_matches_paper(sheet):
    s = make_split("original", sheet)
    assert s.test == ("GSM8325052", "GSM8325056")
    assert s.val == ("GSM8325049", "GSM8325054")
    assert s.train == tuple(f"GSM83250{n}" for n in (46, 47, 48, 50, 51, 53, 55, 57))
    assert s.unit == "gsm" and s.test_day is None and s.val_day is None


def test_day_matched_t19_v0_matches_paper(sheet):
    s = make_split("day_matched", sheet, test_day=19, val_day=0)
    assert s.name == "dm_t19_v0"
    assert s.test == ("GSM8325052", "GSM8325057")
    assert s.val == ("GSM8325046", "GSM8325054")
    assert set(s.train) == set(sheet["gsm"]) - set(s.test) - set(s.val)
    train_days = set(sheet.set_index("gsm").loc[list(s.train), "day"])
    assert train_days == {2, 4, 9, 16, 30}


def test_partitions_are_disjoint_and_complete(sheet):
    for s in [make_split("original", sheet), *leave_one_day_out(sheet)]:
        parts = [set(s.train), set(s.val), set(s.test)]
        assert sum(map(len, parts)) == len(sheet) == len(set().union(*parts))


@pytest.mark.parametrize(
    ("test_day", "val_day", "message"),
    [
        (30, 0, "test_day 30 has only Control"),
        (19, 2, "val_day 2 has only Control"),
        (5, 0, "test_day 5 has no GSM"),
        (9, 9, "test_day and val_day are both 9"),
        (None, 0, "needs both"),
    ],
)
def test_day_matched_rejects_bad_days(sheet, test_day, val_day, message):
    with pytest.raises(InputError, match=message):
        make_split("day_matched", sheet, test_day=test_day, val_day=val_day)


def test_unknown_scheme(sheet):
    with pytest.raises(InputError, match="unknown split 'by_donor'"):
        make_split("by_donor", sheet)


def test_leave_one_day_out_folds(sheet):
    folds = leave_one_day_out(sheet)
    assert [f.name for f in folds] == ["dm_t0_v16", "dm_t9_v0", "dm_t16_v0", "dm_t19_v0"]
    for f in folds:
        test_geno = set(sheet.set_index("gsm").loc[list(f.test), "condition"])
        assert test_geno == {"Control", "Patient"}


def test_random_cells_assignment_fractions_and_determinism(sheet):
    s = make_split("random_cells", sheet)
    assert s.unit == "cells" and s.val == () and s.test == () and len(s.train) == 12
    labels = assign_cells(s, "GSM8325046", 1000, seed=42)
    counts = {p: int((labels == p).sum()) for p in ("train", "val", "test")}
    assert counts == {"train": 700, "val": 150, "test": 150}
    assert np.array_equal(labels, assign_cells(s, "GSM8325046", 1000, seed=42))
    assert not np.array_equal(labels, assign_cells(s, "GSM8325047", 1000, seed=42))
    assert not np.array_equal(labels, assign_cells(s, "GSM8325046", 1000, seed=43))


def test_gsm_split_assigns_whole_gsm(sheet):
    s = make_split("original", sheet)
    assert set(assign_cells(s, "GSM8325052", 5, seed=1)) == {"test"}
    with pytest.raises(InputError, match="GSM9999999 is not part of split original"):
        assign_cells(s, "GSM9999999", 5, seed=1)


def test_gsm_number():
    assert gsm_number("GSM8325046") == 8325046
    with pytest.raises(InputError, match="'sample1'"):
        gsm_number("sample1")


@pytest.mark.parametrize("name", ["original", "dm_t0_v16", "dm_t16_v0", "dm_t19_v0", "dm_t9_v0", "random_cells"])
def test_split_parameter_files(sheet, name):
    """Each file defines its split by scheme and days; the file's stem is the name that follows."""
    path = params_dir() / "splits" / f"{name}.yaml"
    params, derived = split_identity(yaml.safe_load(path.read_text()), where=str(path))
    assert set(params) == {"scheme", "test_day", "val_day"}
    split = make_split(params["scheme"], sheet, params["test_day"], params["val_day"])
    assert split.name == derived == name


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"scheme": "day_matched", "test_day": 16, "val_day": 0, "split_name": "dm_t19_v0"}, "disagrees"),
        ({"scheme": "original", "test_day": 19, "val_day": None}, "takes no test_day"),
        ({"scheme": "day_matched", "test_day": 19}, "needs integer"),
        ({"scheme": "random"}, "must be one of"), ({"split": "day_matched"}, "`split` is now `scheme`"),
    ],
)
def test_split_identity_rejects_inconsistent_files(values, message):
    with pytest.raises(InputError, match=f"dm_t19_v0.yaml: .*{message}"):
        split_identity(values, where="split file params/splits/dm_t19_v0.yaml")


def test_split_identity_accepts_a_matching_name():
    values = {"scheme": "day_matched", "test_day": 19, "val_day": 0, "split_name": "dm_t19_v0"}
    assert split_identity(values, where="x") == ({"scheme": "day_matched", "test_day": 19, "val_day": 0}, "dm_t19_v0")
