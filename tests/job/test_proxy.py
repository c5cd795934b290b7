"""The SimpleJson proxy over the store the real job filled, with Grafana-shaped requests."""

from __future__ import annotations

import pytest

from modelmon.api.grafana import parse_target
from tests.support.proxy import PREFIX, grafana_query

def test_health(client):
    response = client.get(f"{PREFIX}/")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_search_lists_projects(client):
    response = client.post(f"{PREFIX}/search", json={"target": "target_endpoint=list_projects"})
    assert response.status_code == 200
    assert response.get_json() == ["demo", "tests"]


def test_list_endpoints_has_mlruns_columns_and_the_stores_values(client, traffic_store):
    response = grafana_query(client, r"target_endpoint=list_endpoints;project=d\e\m\o")  # regex-escaped
    assert response.status_code == 200
    [table] = response.get_json()
    assert table["type"] == "table"
    assert [c["text"] for c in table["columns"]] == [
        "endpoint_id", "endpoint_function", "endpoint_model", "endpoint_model_class",
        "first_request", "last_request", "accuracy", "error_count", "drift_status"]
    expected = {row[0]: row[1:] for row in traffic_store.query(
        "SELECT endpoint_id, function_uri, model, model_class, first_request, last_request, error_count "
        "FROM endpoints WHERE project = 'demo'").result_rows}
    assert len(table["rows"]) == len(expected) == 10
    for endpoint_id, function, model, model_class, first, last, accuracy, errors, drift in table["rows"]:
        want = expected[endpoint_id]
        assert (function, model, model_class, errors) == (want[0], want[1], want[2], want[5])
        assert (first, last) == (want[3].isoformat() + "+00:00", want[4].isoformat() + "+00:00")
        assert accuracy is None  # never a made-up number
        assert drift == "NO_REFERENCE"  # the simulated endpoints have no registered training set


def test_list_endpoints_without_a_project_lists_all(client, traffic_store):
    [table] = grafana_query(client, "target_endpoint=list_endpoints").get_json()
    ids = {row[0] for row in traffic_store.query("SELECT endpoint_id FROM endpoints").result_rows}
    assert {row[0] for row in table["rows"]} == ids and len(ids) == 11


@pytest.mark.parametrize("body, message", [
    (None, "the request body must be a JSON object"),
    ({"targets": []}, "'targets' must be a non-empty list"),
    ({"targets": ["x"]}, "each target must be an object with a 'target' string"),
    ({"targets": [{"target": ""}]}, "a target must be a non-empty 'key=value;key=value' string"),
    ({"targets": [{"target": "project=demo"}]}, "the target names no target_endpoint"),
    ({"targets": [{"target": "target_endpoint=nope"}]}, "unknown query target_endpoint 'nope'; known: "
     "incoming_features, individual_feature_analysis, list_endpoints, metrics, overall_feature_analysis"),
    ({"targets": [{"target": "target_endpoint=list_endpoints;oops"}]}, "target part 'oops' is not key=value"),
])
def test_bad_queries_get_a_json_400_naming_the_problem(client, body, message):
    response = client.post(f"{PREFIX}/query", data="not json" if body is None else None, json=body)
    assert response.status_code == 400
    assert response.get_json() == {"error": "Bad Request", "message": message}


def test_unknown_search_target_and_oversized_body(client):
    response = client.post(f"{PREFIX}/search", json={"target": "target_endpoint=list_models"})
    assert response.status_code == 400 and "list_models" in response.get_json()["message"]
    response = client.post(f"{PREFIX}/query", data="x" * (2 * 1024 * 1024), content_type="application/json")
    assert response.status_code == 413 and response.get_json()["error"] == "Request Entity Too Large"


def test_hostile_project_value_is_bound_not_formatted(client):
    response = grafana_query(client, "target_endpoint=list_endpoints;project=demo' OR '1'='1")
    assert response.status_code == 200 and response.get_json()[0]["rows"] == []


def test_parse_target_unescapes_grafana_regex_values():
    assert parse_target(r"target_endpoint=list_endpoints;project=my\-proj\.x") == {
        "target_endpoint": "list_endpoints", "project": "my-proj.x"}
