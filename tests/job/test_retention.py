"""Retention that says what it does: a bounded run over events older than ``retention_days``
keeps them aside as dead letters and says how many, and ``retention_days = 0`` stores every
window of them."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import clickhouse_connect

from modelmon import store
from modelmon.simulator import simulate
from tests.support.environment import child_environment
from tests.support.expected import read_spool
from tests.support.recovery import window_count_mismatches
from tests.support.store_rows import ttl_days

TWO_YEARS_AGO = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(days=730)


def bounded_run(tmp_path, store_name: str, **settings: str) -> str:
    finished = subprocess.run(
        [sys.executable, "-m", "modelmon.cli", "run", "--bounded", "--source", str(tmp_path / "spool"),
         "--store", f"chdb://{tmp_path / store_name}"],
        env=child_environment(**settings), capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished.stdout


def test_events_older_than_the_retention_are_counted_aside_and_kept_with_retention_zero(tmp_path):
    simulate(tmp_path / "spool", 2_000, endpoints=3, seed=5, events_per_second=1.0, start=TWO_YEARS_AGO)
    expected = read_spool(tmp_path / "spool")
    events = sum(len(e["time_ms"]) for e in expected.values())

    said = bounded_run(tmp_path, "default")
    assert f"{events} events are older than the store keeps them (retention_days = 90)" in said
    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path / 'default'}")
    try:
        assert store.dead_letter_counts(client) == {"expired": events}
        assert client.query("SELECT count() FROM endpoint_metrics").result_rows == [(0,)]
    finally:
        client.close()

    said = bounded_run(tmp_path, "forever", MODELMON_RETENTION_DAYS="0")
    assert "older than the store keeps them" not in said
    assert window_count_mismatches(f"chdb://{tmp_path / 'forever'}", expected) == []
    assert ttl_days(f"chdb://{tmp_path / 'forever'}") == {"endpoint_metrics": None, "invalid_events": None}

