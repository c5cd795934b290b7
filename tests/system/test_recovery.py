"""Runs killed with SIGKILL midway and restarted with ``--restore latest``: every window holds
exactly what an uninterrupted run computes (none lost, no event counted twice), and Flink did
restore the job rather than start over. Continuous on the default state backend, bounded on
RocksDB."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import clickhouse_connect

from modelmon.config import Config
from modelmon.simulator import simulate
from modelmon.tracker import format_when, write_segment
from modelmon.pipelines.monitoring_job import run_monitoring_job
from tests.support.job_process import JobProcess
from tests.support.expected import WINDOWS, hop_windows, different_rows, read_spool, stored_rows, stored_windows

SEGMENTS = 12
SEGMENT_LINES = 500
EVENTS_PER_SECOND = 2.0  # event time: a segment spans 250 s, the traffic 50 min
LATENESS_SECONDS = 900  # over three segments: the spool source reads files found together in any order
WROTE_WINDOWS = "endpoint_metrics: wrote"
# The first run's writer inserts nothing before the kill: every row it was given waits in its
# state, so the checkpoint is their only copy, and a sink that lost them would lose windows.
HOLDING_WRITER = {"MODELMON_SINK_BATCH_ROWS": "1000000", "MODELMON_SINK_FLUSH_SECONDS": "3600"}


def job_process(root: Path, name: str, extra: list[str], settings: dict[str, str] | None = None) -> JobProcess:
    return JobProcess(root, name, ["--source", str(root / "spool"), "--store", f"chdb://{root / 'store'}",
                                   "--checkpoint-dir", str(root / "checkpoints"), "--checkpoint-interval", "1",
                                   "--lateness-seconds", str(LATENESS_SECONDS), *extra], settings)


def completed_checkpoints(root: Path) -> int:
    """The number of the newest completed checkpoint (Flink keeps only the newest)."""
    return max((int(m.parent.name.removeprefix("chk-")) for m in (root / "checkpoints").glob("*/chk-*/_metadata")),
               default=0)


def feed(staged: list[Path], spool: Path, pause: float) -> None:
    for segment in staged:
        os.replace(segment, spool / segment.name)
        time.sleep(pause)


def test_a_killed_run_restored_from_its_latest_checkpoint_loses_and_doubles_nothing(tmp_path):
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    simulate(tmp_path / "staged", SEGMENTS * SEGMENT_LINES, endpoints=3, seed=17,
             events_per_second=EVENTS_PER_SECOND, segment_lines=SEGMENT_LINES, start=start)
    expected_events = read_spool(tmp_path / "staged")
    staged = sorted((tmp_path / "staged").glob("*.jsonl"))
    (tmp_path / "spool").mkdir()

    first = job_process(tmp_path, "first", [], HOLDING_WRITER)
    try:
        first.wait_for(lambda: completed_checkpoints(tmp_path) > 0, "a first checkpoint")
        feed(staged[:6], tmp_path / "spool", pause=1.5)
        fed_at = completed_checkpoints(tmp_path)
        first.wait_for(lambda: completed_checkpoints(tmp_path) > fed_at + 1, "two checkpoints after the last segment")
    finally:
        first.kill()
    assert WROTE_WINDOWS not in first.text()
    feed(staged[6:7], tmp_path / "spool", pause=0)  # traffic keeps arriving while the job is down

    second = job_process(tmp_path, "second", ["--restore", "latest"])
    try:
        # Once the restored job runs, the rest of the traffic, one segment at a time as before.
        second.wait_for(lambda: "store writer 1 of 1 open" in second.text(), "the restored job to run")
        feed(staged[7:], tmp_path / "spool", pause=1.5)
        # One event far ahead, from another endpoint, moves the watermark past every window.
        last = max(events["time_ms"][-1] for events in expected_events.values())
        write_segment(tmp_path / "spool", [json.dumps({
            "model": "watermark", "function_uri": "tests/serving:prod", "class": "Probe",
            "when": format_when(datetime.fromtimestamp(last / 1000, timezone.utc) + timedelta(hours=3)),
            "request": {"inputs": [[0.0]]}, "resp": {"outputs": [0]}, "microsec": 1})], sequence=SEGMENTS)
        closing = second.text().count(WROTE_WINDOWS)
        second.wait_for(lambda: second.text().count(WROTE_WINDOWS) > closing, "the last windows")
        quiet_since, seen = time.monotonic(), second.text()
        while time.monotonic() - quiet_since < 5:  # until the writer has nothing left to flush
            time.sleep(0.5)
            if second.text() != seen:
                quiet_since, seen = time.monotonic(), second.text()
    finally:
        second.kill()
    restored = second.flink_log()
    assert "Restoring job" in restored and "Restoring SplitEnumerator of source" in restored

    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path / 'store'}")
    try:
        stored = {size: stored_windows(client, size) for size in WINDOWS}
        late = client.query("SELECT count() FROM invalid_events WHERE kind = 'late'").result_rows[0][0]
    finally:
        client.close()
    assert late == 0  # the traffic is in time order: a late event here would be a replay gone wrong
    for size, size_ms in WINDOWS.items():
        expected = {(endpoint, start): metrics for endpoint, events in expected_events.items()
                    for start, metrics in hop_windows(events, size_ms, 60_000).items()}
        got = {key: value for key, value in stored[size].items() if key[0] in expected_events}
        assert got.keys() == expected.keys(), size
        for key, want in expected.items():
            for name in ("requests_count", "predictions_count", "error_count"):
                assert got[key][name] == want[name], (size, key, name)


def test_a_killed_bounded_run_on_rocksdb_resumes_from_its_checkpoint_to_the_same_rows(tmp_path):
    simulate(tmp_path / "spool", 200_000, endpoints=5, seed=23, segment_lines=10_000)
    reference = f"chdb://{tmp_path / 'reference'}"
    run_monitoring_job(Config(store=reference, source=str(tmp_path / "spool")), bounded=True)

    bounded = ["--bounded", "--state-backend", "rocksdb"]
    # Ten lines per Python call and Python bundles of a second, not a bounded run's ten (a
    # checkpoint's barrier waits for the bundle to end), so that the input takes long to read:
    # at this pace 300,000 lines took 170 s here, while the first checkpoint, whose barrier
    # waits behind the blocks in flight, completed 1 to 17 s after it was triggered. With
    # 30,000 lines the two were close, and on a busy CI machine the input ended first.
    first = job_process(tmp_path, "first", bounded, {**HOLDING_WRITER, "MODELMON_PARSE_BATCH_LINES": "10",
                                                     "MODELMON_BOUNDED_BUNDLE_SECONDS": "1"})
    try:
        first.wait_for(lambda: completed_checkpoints(tmp_path) >= 1, "a checkpoint")
    finally:
        first.kill()
    assert WROTE_WINDOWS not in first.text()  # a bounded run's windows close at the end of its input
    second = job_process(tmp_path, "second", [*bounded, "--restore", "latest"])
    assert second.process.wait(timeout=300) == 0, second.text()[-3000:]
    assert "Restoring job" in second.flink_log()
    assert different_rows(stored_rows(reference), stored_rows(f"chdb://{tmp_path / 'store'}")) == {}
