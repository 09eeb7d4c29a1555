"""Calibration: the design and its plan, the replicate's decisions, rates with exact intervals, the line
curve, and attribution on a constructed network whose true genes are known."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from lmna_scrna.errors import InputError
from lmna_scrna.paths import PROJECT_ROOT
from lmna_scrna.report.book.calibration_words import calibration_values
from lmna_scrna.report.results import attribution_tables, calibration_tables
from lmna_scrna.report.runner.plan import load_profile
from lmna_scrna.sim.params import LIBRARY_BATCH_LOG_SD, LINE_LOG_SD
from lmna_scrna.tl import attribution
from lmna_scrna.tl.calibration import decide
from lmna_scrna.tl.calibration_design import (
    MIN_REPLICATES_FOR_P05,
    RESULT_FILE,
    load_design,
    replicate_dir,
)
from lmna_scrna.tl.inference import clopper_pearson, empirical_p


def _fold(split: str, auc: float, scores: list[float], labels: list[int]) -> dict:
    return {"split": split, "test_auc": auc, "scores": scores, "labels": labels, "gsm_auc": 0.0}


def test_decisions_follow_the_reports_rules() -> None:
    strong = [_fold("a", 0.9, [0.9, 0.1], [1, 0]), _fold("b", 0.85, [0.2, 0.1, 0.8], [0, 0, 1]),
              _fold("c", 0.88, [0.7, 0.2], [1, 0]), _fold("d", 0.92, [0.9, 0.3], [1, 0])]
    d = decide(strong)
    assert d["auc_decision"] and d["ranking_decision"] and d["ranking_p"] == pytest.approx(1 / 24)
    mixed = [_fold("a", 0.9, [0.9, 0.1], [1, 0]), _fold("b", 0.3, [0.9, 0.1, 0.8], [0, 0, 1]),
             _fold("c", 0.6, [0.7, 0.2], [1, 0]), _fold("d", 0.45, [0.1, 0.3], [1, 0])]
    d = decide(mixed)
    assert not d["auc_decision"] and not d["ranking_decision"]


def _result(scenario: str, seed: int, mean_auc: float, claim: bool, line: float = 0.0) -> dict:
    spec = {"scenario": scenario, "sim_seed": seed, "data": "calibration", "effect_scale": 0.0,
            "line_effect_scale": line, "library_effect_scale": 1.0}
    return {"spec": spec, "folds": [], "mean_auc": mean_auc, "auc_ci_lo": mean_auc - 0.1, "auc_ci_hi": mean_auc + 0.1,
            "auc_decision": claim, "ranking_pairs_right": 5.0 if claim else 3.0, "ranking_pairs_total": 5,
            "ranking_p": 0.04 if claim else 0.5, "ranking_decision": claim}


def _design(tmp_path: Path, scenarios: list[dict]) -> Path:
    path = tmp_path / "design.yaml"
    path.write_text(yaml.safe_dump({"batch_size": 3, "first_seed": 1, "scenarios": scenarios}))
    return path


def test_calibration_tables_give_rates_with_exact_intervals_empirical_p_and_the_line_curve(tmp_path, monkeypatch):
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    design = load_design(_design(tmp_path, [
        {"name": "null", "role": "null", "replicates": 4},
        {"name": "line_matched", "role": "line", "line_units": "matched", "replicates": 2},
        {"name": "line_2", "role": "line", "line_units": 2, "replicates": 2},
    ]))
    aucs = {"null": (0.45, 0.55, 0.62, 0.5), "line_matched": (0.7, 0.8), "line_2": (0.85, 0.95)}
    for name, values in aucs.items():
        line = {"null": 0.0, "line_matched": 1.25 * LIBRARY_BATCH_LOG_SD / LINE_LOG_SD,
                "line_2": 2 * LIBRARY_BATCH_LOG_SD / LINE_LOG_SD}[name]
        for seed, auc in enumerate(values, start=1):
            folder = replicate_dir(name, seed)
            folder.mkdir(parents=True)
            (folder / RESULT_FILE).write_text(json.dumps(_result(name, seed, auc, claim=auc > 0.6, line=line)))
    table = calibration_tables.calibration_table(design)
    assert len(table) == 8 and table.loc[table["scenario"] == "line_2", "line_units"].tolist() == pytest.approx([2, 2])
    summary = calibration_tables.calibration_summary(table, observed_auc=0.6, observed_pairs=5).set_index("scenario")
    null = summary.loc["null"]
    assert (null["auc_rule_claims"], null["replicates"]) == (1, 4)
    assert (null["auc_rule_lo"], null["auc_rule_hi"]) == pytest.approx(clopper_pearson(1, 4))
    assert (null["empirical_p"], null["p_floor"]) == (pytest.approx(2 / 5), pytest.approx(1 / 5))  # 0.62 reaches 0.6
    curve = calibration_tables.sensitivity_curve(summary.reset_index())
    assert curve["line_units"].tolist() == pytest.approx([0.0, 1.25, 2.0])
    # mean AUC 0.53 at 0 units, 0.75 at 1.25: 0.6 is crossed at 1.25 * (0.6 - 0.53) / (0.75 - 0.53)
    assert calibration_tables.crossing(curve, 0.6) == pytest.approx(1.25 * 0.07 / 0.22)
    assert calibration_tables.crossing(curve, 0.99) is None
    h = calibration_tables.calibration_headline(table, 0.6, 5)
    assert h["null"]["reach_auc"] == 1 and h["line"]["line_units"] == pytest.approx(1.25)
    values = calibration_values(h)
    assert values["null_auc_rate"] == "1 of 4 studies (95% interval 0.01–0.81)"
    assert values["null_p"] == "empirical p = 0.400; the smallest p 4 studies allow is 0.200"
    assert values["line_crossing"].word.startswith("about 0.398 between-control-library differences")
    assert values["size_verdict"].word.startswith("not checked"), "no larger-size null in this design"
    with pytest.raises(InputError, match="07_calibration_replicate"):
        calibration_tables.calibration_table(load_design(_design(tmp_path, [{"name": "null", "role": "null",
                                                                              "replicates": 9}])))


def test_clopper_pearson_matches_scipy_and_empirical_p_has_its_floor():
    for k, n in ((0, 5), (0, 19), (1, 19), (3, 10), (10, 10)):
        exact = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        assert clopper_pearson(k, n) == pytest.approx((exact.low, exact.high), abs=1e-12)
    assert clopper_pearson(0, 5)[1] == pytest.approx(0.5218, abs=1e-4)  # "0 of 5" allows a rate up to 0.52
    assert empirical_p(0.9, [0.5] * 19) == (pytest.approx(0.05), pytest.approx(0.05))
    assert empirical_p(0.9, [0.5] * 5)[0] == pytest.approx(1 / 6)


def test_the_full_design_can_reject_and_the_plan_runs_each_replicate_once():
    design = load_design(PROJECT_ROOT / "params" / "calibration" / "full.yaml")
    by_role = {c.name: c for c in design.scenarios}
    assert by_role["null"].replicates >= MIN_REPLICATES_FOR_P05 and by_role["null"].line_units == 0
    assert by_role["world_L"].replicates >= MIN_REPLICATES_FOR_P05 and by_role["world_L"].world == "L"
    assert by_role["world_G"].world == "G" and by_role["world_L"].table1 and by_role["world_G"].table1
    assert all(c.replicates >= 5 for c in design.scenarios) and design.replicates() >= 60
    plan = [e for e in load_profile("full").executions if e.notebook.stem == "07_calibration_replicate"]
    planned = sorted((e.parameters["scenario"], s) for e in plan for s in e.parameters["sim_seeds"])
    assert planned == sorted((c.name, s) for c in design.scenarios for s in design.seeds(c))
    assert all(len(e.parameters["sim_seeds"]) <= design.batch_size for e in plan)
    page = load_profile("full").by_id()["calibration"]
    assert page.parameters["calibration_file"] == plan[0].parameters["calibration_file"]
    assert set(page.after) >= {e.id for e in plan}


@pytest.mark.parametrize("scenario, message", [
    ({"name": "x", "role": "nul", "replicates": 3}, "role 'nul'"),
    ({"name": "x", "role": "null", "replicates": 0}, "replicates=0"),
    ({"name": "x", "role": "null", "effect_scale": 1, "replicates": 3}, "null scenario has effect_scale 0"),
    ({"name": "x", "role": "line", "line_units": -1, "replicates": 3}, "line_units=-1"),
    ({"name": "x", "role": "null", "data": "huge", "replicates": 3}, "data 'huge'"),
])
def test_a_bad_design_names_the_scenario_and_field(tmp_path, scenario, message):
    with pytest.raises(InputError, match=message):
        load_design(_design(tmp_path, [scenario]))


def _known_network(n_genes: int, weights: dict[int, float]) -> keras.Model:
    """A genotype logit that is a fixed linear function of a few genes (named like Models A and B)."""
    inputs = keras.Input(shape=(n_genes,))
    logit = keras.layers.Dense(1, name="geno_logit")(inputs)
    model = keras.Model(inputs, {"geno": keras.layers.Activation("sigmoid", name="geno")(logit)})
    kernel = np.zeros((n_genes, 1), dtype=np.float32)
    for gene, w in weights.items():
        kernel[gene, 0] = w
    model.get_layer("geno_logit").set_weights([kernel, np.zeros(1, dtype=np.float32)])
    return model


def test_attribution_finds_the_genes_a_constructed_network_uses() -> None:
    rng = np.random.default_rng(0)
    X = np.abs(rng.normal(size=(500, 30))).astype(np.float32)
    scores = attribution.gradient_x_input(_known_network(30, {7: 3.0, 2: -2.0, 11: 0.5}), X)
    assert set(np.flatnonzero(scores)) == {2, 7, 11}
    np.testing.assert_allclose(scores[7], 3.0 * X[:, 7].mean(), rtol=1e-5)
    ids = [f"G{i}" for i in range(30)]
    ranking = attribution.rank_genes(scores, ids, ids)
    assert ranking["gene_id"].tolist()[:3] == ["G7", "G2", "G11"]
    truth = {"patient_effect_genes": [{"gene_id": "G7", "log_fc": 0.5}, {"gene_id": "G2", "log_fc": -0.4},
                                      {"gene_id": "G20", "log_fc": 0.0}],
             "day_program_genes": [{"gene_id": "G11"}]}
    marked = attribution.mark_truth(ranking, truth)
    assert marked.loc[marked["gene_id"] == "G20", "planted"].item() is False  # scale 0 planted nothing there
    at = attribution.precision_at(marked, ks=(2, 3))
    assert at == {"planted_all": pytest.approx(2 / 30), "day_program_all": pytest.approx(1 / 30), "mt_in_top_20": 0.0,
                  "planted_at_2": 1.0, "day_program_at_2": 0.0, "planted_at_3": pytest.approx(2 / 3),
                  "day_program_at_3": pytest.approx(1 / 3)}
    assert attribution.mark_truth(ranking, None)["planted"].isna().all()


def test_attribution_summary_per_fold_and_method() -> None:
    table = pd.DataFrame({"split": ["a"] * 3, "method": ["m"] * 3, "gene_rank": [1, 2, 3], "symbol": ["MT-CO1", "A", "B"],
                          "planted": [True, False, True], "day_program": [False, True, False]})
    summary = attribution_tables.attribution_summary(table)
    assert summary.loc[0, "planted_at_20"] == pytest.approx(2 / 3) and summary.loc[0, "mt_in_top_20"] == 1
    words = attribution_tables.attribution_words(summary.assign(method="Model A gradient × input"))
    assert "67% carry a planted patient effect" in words and "1.0× the base rate" in words
    assert "Mitochondrial genes sit in its top 20 in 1 of 1 folds" in words


def test_ground_truth_is_read_only_for_simulated_folders(tmp_path: Path) -> None:
    assert calibration_tables.ground_truth(tmp_path) is None
    (tmp_path / "ground_truth.json").write_text(json.dumps({"seed": 1}))
    assert calibration_tables.ground_truth(tmp_path) == {"seed": 1}


def test_library_scale_is_the_truth_on_simulated_data_and_estimated_on_real(tmp_path, monkeypatch) -> None:
    from lmna_scrna.io.study import load_samples
    from lmna_scrna.sim import params as sim_params, simulate
    from lmna_scrna.tl.calibration_match import matched_library_scale

    monkeypatch.setitem(sim_params.SIM_SIZES, "pair", sim_params.SimSize(n_cells=300, n_genes=3000, median_umis=4000.0))
    pair = load_samples().query("gsm in ['GSM8325049', 'GSM8325050']")
    estimates = {}
    for scale in (1.0, 2.0):
        # No line effect: the two libraries share a line anyway, and this keeps the data the estimator was checked on.
        folder = simulate(tmp_path / f"l{scale:g}", size="pair", seed=4, sheet=pair, library_effect_scale=scale,
                          line_effect_scale=0.0)
        assert matched_library_scale(folder) == (scale, "the simulator's own library-effect scale (the truth of this build's data)")
        (folder / "ground_truth.json").unlink()  # now it looks like real data: the scale must be estimated
        estimates[scale], how = matched_library_scale(folder)
        assert how.startswith("estimated from GSM8325049 and GSM8325050")
    assert 0.6 < estimates[1.0] < 1.5
    assert 1.5 < estimates[2.0] / estimates[1.0] < 2.3
