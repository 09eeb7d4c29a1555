"""Library-level statistics: exact permutation p-values, the cell bootstrap, the interval rule,
and the report's library tables on fake runs (no double counting, the negative control)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _run_fixtures import fake_run
from sklearn.metrics import roc_auc_score

from lmna_scrna.report.book import findings
from lmna_scrna.report.results import library_tables, paper, tables
from lmna_scrna.tl import inference
from lmna_scrna.tl.inference import AT_CEILING, Interval, fold_interval, gsm_auc, ranking_permutation_test, verdict

#: Every verdict the rule can give B against A.
VERDICTS = {"Model B better", "Model A better", "no difference detected", AT_CEILING,
            "uninformative (the same difference in every fold)"}


def test_gsm_auc_counts_ordered_library_pairs_with_ties_half() -> None:
    assert gsm_auc([0.9, 0.2, 0.3], [1, 0, 0]) == 1.0
    assert gsm_auc([0.25, 0.2, 0.3], [1, 0, 0]) == 0.5
    assert gsm_auc([0.3, 0.3], [1, 0]) == 0.5
    assert math.isnan(gsm_auc([0.3, 0.2], [0, 0]))


def test_permutation_p_value_on_a_hand_worked_case() -> None:
    """Folds of 2 and 3 libraries, one patient each: 2 × 3 = 6 equally likely assignments.

    Observed: both patients on top → 1 + 2 = 3 pairs right. Pairs right under the
    6 assignments: fold 1 gives 1 or 0; fold 2 (scores .8 .2 .3) gives 2, 0 or 1.
    Sums: 3, 1, 2, 2, 0, 1 → only the observed one reaches 3 → p = 1/6.
    """
    folds = [(np.array([0.9, 0.1]), np.array([1, 0])), (np.array([0.8, 0.2, 0.3]), np.array([1, 0, 0]))]
    result = ranking_permutation_test(folds)
    assert (result.pairs_right, result.pairs_total, result.assignments) == (3, 3, 6)
    assert result.p_value == pytest.approx(1 / 6)
    # The patient of fold 2 now ranks second: 1 + 1 = 2 right; sums ≥ 2 are 3, 2, 2 → p = 3/6.
    folds[1] = (np.array([0.25, 0.2, 0.3]), np.array([1, 0, 0]))
    assert ranking_permutation_test(folds).p_value == pytest.approx(3 / 6)


def test_the_study_folds_allow_no_p_below_one_in_24() -> None:
    perfect = [(np.array([1.0, 0.0]), np.array([1, 0])), (np.array([0.0, 0.1, 1.0]), np.array([0, 0, 1])),
               (np.array([1.0, 0.0]), np.array([1, 0])), (np.array([1.0, 0.0]), np.array([1, 0]))]
    result = ranking_permutation_test(perfect)
    assert result.assignments == 24 and result.p_value == pytest.approx(1 / 24)


def test_weighted_bootstrap_auc_equals_sklearn_on_the_resampled_cells() -> None:
    rng = np.random.default_rng(0)
    scores, y = rng.normal(size=40), np.repeat([0, 1], 20)
    scores[3] = scores[25]  # a tie across classes counts one half
    weights = rng.integers(0, 3, size=(5, 40)).astype(float)
    got = inference._weighted_auc(scores, y.astype(bool), weights)
    for row, w in zip(got, weights):
        idx = np.repeat(np.arange(40), w.astype(int))
        assert row == pytest.approx(roc_auc_score(y[idx], scores[idx]))


def test_cell_bootstrap_resamples_within_libraries_and_is_seeded() -> None:
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 300)
    groups = np.repeat(["C", "P"], 300)
    scores = [y + rng.normal(0, 1.5, y.size) for _ in range(2)]
    lo, hi = inference.bootstrap_auc(scores, y, groups, seed=7, n_boot=400)
    mean_auc = np.mean([roc_auc_score(y, s) for s in scores])
    assert lo < mean_auc < hi and hi - lo < 0.15
    assert inference.bootstrap_auc(scores, y, groups, seed=7, n_boot=400) == (lo, hi)


@pytest.mark.parametrize(
    ("diffs", "expected"),
    [
        ([0.10, 0.12, 0.09, 0.11], "Model B better"),
        ([-0.10, -0.12, -0.09, -0.11], "Model A better"),
        ([0.10, -0.10, 0.05, -0.02], "no difference detected"),
        ([0.30, 0.01, 0.02, 0.01], "no difference detected"),  # a positive mean is not a verdict
        ([0.2], "not decidable (fewer than two folds)"),
    ],
)
def test_verdict_rule_on_constructed_differences(diffs: list[float], expected: str) -> None:
    assert verdict(fold_interval(diffs), "Model B", "Model A") == expected


def test_fold_interval_is_the_t_interval() -> None:
    iv = fold_interval([1.0, 2.0, 3.0, 4.0])
    half = 3.182446305 * np.std([1, 2, 3, 4], ddof=1) / 2
    assert iv == Interval(2.5, pytest.approx(2.5 - half), pytest.approx(2.5 + half), 4)


# --------------------------------------------------------------------------- the report's library tables


def _runs_with_libraries(root: Path) -> None:
    """Fake runs whose test libraries are the study's: original re-tests GSM8325052 and GSM8325056."""
    libraries = {
        "original": ["GSM8325052", "GSM8325056"], "dm_t0_v16": ["GSM8325046", "GSM8325054"],
        "dm_t9_v0": ["GSM8325049", "GSM8325050", "GSM8325055"], "dm_t16_v0": ["GSM8325051", "GSM8325056"],
        "dm_t19_v0": ["GSM8325052", "GSM8325057"],
    }
    for split, gsms in libraries.items():
        for model, strength in (("A", 0.4), ("B", 0.3)):
            folder = fake_run(f"{split}_{model}", strength, model=model)
            _relabel(folder, gsms)
        _relabel_pseudobulk(folder.parent / f"{split}_A", gsms)


