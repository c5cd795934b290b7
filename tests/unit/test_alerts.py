"""Alert rules: their checks, the evaluation's state machine, and the rules and activations in
a real embedded store through the CLI and the REST routes."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone

import pytest

from modelmon import alert_rules, store
from modelmon.api import create_app
from modelmon.cli import main as cli_main
from modelmon.config import Config
from modelmon.udfs.alerts import KINDS, AlertRule, RuleError, RuleState, activation_id, evaluate, make_rule

ENDPOINT = "e" * 40
MINUTE = 60_000


def run(rule: AlertRule, values: list, state: RuleState | None = None) -> list[list[tuple[str, str]]]:
    """Each evaluation's changes, one a minute: (action, activation id)."""
    state = state or RuleState()
    return [[(c.action, c.activation_id) for c in evaluate(rule, state, ENDPOINT, (i + 1) * MINUTE, v)]
            for i, v in enumerate(values)]


@pytest.mark.parametrize("fields, message", [
    ({"kind": "nope"}, "unknown kind 'nope'"),
    ({"kind": "latency_p99_above"}, "kind latency_p99_above needs a threshold"),
    ({"kind": "drift_detected", "threshold": 1}, "kind drift_detected takes no threshold"),
    ({"kind": "drift_detected", "notify": ["webhook:ftp://x"]}, "a webhook needs an http(s) URL"),
    ({"kind": "drift_detected", "notify": ["slack:hooks.slack.com"]}, "a slack needs an http(s) URL"),
    ({"kind": "drift_detected", "notify": ["kafka://host:9092"]}, "needs a topic"),
    ({"kind": "drift_detected", "notify": ["smtp://host:25?to=a@b"]}, "needs from and to addresses"),
    ({"kind": "drift_detected", "notify": ["mailto:a@b"]}, "known targets"),
    ({"kind": "drift_detected", "notify": "webhook:http://x"}, "notify must be a list"),
    ({"kind": "error_rate_above", "threshold": "lots"}, "threshold 'lots' is not a number"),
    ({"kind": "error_rate_above", "threshold": "nan"}, "is not a finite number"),
    ({"kind": "drift_detected", "count": 0}, "count must be at least 1"),
    ({"kind": "drift_detected", "count": 3}, "count 3 needs a period_seconds"),
    ({"kind": "drift_detected", "cooldown_seconds": 1.5}, "is not a whole number"),
    ({"kind": "drift_detected", "reset": "sometimes"}, "reset 'sometimes': one of auto, manual"),
    ({"kind": "drift_detected", "severity": "urgent"}, "severity 'urgent': one of low, medium, high"),
    ({"kind": "drift_detected", "endpoint": "abc"}, "an endpoint id (40 hex digits) or *"),
    ({"kind": "drift_detected", "name": "two words"}, "rule name 'two words'"),
    ({"kind": "drift_detected", "colour": "red"}, "unknown rule fields ['colour']"),
])
def test_a_bad_rule_is_refused_saying_what_is_wrong(fields, message):
    with pytest.raises(RuleError, match=re.escape(message)):
        make_rule({"name": "r", "project": "p", **fields})


def test_every_kind_fires_past_its_threshold_and_not_short_of_it():
    cases = {"drift_detected": ("DRIFT_DETECTED", "POSSIBLE_DRIFT"), "drift_possible": ("POSSIBLE_DRIFT", "NO_DRIFT"),
             "feature_drift": ("DRIFT_DETECTED", "POSSIBLE_DRIFT"), "latency_p99_above": (300.0, 200.0),
             "error_rate_above": (0.2, 0.1), "invalid_rate_above": (0.2, 0.1), "missing_rate_above": (0.2, 0.1),
             "out_of_range_rate_above": (0.2, 0.1), "accuracy_below": (0.5, 0.9), "no_traffic": (900.0, 100.0)}
    assert set(cases) == set(KINDS)
    thresholds = {"latency_p99_above": 250.0, "accuracy_below": 0.8, "no_traffic": 600.0}
    for kind, (fires, quiet) in cases.items():
        threshold = thresholds.get(kind, 0.15) if KINDS[kind].needs_threshold else None
        rule = make_rule({"name": kind, "project": "p", "kind": kind, "threshold": threshold})
        assert run(rule, [quiet, None, quiet]) == [[], [], []], kind
        opened = activation_id(kind, ENDPOINT, 2 * MINUTE)
        assert run(rule, [quiet, fires, fires, quiet]) == [[], [("open", opened)], [], [("close", opened)]], kind


