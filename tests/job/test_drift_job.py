"""References registered from generated training sets, the real job run bounded over traffic
whose distribution shifts halfway for some features, and every stored histogram, drift
number and status checked against numpy/scipy on the same events (tests/support/expected.py)."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest

from tests.support.drift_traffic import BINS, FEATURES, RANGE_MS, SHIFTS, WINDOW_MS
from tests.support.expected import live_histogram, read_feature_rows, reference_histograms
from tests.support.expected import scipy_measures
from modelmon.udfs.contract import endpoint_id

def query(client, sql: str) -> list[dict]:
    result = client.query(sql)
    return [dict(zip(result.column_names, row)) for row in result.result_rows]


def ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


@pytest.fixture(scope="module")
def expected_windows(drift_run):
    """(endpoint, feature index, window start) -> the valid values of that window, and invalid count."""
    windows = {}
    for endpoint, rows in read_feature_rows(drift_run["spool"], len(FEATURES)).items():
        starts = rows["time_ms"] - rows["time_ms"] % WINDOW_MS
        for start in np.unique(starts):
            block = rows["values"][starts == start]
            for j in range(len(FEATURES)):
                column = block[:, j]
                windows[(endpoint, j, int(start))] = (column[~np.isnan(column)], int(np.isnan(column).sum()))
    return windows


def test_every_histogram_window_equals_an_independent_count(drift_run, expected_windows, drift_store):
    stored = query(drift_store, "SELECT * FROM feature_histograms FINAL")
    assert {(r["endpoint_id"], r["feature_index"], ms(r["window_start"])) for r in stored} == set(expected_windows)
    references = {e: reference_histograms(f) for e, f in drift_run["references"].items()}
    for row in stored:
        valid, invalid = expected_windows[(row["endpoint_id"], row["feature_index"], ms(row["window_start"]))]
        assert (row["count"], row["invalid_count"]) == (len(valid), invalid)
        assert ms(row["window_end"]) - ms(row["window_start"]) == WINDOW_MS
        assert row["mean"] == pytest.approx(valid.mean(), rel=1e-9, abs=1e-12)
        assert row["std"] == pytest.approx(valid.std(), rel=1e-9, abs=1e-12)
        assert (row["min"], row["max"]) == (valid.min(), valid.max())
        if row["endpoint_id"] in references:
            edges, _ = references[row["endpoint_id"]][row["feature_index"]]
            assert row["feature_name"] == FEATURES[row["feature_index"]]
            assert row["bin_counts"] == live_histogram(valid, edges).tolist()
        else:
            assert row["feature_name"] == f"f{row['feature_index']}" and row["bin_counts"] == []


def expected_drift(expected_windows, references, endpoint: str, end: int) -> list[dict | None]:
    """Per feature, scipy's measures over the windows starting in [end - range, end)."""
    result = []
    for j, (edges, reference_counts) in enumerate(references[endpoint]):
        live = sum((live_histogram(valid, edges) for (e, f, start), (valid, _) in expected_windows.items()
                    if e == endpoint and f == j and end - RANGE_MS <= start < end), np.zeros(BINS + 2, dtype=int))
        result.append(scipy_measures(live, reference_counts) if live.sum() else None)
    return result