def _relabel(folder: Path, gsms: list[str]) -> None:
    """Spread each seed's cells over the given libraries (patient = the last), keep the summary consistent."""
    from lmna_scrna.tl.evaluate import genotype_metrics, summarise
    from lmna_scrna.tl.runs import to_json

    per_seed = {}
    for seed_dir in sorted(folder.glob("seed_*")):
        pred = pd.read_parquet(seed_dir / "predictions.parquet")
        controls = gsms[:-1]
        pred["gsm"] = np.where(pred["y_true"] == 1, gsms[-1], [controls[i % len(controls)] for i in range(len(pred))])
        pred.to_parquet(seed_dir / "predictions.parquet")
        metrics = genotype_metrics(pred, pred["y_true"].to_numpy(), pred["p_geno"].to_numpy())
        metrics |= {"best_epoch": 3, "epochs_run": 5}
        (seed_dir / "metrics.json").write_text(to_json(metrics))
        per_seed[int(seed_dir.name.removeprefix("seed_"))] = metrics
    import json

    summary = json.loads((folder / "summary.json").read_text())
    summary["metrics"] = summarise(per_seed)
    (folder / "summary.json").write_text(to_json(summary))


def _relabel_pseudobulk(folder: Path, gsms: list[str]) -> None:
    from lmna_scrna.tl.runs import to_json

    entries = [{"gsm": g, "partition": "test", "y_true": int(g == gsms[-1]), "score": 1.0 if g == gsms[-1] else -1.0}
               for g in gsms]
    (folder / "baseline" / "pseudobulk.json").write_text(to_json({"C": 1.0, "gsm": entries}))


@pytest.fixture()
def study_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    tables._load.cache_clear()
    _runs_with_libraries(tmp_path)
    yield
    tables._load.cache_clear()


def test_gsm_level_counts_a_library_tested_twice_and_the_pool_counts_it_once(study_runs: None) -> None:
    gsm = library_tables.gsm_level()
    twice = gsm[(gsm["gsm"] == "GSM8325056") & (gsm["model"] == "A")]
    assert twice["split"].tolist() == ["original", "dm_t16_v0"] and (twice["times_tested"] == 2).all()
    assert (gsm.loc[gsm["gsm"] == "GSM8325055", "times_tested"] == 1).all()
    inference_table = library_tables.gsm_inference()
    pooled = inference_table[inference_table["split"] == "pooled leave-one-day-out"].set_index("model")
    assert pooled.loc["A", "libraries"] == 9  # 2 + 3 + 2 + 2: the original split's re-tests are not pooled
    assert pooled.loc["A", "pairs_total"] == 5 and pooled.loc["A", "assignments"] == 24
    assert pooled.loc["pseudobulk", "pairs_right"] == 5
    assert pooled.loc["pseudobulk", "p_value"] == pytest.approx(1 / 24)
    assert not inference_table.set_index(["model", "split"]).loc[("A", "original"), "in_pooled"]


def test_paired_differences_and_negative_control_tables(study_runs: None) -> None:
    paired = library_tables.paired_differences().set_index("comparison")
    assert paired.loc["Model B − Model A", "folds"] == 4
    assert paired.loc["Model B − Model A", "verdict"] in VERDICTS
    control = library_tables.negative_control()
    assert set(control["split"]) == {"dm_t9_v0"}  # the one fold testing two control libraries
    kinds = control.groupby("contrast").size()
    assert kinds["control vs control (library only)"] == 2 * 2  # one pair × 2 models × 2 seeds
    assert kinds["patient vs control (genotype and library)"] == 2 * 2 * 2
    row = control.iloc[0]
    assert row["ci_lo"] <= row["auc"] <= row["ci_hi"] and row["distance_from_half"] == abs(row["auc"] - 0.5)


def test_findings_carry_intervals_and_verdicts(study_runs: None) -> None:
    tables.finished_run(tables.run_name("original", "A"))  # warm the cache
    for split in ("random_cells",):
        fake_run(f"{split}_A", 0.8)
        fake_run(f"{split}_B", 0.8, model="B")
    f = findings.findings()
    assert f["day_matched_folds"] == 4
    assert f["b_vs_a"]["verdict"] in VERDICTS
    assert f["ranking_A"]["assignments"] == 24
    assert f["library_only"]["split"] == "dm_t9_v0"


def test_paper_tables_are_read_and_labelled_as_real_data() -> None:
    t1 = paper.paper_table1()
    assert len(t1) == 8 and t1.set_index(["split", "model"]).loc[("original", "A"), "test_auc"] == 0.239
    ours = pd.DataFrame({"split": ["original"], "model": ["A"], "test_auc_mean": [0.5], "test_acc_mean": [0.6]})
    beside = paper.beside_paper(ours, "simulated")
    assert "this build AUC (simulated data)" in beside and "paper AUC (real data)" in beside


def test_a_zero_width_interval_is_uninformative_not_no_difference():
    from lmna_scrna.tl.inference import fold_interval, verdict

    ceiling = fold_interval([0.0, 0.0, 0.0, 0.0])  # both models rank every pair right in every fold
    assert verdict(ceiling, "A", "B").startswith("uninformative")
    assert verdict(fold_interval([0.1, -0.1, 0.05, 0.0]), "A", "B") == "no difference detected"
    assert verdict(fold_interval([0.2, 0.3, 0.25, 0.3]), "A", "B") == "A better"