def test_count_within_period_opens_once_the_condition_held_often_enough():
    rule = make_rule({"name": "r", "project": "p", "kind": "error_rate_above", "threshold": 0.1, "count": 3,
                      "period_seconds": 180, "cooldown_seconds": 0})
    # breaches at minutes 1, 2, 5, 6, 7: the first two fall out of the 3-minute period before a third comes
    changes = run(rule, [0.5, 0.5, 0.0, 0.0, 0.5, 0.5, 0.5])
    assert changes == [[], [], [], [], [], [], [("open", activation_id("r", ENDPOINT, 7 * MINUTE))]]


def test_a_flapping_condition_within_the_cooldown_opens_one_activation():
    rule = make_rule({"name": "r", "project": "p", "kind": "drift_detected", "cooldown_seconds": 600})
    flapping = ["DRIFT_DETECTED", "NO_DRIFT"] * 4 + ["NO_DRIFT", "NO_DRIFT", "DRIFT_DETECTED"]  # minutes 1 to 11
    opened = [(i + 1, c[1]) for i, changes in enumerate(run(rule, flapping)) for c in changes if c[0] == "open"]
    # one at minute 1; the breaches at 3, 5, 7 fall within its cooldown; the one at 11 is past it: a new id
    assert opened == [(1, activation_id("r", ENDPOINT, MINUTE)), (11, activation_id("r", ENDPOINT, 11 * MINUTE))]


def test_manual_reset_stays_open_until_resolved_and_a_replay_changes_nothing():
    rule = make_rule({"name": "r", "project": "p", "kind": "drift_detected", "reset": "manual"})
    state = RuleState()
    assert run(rule, ["DRIFT_DETECTED", "NO_DRIFT", "NO_DRIFT"], state) == [
        [("open", activation_id("r", ENDPOINT, MINUTE))], [], []]
    assert state.open_id == activation_id("r", ENDPOINT, MINUTE)
    assert evaluate(rule, state, ENDPOINT, 2 * MINUTE, "DRIFT_DETECTED") == []  # older than the last seen


@pytest.fixture
def dsn(tmp_path):
    dsn = f"chdb://{tmp_path / 'store'}"
    store.open_store(dsn).close()
    return dsn


