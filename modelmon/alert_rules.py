"""Alert rules and activations in the store: what `modelmon alert ...` and the REST routes
call (and the job, to pick rules up). Rules are checked by :func:`modelmon.udfs.alerts.make_rule`
before they are written."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from clickhouse_connect.driver.client import Client

from modelmon import store
from modelmon.udfs.alerts import RULE_FIELDS, AlertRule

_RULE_COLUMNS = ["project", "name", "endpoint", "kind", "threshold", "count", "period_seconds", "cooldown_seconds",
                 "reset", "severity", "notify"]


def save_rule(client: Client, rule: AlertRule) -> None:
    """Add a rule, or replace the project's rule of that name."""
    store.insert(client, "alert_rules", _RULE_COLUMNS, [[
        rule.project, rule.name, rule.endpoint, rule.kind, rule.threshold, rule.count, rule.period_seconds,
        rule.cooldown_seconds, rule.reset, rule.severity, list(rule.notify)]])


def list_rules(client: Client, project: str | None = None) -> list[AlertRule]:
    """The rules in force, of one project or all, by project and name."""
    result = client.query(f"""
        SELECT {', '.join(RULE_FIELDS)} FROM alert_rules FINAL
        WHERE deleted = 0 AND ({{project:Nullable(String)}} IS NULL OR project = {{project:Nullable(String)}})
        ORDER BY project, name""", parameters={"project": project})
    return [AlertRule(**{**dict(zip(result.column_names, row)), "notify": tuple(row[-1])})
            for row in result.result_rows]


def remove_rule(client: Client, project: str, name: str) -> bool:
    """Remove a project's rule; False when it has none of that name. Its open activations stay
    open until resolved."""
    if not any(rule.name == name for rule in list_rules(client, project)):
        return False
    store.insert(client, "alert_rules", ["project", "name", "endpoint", "kind", "reset", "severity", "deleted"],
                 [[project, name, "", "", "", "", 1]])
    return True


ACTIVATION_COLUMNS = ["activation_id", "rule", "project", "endpoint_id", "kind", "severity", "value", "threshold",
                      "opened_at", "closed_at"]  # what the job writes; deliveries are apart
DELIVERY_COLUMNS = ["notified_at", "deliveries", "last_error"]


def list_activations(client: Client, project: str | None = None, open_only: bool = False,
                     activation_id: str | None = None, endpoint_id: str | None = None) -> list[dict[str, Any]]:
    """Activations with their delivery (DESIGN.md's fields), newest first: of one project or
    all, of one endpoint, open ones only, or one by id."""
    columns = ", ".join(f"a.{c} AS {c}" for c in ACTIVATION_COLUMNS)
    result = client.query(f"""
        SELECT {columns}, d.notified_at AS notified_at, ifNull(d.deliveries, 0) AS deliveries,
               ifNull(d.last_error, '') AS last_error
        FROM (SELECT * FROM alert_activations FINAL
              WHERE ({{project:Nullable(String)}} IS NULL OR project = {{project:Nullable(String)}})
                AND ({{id:Nullable(String)}} IS NULL OR activation_id = {{id:Nullable(String)}})
                AND ({{endpoint:Nullable(String)}} IS NULL OR endpoint_id = {{endpoint:Nullable(String)}})
                AND (NOT {{open:Bool}} OR closed_at IS NULL)) AS a
        LEFT JOIN (SELECT activation_id, notified_at, toNullable(deliveries) AS deliveries,
                          toNullable(last_error) AS last_error
                   FROM alert_deliveries FINAL) AS d ON d.activation_id = a.activation_id
        ORDER BY opened_at DESC, activation_id""",
                          parameters={"project": project, "id": activation_id, "open": open_only,
                                      "endpoint": endpoint_id})
    return [dict(zip(result.column_names, row)) for row in result.result_rows]


def resolve_activation(client: Client, activation_id: str, at: datetime | None = None) -> dict[str, Any] | None:
    """Close an open activation (a rule with ``reset: manual`` is closed this way) at ``at``
    (default now); returns it as it was, None when no activation has that id. Closing a closed
    one changes nothing."""
    found = list_activations(client, activation_id=activation_id)
    if not found:
        return None
    activation = found[0]
    if activation["closed_at"] is None:
        closed = {**activation, "closed_at": at or datetime.now(timezone.utc)}
        store.insert(client, "alert_activations", ACTIVATION_COLUMNS, [[closed[c] for c in ACTIVATION_COLUMNS]])
    return activation
