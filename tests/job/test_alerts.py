"""Alert rules evaluated by the real job on the drift traffic, delivered to real receivers."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from modelmon import alert_rules, store
from modelmon.api import create_app
from modelmon.config import Config
from modelmon.pipelines.monitoring_job import run_monitoring_job
from modelmon.udfs.alerts import activation_id, make_rule
from modelmon.udfs.contract import endpoint_id
from tests.support.drift_traffic import write_drift_input
from tests.support.receivers import WebhookReceiver

ENDPOINTS = {model: endpoint_id("drift", "serving", "v1", "", model, "") for model in
             ("stable", "partly", "fully", "unregistered")}


@pytest.fixture(scope="module")
def alerted(tmp_path_factory):
    """The drift input, with rules, through the job bounded; the webhook receives its deliveries."""
    root = tmp_path_factory.mktemp("alerts")
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=4)
    dsn, _ = write_drift_input(root, start)
    receiver = WebhookReceiver()
    client = store.connect(dsn)
    try:
        for fields in ({"name": "drift", "kind": "drift_detected", "severity": "high",
                        "notify": [f"webhook:{receiver.url}/hook"]},
                       {"name": "errors", "kind": "error_rate_above", "threshold": 0.025, "cooldown_seconds": 0,
                        "endpoint": ENDPOINTS["stable"]},
                       {"name": "possible", "kind": "drift_possible"},
                       {"name": "features", "kind": "feature_drift"},
                       {"name": "slow", "kind": "latency_p99_above", "threshold": 500},  # every request takes 1 ms
                       {"name": "slower", "kind": "latency_p99_above", "threshold": 5000}):
            alert_rules.save_rule(client, make_rule({"project": "drift", **fields}))
    finally:
        client.close()
    config = Config(store=dsn, source=str(root / "spool"))
    run_monitoring_job(config, bounded=True)
    client = store.connect(dsn)
    try:
        yield {"client": client, "receiver": receiver, "start": start, "dsn": dsn}
    finally:
        client.close()
        receiver.close()


def test_drift_detected_opens_one_activation_for_the_drifting_endpoint_only(alerted):
    client = alerted["client"]
    activations = [a for a in alert_rules.list_activations(client, "drift") if a["rule"] == "drift"]
    assert [a["endpoint_id"] for a in activations] == [ENDPOINTS["fully"]]
    [activation] = activations
    # it opens at the first drift run whose status is DRIFT_DETECTED, and stays open
    first = client.query("SELECT min(window_end) FROM drift_status FINAL WHERE endpoint_id = {e:String} "
                         "AND drift_status = 'DRIFT_DETECTED'", parameters={"e": ENDPOINTS["fully"]}).result_rows[0][0]
    assert activation["opened_at"] == first and activation["closed_at"] is None
    opened_ms = round(first.replace(tzinfo=timezone.utc).timestamp() * 1000)
    assert activation["activation_id"] == activation_id("drift", ENDPOINTS["fully"], opened_ms)
    measure = client.query("SELECT drift_measure FROM drift_status FINAL WHERE endpoint_id = {e:String} "
                           "AND window_end = {t:DateTime64(3)}", parameters={"e": ENDPOINTS["fully"], "t": first}
                           ).result_rows[0][0]
    assert activation["value"] == measure and activation["severity"] == "high"


def test_its_webhook_carries_the_activation_with_its_id_as_idempotency_key(alerted):
    [delivery] = alerted["receiver"].received
    body = delivery.body
    [activation] = [a for a in alert_rules.list_activations(alerted["client"], "drift") if a["rule"] == "drift"]
    assert delivery.path == "/hook" and delivery.headers["Idempotency-Key"] == activation["activation_id"]
    assert (body["activation_id"], body["rule"], body["endpoint_id"], body["kind"], body["value"], body["threshold"]) == (
        activation["activation_id"], "drift", ENDPOINTS["fully"], "drift_detected", activation["value"], None)
    assert activation["notified_at"] is not None and activation["deliveries"] == 1 and activation["last_error"] == ""


def test_error_rate_opens_and_closes_with_the_windows_of_the_watched_endpoint(alerted):
    """Expected from the stored 5-minute windows of the one endpoint the rule watches: an
    activation opens at each window whose error rate passes 0.025 after one that did not, and
    closes at the next window that does not (cooldown 0)."""
    client = alerted["client"]
    windows = client.query(
        "SELECT toUnixTimestamp64Milli(window_end), error_count, requests_count FROM endpoint_metrics FINAL "
        "WHERE endpoint_id = {e:String} AND window_size = '5m' ORDER BY window_end",
        parameters={"e": ENDPOINTS["stable"]}).result_rows
    expected, opened = [], None
    for end, errors, requests in windows:
        breached = requests > 0 and errors / requests > 0.025
        if breached and opened is None:
            opened = end
        elif not breached and opened is not None:
            expected.append((opened, end))
            opened = None
    if opened is not None:
        expected.append((opened, None))
    assert len(expected) >= 2
    found = sorted((round(a["opened_at"].replace(tzinfo=timezone.utc).timestamp() * 1000),
                    None if a["closed_at"] is None else round(a["closed_at"].replace(tzinfo=timezone.utc).timestamp()
                                                                * 1000))
                   for a in alert_rules.list_activations(client, "drift") if a["rule"] == "errors")
    assert found == expected
    assert {a["endpoint_id"] for a in alert_rules.list_activations(client, "drift") if a["rule"] == "errors"} == {
        ENDPOINTS["stable"]}


def test_the_status_page_rest_and_grafana_show_the_open_activation(alerted):
    app = create_app({"MODELMON": Config(store=alerted["dsn"]), "TESTING": True}).test_client()
    [activation] = [a for a in alert_rules.list_activations(alerted["client"], "drift", open_only=True)
                    if a["rule"] == "drift"]
    fully = ENDPOINTS["fully"]
    index = app.get("/?from=now-24h").get_data(as_text=True)
    for endpoint in ENDPOINTS.values():  # each endpoint's cell names its open activations' rules
        cell = re.search(rf'<tr data-endpoint="{endpoint}">.*?<td class="alerts">(.*?)</td>', index, re.S).group(1)
        shown = re.findall(r'<span class="status"[^>]*>([\w-]+)</span>', cell)
        assert sorted(shown) == sorted(a["rule"] for a in alert_rules.list_activations(
            alerted["client"], "drift", open_only=True, endpoint_id=endpoint)), endpoint
        assert shown or cell == "-"
    assert re.search(rf'<tr data-endpoint="{fully}">.*?background: #c62828">drift</span>', index, re.S)  # high
    page = app.get(f"/endpoints/{fully}?from=now-24h").get_data(as_text=True)
    assert f'<tr data-activation="{activation["activation_id"]}"><td>drift</td><td>drift_detected</td>' in page
    rest = app.get(f"/api/projects/drift/alert-activations?open=true&endpoint={fully}").get_json()["activations"]
    assert sorted(a["activation_id"] for a in rest) == sorted(
        a["activation_id"] for a in alert_rules.list_activations(alerted["client"], "drift", open_only=True,
                                                                 endpoint_id=fully))
    [drift] = [a for a in rest if a["rule"] == "drift"]
    assert drift["activation_id"] == activation["activation_id"]
    assert drift["opened_at"] == activation["opened_at"].isoformat() + "+00:00"
    start = alerted["start"]
    annotations = app.post("/api/grafana-proxy/model-endpoints/annotations", json={
        "range": {"from": start.isoformat(), "to": (start + timedelta(hours=3)).isoformat()},
        "annotation": {"name": "alerts", "query": f"target_endpoint=alerts;project=drift;endpoint_id={fully}"}}
                           ).get_json()
    opened_ms = round(activation["opened_at"].replace(tzinfo=timezone.utc).timestamp() * 1000)
    assert len(annotations) == len(rest)  # every activation open in the range
    assert [(a["time"], a["timeEnd"]) for a in annotations if a["title"] == "drift (high)"] == [
        (opened_ms, round((start + timedelta(hours=3)).timestamp() * 1000))]



def first_breaches(client, sql: str) -> dict[str, int]:
    """endpoint id -> epoch ms of its first row (in the job's stored rows) that breaks a rule."""
    return {endpoint: round(first.replace(tzinfo=timezone.utc).timestamp() * 1000)
            for endpoint, first in client.query(sql).result_rows}


@pytest.mark.parametrize("rule, sql", [
    ("possible", "SELECT endpoint_id, min(window_end) FROM drift_status FINAL "
                 "WHERE drift_status IN ('POSSIBLE_DRIFT', 'DRIFT_DETECTED') GROUP BY endpoint_id"),
    ("features", "SELECT endpoint_id, min(window_end) FROM drift_measures FINAL "
                 "WHERE drift_status = 'DRIFT_DETECTED' GROUP BY endpoint_id"),
    ("slow", "SELECT endpoint_id, min(window_end) FROM endpoint_metrics FINAL "
             "WHERE window_size = '5m' AND latency_p99 > 500 GROUP BY endpoint_id"),
    ("slower", "SELECT endpoint_id, min(window_end) FROM endpoint_metrics FINAL "
               "WHERE window_size = '5m' AND latency_p99 > 5000 GROUP BY endpoint_id"),
])
def test_each_kind_opens_at_the_first_row_that_breaks_it_and_only_for_those_endpoints(alerted, rule, sql):
    """With the default cooldown (1 h) and a condition that holds once it breaks, one activation
    per endpoint whose rows break the rule, opened at its first such row."""
    client = alerted["client"]
    expected = first_breaches(client, sql)
    found = {a["endpoint_id"]: round(a["opened_at"].replace(tzinfo=timezone.utc).timestamp() * 1000)
             for a in alert_rules.list_activations(client, "drift") if a["rule"] == rule}
    assert found == expected
    assert (len(expected) > 0) == (rule != "slower")
    if rule == "features":  # two of partly's five features shift, all of fully's
        assert set(expected) == {ENDPOINTS["partly"], ENDPOINTS["fully"]}
