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

from modelmon.config import Config
from modelmon.simulator import simulate
from modelmon.tracker import write_segment
from modelmon.pipelines.monitoring_job import run_monitoring_job
from tests.support.expected import different_rows, read_spool, stored_rows
from tests.support.job_process import JobProcess, completed_checkpoints
from tests.support.recovery import (HOLDING_WRITER, WROTE_WINDOWS, closing_event, wait_for_the_last_windows,
                                    window_count_mismatches)

SEGMENTS = 12
SEGMENT_LINES = 500
EVENTS_PER_SECOND = 2.0  # event time: a segment spans 250 s, the traffic 50 min
LATENESS_SECONDS = 900  # over three segments: the spool source reads files found together in any order


def job_process(root: Path, name: str, extra: list[str], settings: dict[str, str] | None = None) -> JobProcess:
    return JobProcess(root, name, ["--source", str(root / "spool"), "--store", f"chdb://{root / 'store'}",
                                   "--checkpoint-dir", str(root / "checkpoints"), "--checkpoint-interval", "1",
                                   "--lateness-seconds", str(LATENESS_SECONDS), *extra], settings)


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
        written_before = second.text().count(WROTE_WINDOWS)
        write_segment(tmp_path / "spool", [json.dumps(closing_event(expected_events))], sequence=SEGMENTS)
        wait_for_the_last_windows(second, written_before)
    finally:
        second.kill()
    restored = second.flink_log()
    assert "Restoring job" in restored and "Restoring SplitEnumerator of source" in restored

    # The traffic is in time order: a late event here would be a replay gone wrong.
    assert window_count_mismatches(f"chdb://{tmp_path / 'store'}", expected_events) == []


def test_a_killed_bounded_run_on_rocksdb_resumes_from_its_checkpoint_to_the_same_rows(tmp_path):
    simulate(tmp_path / "spool", 100_000, endpoints=5, seed=23, segment_lines=10_000)
    reference = f"chdb://{tmp_path / 'reference'}"
    run_monitoring_job(Config(store=reference, source=str(tmp_path / "spool")), bounded=True)

    bounded = ["--bounded", "--state-backend", "rocksdb"]
    # Ten lines per Python call, so that the input takes long to read: the first checkpoint,
    # whose barrier waits for Python to finish all it was sent, took 29-34 s here, and the
    # input ends well after it. Python bundles that only a checkpoint ends: the writer's first
    # payloads, and the timers they ask for, come in the bundle the next checkpoint's barrier
    # ends, which is the one to restore from (PyFlink's own operator left those timers out of
    # it; the second run's sampled rows all go to the store directly, so the first run's are
    # written by that timer).
    first = job_process(tmp_path, "first", bounded, {**HOLDING_WRITER, "MODELMON_PARSE_BATCH_LINES": "10",
                                                     "MODELMON_BOUNDED_BUNDLE_SECONDS": "3600"})
    try:
        first.wait_for(lambda: "store writer 1 of 1 open" in first.text(), "the writer's first payloads")
        before = completed_checkpoints(tmp_path)
        first.wait_for(lambda: completed_checkpoints(tmp_path) > before, "a checkpoint of the writer's payloads")
    finally:
        first.kill()
    assert WROTE_WINDOWS not in first.text()  # a bounded run's windows close at the end of its input
    second = job_process(tmp_path, "second", [*bounded, "--restore", "latest"])
    assert second.process.wait(timeout=300) == 0, second.text()[-3000:]
    assert "Restoring job" in second.flink_log()
    assert different_rows(stored_rows(reference), stored_rows(f"chdb://{tmp_path / 'store'}")) == {}