def test_every_drift_number_matches_numpy_and_scipy(drift_run, expected_windows, drift_store):
    client, references = drift_store, {e: reference_histograms(f) for e, f in drift_run["references"].items()}
    starts = {(e, start) for e, _, start in expected_windows}
    ends = {(e, start + WINDOW_MS + k * WINDOW_MS) for e, start in starts for k in range(RANGE_MS // WINDOW_MS)}
    status_rows = query(client, "SELECT * FROM drift_status FINAL")
    assert {(r["endpoint_id"], ms(r["window_end"])) for r in status_rows} == ends
    measure_rows = {(r["endpoint_id"], r["feature_index"], ms(r["window_end"])): r
                    for r in query(client, "SELECT * FROM drift_measures FINAL")}
    assert len(measure_rows) == len(FEATURES) * len([1 for e, _ in ends if e in references])
    for status in status_rows:
        endpoint, end = status["endpoint_id"], ms(status["window_end"])
        assert ms(status["window_start"]) == end - RANGE_MS
        if endpoint not in references:
            assert status["drift_status"] == "NO_REFERENCE" and status["drift_measure"] is None
            assert status["tvd_mean"] is None and status["feature_names"] == [f"f{j}" for j in range(5)]
            continue
        per_feature = expected_drift(expected_windows, references, endpoint, end)
        for j, want in enumerate(per_feature):
            got = measure_rows[(endpoint, j, end)]
            for name in ("tvd", "hellinger", "kld", "psi", "jsd"):
                assert got[name] == pytest.approx(want[name], abs=1e-9), (endpoint, j, end, name)
        means = {name: np.mean([w[name] for w in per_feature]) for name in ("tvd", "hellinger", "kld")}
        for name, mean in means.items():
            assert status[f"{name}_mean"] == pytest.approx(mean, abs=1e-9)
            assert status[f"{name}_sum"] == pytest.approx(mean * len(FEATURES), abs=1e-9)
        measure = (means["tvd"] + means["hellinger"]) / 2
        assert status["drift_measure"] == pytest.approx(measure, abs=1e-9)
        assert status["drift_status"] == ("DRIFT_DETECTED" if measure >= 0.7 else
                                          "POSSIBLE_DRIFT" if measure >= 0.5 else "NO_DRIFT")
        assert status["feature_names"] == FEATURES and status["features_count"] == len(FEATURES)


def test_the_shifted_features_and_only_those_cross_the_thresholds(drift_run, drift_store):
    shift = drift_run["shift_ms"]
    rows = query(drift_store, "SELECT * FROM drift_measures FINAL")
    model_of = {endpoint_id("drift", "serving", "v1", "", m, ""): m for m in SHIFTS}
    before = after = 0
    for row in rows:
        shifted = row["feature_index"] in SHIFTS[model_of[row["endpoint_id"]]]
        if ms(row["window_end"]) <= shift or not shifted:
            assert row["drift_measure"] < 0.5 and row["drift_status"] == "NO_DRIFT", row
            before += 1
        elif ms(row["window_start"]) >= shift:  # the whole range after the shift
            assert row["drift_measure"] >= 0.7 and row["drift_status"] == "DRIFT_DETECTED", row
            assert set(row["exceeded"]) >= {"tvd", "hellinger", "kld", "psi"}
            after += 1
    assert before > 100 and after > 20
    status = {(model_of[r["endpoint_id"]], ms(r["window_start"]) >= shift): r["drift_status"]
              for r in query(drift_store, "SELECT * FROM drift_status FINAL")
              if ms(r["window_end"]) <= shift or ms(r["window_start"]) >= shift}
    assert status == {("stable", False): "NO_DRIFT", ("stable", True): "NO_DRIFT",
                      ("partly", False): "NO_DRIFT", ("partly", True): "NO_DRIFT",  # 2 of 5 features
                      ("fully", False): "NO_DRIFT", ("fully", True): "DRIFT_DETECTED",
                      ("unregistered", False): "NO_REFERENCE", ("unregistered", True): "NO_REFERENCE"}


def test_the_registry_shows_the_latest_drift_status_and_feature_names(drift_run, drift_store):
    rows = {r["model"]: r for r in query(drift_store,
                                         "SELECT model, drift_status, feature_names FROM endpoints")}
    assert {m: (r["drift_status"], r["feature_names"]) for m, r in rows.items()} == {
        "stable": ("NO_DRIFT", FEATURES), "partly": ("NO_DRIFT", FEATURES), "fully": ("DRIFT_DETECTED", FEATURES),
        "unregistered": ("NO_REFERENCE", ["f0", "f1", "f2", "f3", "f4"])}


def test_sampled_incoming_rows_are_real_rows_about_one_in_ten(drift_run, drift_store):
    expected = read_feature_rows(drift_run["spool"], len(FEATURES))
    stored = query(drift_store, "SELECT endpoint_id, event_time, row_key, features FROM incoming_features FINAL")
    for endpoint, rows in expected.items():
        by_key = {key: (t, values) for key, t, values in zip(rows["row_key"], rows["time_ms"], rows["values"])}
        sampled = [r for r in stored if r["endpoint_id"] == endpoint]
        assert 0.08 < len(sampled) / len(by_key) < 0.12
        names = FEATURES if endpoint in drift_run["references"] else [f"f{j}" for j in range(5)]
        for row in sampled:
            time_ms, values = by_key[row["row_key"]]
            assert ms(row["event_time"]) == time_ms
            assert list(row["features"]) == names
            assert [None if math.isnan(v) else v for v in values] == list(row["features"].values())
