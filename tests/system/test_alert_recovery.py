"""An alert activation stored but not delivered when the job is killed (SIGKILL): the run
restored from its checkpoint delivers it, under the same id, and opens no second one."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from modelmon import alert_rules, store
from modelmon.simulator import simulate
from modelmon.tracker import write_segment
from modelmon.udfs.alerts import make_rule
from tests.support.expected import read_spool
from tests.support.job_process import JobProcess, completed_checkpoints
from tests.support.recovery import closing_event
from tests.support.receivers import WebhookReceiver

ENDPOINTS = 3


def job_process(root: Path, name: str, extra: list[str]) -> JobProcess:
    return JobProcess(root, name, ["--source", str(root / "spool"), "--store", f"chdb://{root / 'store'}",
                                   "--checkpoint-dir", str(root / "checkpoints"), "--checkpoint-interval", "1",
                                   "--lateness-seconds", "900", *extra])


def test_a_killed_run_delivers_its_stored_activations_after_the_restore_under_the_same_ids(tmp_path):
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    simulate(tmp_path / "staged", 3_000, endpoints=ENDPOINTS, seed=17, events_per_second=2.0, segment_lines=500,
             start=start)
    expected_events = read_spool(tmp_path / "staged")
    receiver = WebhookReceiver()
    receiver.status = 503  # down: the first run stores activations and cannot deliver them
    client = store.open_store(f"chdb://{tmp_path / 'store'}")
    try:  # every endpoint has errors in its first 5-minute window: one activation each (cooldown 1 h, manual reset)
        alert_rules.save_rule(client, make_rule({"name": "errors", "project": "demo", "kind": "error_rate_above",
                                                 "threshold": 0.0, "reset": "manual",
                                                 "notify": [f"webhook:{receiver.url}/hook"]}))
    finally:
        client.close()
    (tmp_path / "spool").mkdir()
    first = job_process(tmp_path, "first", [])
    try:
        first.wait_for(lambda: completed_checkpoints(tmp_path) > 0, "a first checkpoint")
        for segment in sorted((tmp_path / "staged").glob("*.jsonl")):  # one at a time: read in order
            os.replace(segment, tmp_path / "spool" / segment.name)
            time.sleep(1.0)
        first.wait_for(lambda: "endpoint_metrics: wrote" in first.text(), "the first windows")
        # then an event hours later: the watermark passes every window
        write_segment(tmp_path / "spool", [closing_event(expected_events)], 99)
        first.wait_for(lambda: "alert_activations: wrote" in first.text(), "stored activations")
        first.wait_for(lambda: receiver.refused >= ENDPOINTS, "failed deliveries of each")
        stored_at = completed_checkpoints(tmp_path)
        first.wait_for(lambda: completed_checkpoints(tmp_path) > stored_at, "a checkpoint after them")
    finally:
        first.kill()
    assert not receiver.received
    receiver.status = 200
    second = job_process(tmp_path, "second", ["--restore", "latest"])
    try:
        second.wait_for(lambda: len({r.body["activation_id"] for r in receiver.received}) >= ENDPOINTS,
                        "the deliveries")
    finally:
        assert second.interrupt() == 0
        receiver.close()
    assert "Restoring job" in second.flink_log()
    client = store.connect(f"chdb://{tmp_path / 'store'}")
    try:
        activations = alert_rules.list_activations(client, "demo")
    finally:
        client.close()
    assert len(activations) == len({a["endpoint_id"] for a in activations}) == ENDPOINTS  # no second one
    ids = {a["activation_id"] for a in activations}
    assert {r.body["activation_id"] for r in receiver.received} == ids
    assert all(r.headers["Idempotency-Key"] == r.body["activation_id"] for r in receiver.received)
    assert all(a["notified_at"] is not None and a["deliveries"] >= 2 for a in activations)
