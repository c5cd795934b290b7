"""The REST API in MLRun's shape, over the stores the real job filled."""

from __future__ import annotations

from datetime import timedelta, timezone

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
])
def test_bad_requests_get_a_json_4xx(drift_client, url, status, message):
    response = drift_client.get(url)
    assert response.status_code == status and message in response.get_json()["message"]
