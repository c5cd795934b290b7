"""Retention that says what it does: a bounded run over events older than ``retention_days``
keeps them aside as dead letters and says how many, and ``retention_days = 0`` stores every
window of them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import clickhouse_connect

from modelmon import store
from modelmon.cli import main
from modelmon.simulator import simulate
from tests.support.expected import read_spool
from tests.support.recovery import window_count_mismatches
from tests.support.store_rows import ttl_days

TWO_YEARS_AGO = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(days=730)


def bounded_run(tmp_path, store_name: str, capsys) -> str:
    """``modelmon run --bounded`` in this process (its JVM is started once for the layer); what it printed."""
    assert main(["run", "--bounded", "--source", str(tmp_path / "spool"), "--store", f"chdb://{tmp_path / store_name}"]) == 0
    return capsys.readouterr().out


def test_events_older_than_the_retention_are_counted_aside_and_kept_with_retention_zero(tmp_path, capsys,
                                                                                        monkeypatch):
    simulate(tmp_path / "spool", 2_000, endpoints=3, seed=5, events_per_second=1.0, start=TWO_YEARS_AGO)
    expected = read_spool(tmp_path / "spool")
    events = sum(len(e["time_ms"]) for e in expected.values())

    said = bounded_run(tmp_path, "default", capsys)
    assert f"{events} events are older than the store keeps them (retention_days = 90)" in said
    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path / 'default'}")
    try:
        assert store.dead_letter_counts(client) == {"expired": events}
        assert client.query("SELECT count() FROM endpoint_metrics").result_rows == [(0,)]
    finally:
        client.close()

    monkeypatch.setenv("MODELMON_RETENTION_DAYS", "0")
    said = bounded_run(tmp_path, "forever", capsys)
    assert "older than the store keeps them" not in said
    assert window_count_mismatches(f"chdb://{tmp_path / 'forever'}", expected) == []
    assert ttl_days(f"chdb://{tmp_path / 'forever'}") == {"endpoint_metrics": None, "invalid_events": None}

