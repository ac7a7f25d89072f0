"""Classifier scores on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from clusterhpc.evaluate.classifier_metrics import (
    pr_curve,
    rates_at,
    redshift_metrics,
    reliability,
    roc_curve,
    threshold_at_fpr,
)


def test_roc_auc_of_perfect_half_and_tied_rankings():
    labels = np.array([1, 1, 0, 0])
    assert roc_curve(labels, np.array([0.9, 0.8, 0.7, 0.1]))["auc"] == 1.0
    assert roc_curve(labels, np.array([0.1, 0.2, 0.7, 0.9]))["auc"] == 0.0
    # pos 0.9, 0.1 against neg 0.8, 0.2: 2 of 4 pairs ranked right
    assert roc_curve(labels, np.array([0.9, 0.1, 0.8, 0.2]))["auc"] == pytest.approx(0.5)
    assert roc_curve(labels, np.full(4, 0.3))["auc"] == pytest.approx(0.5)  # ties: one half


def test_roc_auc_equals_the_pair_count_statistic():
    rng = np.random.default_rng(3)
    labels = rng.random(300) < 0.3
    scores = np.round(rng.normal(labels * 0.8, 1.0), 1)  # rounded: many ties
    pos, neg = scores[labels], scores[~labels]
    pairs = (pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean()
    roc = roc_curve(labels, scores)
    assert roc["auc"] == pytest.approx(pairs, abs=1e-12)
    assert roc["fpr"][0] == roc["tpr"][0] == 0 and roc["fpr"][-1] == roc["tpr"][-1] == 1


def test_roc_refuses_a_single_class():
    with pytest.raises(ValueError, match="both classes"):
        roc_curve(np.ones(3), np.array([0.1, 0.2, 0.3]))


def test_average_precision_by_hand():
    # thresholds .9: P 1, R .5; .8: P .5, R .5; .7: P 2/3, R 1
    pr = pr_curve(np.array([1, 0, 1]), np.array([0.9, 0.8, 0.7]))
    np.testing.assert_allclose(pr["precision"], [1, 0.5, 2 / 3])
    np.testing.assert_allclose(pr["recall"], [0.5, 0.5, 1])
    assert pr["ap"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_threshold_at_fixed_false_positive_rate():
    negatives = np.arange(10) / 10 + 0.05  # 0.05 ... 0.95
    scores = np.r_[negatives, 0.5, 0.99]
    labels = np.r_[np.zeros(10), 1, 1]
    threshold = threshold_at_fpr(labels, scores, 0.2)
    assert threshold == pytest.approx(0.85)  # the lowest one calling at most 2 of 10 fields
    at = rates_at(labels, scores, threshold)
    assert at["false_positive_rate"] == pytest.approx(0.2)
    assert at["completeness"] == 0.5 and at["purity"] == pytest.approx(1 / 3)
    lo, hi = at["completeness_err"]
    assert lo < 0.5 < hi


def test_threshold_above_every_score_when_no_rate_is_low_enough():
    labels, scores = np.array([0, 1]), np.array([0.9, 0.2])
    threshold = threshold_at_fpr(labels, scores, 0.01)
    assert threshold > 0.9
    assert rates_at(labels, scores, threshold)["completeness"] == 0.0


def test_reliability_bins_and_calibration_error():
    probs = np.array([0.05, 0.05, 0.95, 0.95, 0.55])
    labels = np.array([0, 0, 1, 1, 0])
    table = reliability(labels, probs, n_bins=10)
    assert table["n"] == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]
    assert table["observed"][0] == 0.0 and table["observed"][9] == 1.0
    assert np.isnan(table["observed"][1])
    # |0.05 - 0| x 2 + |0.55 - 0| x 1 + |0.95 - 1| x 2, over 5
    assert table["ece"] == pytest.approx((0.1 + 0.55 + 0.1) / 5)


def test_redshift_metrics_bias_scatter_outliers_and_pulls():
    z = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    pred = z + 0.01 * (1 + z)
    pred[4] = 0.9  # one outlier: |dz|/(1+z) = 0.27
    sigma = np.full(5, 0.02)
    r = redshift_metrics(z, pred, sigma, outlier=0.05)
    assert r["n"] == 5
    assert r["bias"] == pytest.approx(0.01)
    assert r["sigma_nmad"] == pytest.approx(0.0, abs=1e-12)
    assert r["outlier_fraction"] == pytest.approx(0.2)
    assert r["median_abs_pull"] == pytest.approx(0.01 * 1.3 / 0.02)
