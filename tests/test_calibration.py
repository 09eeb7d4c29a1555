"""Calibration: the replicate's decisions, the null/power tables, the profile grid, and attribution
on a constructed network whose true genes are known."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import yaml

from lmna_scrna.errors import InputError
from lmna_scrna.paths import calibration_dir
from lmna_scrna.report import calibration_tables
from lmna_scrna.report.plan import load_profile
from lmna_scrna.tl import attribution
from lmna_scrna.tl.calibration import RESULT_FILE, decide, replicate_id


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


def _write_replicate(scale: float, seed: int, mean_auc: float, claim: bool) -> None:
    folder = calibration_dir(replicate_id(scale, seed))
    folder.mkdir(parents=True)
    folds = [{"split": f"dm_t{d}_v0", "test_auc": mean_auc, "gsm_auc": 1.0 if claim else 0.5} for d in (9, 16)]
    result = {"folds": folds, "mean_auc": mean_auc, "auc_decision": claim, "ranking_p": 0.04 if claim else 0.5,
              "ranking_decision": claim}
    (folder / RESULT_FILE).write_text(json.dumps(result))


def test_calibration_tables_give_false_positive_rate_power_and_an_empirical_p(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    for seed, auc in zip(range(1, 5), (0.45, 0.55, 0.62, 0.5)):
        _write_replicate(0.0, seed, auc, claim=(seed == 3))
    for seed in (1, 2):
        _write_replicate(1.0, seed, 0.9, claim=True)
    replicates = [(0.0, s) for s in range(1, 5)] + [(1.0, 1), (1.0, 2)]
    table = calibration_tables.calibration_table(replicates)
    assert len(table) == 6 * 2 and set(table["split"]) == {"dm_t9_v0", "dm_t16_v0"}
    summary = calibration_tables.calibration_summary(table).set_index("effect_scale")
    assert summary.loc[0.0, "auc_rule_rate"] == 0.25 and summary.loc[0.0, "meaning"] == "false-positive rate"
    assert summary.loc[1.0, "ranking_rule_rate"] == 1.0 and summary.loc[1.0, "meaning"] == "power"
    p, n = calibration_tables.null_p_value(0.6, table)
    assert (p, n) == (pytest.approx(2 / 5), 4)  # one null replicate (0.62) reaches 0.6: (1 + 1) / (1 + 4)
    with pytest.raises(InputError, match="07_calibration_replicate"):
        calibration_tables.calibration_table([(0.5, 9)])


def test_profile_grid_expands_to_one_execution_per_point(tmp_path) -> None:
    nb = tmp_path / "notebooks"
    nb.mkdir()
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell("effect_scale = 0.0\nsim_seed = 1\nepochs = 8",
                                                metadata={"tags": ["parameters"]})]
    nbformat.write(notebook, nb / "07_calibration_replicate.ipynb")
    profile = tmp_path / "p.yaml"
    entry = {"id": "cal", "notebook": "07_calibration_replicate", "grid": {"effect_scale": [0.0, 0.5], "sim_seed": [1, 2, 3]},
             "parameters": {"epochs": 2}}
    profile.write_text(yaml.safe_dump({"executions": [entry]}))
    plan = load_profile(profile, notebooks_dir=nb).by_id()
    assert len(plan) == 6 and plan["cal_effect_scale0.5_sim_seed3"].parameters == {"effect_scale": 0.5, "sim_seed": 3,
                                                                                   "epochs": 2}
    assert plan["cal_effect_scale0.0_sim_seed1"].stage == "simulate"
    entry["grid"] = {"effect_scal": [0.0]}
    profile.write_text(yaml.safe_dump({"executions": [entry]}))
    with pytest.raises(InputError, match="declares no parameter effect_scal"):
        load_profile(profile, notebooks_dir=nb)
    entry["grid"] = {"effect_scale": []}
    profile.write_text(yaml.safe_dump({"executions": [entry]}))
    with pytest.raises(InputError, match="`grid` must map names to non-empty lists"):
        load_profile(profile, notebooks_dir=nb)


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
    assert at == {"planted_at_2": 1.0, "day_program_at_2": 0.0, "planted_at_3": pytest.approx(2 / 3),
                  "day_program_at_3": pytest.approx(1 / 3)}
    assert attribution.mark_truth(ranking, None)["planted"].isna().all()


def test_attribution_summary_per_fold_and_method() -> None:
    table = pd.DataFrame({"split": ["a"] * 3, "method": ["m"] * 3, "rank": [1, 2, 3],
                          "planted": [True, False, True], "day_program": [False, True, False]})
    summary = calibration_tables.attribution_summary(table)
    assert summary.loc[0, "planted_at_20"] == pytest.approx(2 / 3)


def test_ground_truth_is_read_only_for_simulated_folders(tmp_path: Path) -> None:
    assert calibration_tables.ground_truth(tmp_path) is None
    (tmp_path / "ground_truth.json").write_text(json.dumps({"seed": 1}))
    assert calibration_tables.ground_truth(tmp_path) == {"seed": 1}


def test_library_scale_is_the_truth_on_simulated_data_and_estimated_on_real(tmp_path, monkeypatch) -> None:
    from lmna_scrna.io import sim_params
    from lmna_scrna.io.simulation import simulate
    from lmna_scrna.io.study import load_samples
    from lmna_scrna.tl.calibration import matched_library_scale

    monkeypatch.setitem(sim_params.PROFILES, "pair", sim_params.Profile(n_cells=300, n_genes=3000, median_umis=4000.0))
    pair = load_samples().query("gsm in ['GSM8325049', 'GSM8325050']")
    estimates = {}
    for scale in (1.0, 2.0):
        # No line effect: the two libraries share a line anyway, and this keeps the data the estimator was checked on.
        folder = simulate(tmp_path / f"l{scale:g}", profile="pair", seed=4, sheet=pair, library_effect_scale=scale,
                          line_effect_scale=0.0)
        assert matched_library_scale(folder) == (scale, "the simulator's own library-effect scale (the truth of this build's data)")
        (folder / "ground_truth.json").unlink()  # now it looks like real data: the scale must be estimated
        estimates[scale], how = matched_library_scale(folder)
        assert how.startswith("estimated from GSM8325049 and GSM8325050")
    assert 0.6 < estimates[1.0] < 1.5
    assert 1.5 < estimates[2.0] / estimates[1.0] < 2.3
