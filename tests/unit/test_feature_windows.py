"""Drift over many window ends at once (udfs/feature_windows.py) gives, for every end, what the
live counts of that end's trailing range alone give: summed here window by window on the
current reference's bins only (an older reference's summaries in the range do not count),
over gaps, a feature without bins, and with no reference at all."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelmon.udfs.drift import MEASURE_NAMES, NO_REFERENCE, endpoint_drift, features_drift
from modelmon.udfs.feature_windows import drift_rows
from modelmon.udfs.histograms import FeatureReference, Reference, summarize

WINDOW_MS = 300_000
RANGE_MS = 3_600_000
FEATURES = 5


def reference(reference_id: int, rng: np.random.Generator) -> Reference:
    features = tuple(FeatureReference(f"x{j}", None, None) if j == 2 else
                     FeatureReference(f"x{j}", np.linspace(-3, 3, 9), rng.integers(0, 50, 8)) for j in range(FEATURES))
    return Reference(reference_id, features, 0.2, 0.4)


@pytest.fixture
def case():
    """Five hours of windows with gaps (one longer than the range); some also hold a summary on
    an older reference's bins."""
    rng = np.random.default_rng(11)
    current, older = reference(7, rng), reference(3, rng)
    windows = {}
    for k in range(60):
        if rng.random() < 0.25 or 20 <= k < 35:
            continue
        n = int(rng.integers(1, 40))
        values = rng.normal(size=(n, FEATURES)) * (1 + k / 30)
        windows[k * WINDOW_MS] = summarize(values, np.zeros(n, int), 1, current, 7)
        if rng.random() < 0.3:
            windows[k * WINDOW_MS].append(summarize(values[:1], np.zeros(1, int), 1, older, 3)[0])
    ends = [end for end in range(WINDOW_MS, 70 * WINDOW_MS, WINDOW_MS)
            if any(end - RANGE_MS <= start < end for start in windows)]
    return windows, ends, current


def test_every_end_gets_the_drift_of_its_own_trailing_range(case):
    windows, ends, current = case
    rows = drift_rows("p", "e", ends, RANGE_MS, windows, current)
    assert len(rows) == len(ends)
    binned = [0, 1, 3, 4]
    for end, (measures, status) in zip(ends, rows):
        live = sum((s.bins[binned] for start, held in windows.items() if end - RANGE_MS <= start < end
                    for s in held if s.reference_id == 7), np.zeros((len(binned), current.bins), dtype=np.int64))
        expected = features_drift(live, current.binned_counts)
        assert [m["feature_index"] for m in measures] == binned
        assert [m["live_count"] for m in measures] == live.sum(axis=1).tolist()
        for row, drift in zip(measures, expected):
            for name in MEASURE_NAMES:
                assert row[name] == drift.values.get(name)
        summary = endpoint_drift(expected, 0.2, 0.4)
        assert (status["window_start"], status["window_end"]) == (end - RANGE_MS, end)
        assert status["drift_status"] == summary.status and status["features_count"] == summary.features_count
        if summary.drift_measure is not None:
            assert math.isclose(status["drift_measure"], summary.drift_measure, rel_tol=1e-12)
    assert sum(len(held) > 1 for held in windows.values()) >= 5  # older summaries that must not count
    assert len({status["drift_status"] for _, status in rows}) > 1


def test_without_a_reference_every_end_says_so(case):
    windows, ends, _ = case
    rows = drift_rows("p", "e", ends, RANGE_MS, windows, None)
    assert [(measures, status["drift_status"], status["window_end"]) for measures, status in rows] == \
        [([], NO_REFERENCE, end) for end in ends]