def test_the_cli_adds_lists_removes_rules_and_resolves_activations(dsn, capsys):
    assert cli_main(["alert", "add", "--store", dsn, "--project", "p", "--name", "p99", "--kind",
                     "latency_p99_above", "--threshold", "250000", "--count", "2", "--period", "600",
                     "--notify", "webhook:http://127.0.0.1:9/hook", "--notify", "smtp://127.0.0.1:25?from=a@b&to=c@d"]) == 0
    assert cli_main(["alert", "add", "--store", dsn, "--project", "p", "--name", "bad", "--kind", "no_traffic"]) == 2
    assert "kind no_traffic needs a threshold" in capsys.readouterr().err
    client = store.connect(dsn)
    try:
        [rule] = alert_rules.list_rules(client, "p")
        assert (rule.threshold, rule.count, rule.period_seconds, rule.notify) == (
            250000.0, 2, 600, ("webhook:http://127.0.0.1:9/hook", "smtp://127.0.0.1:25?from=a@b&to=c@d"))
        opened = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
        store.insert(client, "alert_activations", alert_rules.ACTIVATION_COLUMNS, [[
            "a1", "p99", "p", ENDPOINT, "latency_p99_above", "medium", 300000.0, 250000.0, opened, None]])
    finally:
        client.close()
    capsys.readouterr()
    assert cli_main(["alert", "list", "--store", dsn]) == 0
    listed = capsys.readouterr().out
    assert "p99 (project p, every endpoint): latency_p99_above 250000 µs, 2 times in 600 s" in listed
    assert f"open: a1 rule p99 endpoint {ENDPOINT}" in listed
    assert cli_main(["alert", "resolve", "--store", dsn, "--id", "a1"]) == 0
    assert cli_main(["alert", "resolve", "--store", dsn, "--id", "a1"]) == 0
    assert "activation a1 resolved\nactivation a1 was closed already" in capsys.readouterr().out
    assert cli_main(["alert", "remove", "--store", dsn, "--project", "p", "--name", "p99"]) == 0
    assert cli_main(["alert", "remove", "--store", dsn, "--project", "p", "--name", "p99"]) == 2
    client = store.connect(dsn)
    try:
        assert alert_rules.list_rules(client) == []
        [activation] = alert_rules.list_activations(client, "p")
        assert activation["closed_at"] is not None and alert_rules.list_activations(client, open_only=True) == []
        assert (activation["notified_at"], activation["deliveries"], activation["last_error"]) == (None, 0, "")
        store.insert(client, "alert_deliveries", ["activation_id", "notified_at", "deliveries", "last_error"],
                     [["a1", None, 1, "connection refused"]])
        store.insert(client, "alert_deliveries", ["activation_id", "notified_at", "deliveries", "last_error"],
                     [["a1", opened, 2, ""]])
        [activation] = alert_rules.list_activations(client, "p")
        assert (activation["notified_at"], activation["deliveries"], activation["last_error"]) == (
            opened.replace(tzinfo=None), 2, "")
    finally:
        client.close()


def test_the_rest_routes_need_a_token_and_refuse_bad_rules(dsn):
    client = create_app({"MODELMON": Config(store=dsn, api_tokens="secret"), "TESTING": True}).test_client()
    assert client.get("/api/projects/p/alerts").status_code == 401
    auth = {"Authorization": "Bearer secret"}
    bad = client.post("/api/projects/p/alerts", json={"name": "x", "kind": "latency_p99_above"}, headers=auth)
    assert bad.status_code == 400 and "needs a threshold" in bad.get_json()["message"]
    bad = client.post("/api/projects/p/alerts", json={"name": "x", "kind": "drift_detected", "project": "q"},
                      headers=auth)
    assert bad.status_code == 400 and "is not the route's" in bad.get_json()["message"]
    bad = client.post("/api/projects/p/alerts", json={"name": "x", "kind": "drift_detected",
                                                      "notify": ["webhook:not a url"]}, headers=auth)
    assert bad.status_code == 400 and "a webhook needs an http(s) URL" in bad.get_json()["message"]
    added = client.post("/api/projects/p/alerts", json={"name": "drift", "kind": "drift_detected", "severity": "high",
                                                        "notify": ["slack:https://hooks.example.com/T/B/X"]},
                        headers=auth)
    assert added.status_code == 201 and added.get_json()["severity"] == "high"
    rules = client.get("/api/projects/p/alerts", headers=auth).get_json()["rules"]
    assert [(r["name"], r["kind"], r["notify"]) for r in rules] == [
        ("drift", "drift_detected", ["slack:https://hooks.example.com/T/B/X"])]
    assert client.get("/api/projects/q/alerts", headers=auth).get_json()["rules"] == []
    assert client.delete("/api/projects/p/alerts/nope", headers=auth).status_code == 404
    assert client.delete("/api/projects/p/alerts/drift", headers=auth).get_json() == {"removed": "drift"}
    assert client.get("/api/projects/p/alerts", headers=auth).get_json()["rules"] == []
    assert client.post("/api/projects/p/alert-activations/a9/resolve", headers=auth).status_code == 404


def test_activation_ids_are_the_sha1_the_contract_names():
    assert activation_id("r", ENDPOINT, 5) == hashlib.sha1(f"r\x1f{ENDPOINT}\x1f5".encode()).hexdigest()
