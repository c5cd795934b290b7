"""A continuous run: an event behind the watermark is counted as late, kept as a dead letter,
and left out of the windows it would have joined."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone

from modelmon import store
from modelmon.config import Config
from modelmon.tracker import format_when, write_segment
from modelmon.pipelines.monitoring_job import run_monitoring_job
from tests.support.store_rows import opens_another_store
from modelmon.udfs.contract import endpoint_id

BASE = {"class": "C", "model": "late-model", "function_uri": "tests/serving:latest"}


def event(moment: datetime) -> str:
    return json.dumps(dict(BASE, when=format_when(moment), request={"inputs": [[1.0]]},
                           resp={"outputs": [1]}, microsec=100))


def test_late_event_is_counted_and_kept_out_of_windows(tmp_path):
    minute = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(hours=2)
    t0 = minute + timedelta(seconds=10)
    lines = [event(t0 + timedelta(seconds=i)) for i in range(30)]
    lines += [event(t0 + timedelta(minutes=10)), event(t0)]  # the last is 10 minutes behind: late
    write_segment(tmp_path / "spool", lines, 0)
    config = Config(store=f"chdb://{tmp_path / 'store'}", source=str(tmp_path / "spool"), lateness_seconds=5,
                    checkpoint_dir=str(tmp_path / "checkpoints"),
                    monitor_interval_seconds=0.2)
    client = store.open_store(config.store)
    stop = threading.Event()
    job = threading.Thread(target=run_monitoring_job, args=(config, False, stop))
    job.start()
    window_start = minute - timedelta(minutes=4)
    endpoint = endpoint_id("tests", "serving", "latest", "", "late-model", "")
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            late = client.query("SELECT endpoint_id, toUnixTimestamp64Milli(event_time), reason FROM invalid_events "
                                "WHERE kind = 'late'").result_rows
            window = client.query("SELECT requests_count FROM endpoint_metrics FINAL WHERE window_size = '5m' "
                                  "AND window_start = {s:DateTime64(3, 'UTC')}", parameters={"s": window_start}
                                  ).result_rows
            # The registry's rows are written apart from endpoint_metrics: wait for them too rather
            # than catch the moment between the two.
            registry = client.query("SELECT late_count FROM endpoints").result_rows
            if late and window and registry:
                break
            time.sleep(0.5)
        assert late == [(endpoint, int(t0.timestamp() * 1000),
                         "event time is more than 5000 ms behind the latest event time")]
        assert window == [(30,)]  # 31 had the late event been counted
        assert registry == [(1,)]
    finally:
        client.close()
        stop.set()
        job.join(timeout=60)
    assert not job.is_alive()
    assert opens_another_store(tmp_path / "other")  # the stopped job left no connection open
