"""A continuous run picks up a reference registered while it runs, without a restart."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from modelmon import store
from modelmon.config import Config
from modelmon.reference import register_reference
from modelmon.tracker import format_when, write_segment
from modelmon.pipelines.monitoring_job import run_monitoring_job
from tests.support.store_rows import opens_another_store

BASE = {"class": "C", "model": "pickup", "function_uri": "tests/serving:latest"}


def events(start: datetime, seconds: int) -> list[str]:
    return [json.dumps(dict(BASE, when=format_when(start + timedelta(seconds=s)), microsec=100,
                            request={"inputs": [[float(s % 7), 1.0]]}, resp={"outputs": [1]}))
            for s in range(seconds)]


def wait_for(client, sql: str, timeout: float = 180) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = client.query(sql).result_rows
        if rows:
            return rows
        time.sleep(0.5)
    raise AssertionError(f"nothing from {sql}")


def test_a_reference_registered_during_a_run_is_used_for_the_next_windows(tmp_path):
    minute = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(hours=1)
    config = Config(store=f"chdb://{tmp_path / 'store'}", source=str(tmp_path / "spool"), lateness_seconds=5,
                    checkpoint_dir=str(tmp_path / "checkpoints"),
                    monitor_interval_seconds=0.2, feature_window_seconds=60, drift_range_seconds=300,
                    reference_refresh_seconds=0.5)
    client = store.open_store(config.store)
    stop = threading.Event()
    job = threading.Thread(target=run_monitoring_job, args=(config, False, stop))
    job.start()
    try:
        write_segment(tmp_path / "spool", events(minute, 80), 0)  # closes the first minute
        before = wait_for(client, "SELECT reference_id, bin_counts FROM feature_histograms FINAL")
        assert before == [(0, []), (0, [])]
        assert wait_for(client, "SELECT DISTINCT drift_status FROM drift_status") == [("NO_REFERENCE",)]

        training = tmp_path / "train.parquet"
        pd.DataFrame({"a": np.arange(7.0).repeat(10), "b": np.ones(70)}).to_parquet(training)
        _, reference_id = register_reference(client, "tests", "serving:latest", "pickup", training, bins=7)
        time.sleep(1.5)  # past reference_refresh_seconds
        write_segment(tmp_path / "spool", events(minute + timedelta(minutes=3), 80), 1)
        after = wait_for(client, f"SELECT feature_name, bin_counts FROM feature_histograms FINAL "
                                 f"WHERE reference_id = {reference_id} ORDER BY feature_name")
        # a: 60 values 0..6 spread over the 7 bins; b: all 1.0 in the middle of its unit range
        assert after == [("a", [0, 9, 9, 9, 9, 8, 8, 8, 0]), ("b", [0, 0, 0, 0, 60, 0, 0, 0, 0])]
        window_end = int((minute + timedelta(minutes=4)).timestamp() * 1000)
        status = wait_for(client, f"SELECT reference_id, drift_status FROM drift_status FINAL "
                                  f"WHERE toUnixTimestamp64Milli(window_end) = {window_end}")
        assert status == [(reference_id, "NO_DRIFT")]
    finally:
        client.close()
        stop.set()
        job.join(timeout=60)
    assert not job.is_alive()
    assert opens_another_store(tmp_path / "other")  # the stopped job left no connection open
