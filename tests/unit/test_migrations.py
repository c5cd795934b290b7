"""Schema migrations on a real store: applied twice, or over a store an older version created,
they lose no data."""

from __future__ import annotations

import clickhouse_connect
import pytest

from modelmon import store
from modelmon.pipelines.store_sink import TABLES
from modelmon.sql import ddl_files
from tests.support.store_rows import ACTIVITY_ROW, DEAD_LETTER, DRIFT_ROW, METRICS_ROW, WINDOW, ttl_days

@pytest.fixture
def client(tmp_path):
    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path / 'store'}")
    yield client
    client.close()


def insert(client, table: str, row: dict) -> None:
    store.insert(client, table, list(row), [list(row.values())])


KEPT_TABLES = ("endpoint_metrics", "endpoint_activity", "invalid_events")


def columns(client) -> dict[str, list[str]]:
    """Each kept table's columns but its insert time."""
    return {table: [name for name in client.query(f"SELECT * FROM {table} LIMIT 0").column_names if name != "written_at"]
            for table in KEPT_TABLES}


def contents(client, names: dict[str, list[str]] | None = None) -> dict[str, list[tuple]]:
    """Each kept table's rows, of the given columns (default: all but the insert time)."""
    names = names or columns(client)
    return {table: client.query(f"SELECT {', '.join(names[table])} FROM {table} FINAL ORDER BY ALL").result_rows
            for table in KEPT_TABLES}


def test_migrating_twice_applies_nothing_the_second_time_and_keeps_the_rows(client):
    applied = store.migrate(client, retention_days=90)
    assert applied == [version for version, _ in ddl_files()]
    insert(client, "endpoint_metrics", METRICS_ROW)
    insert(client, "invalid_events", DEAD_LETTER)
    before = contents(client)
    assert store.migrate(client, retention_days=90) == []
    assert contents(client) == before and len(before["endpoint_metrics"]) == 1
    versions = client.query("SELECT version, count() FROM schema_migrations GROUP BY version").result_rows
    assert all(count == 1 for _, count in versions) and len(versions) == len(applied)


def test_migrating_a_store_an_older_version_made_adds_the_rest_and_keeps_its_rows(client, monkeypatch):
    everything = ddl_files()
    older = [(version, text) for version, text in everything if version < "010"]
    monkeypatch.setattr(store, "ddl_files", lambda: older)  # the older version's sql/ directory
    assert store.migrate(client, retention_days=90) == [version for version, _ in older]
    for table, row in (("endpoint_metrics", METRICS_ROW), ("endpoint_activity", ACTIVITY_ROW),
                       ("invalid_events", DEAD_LETTER), ("drift_status", DRIFT_ROW),
                       ("drift_status", dict(DRIFT_ROW, window_end=WINDOW, drift_status="NO_DRIFT"))):
        insert(client, table, row)
    before, older_columns = contents(client), columns(client)
    monkeypatch.undo()

    assert store.migrate(client, retention_days=90) == [version for version, _ in everything if version >= "010"]
    assert contents(client, older_columns) == before
    # A column added to an older table (013) holds its default in the older rows.
    assert client.query("SELECT latency_count, latency_max, latency_buckets FROM endpoint_activity").result_rows == [
        (0, None, {})]
    # The newer objects work over the older rows: the registry (014-022) is filled from them.
    endpoints = client.query("SELECT endpoint_id, model, requests_count, invalid_count, drift_status, feature_names "
                             "FROM endpoints").result_rows
    assert endpoints == [("e1", "m", 7, 1, "DRIFT_DETECTED", ["a"])]
    assert client.query("SELECT endpoint_id, window_size, latency_p99 FROM endpoint_metrics_latest FINAL").result_rows \
        == [("e1", "5m", 13.0)]
    assert set(TABLES) <= {row[0] for row in client.query("SHOW TABLES").result_rows}


def test_a_changed_retention_is_applied_to_the_existing_tables(tmp_path):
    dsn = f"chdb://{tmp_path / 'store'}"
    store.open_store(dsn, retention_days=90).close()
    store.open_store(dsn, retention_days=30).close()
    assert ttl_days(dsn) == {"endpoint_metrics": 30, "invalid_events": 30}
    store.open_store(dsn, retention_days=0).close()
    assert ttl_days(dsn) == {"endpoint_metrics": None, "invalid_events": None}
    store.open_store(dsn, retention_days=90).close()
    assert ttl_days(dsn) == {"endpoint_metrics": 90, "invalid_events": 90}
    with pytest.raises(ValueError, match="retention_days=-1: give a number of days, or 0"):
        store.open_store(dsn, retention_days=-1)
