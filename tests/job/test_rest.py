"""The REST API in MLRun's shape, over the stores the real job filled."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from modelmon.api import create_app
from tests.support.drift_traffic import FEATURES
from tests.support.expected import read_feature_rows
from tests.support.expected import scipy_measures
from tests.support.expected import live_histogram, reference_histograms
from modelmon.udfs.contract import endpoint_id

FULLY = endpoint_id("drift", "serving", "v1", "", "fully", "")


@pytest.fixture
def drift_client(drift_run):
    return create_app({"MODELMON": drift_run["config"], "TESTING": True}).test_client()


def iso(moment) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def test_lists_a_projects_endpoints_with_mlruns_shape(drift_client, drift_store):
    response = drift_client.get("/api/projects/drift/model-endpoints")
    assert response.status_code == 200
    endpoints = response.get_json()["endpoints"]
    registry = {row[0]: row[1:] for row in drift_store.query(
        "SELECT endpoint_id, model, error_count, drift_status, first_request FROM endpoints").result_rows}
    assert {e["metadata"]["uid"] for e in endpoints} == set(registry)
    for endpoint in endpoints:
        model, errors, drift, first = registry[endpoint["metadata"]["uid"]]
        assert endpoint["kind"] == "model-endpoint" and endpoint["metadata"]["project"] == "drift"
        assert endpoint["spec"]["model"] == f"{model}:latest"
        assert endpoint["status"]["error_count"] == errors and endpoint["status"]["drift_status"] == drift
        assert endpoint["status"]["first_request"] == first.isoformat() + "+00:00"
        thresholds = endpoint["spec"]["monitor_configuration"]
        assert thresholds == ({"possible_drift": None, "drift_detected": None} if model == "unregistered"
                              else {"possible_drift": 0.5, "drift_detected": 0.7})


def test_filters_by_model_function_and_labels(drift_client, client):
    only = drift_client.get("/api/projects/drift/model-endpoints?model=fully").get_json()["endpoints"]
    assert [e["metadata"]["uid"] for e in only] == [FULLY]
    assert drift_client.get("/api/projects/drift/model-endpoints?function=drift/serving:v1").get_json()[
        "endpoints"].__len__() == 4
    gold = client.get("/api/projects/demo/model-endpoints?label=tier=gold&label=team=ml").get_json()["endpoints"]
    assert len(gold) == 5 and all(e["metadata"]["labels"]["tier"] == "gold" for e in gold)
    assert client.get("/api/projects/demo/model-endpoints?label=tier=' OR 1=1 --").get_json()["endpoints"] == []


def test_one_endpoint_with_metrics_and_feature_analysis(drift_client, drift_run, drift_store):
    start, end = drift_run["start"] + timedelta(hours=1), drift_run["start"] + timedelta(hours=2)
    response = drift_client.get(f"/api/projects/drift/model-endpoints/{FULLY}", query_string={
        "metric": ["predictions_per_second", "drift_measure"], "start": iso(start), "end": iso(end),
        "feature_analysis": "true"})
    assert response.status_code == 200
    endpoint = response.get_json()
    stored = drift_store.query(
        "SELECT window_end, predictions_per_second FROM endpoint_metrics FINAL WHERE endpoint_id = {e:String} "
        "AND window_size = '5m' AND window_end BETWEEN {s:DateTime64(3)} AND {t:DateTime64(3)} ORDER BY window_end",
        parameters={"e": FULLY, "s": start, "t": end}).result_rows
    assert endpoint["status"]["metrics"]["real_time"]["predictions_per_second"] == [
        [t.isoformat() + "+00:00", v] for t, v in stored]
    reference = drift_run["references"][FULLY]
    stats = endpoint["spec"]["feature_stats"]
    assert list(stats) == FEATURES
    for j, name in enumerate(FEATURES):
        column = reference[name].to_numpy()
        assert (stats[name]["count"], stats[name]["min"], stats[name]["max"]) == (len(column), column.min(),
                                                                                  column.max())
        counts, edges = np.histogram(column, bins=20)
        assert stats[name]["hist"] == [counts.tolist(), pytest.approx(edges.tolist(), rel=1e-15)]
    rows = read_feature_rows(drift_run["spool"], len(FEATURES))[FULLY]
    window_starts = rows["time_ms"] - rows["time_ms"] % 300_000
    values = rows["values"][(window_starts >= start.timestamp() * 1000) & (window_starts < end.timestamp() * 1000)]
    drift = endpoint["status"]["drift_measures"]
    for j, (edges, reference_counts) in enumerate(reference_histograms(reference)):
        column = values[:, j][~np.isnan(values[:, j])]
        assert endpoint["status"]["current_stats"][FEATURES[j]]["count"] == len(column)
        want = scipy_measures(live_histogram(column, edges), reference_counts)
        assert drift[FEATURES[j]] == {n: pytest.approx(want[n], abs=1e-9) for n in want}
    assert drift["tvd_mean"] == pytest.approx(np.mean([drift[f]["tvd"] for f in FEATURES]), abs=1e-12)


@pytest.mark.parametrize("url, status, message", [
    (f"/api/projects/drift/model-endpoints/{FULLY[:-1]}x", 404, "no model endpoint"),
    (f"/api/projects/other/model-endpoints/{FULLY}", 404, "no model endpoint"),
    ("/api/projects/drift/model-endpoints/x' OR '1'='1", 404, "no model endpoint"),
    ("/api/projects/drift/model-endpoints?metric=nope", 400, "unknown metrics ['nope']"),
    ("/api/projects/drift/model-endpoints?start=yesterday", 400, "is not an ISO 8601 time"),
    ("/api/projects/drift/model-endpoints?start=now&end=now-1h", 400, "start is after end"),
    ("/api/projects/drift/model-endpoints?label=novalue", 400, "is not key=value"),
    ("/api/projects/drift/model-endpoints?status=BAD", 400, "unknown status 'BAD'"),
    (f"/api/projects/drift/model-endpoints/{FULLY}/series?metric=nope", 400, "unknown or no metric ['nope']"),
    (f"/api/projects/drift/model-endpoints/{FULLY}/series?metric=tvd_sum&points=0", 400, "points must be"),
    (f"/api/projects/drift/model-endpoints/{FULLY}/feature-drift?measure=x", 400, "unknown measure 'x'"),
    (f"/api/projects/drift/model-endpoints/{FULLY[:-1]}x/series?metric=tvd_sum", 404, "no model endpoint"),
])
def test_bad_requests_get_a_json_4xx(drift_client, url, status, message):
    response = drift_client.get(url)
    assert response.status_code == status and message in response.get_json()["message"]


def test_series_average_the_windows_per_bucket_and_count_dead_letters(drift_client, drift_run, drift_store):
    start, end = drift_run["start"], drift_run["start"] + timedelta(hours=2)
    answer = drift_client.get(f"/api/projects/drift/model-endpoints/{FULLY}/series", query_string={
        "metric": ["latency_p95_5m", "invalid_count", "drift_status"], "start": iso(start), "end": iso(end),
        "points": 8}).get_json()
    bucket = 900_000  # two hours in 8 points
    assert answer["bucket_ms"] == bucket
    windows = drift_store.query(
        "SELECT toUnixTimestamp64Milli(window_end), latency_p95 FROM endpoint_metrics FINAL WHERE endpoint_id = {e:String} "
        "AND window_size = '5m' AND window_end BETWEEN {s:DateTime64(3)} AND {t:DateTime64(3)}",
        parameters={"e": FULLY, "s": start, "t": end}).result_rows
    times = np.array([t for t, _ in windows]) // bucket * bucket
    values = np.array([v for _, v in windows])
    assert answer["series"]["latency_p95_5m"] == [[int(t), pytest.approx(values[times == t].mean(), rel=1e-12)]
                                                  for t in np.unique(times)]
    # the invalid events of the traffic (a string latency), counted per bucket of their event time
    slow = [json.loads(line) for path in sorted(drift_run["spool"].glob("*.jsonl"))
            for line in path.read_text().splitlines() if '"slow"' in line and '"model": "fully"' in line]
    slow_ms = np.array([int(datetime.fromisoformat(e["when"]).timestamp() * 1000) for e in slow]) // bucket * bucket
    assert len(slow_ms) > 2
    assert answer["series"]["invalid_count"] == [[int(t), int((slow_ms == t).sum())] for t in np.unique(slow_ms)]
    # the drift status flips once, when the shifted traffic fills the drift range
    statuses = [status for _, status in answer["series"]["drift_status"]]
    assert statuses[0] == "NO_DRIFT" and statuses[-1] == "DRIFT_DETECTED"
    assert sum(a != b for a, b in zip(statuses, statuses[1:])) <= 2


def test_feature_drift_serves_each_features_measure_over_time(drift_client, drift_run, drift_store):
    start, end = drift_run["start"], drift_run["start"] + timedelta(hours=2)
    answer = drift_client.get(f"/api/projects/drift/model-endpoints/{FULLY}/feature-drift", query_string={
        "measure": "hellinger", "start": iso(start), "end": iso(end), "points": 10_000}).get_json()
    assert list(answer["features"]) == FEATURES
    stored = drift_store.query(
        "SELECT feature_name, toUnixTimestamp64Milli(window_end), hellinger FROM drift_measures FINAL "
        "WHERE endpoint_id = {e:String} AND window_end BETWEEN {s:DateTime64(3)} AND {t:DateTime64(3)} "
        "ORDER BY window_end", parameters={"e": FULLY, "s": start, "t": end}).result_rows
    bucket = answer["bucket_ms"]  # a point's time is the start of its bucket, as in every series
    assert bucket == 720
    for name in FEATURES:
        assert answer["features"][name] == [[t - t % bucket, v] for f, t, v in stored if f == name]


def test_the_features_route_pools_the_windows_standard_deviation(drift_client, drift_run):
    start, end = drift_run["start"] + timedelta(hours=1), drift_run["start"] + timedelta(hours=2)
    rows = drift_client.get(f"/api/projects/drift/model-endpoints/{FULLY}/features",
                            query_string={"start": iso(start), "end": iso(end)}).get_json()
    live = read_feature_rows(drift_run["spool"], len(FEATURES))[FULLY]
    window_starts = live["time_ms"] - live["time_ms"] % 300_000
    values = live["values"][(window_starts >= start.timestamp() * 1000) & (window_starts < end.timestamp() * 1000)]
    reference = drift_run["references"][FULLY]
    for j, row in enumerate(rows):
        column = values[:, j][~np.isnan(values[:, j])]
        assert row["actual_std"] == pytest.approx(column.std(), rel=1e-9)
        assert row["expected_std"] == pytest.approx(reference[FEATURES[j]].std(ddof=0), rel=1e-9)


def test_every_project_and_a_drift_status_filter(drift_client):
    everything = drift_client.get("/api/projects/*/model-endpoints").get_json()["endpoints"]
    assert {e["metadata"]["project"] for e in everything} == {"drift"} and len(everything) == 4
    drifting = drift_client.get("/api/projects/*/model-endpoints?status=DRIFT_DETECTED").get_json()["endpoints"]
    assert [e["metadata"]["uid"] for e in drifting] == [FULLY]
