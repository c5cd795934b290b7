"""Rows of the store's tables made by hand, the tables' TTL, and a check that this process can open
another store."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import clickhouse_connect

from modelmon import store

# Yesterday, on the hour: inside every table's TTL whatever day the tests run.
WINDOW = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
METRICS_ROW = {"project": "p", "endpoint_id": "e1", "window_size": "5m", "window_start": WINDOW,
               "window_end": WINDOW.replace(minute=5), "requests_count": 7, "predictions_count": 9,
               "predictions_per_second": 0.03, "error_count": 1, "latency_avg": 10.0, "latency_p50": 9.0,
               "latency_p95": 12.0, "latency_p99": 13.0, "latency_max": 14.0}
ACTIVITY_ROW = {"project": "p", "endpoint_id": "e1", "window_start": WINDOW, "first_request": WINDOW,
                "last_request": WINDOW.replace(minute=1), "requests_count": 7, "predictions_count": 9, "error_count": 1,
                "function_uri": "p/f:t", "model": "m", "version": "v1", "model_class": "C", "labels": {"team": "a"}}
REGISTRY_ROW = {name: value for name, value in ACTIVITY_ROW.items() if name != "window_start"}
DRIFT_ROW = {"project": "p", "endpoint_id": "e1", "reference_id": 1, "window_start": WINDOW,
             "window_end": WINDOW.replace(minute=5), "feature_names": ["a"], "features_count": 1,
             "drift_status": "DRIFT_DETECTED"}
DEAD_LETTER = {"kind": "invalid", "project": "p", "endpoint_id": "e1", "event_key": "k:0", "event_time": WINDOW,
               "reason": "bad", "raw": "{"}


def opens_another_store(path) -> bool:
    try:
        store.connect(f"chdb://{path}").close()
        return True
    except store.UNAVAILABLE:
        return False


def ttl_days(dsn: str) -> dict[str, int | None]:
    """The TTL in days (None: none) of two tables, one windowed and the dead letters."""
    client = clickhouse_connect.get_client(dsn=dsn)
    try:
        return {name: store.retention_of(query) for name, query in client.query(
            "SELECT name, create_table_query FROM system.tables WHERE name IN ('endpoint_metrics', 'invalid_events')"
        ).result_rows}
    finally:
        client.close()
