"""The endpoint registry's running totals (``endpoint_registry``, read by the ``endpoints`` view):
however jobs follow one another over a store, each endpoint's row is the count of all the
events the store holds for it, computed here from the spools."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import clickhouse_connect
import numpy as np

from modelmon.cli import main
from modelmon.simulator import simulate
from tests.support.expected import read_spool

START = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=4)
REGISTRY_SQL = """SELECT endpoint_id, toUnixTimestamp64Milli(first_request), toUnixTimestamp64Milli(last_request),
                         requests_count, predictions_count, error_count, version FROM endpoints"""
ACTIVITY_SQL = """SELECT endpoint_id, toUnixTimestamp64Milli(min(first_request)), toUnixTimestamp64Milli(max(last_request)),
                         sum(requests_count), sum(predictions_count), sum(error_count), argMax(version, last_request)
                  FROM endpoint_activity FINAL GROUP BY endpoint_id"""


def expected_registry(*spools) -> dict[str, tuple]:
    """Per endpoint: first and last event time, requests, predictions, errors, over the spools."""
    events: dict[str, list[dict]] = {}
    for spool in spools:
        for endpoint, columns in read_spool(spool).items():
            events.setdefault(endpoint, []).append(columns)
    return {endpoint: (int(min(c["time_ms"].min() for c in parts)), int(max(c["time_ms"].max() for c in parts)),
                       sum(len(c["time_ms"]) for c in parts), int(sum(c["predictions"].sum() for c in parts)),
                       int(sum(c["is_error"].sum() for c in parts)))
            for endpoint, parts in events.items()}


def registry(dsn: str) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """The registry's rows, and the same columns summed over the activity windows."""
    client = clickhouse_connect.get_client(dsn=dsn)
    try:
        return ({row[0]: row[1:] for row in client.query(REGISTRY_SQL).result_rows},
                {row[0]: row[1:] for row in client.query(ACTIVITY_SQL).result_rows})
    finally:
        client.close()


def test_the_registry_counts_every_event_once_whatever_runs_came_before(tmp_path, capsys):
    """A first run, a fresh run over later events, then a fresh run over the first events again
    (a replay of what the store holds): after each, every endpoint's totals are exact."""
    first, later = tmp_path / "first", tmp_path / "later"
    simulate(first, 3_000, endpoints=3, seed=11, events_per_second=1.0, start=START)
    simulate(later, 2_000, endpoints=3, seed=12, events_per_second=1.0, start=START + timedelta(hours=1, minutes=10))
    dsn = f"chdb://{tmp_path / 'store'}"

    for spool, counted in ((first, [first]), (later, [first, later]), (first, [first, later])):
        assert main(["run", "--bounded", "--source", str(spool), "--store", dsn]) == 0
        capsys.readouterr()
        rows, activity = registry(dsn)
        want = expected_registry(*counted)
        assert {endpoint: row[:5] for endpoint, row in rows.items()} == want, spool.name
        assert rows == activity  # the same totals as the windows', identity as of the last request
    assert np.all([row[2] > 1_000 for row in rows.values()])
