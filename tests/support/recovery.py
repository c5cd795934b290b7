"""What the kill-and-restore tests share, whatever their source: a writer that holds every row
in its state, the event that closes every window, and the windows' counts checked exactly."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import clickhouse_connect

from modelmon.tracker import format_when
from tests.support.expected import WINDOWS, hop_windows, stored_windows
from tests.support.job_process import JobProcess

WROTE_WINDOWS = "endpoint_metrics: wrote"
# The first run's writer inserts nothing before the kill: every row it was given waits in its
# state, so the checkpoint is their only copy, and a sink that lost them would lose windows.
HOLDING_WRITER = {"MODELMON_SINK_BATCH_ROWS": "1000000", "MODELMON_SINK_FLUSH_SECONDS": "3600"}


def closing_event(expected_events: dict) -> dict:
    """One event three hours past the last, from another endpoint: it moves the watermark past every window."""
    last = max(events["time_ms"][-1] for events in expected_events.values())
    return {"model": "watermark", "function_uri": "tests/serving:prod", "class": "Probe",
            "when": format_when(datetime.fromtimestamp(last / 1000, timezone.utc) + timedelta(hours=3)),
            "request": {"inputs": [[0.0]]}, "resp": {"outputs": [0]}, "microsec": 1}


def wait_for_the_last_windows(job: JobProcess, written_before: int, quiet_seconds: float = 5) -> None:
    """Until the writer has written windows again and then nothing for ``quiet_seconds``."""
    job.wait_for(lambda: job.text().count(WROTE_WINDOWS) > written_before, "the last windows")
    quiet_since, seen = time.monotonic(), job.text()
    while time.monotonic() - quiet_since < quiet_seconds:
        time.sleep(0.5)
        if job.text() != seen:
            quiet_since, seen = time.monotonic(), job.text()


def window_count_mismatches(dsn: str, expected_events: dict) -> list[tuple]:
    """Every late dead letter, and every 5m and 1h window of ``expected_events``' endpoints whose
    requests, predictions or errors differ from the events' (a missing or extra window included)."""
    client = clickhouse_connect.get_client(dsn=dsn)
    try:
        stored = {size: stored_windows(client, size) for size in WINDOWS}
        late = client.query("SELECT count() FROM invalid_events WHERE kind = 'late'").result_rows[0][0]
    finally:
        client.close()
    mismatches = [("late events", late)] if late else []
    for size, size_ms in WINDOWS.items():
        expected = {(endpoint, start): metrics for endpoint, events in expected_events.items()
                    for start, metrics in hop_windows(events, size_ms, 60_000).items()}
        got = {key: value for key, value in stored[size].items() if key[0] in expected_events}
        mismatches += [(size, key, "missing" if key not in got else "extra")
                       for key in expected.keys() ^ got.keys()]
        mismatches += [(size, key, name, got[key][name], want[name]) for key, want in expected.items() if key in got
                       for name in ("requests_count", "predictions_count", "error_count")
                       if got[key][name] != want[name]]
    return mismatches
