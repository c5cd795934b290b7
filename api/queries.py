"""Every query the proxy and the CLI run, as functions with bound parameters (no SQL in views)."""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.client import Client


def _rows(client: Client, sql: str, **parameters: Any) -> list[dict[str, Any]]:
    result = client.query(sql, parameters=parameters)
    return [dict(zip(result.column_names, row)) for row in result.result_rows]


def list_projects(client: Client) -> list[str]:
    return [row["project"] for row in _rows(client, "SELECT DISTINCT project FROM endpoints ORDER BY project")]


def list_endpoints(client: Client, project: str | None = None) -> list[dict[str, Any]]:
    """The endpoint registry, optionally of one project, most recently active first."""
    return _rows(client, """
        SELECT project, endpoint_id, function_uri, model, version, model_class, labels,
               first_request, last_request, requests_count, predictions_count, error_count,
               invalid_count, late_count, drift_status, drift_measure, drift_window_end, feature_names
        FROM endpoints
        WHERE {project:Nullable(String)} IS NULL OR project = {project:Nullable(String)}
        ORDER BY last_request DESC, endpoint_id""", project=project)


def latest_metrics(client: Client, window_size: str = "5m") -> list[dict[str, Any]]:
    """Per endpoint, its most recent closed window of the given size."""
    return _rows(client, """
        SELECT e.project AS project, e.endpoint_id AS endpoint_id, e.model AS model,
               e.drift_status AS drift_status, m.window_end AS window_end, m.predictions_per_second AS predictions_per_second,
               m.latency_avg AS latency_avg, m.latency_p95 AS latency_p95, m.error_count AS error_count
        FROM endpoints AS e
        INNER JOIN
        (
            SELECT project, endpoint_id,
                   argMax(window_end, window_start) AS window_end,
                   argMax(predictions_per_second, window_start) AS predictions_per_second,
                   argMax(latency_avg, window_start) AS latency_avg,
                   argMax(latency_p95, window_start) AS latency_p95,
                   argMax(error_count, window_start) AS error_count
            FROM endpoint_metrics FINAL
            WHERE window_size = {window_size:String}
            GROUP BY project, endpoint_id
        ) AS m ON m.project = e.project AND m.endpoint_id = e.endpoint_id
        ORDER BY e.project, e.model, e.endpoint_id""", window_size=window_size)
