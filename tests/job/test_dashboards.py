"""The provisioned Grafana dashboards: every SQL query runs on a real store with data once
the ClickHouse plugin's macros and the variables are expanded, and every proxy URL they
read answers with the fields the panel selects."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import yaml

from modelmon.api import create_app

from tests.support.dashboards import DASHBOARDS, FULLY, GRAFANA, expand, panels


@pytest.fixture(scope="module")
def span(drift_run):
    return drift_run["start"], drift_run["start"] + timedelta(hours=4)


def test_there_are_three_dashboards_with_project_and_endpoint_variables():
    titles = {json.loads(p.read_text())["title"] for p in DASHBOARDS}
    assert titles == {"modelmon / Overview", "modelmon / Details", "modelmon / Performance"}
    for path in DASHBOARDS:
        names = [v["name"] for v in json.loads(path.read_text())["templating"]["list"]]
        assert names == (["project"] if path.stem == "overview" else ["project", "endpoint"])


def test_provisioning_names_every_datasource_the_panels_use():
    datasources = yaml.safe_load((GRAFANA / "provisioning/datasources/modelmon.yaml").read_text())["datasources"]
    known = {(d["type"], d["uid"]) for d in datasources}
    assert known == {("grafana-clickhouse-datasource", "modelmon-clickhouse"),
                     ("yesoreyeram-infinity-datasource", "modelmon-proxy")}
    for _, panel in panels():
        for target in panel["targets"]:
            assert (target["datasource"]["type"], target["datasource"]["uid"]) in known
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/modelmon.yaml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/var/lib/grafana/dashboards")


def test_variable_queries_return_values(drift_store, span):
    for path in DASHBOARDS:
        for variable in json.loads(path.read_text())["templating"]["list"]:
            result = drift_store.query(expand(variable["query"], *span))
            assert result.result_rows, variable["name"]
            if variable["name"] == "endpoint":
                assert result.column_names == ("__value", "__text")
                assert FULLY in [row[0] for row in result.result_rows]


def categorical_panel(panel: dict) -> bool:
    """A panel only an endpoint with categorical features fills (tests/job/test_categorical_job.py)."""
    return panel["title"].startswith("Categorical")


@pytest.mark.parametrize("dashboard, panel", [p for p in panels() if "rawSql" in p[1]["targets"][0]
                                              and not categorical_panel(p[1])],
                         ids=lambda p: p["title"] if isinstance(p, dict) else p)
def test_every_sql_panel_runs_and_returns_what_the_panel_draws(drift_store, span, dashboard, panel):
    result = drift_store.query(expand(panel["targets"][0]["rawSql"], *span))
    assert result.result_rows, panel["title"]
    if panel["type"] in ("timeseries", "heatmap"):
        assert result.column_names[0] == "time" and isinstance(result.result_rows[0][0], datetime)
        assert len(result.column_names) >= 2
    elif panel["type"] == "stat":
        assert len(result.column_names) == 1 and isinstance(result.result_rows[0][0], (int, float))


def select(document, path: str):
    for part in filter(None, path.split(".")):
        document = document[part]
    return document


@pytest.mark.parametrize("dashboard, panel", [p for p in panels() if "url" in p[1]["targets"][0]],
                         ids=lambda p: p["title"] if isinstance(p, dict) else p)
def test_every_proxy_panel_reads_a_route_that_answers_its_columns(drift_run, span, dashboard, panel):
    client = create_app({"MODELMON": drift_run["config"], "TESTING": True}).test_client()
    target = panel["targets"][0]
    response = client.open(expand(target["url"], *span), method=target["url_options"]["method"])
    assert response.status_code == 200, response.get_json()
    rows = select(response.get_json(), target["root_selector"])
    rows = rows if isinstance(rows, list) else [rows]
    assert rows
    for column in target["columns"]:
        select(rows[0], column["selector"])  # raises when the field is missing
