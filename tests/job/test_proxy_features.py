"""Every SimpleJson target over the drift run's store (real job, real references), with
Grafana-shaped requests, checked against the store and against numpy/scipy."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from modelmon.api import create_app
from tests.support.drift_traffic import FEATURES
from tests.support.expected import read_feature_rows
from tests.support.expected import scipy_measures
from tests.support.expected import live_histogram, reference_histograms
from modelmon.udfs.contract import endpoint_id

PREFIX = "/api/grafana-proxy/model-endpoints"
MODELS = ("stable", "partly", "fully", "unregistered")
ENDPOINTS = {model: endpoint_id("drift", "serving", "v1", "", model, "") for model in MODELS}


@pytest.fixture
def client(drift_run):
    return create_app({"MODELMON": drift_run["config"], "TESTING": True}).test_client()


def grafana_range(start: datetime, end: datetime) -> dict:
    iso = {k: v.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
           for k, v in (("from", start), ("to", end))}
    return dict(iso, raw={"from": "now-6h", "to": "now"})


def post_query(client, target: str, start: datetime, end: datetime, max_points: int = 1000, kind="timeserie"):
    span = grafana_range(start, end)
    response = client.post(f"{PREFIX}/query", json={
        "range": span, "rangeRaw": span["raw"], "interval": "30s", "intervalMs": 30000, "maxDataPoints": max_points,
        "targets": [{"target": target, "refId": "A", "type": kind}]})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def hours(run, first: float, last: float) -> tuple[datetime, datetime]:
    return run["start"] + timedelta(hours=first), run["start"] + timedelta(hours=last)


def test_search_lists_a_projects_endpoints_for_a_variable(client):
    response = client.post(f"{PREFIX}/search", json={"target": r"target_endpoint=list_endpoints;project=d\rift"})
    assert response.status_code == 200
    assert {item["value"]: item["text"].split(" ")[0] for item in response.get_json()} == {
        e: m for m, e in ENDPOINTS.items()}


def test_list_endpoints_adds_requested_metrics_as_plain_numbers(client, drift_run, drift_store):
    [table] = post_query(client, "target_endpoint=list_endpoints;project=drift;metrics=predictions_per_second,"
                                 "latency_avg_1h,drift_measure", *hours(drift_run, 0, 2), kind="table")
    assert [c["text"] for c in table["columns"]][-4:] == ["drift_status", "predictions_per_second",
                                                          "latency_avg_1h", "drift_measure"]
    latest = {}
    for endpoint, size, end, pps, latency in drift_store.query(
            "SELECT endpoint_id, window_size, window_end, predictions_per_second, latency_avg "
            "FROM endpoint_metrics FINAL").result_rows:
        if end >= latest.get((endpoint, size), (end, None, None))[0]:
            latest[(endpoint, size)] = (end, pps, latency)
    drift = {}
    for endpoint, end, measure in drift_store.query(
            "SELECT endpoint_id, window_end, drift_measure FROM drift_status FINAL").result_rows:
        if end >= drift.get(endpoint, (end, None))[0]:
            drift[endpoint] = (end, measure)
    for row in table["rows"]:
        endpoint = row[0]
        assert row[-3:] == [latest[(endpoint, "5m")][1], latest[(endpoint, "1h")][2], drift[endpoint][1]]
        assert all(v is None or isinstance(v, float) for v in row[-3:])


@pytest.mark.parametrize("first,last", [(0, 1), (1, 2), (0.5, 1.75)])
def test_individual_and_overall_feature_analysis_over_the_requested_range(client, drift_run, first, last):
    start, end = hours(drift_run, first, last)
    rows = read_feature_rows(drift_run["spool"], len(FEATURES))
    for model in ("partly", "unregistered"):
        endpoint = ENDPOINTS[model]
        [table] = post_query(client, f"target_endpoint=individual_feature_analysis;endpoint_id={endpoint}",
                             start, end, kind="table")
        assert [c["text"] for c in table["columns"]] == [
            "feature_name", "actual_min", "actual_mean", "actual_max", "expected_min", "expected_mean",
            "expected_max", "tvd", "hellinger", "kld"]
        times = rows[endpoint]["time_ms"]
        window_starts = times - times % 300_000  # the windows that start in the range
        in_range = (window_starts >= start.timestamp() * 1000) & (window_starts < end.timestamp() * 1000)
        values = rows[endpoint]["values"][in_range]
        reference = drift_run["references"].get(endpoint)
        histograms = reference_histograms(reference) if reference is not None else None
        drifts = []
        for j, row in enumerate(table["rows"]):
            column = values[:, j][~np.isnan(values[:, j])]
            assert row[0] == (FEATURES[j] if reference is not None else f"f{j}")
            assert row[1] == column.min() and row[3] == column.max()
            assert row[2] == pytest.approx(column.mean(), rel=1e-9)
            if reference is None:
                assert row[4:] == [None] * 6
                continue
            training = reference[FEATURES[j]].to_numpy()
            assert row[4:7] == [training.min(), pytest.approx(training.mean(), rel=1e-12), training.max()]
            edges, reference_counts = histograms[j]
            want = scipy_measures(live_histogram(column, edges), reference_counts)
            assert row[7:] == [pytest.approx(want[n], abs=1e-9) for n in ("tvd", "hellinger", "kld")]
            drifts.append(want)
        [overall] = post_query(client, f"target_endpoint=overall_feature_analysis;endpoint_id={endpoint}",
                               start, end, kind="table")
        assert [c["text"] for c in overall["columns"]] == ["tvd_sum", "tvd_mean", "hellinger_sum", "hellinger_mean",
                                                           "kld_sum", "kld_mean"]
        if reference is None:
            assert overall["rows"] == []
            continue
        sums = [sum(d[n] for d in drifts) for n in ("tvd", "hellinger", "kld")]
        assert overall["rows"] == [[pytest.approx(v, abs=1e-9) for s in sums for v in (s, s / len(drifts))]]


def bucketed(points: list[tuple[int, float]], bucket_ms: int) -> list[list]:
    buckets = defaultdict(list)
    for time_ms, value in points:
        buckets[time_ms - time_ms % bucket_ms].append(value)
    return [[pytest.approx(float(np.mean(v)), rel=1e-9), t] for t, v in sorted(buckets.items())]


def test_metrics_over_time_are_the_stored_windows_bounded_by_range_and_max_points(client, drift_run, drift_store):
    endpoint = ENDPOINTS["fully"]
    start, end = hours(drift_run, 0.5, 2.5)
    stored = drift_store.query(
        "SELECT toUnixTimestamp64Milli(window_end), predictions_per_second FROM endpoint_metrics FINAL "
        "WHERE endpoint_id = {e:String} AND window_size = '5m' AND window_end BETWEEN {s:DateTime64(3)} AND "
        "{t:DateTime64(3)}", parameters={"e": endpoint, "s": start, "t": end}).result_rows
    drift = drift_store.query(
        "SELECT toUnixTimestamp64Milli(window_end), drift_measure FROM drift_status FINAL "
        "WHERE endpoint_id = {e:String} AND window_end BETWEEN {s:DateTime64(3)} AND {t:DateTime64(3)}",
        parameters={"e": endpoint, "s": start, "t": end}).result_rows
    target = f"target_endpoint=metrics;endpoint_id={endpoint};metrics=predictions_per_second,drift_measure"
    for max_points in (100_000, 20):
        series = {s["target"]: s["datapoints"] for s in post_query(client, target, start, end, max_points)}
        bucket = max(1, -(-int((end - start).total_seconds() * 1000) // max_points))
        assert series["predictions_per_second"] == bucketed(stored, bucket)
        assert series["drift_measure"] == bucketed(drift, bucket)
        assert all(len(points) <= max_points + 1 for points in series.values())
    assert len(stored) > 60  # one point per minute, unbucketed at 100,000 points


def test_incoming_features_are_one_series_per_feature(client, drift_run, drift_store):
    endpoint = ENDPOINTS["partly"]
    start, end = hours(drift_run, 0, 2)
    series = {s["target"]: s["datapoints"]
              for s in post_query(client, f"target_endpoint=incoming_features;endpoint_id={endpoint}", start, end, 30)}
    assert sorted(series) == FEATURES
    samples = drift_store.query("SELECT toUnixTimestamp64Milli(event_time), features FROM incoming_features FINAL "
                                "WHERE endpoint_id = {e:String}", parameters={"e": endpoint}).result_rows
    bucket = -(-2 * 3_600_000 // 30)
    for name, points in series.items():
        assert len(points) <= 31
        assert points == bucketed([(t, f[name]) for t, f in samples if f[name] is not None], bucket)


def test_annotations_mark_each_drift_status_change(client, drift_run, drift_store):
    endpoint = ENDPOINTS["fully"]
    start, end = hours(drift_run, 0, 4)
    span = grafana_range(start, end)
    annotation = {"name": "drift", "enable": True, "iconColor": "red",
                  "query": f"target_endpoint=drift_status;endpoint_id={endpoint}"}
    response = client.post(f"{PREFIX}/annotations", json={"range": span, "rangeRaw": span["raw"],
                                                          "annotation": annotation})
    assert response.status_code == 200
    statuses = drift_store.query("SELECT toUnixTimestamp64Milli(window_end), drift_status FROM drift_status FINAL "
                                 "WHERE endpoint_id = {e:String} ORDER BY window_end", parameters={"e": endpoint}
                                 ).result_rows
    changes = [(t, s) for (t, s), (_, before) in zip(statuses[1:], statuses) if s != before]
    assert [(a["time"], a["title"]) for a in response.get_json()] == changes
    assert [s for _, s in changes] == ["POSSIBLE_DRIFT", "DRIFT_DETECTED"]


@pytest.mark.parametrize("body, message", [
    ({"targets": [{"target": "target_endpoint=metrics;endpoint_id=x;metrics=nope"}]}, "unknown metrics ['nope']"),
    ({"targets": [{"target": "target_endpoint=metrics;metrics=drift_measure"}]}, "needs endpoint_id"),
    ({"targets": [{"target": "target_endpoint=incoming_features;endpoint_id=x"}]}, "needs the request's range"),
    ({"range": {"from": "yesterday", "to": "now"}, "targets": [{"target": "target_endpoint=list_endpoints"}]},
     "is not an ISO 8601 time"),
    ({"maxDataPoints": 0, "targets": [{"target": "target_endpoint=list_endpoints"}]}, "maxDataPoints"),
])
def test_bad_feature_queries_get_a_json_400(client, body, message):
    response = client.post(f"{PREFIX}/query", json=body)
    assert response.status_code == 400 and message in response.get_json()["message"]
