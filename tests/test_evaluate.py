"""Metrics equal scikit-learn on known inputs; thresholds come from validation; NaN, not crashes."""

from __future__ import annotations

import json
import logging
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    brier_score_loss,
    confusion_matrix,
    log_loss,
    roc_auc_score,
    roc_curve,
)

from lmna_scrna.tl.evaluate import (
    binary_log_loss,
    categorical_log_loss,
    confusion_counts,
    day_columns,
    day_confusion,
    day_logit_columns,
    day_metrics,
    genotype_confusion,
    genotype_metrics,
    roc_points,
    squared_error_loss,
    summarise,
    youden_threshold,
)
from lmna_scrna.tl.runs import to_json


def _test_frame(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """Two control GSMs and two patient GSMs, cells split evenly between the GSMs of a class."""
    gsm = np.where(y == 1, np.where(np.arange(len(y)) % 2, "P1", "P2"), np.where(np.arange(len(y)) % 2, "C1", "C2"))
    return pd.DataFrame({"gsm": gsm, "condition": np.where(y == 1, "Patient", "Control"), "day": 19,
                         "y_true": y, "z_geno": logit(p), "p_geno": p})


@pytest.fixture()
def known():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    p = np.clip(0.35 * y + rng.uniform(0, 0.65, 400), 0.001, 0.999)
    y_val = rng.integers(0, 2, 300)
    p_val = np.clip(0.3 * y_val + rng.uniform(0, 0.7, 300), 0.001, 0.999)
    return y, p, y_val, p_val


def test_genotype_metrics_equal_sklearn(known):
    y, p, y_val, p_val = known
    m = genotype_metrics(_test_frame(y, p), y_val, p_val)
    fpr, tpr, thr = roc_curve(y_val, p_val)
    threshold = thr[np.argmax(tpr - fpr)]
    assert m["threshold"] == pytest.approx(threshold)
    assert m["n_test"] == 400
    assert m["test_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["val_auc"] == pytest.approx(roc_auc_score(y_val, p_val))
    assert m["test_acc"] == pytest.approx(accuracy_score(y, p >= 0.5))
    assert m["test_bal_acc"] == pytest.approx(balanced_accuracy_score(y, p >= threshold))
    assert m["test_geno_loss"] == pytest.approx(log_loss(y, p))
    assert m["test_combined_loss"] == m["test_geno_loss"]


def test_a_fixed_threshold_replaces_the_validation_choice_everywhere(known):
    y, p, y_val, p_val = known
    m = genotype_metrics(_test_frame(y, p), y_val, p_val, threshold=0.7)
    assert m["threshold"] == 0.7 and m["threshold_rule"] == "fixed"
    assert m["test_bal_acc"] == pytest.approx(balanced_accuracy_score(y, p >= 0.7))
    assert m["test_acc_at_threshold"] == pytest.approx(accuracy_score(y, p >= 0.7))
    assert all(r["correct"] == ((r["mean_p"] >= 0.7) == bool(r["y_true"])) for r in m["gsm"])
    assert m["test_acc"] == pytest.approx(accuracy_score(y, p >= 0.5))  # accuracy at 0.5 stays as the paper's
    assert genotype_metrics(_test_frame(y, p), y_val, p_val)["threshold_rule"] == "youden_validation"


def test_mse_genotype_loss_is_the_brier_score_from_logits_and_stays_exact_when_saturated(known):
    y, p, y_val, p_val = known
    m = genotype_metrics(_test_frame(y, p), y_val, p_val, loss_geno="mean_squared_error")
    assert m["test_geno_loss"] == pytest.approx(brier_score_loss(y, p)) and m["test_combined_loss"] == m["test_geno_loss"]
    # a confidently wrong cell costs 1 per cell, a confidently right one 0 (the float64 sigmoid of a large logit)
    assert squared_error_loss(np.array([1, 0]), np.array([-40.0, -40.0])) == pytest.approx(0.5)


def test_gsm_level_mean_probability_and_side_of_threshold(known):
    y, p, y_val, p_val = known
    frame = _test_frame(y, p)
    m = genotype_metrics(frame, y_val, p_val)
    rows = {r["gsm"]: r for r in m["gsm"]}
    assert sorted(rows) == ["C1", "C2", "P1", "P2"]
    for gsm, cells in frame.groupby("gsm"):
        assert rows[gsm]["n_cells"] == len(cells)
        assert rows[gsm]["mean_p"] == pytest.approx(cells["p_geno"].mean())
        assert rows[gsm]["correct"] == ((cells["p_geno"].mean() >= m["threshold"]) == bool(cells["y_true"].iloc[0]))
    assert m["gsm_correct"] == sum(r["correct"] for r in m["gsm"])
    assert m["gsm_total"] == 4


def test_one_class_test_set_gives_nan_auc_and_a_warning(known, caplog):
    _, _, y_val, p_val = known
    y = np.zeros(50, int)
    with caplog.at_level(logging.WARNING):
        m = genotype_metrics(_test_frame(y, np.full(50, 0.2)), y_val, p_val)
    assert math.isnan(m["test_auc"])
    assert "one class" in caplog.text
    assert m["test_acc"] == 1.0
    assert json.loads(to_json(m))["test_auc"] is None


def test_roc_points_are_sklearns_curve_and_auc(known, caplog):
    """The points the ROC figures draw (pl only draws them) are scikit-learn's, with the metrics' AUC."""
    y, p, y_val, p_val = known
    fpr, tpr, _ = roc_curve(y, p)
    roc = roc_points(y, p, "test set")
    np.testing.assert_array_equal(roc.fpr, fpr)
    np.testing.assert_array_equal(roc.tpr, tpr)
    assert roc.auc == roc_auc_score(y, p) == genotype_metrics(_test_frame(y, p), y_val, p_val)["test_auc"]
    with caplog.at_level(logging.WARNING), warnings.catch_warnings():
        warnings.simplefilter("error")  # no second, scikit-learn warning about the same thing
        one_class = roc_points(np.zeros(5, int), np.linspace(0, 1, 5), "a one-genotype split")
    assert math.isnan(one_class.auc) and one_class.fpr.size == one_class.tpr.size == 0
    assert "a one-genotype split has one class only" in caplog.text


def test_confusion_counts_are_sklearns_with_every_class_kept_and_nan_shares_for_an_absent_one():
    rng = np.random.default_rng(1)
    y_true = rng.choice([0, 1, 2, 4, 5, 6], 300)  # no true day 3 (index 3): a test split may lack a day
    y_pred = rng.choice([0, 1, 2, 3, 4, 6], 300)  # nothing called day 5
    confusion = confusion_counts(y_true, y_pred, 7)
    np.testing.assert_array_equal(confusion.counts, confusion_matrix(y_true, y_pred, labels=range(7)))
    assert confusion.counts.shape == (7, 7) and confusion.counts.sum() == 300
    assert np.isnan(confusion.shares[3]).all()
    kept = np.delete(np.arange(7), 3)
    np.testing.assert_allclose(confusion.shares[kept].sum(axis=1), 1.0)
    np.testing.assert_allclose(np.diag(confusion.shares)[kept],
                               [np.mean(y_pred[y_true == k] == k) for k in kept])  # recall per true class


def test_the_run_pages_confusions_call_cells_as_the_metrics_do(known):
    y, p, y_val, p_val = known
    frame = _test_frame(y, p)
    m = genotype_metrics(frame, y_val, p_val)
    genotype = genotype_confusion(frame, m["threshold"])
    np.testing.assert_array_equal(genotype.counts, confusion_matrix(y, p >= m["threshold"]))
    assert np.trace(genotype.counts) / len(y) == pytest.approx(m["test_acc_at_threshold"])
    assert genotype_confusion(frame.assign(y_true=1), 0.5).counts[0].sum() == 0  # controls keep their row
    rng = np.random.default_rng(2)
    p_day = rng.dirichlet(np.ones(7), 80)
    y_day = rng.integers(0, 7, 80)
    days = day_confusion(pd.DataFrame(p_day, columns=day_columns()).assign(y_day=y_day))
    np.testing.assert_array_equal(days.counts, confusion_matrix(y_day, p_day.argmax(1), labels=range(7)))


def test_youden_threshold_is_a_probability():
    # An inverted validation ranking makes J maximal at roc_curve's +inf threshold: clip to 1.
    assert youden_threshold(np.array([0, 0, 1, 1]), np.array([0.9, 0.8, 0.2, 0.1])) == 1.0
    assert youden_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == pytest.approx(0.8)


def test_saturated_logits_are_charged_their_true_loss():
    """A float32 sigmoid of a logit past ~17 is exactly 1.0; clipping then charges ~36, not the true loss."""
    z = np.array([40.0, -40.0, 25.0], dtype=np.float32)
    y = np.array([0, 1, 1])
    p32 = 1 / (1 + np.exp(-z.astype(np.float32)))
    assert p32[0] == np.float32(1.0)  # the saturation the bug came from
    assert log_loss(y, p32, labels=[0, 1]) < 26  # clipped: (36.04 + 36.04 + 0) / 3, far below the truth
    truth = (40.0 + np.log1p(np.exp(-40.0)) + 40.0 + np.log1p(np.exp(-40.0)) + np.log1p(np.exp(-25.0))) / 3
    assert binary_log_loss(y, z) == pytest.approx(truth, rel=1e-12)
    assert binary_log_loss(y, z) == pytest.approx(80 / 3, rel=1e-9)


def test_categorical_loss_from_logits_equals_sklearn_on_moderate_logits_and_stays_exact_when_saturated():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(50, 7))
    y = rng.integers(0, 7, 50)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert categorical_log_loss(y, z) == pytest.approx(log_loss(y, p, labels=range(7)))
    z_sat = np.zeros((1, 7))
    z_sat[0, 0] = 60.0
    assert categorical_log_loss(np.array([3]), z_sat) == pytest.approx(60.0 + np.log1p(6 * np.exp(-60.0)))


def test_day_metrics_equal_sklearn():
    rng = np.random.default_rng(0)
    z_day = rng.normal(size=(60, 7))
    p_day = np.exp(z_day) / np.exp(z_day).sum(1, keepdims=True)
    y_day = rng.integers(0, 7, 60)
    frame = pd.DataFrame(p_day, columns=day_columns()).assign(y_day=y_day)
    frame[day_logit_columns()] = z_day
    m = day_metrics(frame, loss_w_day=0.3, geno_loss=0.5)
    assert m["day_acc"] == pytest.approx(accuracy_score(y_day, p_day.argmax(1)))
    assert m["test_combined_loss"] == pytest.approx(0.5 + 0.3 * log_loss(y_day, p_day, labels=range(7)))


def test_summary_mean_sd_over_seeds():
    s = summarise({1: {"test_auc": 0.8, "gsm": []}, 2: {"test_auc": 0.9, "gsm": []}})
    assert s["test_auc"]["mean"] == pytest.approx(0.85)
    assert s["test_auc"]["sd"] == pytest.approx(np.std([0.8, 0.9], ddof=1))
    assert "gsm" not in s
    assert summarise({1: {"test_auc": 0.8}})["test_auc"]["sd"] is None
