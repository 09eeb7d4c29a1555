"""The worlds and donors pages' numbers, from stored replicate results: rows per world, claim rates, the verdicts."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from lmna_scrna.report.book.calibration_words import donors_values, worlds_values
from lmna_scrna.report.results import donor_tables, world_tables
from lmna_scrna.tl.calibration_design import RESULT_FILE, load_design, replicate_dir
from lmna_scrna.tl.inference import clopper_pearson

PAPER_ROWS = 8  # params/paper_tables.yaml: 4 splits x Models A and B


def _design(tmp_path, scenarios):
    path = tmp_path / "design.yaml"
    path.write_text(yaml.safe_dump({"batch_size": 10, "first_seed": 1, "scenarios": scenarios}))
    return load_design(path)


def _write(name, seed, result):
    folder = replicate_dir(name, seed)
    folder.mkdir(parents=True)
    (folder / RESULT_FILE).write_text(json.dumps(result))


def test_table1_rows_per_world_and_what_each_reproduces(tmp_path, monkeypatch):
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    design = _design(tmp_path, [{"name": "null", "role": "null", "replicates": 1},
                                {"name": "wG", "role": "power", "world": "G", "replicates": 2, "table1": True},
                                {"name": "wL", "role": "line", "world": "L", "replicates": 2, "table1": True}])
    # world G lands on the paper everywhere; world L is 0.2 below it on every day-matched row and not inverted
    paper = {("original", "A"): 0.239, ("dm_t0_v16", "A"): 0.82, ("dm_t16_v0", "A"): 0.944, ("dm_t19_v0", "A"): 0.871,
             ("original", "B"): 0.141, ("dm_t0_v16", "B"): 0.641, ("dm_t16_v0", "B"): 0.96, ("dm_t19_v0", "B"): 0.936}
    for name, shift in (("wG", 0.0), ("wL", -0.2)):
        for seed in (1, 2):
            rows = [{"split": s, "model": m, "test_auc": min(v + shift + (seed - 1.5) / 100, 1.0) if s != "original"
                     else 0.7} for (s, m), v in paper.items()]
            if name == "wG":
                rows = [r | {"test_auc": 0.3} if r["split"] == "original" else r for r in rows]
            _write(name, seed, {"table1": rows})
    long = world_tables.world_table1_long(design)
    assert len(long) == 2 * 2 * PAPER_ROWS
    beside = world_tables.beside_worlds(long, 0.05).set_index(["split", "model"])
    assert beside.loc[("dm_t0_v16", "A"), "G_mean"] == pytest.approx(0.82)
    assert beside.loc[("dm_t0_v16", "A"), "G_sd"] == pytest.approx(0.01 / 2 ** 0.5)
    assert beside["G_meets"].all() and not beside["L_meets"].any()
    claims = pd.DataFrame({"world": ["G", "L"], "auc_rule_claims": [2, 0], "ranking_rule_claims": [2, 0],
                           "replicates": [2, 2]})
    verdict = world_tables.worlds_verdict(beside.reset_index(), claims)
    assert verdict["met"] == {"G": PAPER_ROWS, "L": 0} and not verdict["indistinguishable"]
    values = worlds_values(verdict)
    assert values["worlds_verdict"].word == "world G reproduces more of the paper's Table 1"
    assert (values["worlds_G_met"], values["worlds_L_met"], values["worlds_rows"]) == (8, 0, 8)
    assert values["worlds_L_misses"].startswith("original split, Model A 0.700 against the paper's 0.239;")
    assert values["worlds_G_misses"] == "none"


def test_both_worlds_reproducing_the_paper_reads_as_indistinguishable():
    beside = pd.DataFrame({"split": ["original", "dm_t0_v16", "dm_t16_v0", "dm_t19_v0"] * 2, "model": ["A"] * 4 + ["B"] * 4,
                           "paper_auc": [0.5] * 8, "G_mean": [0.5] * 8, "L_mean": [0.5] * 8,
                           "G_meets": [True] * 6 + [False] * 2, "L_meets": [True] * 7 + [False]})
    claims = pd.DataFrame({"world": ["G", "L"], "auc_rule_claims": [9, 15], "ranking_rule_claims": [9, 12],
                           "replicates": [10, 19]})
    verdict = world_tables.worlds_verdict(beside, claims)
    assert verdict["indistinguishable"]
    values = worlds_values(verdict)
    assert "cannot tell an LMNA effect from a difference" in values["worlds_verdict"].word
    assert values["worlds_L_claims"].startswith("15 of 19 studies (95% interval")


def test_donor_claim_rates_and_the_smallest_design(tmp_path, monkeypatch):
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    design = _design(tmp_path, [{"name": "null", "role": "null", "replicates": 1}] + [
        {"name": f"d{d}{w}", "role": "donors", "world": w, "donors": d, "replicates": 4}
        for d in (2, 3) for w in ("G", "L")])
    claims = {("d2G",): [False] * 4, ("d2L",): [False] * 4, ("d3G",): [True] * 4, ("d3L",): [False] * 4}
    for (name,), decisions in claims.items():
        for seed, claim in enumerate(decisions, start=1):
            _write(name, seed, {"spec": {"donor_days": [0, 16, 19]}, "mean_auc": 0.9, "donor_p": 0.05 if claim else 0.5,
                                "donor_claim": claim, "library_p": 0.01, "library_claim": True,
                                "donor_p_floor": 1 / 20})
    calibration = pd.DataFrame({"scenario": ["wG", "wL"], "world": ["G", "L"], "sim_seed": [1, 1],
                                "mean_auc": [0.9, 0.9], "ranking_p": [0.01, 0.01], "ranking_decision": [True, True]})
    results = donor_tables.all_donor_results(design, calibration)
    assert sorted(results["donors"].unique()) == [1, 2, 3] and donor_tables.donor_days(design) == [0, 16, 19]
    summary = donor_tables.donor_summary(results)
    row = summary[(summary["world"] == "G") & (summary["donors"] == 3) & (summary["rule"] == "donor")].iloc[0]
    assert (row["claims"], row["studies"]) == (4, 4) and (row["lo"], row["hi"]) == pytest.approx(clopper_pearson(4, 4))
    one = summary[(summary["donors"] == 1) & (summary["rule"] == "donor")]
    assert (one["claims"] == 0).all(), "two donors cannot reach p <= 0.05: D = 1 never claims with donors as the unit"
    smallest = donor_tables.smallest_donors(summary)
    assert smallest == {"rule": "donor", "donors": 3, "tested": [1, 2, 3]}
    assert donor_tables.smallest_donors(summary, "library")["donors"] is None  # world L claims with libraries as units
    values = donors_values(smallest, summary)
    assert values["donors_verdict"].word.startswith("3 donors per genotype is the smallest tested design")
    assert values["donors_shown"] == 3 and values["donors_G_rate"].startswith("4 of 4 studies")
    none = donors_values({"rule": "library", "donors": None, "tested": [1, 2, 3]}, summary)
    assert none["donors_verdict"].word.startswith("none of the tested designs (D = 1, 2, 3")
    assert none["donors_shown"] == 3, "with no design getting there, the largest one's rates are shown"
    page = donor_tables.donors_for_page(summary)
    assert page.loc[page["donors"] == 3, "world G, donor rule"].iloc[0] == "4 of 4 (0.40–1.00)"
