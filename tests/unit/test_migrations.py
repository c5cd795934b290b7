"""Schema migrations on a real store: applied twice, or over a store an older version created,
they lose no data."""

from __future__ import annotations

from datetime import datetime, timezone

import clickhouse_connect
import pytest

from modelmon import store
from pipelines.store_sink import TABLES

WINDOW = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
METRICS_ROW = {"project": "p", "endpoint_id": "e1", "window_size": "5m", "window_start": WINDOW,
               "window_end": WINDOW.replace(minute=5), "requests_count": 7, "predictions_count": 9,
               "predictions_per_second": 0.03, "error_count": 1, "latency_avg": 10.0, "latency_p50": 9.0,
               "latency_p95": 12.0, "latency_p99": 13.0, "latency_max": 14.0}
ACTIVITY_ROW = {"project": "p", "endpoint_id": "e1", "window_start": WINDOW, "first_request": WINDOW,
                "last_request": WINDOW.replace(minute=1), "requests_count": 7, "predictions_count": 9, "error_count": 1,
                "function_uri": "p/f:t", "model": "m", "version": "v1", "model_class": "C", "labels": {"team": "a"}}
DEAD_LETTER = {"kind": "invalid", "project": "p", "endpoint_id": "e1", "event_key": "k:0", "event_time": WINDOW,
               "reason": "bad", "raw": "{"}


@pytest.fixture
def client(tmp_path):
    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path / 'store'}")
    yield client
    client.close()


def insert(client, table: str, row: dict) -> None:
    store.insert(client, table, list(row), [list(row.values())])


def contents(client) -> dict[str, list[tuple]]:
    return {table: client.query(f"SELECT * EXCEPT written_at FROM {table} FINAL ORDER BY ALL").result_rows
            if "written_at" in client.query(f"SELECT * FROM {table} LIMIT 0").column_names
            else client.query(f"SELECT * FROM {table} FINAL ORDER BY ALL").result_rows
            for table in ("endpoint_metrics", "endpoint_activity", "invalid_events")}


def test_migrating_twice_applies_nothing_the_second_time_and_keeps_the_rows(client):
    applied = store.migrate(client, retention_days=90)
    assert applied == [version for version, _ in store.migrations()]
    insert(client, "endpoint_metrics", METRICS_ROW)
    insert(client, "invalid_events", DEAD_LETTER)
    before = contents(client)
    assert store.migrate(client, retention_days=90) == []
    assert contents(client) == before and len(before["endpoint_metrics"]) == 1
    versions = client.query("SELECT version, count() FROM schema_migrations GROUP BY version").result_rows
    assert all(count == 1 for _, count in versions) and len(versions) == len(applied)


def test_migrating_a_store_an_older_version_made_adds_the_rest_and_keeps_its_rows(client, monkeypatch):
    everything = store.migrations()
    older = [(version, text) for version, text in everything if version < "010"]
    monkeypatch.setattr(store, "migrations", lambda: older)  # the older version's sql/ directory
    assert store.migrate(client, retention_days=90) == [version for version, _ in older]
    for table, row in (("endpoint_metrics", METRICS_ROW), ("endpoint_activity", ACTIVITY_ROW),
                       ("invalid_events", DEAD_LETTER)):
        insert(client, table, row)
    before = contents(client)
    monkeypatch.undo()

    assert store.migrate(client, retention_days=90) == [version for version, _ in everything if version >= "010"]
    assert contents(client) == before
    # The newer objects work over the older rows: the registry view (011) reads them.
    endpoints = client.query("SELECT endpoint_id, model, requests_count, invalid_count FROM endpoints").result_rows
    assert endpoints == [("e1", "m", 7, 1)]
    assert set(TABLES) <= {row[0] for row in client.query("SHOW TABLES").result_rows}
