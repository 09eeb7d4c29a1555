"""Donor-replicated designs: the synthetic sheet, folds that hold whole donors out, the exact donor-level
permutation test and its floor, and one small end-to-end replicate (deterministic, JSON-serialisable)."""

from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest

from lmna_scrna.config import TrainConfig
from lmna_scrna.io.study import line_problems, load_samples
from lmna_scrna.paths import params_dir
from lmna_scrna.tl import donors
from lmna_scrna.tl.calibration_design import load_design

#: The designs the full report runs (the ``donors`` scenarios of its calibration file).
DONOR_COUNTS = sorted({c.donors for c in load_design(params_dir() / "calibration" / "full.yaml").scenarios if c.donors})


@pytest.mark.parametrize("d", DONOR_COUNTS)
def test_the_sheet_has_the_study_sheets_shape_and_never_reuses_a_real_accession(d, sheet):
    made = donors.donor_sheet(d)
    assert list(made.columns) == list(sheet.columns) and (made.dtypes == sheet.dtypes).all()
    # The study's own rule "one patient line" is the only one a several-donor sheet breaks.
    assert all("the study has one patient line" in p for p in line_problems(made))
    assert len(made) == 2 * d * len(donors.DONOR_DAYS) and made["gsm"].is_unique
    assert all(re.fullmatch(r"GSM\d+", g) for g in made["gsm"])
    assert not set(made["gsm"]) & set(sheet["gsm"])
    per_donor = made.groupby("donor").agg(line=("line", "nunique"), condition=("condition", "nunique"),
                                          days=("day", lambda s: tuple(sorted(s))))
    assert len(per_donor) == 2 * d and made["line"].nunique() == 2 * d
    assert (per_donor["line"] == 1).all() and (per_donor["condition"] == 1).all()
    assert (per_donor["days"] == donors.DONOR_DAYS).all()
    assert made.groupby("condition")["donor"].nunique().to_dict() == {"Control": d, "Patient": d}
    pd.testing.assert_frame_equal(donors.donor_sheet(d), made)


def test_a_one_donor_sheet_reads_back_through_load_samples(tmp_path):
    made = donors.donor_sheet(1)
    path = tmp_path / "samples.csv"
    made.drop(columns=["y_geno", "y_day"]).to_csv(path, index=False)
    pd.testing.assert_frame_equal(load_samples(path), made)


def test_designs_of_different_sizes_share_no_accession():
    gsms = [set(donors.donor_sheet(d)["gsm"]) for d in DONOR_COUNTS]
    assert sum(map(len, gsms)) == len(set().union(*gsms))


@pytest.mark.parametrize("d", DONOR_COUNTS)
def test_folds_hold_whole_donors_out_and_test_each_donor_once(d):
    sheet = donors.donor_sheet(d)
    donor_of = sheet.set_index("gsm")["donor"]
    day_of = sheet.set_index("gsm")["day"]
    folds = donors.donor_folds(sheet)
    assert [f.name for f in folds] == [f"donors{d}_pair{k}" for k in range(1, d + 1)]
    tested = []
    for fold in folds:
        assert fold.scheme == "donor_held_out" and fold.unit == "gsm"
        assert sorted(fold.gsms) == sorted(sheet["gsm"])
        sides = [set(donor_of[list(part)]) for part in (fold.train, fold.val, fold.test)]
        assert not (sides[0] | sides[1]) & sides[2], fold.name
        # Train and val share their donors (other days): validation holds a day out, the test whole donors.
        assert sides[0] == sides[1] and len(sides[0]) == 2 * d - 2
        assert sorted(x.rstrip("0123456789") for x in sides[2]) == ["control", "patient"]
        assert set(day_of[list(fold.val)]) == {donors.VAL_DAY}
        assert donors.VAL_DAY not in set(day_of[list(fold.train)])
        tested += sorted(sides[2])
    assert sorted(tested) == sorted(sheet["donor"].unique())


@pytest.mark.parametrize(("d", "p"), [(2, 1 / 6), (3, 1 / 20), (5, 1 / 252)])
def test_perfect_separation_reaches_exactly_the_floor(d, p):
    scores = [1.0 - i / (2 * d) for i in range(2 * d)]
    result = donors.donor_permutation_test(scores, [1] * d + [0] * d)
    assert result.p_value == pytest.approx(p) and result.assignments == math.comb(2 * d, d)
    assert result.pairs_right == result.pairs_total == d * d
    assert (result.p_value <= donors.ALPHA) == (d >= 3)


def test_reversed_separation_and_ties_give_p_one():
    assert donors.donor_permutation_test([0.1, 0.2, 0.3, 0.7, 0.8, 0.9], [1, 1, 1, 0, 0, 0]).p_value == 1.0
    tied = donors.donor_permutation_test([0.5] * 4, [1, 1, 0, 0])
    assert tied.p_value == 1.0 and tied.pairs_right == 2.0


def test_a_donor_scores_the_mean_of_its_libraries():
    folds = [{"donors": ["control1", "control1", "patient1", "patient1"], "scores": [0.2, 0.4, 0.6, 1.0],
              "labels": [0, 0, 1, 1]}]
    names, scores, labels = donors.donor_scores(folds)
    assert names == ["control1", "patient1"] and scores.tolist() == pytest.approx([0.3, 0.8])
    assert labels.tolist() == [0, 1]


def test_a_replicate_end_to_end_is_deterministic_and_serialisable():
    config = TrainConfig(width=16, depth=1, epochs=2, patience=1)
    first = donors.run_donor_replicate(2, 1, 1.0, 0.0, size="smoke", config=config)
    assert donors.run_donor_replicate(2, 1, 1.0, 0.0, size="smoke", config=config) == first
    assert json.loads(json.dumps(first, allow_nan=False))["donor_p"] == first["donor_p"]
    assert first["spec"]["d"] == 2 and first["spec"]["generator_version"]
    assert [f["split"] for f in first["folds"]] == ["donors2_pair1", "donors2_pair2"]
    for fold in first["folds"]:
        assert len(fold["gsms"]) == len(fold["scores"]) == len(fold["donors"]) == 2 * len(donors.DONOR_DAYS)
        assert len(set(fold["donors"])) == 2 and 0.0 <= fold["test_auc"] <= 1.0
    assert first["donor_p_floor"] == pytest.approx(1 / 6) and first["donor_p"] >= first["donor_p_floor"]
    assert first["donor_claim"] is False  # two donors per genotype can never claim
    assert first["library_claim"] == (first["library_p"] <= donors.ALPHA)
