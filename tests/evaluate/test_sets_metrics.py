"""Figures of the catalogue models' evaluation on hand-made cases with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clusterhpc.config import EvaluateConfig
from clusterhpc.evaluate.metrics import ln_scores
from clusterhpc.evaluate.metrics_file import json_safe
from clusterhpc.evaluate.sets_baselines import set_baselines
from clusterhpc.evaluate.sets_metrics import (
    binned_scores,
    calibration,
    centre_scores,
    detection_scores,
    expected_within,
    purity_at_completeness,
    radius_holding,
    target_scores,
)
from clusterhpc.evaluate.sets_report import sets_metrics, write_sets_plots, write_sets_report
from clusterhpc.models.set_loss import SetPredictions
from tests.evaluate.test_sets_baselines import make_sets


def test_redshift_and_ln_figures_of_known_residuals():
    z = target_scores("z", np.zeros(5), np.array([-0.02, -0.01, 0.0, 0.01, 0.08]), 0.05)
    assert z["bias"] == 0.0 and z["sigma_nmad"] == pytest.approx(1.4826 * 0.01)
    assert z["outlier_fraction"] == pytest.approx(0.2) and z["n"] == 5
    residual = np.array([-0.2, -0.1, 0.0, 0.1, 0.5])
    ln = ln_scores(np.ones(5), 1 + residual)
    assert ln["bias"] == pytest.approx(0.0) and ln["mean"] == pytest.approx(0.06)
    assert ln["scatter"] == pytest.approx(np.std(residual))
    assert ln["sigma_nmad"] == pytest.approx(1.4826 * 0.1)
    assert ln_scores(np.zeros(0), np.zeros(0))["scatter"] is None


def test_centre_offsets_in_arcsec():
    true = np.zeros((4, 2))
    pred = np.array([[0.03, 0.04], [0.1, 0.0], [0.0, -0.2], [0.3, 0.4]])  # 3, 6, 12, 30″
    c = centre_scores(true, pred)
    assert c["median_arcsec"] == pytest.approx(9.0) and c["mean_arcsec"] == pytest.approx(12.75)
    assert c["p68_arcsec"] == pytest.approx(np.percentile([3, 6, 12, 30], 68.27))
    assert c["p95_arcsec"] > 12


def test_gaussian_radii_and_expectations():
    assert radius_holding(0.6827, 1) == pytest.approx(1.0, abs=1e-3)
    assert radius_holding(0.6827, 2) == pytest.approx(1.515, abs=1e-3)
    assert radius_holding(0.9545, 2) == pytest.approx(2.486, abs=1e-3)
    assert expected_within(radius_holding(0.9, 2), 2) == pytest.approx(0.9)


@pytest.mark.parametrize("dims", [1, 2])
def test_calibration_is_683_with_the_right_sigma_and_lower_with_half(dims):
    rng = np.random.default_rng(0)
    n = 40000
    sigma = rng.uniform(0.5, 2.0, n)
    shape = (n,) if dims == 1 else (n, 2)
    draws = rng.normal(size=shape) * (sigma if dims == 1 else sigma[:, None])
    right = calibration(draws, np.zeros(shape), sigma)
    assert right["dims"] == dims
    assert right["within_1sigma"] == pytest.approx(0.683, abs=0.01)
    assert right["within_2sigma"] == pytest.approx(0.954, abs=0.005)
    np.testing.assert_allclose(right["curve"]["observed"], right["curve"]["expected"], atol=0.01)
    half = calibration(draws, np.zeros(shape), sigma / 2)
    expected_half = expected_within(radius_holding(0.6827, dims) / 2, dims)  # 0.383 / 0.249
    assert half["within_1sigma"] == pytest.approx(expected_half, abs=0.01)
    assert half["within_1sigma"] < 0.4


def test_detection_auc_of_perfect_and_chance_rankings():
    labels = np.array([1, 1, 0, 0], bool)
    assert detection_scores(labels, np.array([0.9, 0.8, 0.2, 0.1]))["auc"] == 1.0
    assert detection_scores(labels, np.full(4, 0.5))["auc"] == pytest.approx(0.5)
    assert "unavailable" in detection_scores(np.ones(3, bool), np.ones(3))


def test_purity_at_completeness_with_the_threshold_from_the_tune_set():
    tune_labels = np.r_[np.ones(10), np.zeros(4)].astype(bool)
    tune_probs = np.r_[0.95 - 0.05 * np.arange(10), 0.6, 0.52, 0.4, 0.3]  # positives 0.95..0.5
    labels = np.array([1, 1, 1, 0, 0], bool)
    probs = np.array([0.9, 0.6, 0.5, 0.56, 0.1])
    at90, at95 = purity_at_completeness(tune_labels, tune_probs, labels, probs)
    assert at90["threshold"] == pytest.approx(0.55)  # 9 of the 10 tune positives
    assert at90["completeness"] == pytest.approx(2 / 3) and at90["purity"] == pytest.approx(2 / 3)
    assert at95["threshold"] == pytest.approx(0.5)
    assert at95["completeness"] == 1.0 and at95["purity"] == pytest.approx(0.75)
    assert at90["purity_own_curve"] == pytest.approx(0.75)  # all 3 needed: threshold 0.5
    untuned = purity_at_completeness(None, None, labels, probs)
    assert untuned[0]["threshold"] is None and "unavailable" in untuned[0]
    assert untuned[0]["purity_own_curve"] == pytest.approx(0.75)
    one_kind = purity_at_completeness(np.ones(3, bool), np.ones(3), labels, probs)
    assert one_kind[1]["threshold"] is None


def test_binned_scores_count_per_bin():
    true = np.array([0.12, 0.13, 0.31, 0.33, 0.35])
    rows = binned_scores("z", true, true + 0.01, true, [0.1, 0.2, 0.3, 0.4], 0.05)
    assert [r["n"] for r in rows] == [2, 0, 3]
    assert rows[1]["sigma_nmad"] is None and rows[0]["lo"] == 0.1 and rows[2]["hi"] == 0.4


def _mass_case():
    """Train and report sets: ln λ from the member count, ln M from λ; the report has three
    member sets with unknown mass and two non-member sets."""
    rng = np.random.default_rng(5)
    sizes = rng.integers(5, 60, 60)
    lam = np.exp(0.5 + 0.9 * np.log(sizes))
    ln_mass = 30 + 1.3 * np.log(lam) + rng.normal(0, 0.25, 60)
    z = rng.uniform(0.1, 0.6, 60)
    train = make_sets(sizes[:40], lam=lam[:40], ln_mass=ln_mass[:40], z=z[:40])
    report_mass = ln_mass[40:].copy()
    report_mass[:3] = np.nan
    is_cluster = np.r_[np.ones(18, bool), False, False]
    report = make_sets(
        sizes[40:], lam=lam[40:], ln_mass=report_mass, z=z[40:], is_cluster=is_cluster
    )
    return train, report, rng


def test_sets_metrics_leave_out_unknown_masses_and_compare_with_baselines(tmp_path):
    train, report, rng = _mass_case()
    n = len(report)
    truth_ln_mass = np.asarray(report.meta["ln_mass"], np.float64)
    pred = SetPredictions(
        mean={
            "lnmass": np.nan_to_num(truth_ln_mass, nan=33.0) + rng.normal(0, 0.5, n),
            "centre": np.zeros((n, 2)),
        },
        sigma={"lnmass": np.full(n, 0.5), "centre": np.full(n, 0.1)},
        prob=np.r_[np.linspace(0.6, 0.9, 18), 0.1, 0.7],
    )
    ev = EvaluateConfig()
    baselines = set_baselines(train, report)
    m = sets_metrics(ev, report, pred, baselines, tune=(report, pred))
    mass = m["lnmass"]
    assert mass["model"]["n"] == 15 and mass["n_left_out_unknown"] == 3
    assert mass["baseline_mass_richness"]["n"] == 15
    assert mass["baseline_mass_richness"]["scatter"] == pytest.approx(0.25, abs=0.1)
    assert mass["baseline_mass_richness"]["model_better"] is False
    assert sum(r["n"] for r in mass["binned_z"]["model"]) == 15
    assert len(mass["binned_lambda"]["baseline_mass_richness"]) == len(ev.lambda_bins) - 1
    assert m["centre"]["baseline_member_mean"]["median_arcsec"] == 0.0  # truth = member mean
    assert "unavailable" in m["centre"]["baseline_brightest"]  # no magnitudes in these sets
    assert m["detect"]["auc"] == pytest.approx(30 / 36)  # 0.7 ranks above 6 of 18 positives
    assert m["detect"]["baseline_set_size"]["auc"] is not None
    json.dumps(json_safe(m))
    plots = write_sets_plots(tmp_path / "plots", ev, report, pred, baselines, m)
    assert all(p.exists() for p in plots.values())
    write_sets_report(tmp_path / "report.md", m, plots)
    text = (tmp_path / "report.md").read_text()
    assert "does **not** beat `baseline_mass_richness`" in text
    assert "](plots/sets_calibration.png)" in text
