"""Drift measures against scipy, and hand-worked cases for the ε rule and the outer bins."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scipy import stats

from modelmon.udfs.drift import (DISTANCE_NAMES, DRIFT_DETECTED, MEASURES, NO_DATA, NO_DRIFT, POSSIBLE_DRIFT,
                                 endpoint_drift, feature_drift, features_drift)
from modelmon.udfs.histograms import FeatureReference, Reference, summarize
from tests.support.expected import scipy_measures


@pytest.mark.parametrize("seed", range(20))
def test_measures_match_scipy_on_random_histograms_with_empty_bins(seed):
    rng = np.random.default_rng(seed)
    live = rng.integers(0, 50, 22) * (rng.random(22) < 0.7)
    reference = rng.integers(0, 50, 22) * (rng.random(22) < 0.7)
    live[0] += 1
    reference[1] += 1
    got = feature_drift(live, reference).values
    want = scipy_measures(live, reference)
    assert set(got) == set(DISTANCE_NAMES) == set(want)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name


@pytest.mark.parametrize("seed", range(10))
def test_a_categorical_feature_has_every_measure_and_the_chi_square_p_value_of_scipy(seed):
    rng = np.random.default_rng(seed)
    categories = int(rng.integers(2, 60))
    reference = rng.integers(0, 500, categories + 2) * (rng.random(categories + 2) < 0.8)  # + other, missing
    live = rng.integers(0, 80, categories + 2) * (rng.random(categories + 2) < 0.8)
    reference[0] += 1
    live[1] += 1
    got = feature_drift(live, reference, categorical=True).values
    assert set(got) == {m.name for m in MEASURES}
    smoothed = reference + 0.5
    expected = smoothed / smoothed.sum() * live.sum()
    assert got["chi2_pvalue"] == pytest.approx(stats.chisquare(f_obs=live, f_exp=expected).pvalue, rel=1e-9, abs=1e-12)
    for name, value in scipy_measures(live, reference).items():
        assert got[name] == pytest.approx(value, abs=1e-12), name


def test_all_features_of_an_endpoint_at_once_match_scipy_row_by_row():
    rng = np.random.default_rng(7)
    live = rng.integers(0, 50, (20, 22)) * (rng.random((20, 22)) < 0.7)
    reference = rng.integers(0, 50, (20, 22)) * (rng.random((20, 22)) < 0.7)
    live[:, 0] += 1
    reference[:, 1] += 1
    live[3] = 0  # no live value: no measures, and the rows after it keep their own
    reference[5] = 0
    drifts = features_drift(live, reference)
    assert [d.live_count for d in drifts] == live.sum(axis=1).tolist()
    for j, drift in enumerate(drifts):
        if j in (3, 5):
            assert drift.values == {}, j
            continue
        for name, value in scipy_measures(live[j], reference[j]).items():
            assert drift.values[name] == pytest.approx(value, abs=1e-12), (j, name)


def test_epsilon_replaces_only_zero_denominators_and_zero_weights_add_nothing():
    # p = [.5, .5, 0], q = [0, .5, .5]: each side has one bin the other lacks.
    # Σ p ln(p/q) = .5 ln(.5/ε) + .5 ln(1) + 0 ; Σ q ln(q/p) = 0 + .5 ln(1) + .5 ln(.5/ε)
    values = feature_drift(np.array([1, 1, 0]), np.array([0, 1, 1])).values
    assert values["kld"] == pytest.approx(math.log(0.5 / 1e-4), abs=1e-12)
    assert values["tvd"] == pytest.approx(0.5)


def test_values_outside_the_training_range_land_in_the_outer_bins_and_count_as_drift():
    edges = np.array([0.0, 1.0, 2.0])
    reference = Reference(7, (FeatureReference("x", edges, np.array([10, 10])),), 0.5, 0.7)
    live = summarize(np.array([[-1.0], [0.5], [1.5], [5.0]]), np.zeros(4, dtype=int), 1, reference, 7)[0]
    assert live.bins.tolist() == [[1, 1, 1, 1]]
    values = feature_drift(live.bins[0], reference.features[0].outer_counts()).values
    # p = [¼, ¼, ¼, ¼], q = [0, ½, ½, 0]
    assert values["tvd"] == pytest.approx(0.5, abs=1e-12)
    assert values["hellinger"] == pytest.approx(math.sqrt(0.5 * (0.25 + 2 * (0.5 - math.sqrt(0.5)) ** 2 + 0.25)),
                                                abs=1e-12)
    kld = 2 * 0.25 * math.log(0.25 / 1e-4) + 2 * 0.25 * math.log(0.5) + 2 * 0.5 * math.log(2)
    assert values["kld"] == pytest.approx(kld, abs=1e-12)


def test_an_empty_live_histogram_has_no_measures_rather_than_zeros():
    drift = feature_drift(np.zeros(4, dtype=int), np.array([0, 3, 4, 0]))
    assert drift.values == {} and drift.drift_measure is None
    assert endpoint_drift([drift], 0.5, 0.7).status == NO_DATA


@pytest.mark.parametrize("possible,detected,status", [
    (0.6, 0.8, NO_DRIFT), (0.52, 0.8, POSSIBLE_DRIFT), (0.4, 0.52, DRIFT_DETECTED),
    (0.3, 0.9, POSSIBLE_DRIFT),  # MLRun read "detected" from the "possible" key: that would say detected
])
def test_endpoint_status_compares_the_mean_of_tvd_and_hellinger_with_both_thresholds(possible, detected, status):
    features = [feature_drift(np.array([0, 5, 5, 0]), np.array([0, 10, 0, 0])),  # tvd .5, hellinger .5412
                feature_drift(np.array([0, 0, 0, 0]), np.array([0, 10, 0, 0]))]  # no live data: left out
    summary = endpoint_drift(features, possible, detected)
    hellinger = math.sqrt(0.5 * ((math.sqrt(0.5) - 1) ** 2 + 0.5))
    assert summary.features_count == 1
    assert summary.drift_measure == pytest.approx((0.5 + hellinger) / 2, abs=1e-12)
    assert summary.status == status
