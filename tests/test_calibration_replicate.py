"""A calibration replicate in memory gives what simulating to files, preparing and training run folders gives;
a batch stores one result per replicate and reuses only results made with the same spec."""

from __future__ import annotations

import json

import pytest

from lmna_scrna.config import PrepParams, TrainConfig
from lmna_scrna.io.study import load_samples
from lmna_scrna.pp.assemble import prepare_split
from lmna_scrna.pp.splits import leave_one_day_out
from lmna_scrna.sim import params as sim_params, simulate
from lmna_scrna.tl import calibration, replicate_batch
from lmna_scrna.tl.calibration_design import RESULT_FILE, Scenario, replicate_dir
from lmna_scrna.tl.calibration_match import line_scale_for_units, line_units_for_scale, matched_effects
from lmna_scrna.tl.runs import load_run, run_name
from lmna_scrna.tl.train import train_run

TINY = sim_params.SimSize(n_cells=160, n_genes=1500, median_umis=4000.0)
NET = TrainConfig(width=16, depth=1, epochs=2, patience=2, batch_size=128)


@pytest.fixture(autouse=True)
def tiny_profile(monkeypatch):
    monkeypatch.setitem(sim_params.SIM_SIZES, "tiny", TINY)


def test_in_memory_replicate_equals_the_file_path(tmp_path):
    spec = calibration.ReplicateSpec("null", 3, "tiny", effect_scale=0.5, line_effect_scale=1.0,
                                     library_effect_scale=1.0)
    in_memory = calibration.run_replicate(spec, config=NET, seeds=(7,))
    raw = simulate(tmp_path / "data", size="tiny", seed=3, effect_scale=0.5, library_effect_scale=1.0,
                   line_effect_scale=1.0)
    sheet = load_samples()
    folds = []
    for fold in leave_one_day_out(sheet):
        path = prepare_split(raw, fold, sheet, PrepParams(), tmp_path / f"{fold.name}.h5ad", cache_dir=tmp_path / "cache")
        run = load_run(train_run(path, run_name(fold.name, "A"), NET, seeds=(7,), out_dir=tmp_path / "runs"))
        folds.append(calibration.fold_result(fold.name, list(run["metrics"].values())))
    on_disk = calibration.decide(folds)
    assert in_memory["folds"] == folds
    assert {k: in_memory[k] for k in on_disk} == on_disk


def test_a_batch_writes_one_result_each_and_reuses_only_the_same_spec(tmp_path, monkeypatch):
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    scenario = Scenario("null", "null", 0.0, 0.0, 2, "tiny")
    calls = []

    def fake_replicate(spec, prep, config, seeds, networks):  # the batch's bookkeeping, not the training, is under test
        calls.append(spec.sim_seed)
        return {"spec": calibration.spec_record(spec, prep, config, seeds), "folds": [], "mean_auc": 0.5 + spec.sim_seed / 10,
                "ranking_p": 1.0}

    monkeypatch.setattr(calibration, "run_replicate", fake_replicate)
    first = replicate_batch.run_batch(scenario, [1, 2], 1.0, 0.0, config=NET)
    assert calls == [1, 2] and all((replicate_dir("null", s) / RESULT_FILE).is_file() for s in (1, 2))
    assert replicate_batch.run_batch(scenario, [1, 2], 1.0, 0.0, config=NET) == first and calls == [1, 2]
    replicate_batch.run_batch(scenario, [2], 1.0, 0.0, config=TrainConfig(width=8, depth=1, epochs=1, patience=1))
    assert calls == [1, 2, 2], "a result made with another network was reused"
    stored = json.loads((replicate_dir("null", 2) / RESULT_FILE).read_text())
    assert stored["spec"]["network"]["width"] == 8 and stored["spec"]["effect_scale"] == 0.0


def test_line_units_round_trip_and_matching_reads_the_truth(tmp_path):
    assert line_units_for_scale(line_scale_for_units(2.5, 1.5), 1.5) == pytest.approx(2.5)
    raw = simulate(tmp_path / "data", size="tiny", seed=1, line_effect_scale=2.0)
    matched = matched_effects(raw, Scenario("line_matched", "line", 0.0, "matched", 1, "tiny"))
    assert matched.line_effect_scale == pytest.approx(2.0) and matched.library_effect_scale == 1.0
    assert matched.line_units == pytest.approx(line_units_for_scale(2.0, 1.0))
    fixed = matched_effects(raw, Scenario("line_3", "line", 0.0, 3.0, 1, "tiny"))
    assert fixed.line_units == 3.0 and "set by the design" in fixed.how
