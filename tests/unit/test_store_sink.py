"""The store sink's inserts into a real embedded store: a write of many payloads is one insert
per table (each insert costs the store a part), up to the per-insert row bound; and in a real
job, the writer inserts a table's rows once ``sink_batch_rows`` rows wait. A batch with enough
sampled rows inserts them from the parse function, giving the rows the writer gives."""

from __future__ import annotations

import logging
import re
import time

import numpy as np
import pytest

from modelmon import store
from modelmon.simulator import simulate
from modelmon.pipelines.store_sink import SampleInserts, StoreSink
from tests.support.job_process import JobProcess
from modelmon.udfs.features import sample_table

HOUR_AGO_MS = int(time.time() * 1000) - 3_600_000  # inside the tables' retention


def sampled_rows(first_key: int, count: int):
    """``count`` sampled rows of two features with distinct row keys."""
    return sample_table("p", "e", ["a", "b"], np.full(count, HOUR_AGO_MS),
                        [f"line{first_key + i}:0" for i in range(count)], np.ones((count, 2)))


def metric_rows(first: int, count: int) -> list[dict]:
    return [{"project": "p", "endpoint_id": "e", "metric_name": f"m{first + i}", "window_start": HOUR_AGO_MS,
             "window_end": HOUR_AGO_MS + 60_000, "values_count": 1, "sum": 1.0, "mean": 1.0, "min": 1.0, "max": 1.0}
            for i in range(count)]


@pytest.fixture
def dsn(tmp_path):
    dsn = f"chdb://{tmp_path / 'store'}"
    store.open_store(dsn).close()
    return dsn


def inserts_logged(caplog) -> list[str]:
    return [record.getMessage().split(" in ")[0] for record in caplog.records
            if record.name == "modelmon.pipelines.store_sink" and ": wrote " in record.getMessage()]


def test_a_write_of_many_payloads_is_one_insert_per_table(dsn, caplog):
    caplog.set_level(logging.INFO, logger="modelmon.pipelines.store_sink")
    sink = StoreSink(dsn)
    try:
        for i in range(3):
            sink.add("incoming_features", sampled_rows(1500 * i, 1500))
            sink.add("custom_metrics", metric_rows(1500 * i, 1500))
        assert inserts_logged(caplog) == []  # nothing before the writer flushes
        sink.flush()
        assert sorted(inserts_logged(caplog)) == ["custom_metrics: wrote 4500 rows",
                                                  "incoming_features: wrote 4500 rows"]
        rows = store.row_counts(sink.client.get(), ["incoming_features", "custom_metrics"])
    finally:
        sink.close()
    assert rows == {"incoming_features": 4500, "custom_metrics": 4500}


def test_a_write_past_the_row_bound_is_split_at_it(dsn, caplog):
    caplog.set_level(logging.INFO, logger="modelmon.pipelines.store_sink")
    sink = StoreSink(dsn, max_insert_rows=2000)
    try:
        for i in range(3):
            sink.add("incoming_features", sampled_rows(1500 * i, 1500))
        sink.flush()
        rows = store.row_counts(sink.client.get(), ["incoming_features"])
    finally:
        sink.close()
    assert inserts_logged(caplog) == ["incoming_features: wrote 3000 rows", "incoming_features: wrote 1500 rows"]
    assert rows == {"incoming_features": 4500}


def test_the_writer_inserts_once_batch_rows_rows_wait(tmp_path):
    """Sampled rows come one payload per block of 100 lines (about 250 rows); with no flush
    timer before the end, each insert but the last holds at least ``sink_batch_rows`` rows,
    and the rows are inserted as they reach it, not only after that many payloads."""
    simulate(tmp_path / "spool", 2_000, endpoints=2, seed=5)
    job = JobProcess(tmp_path, "job", ["--bounded", "--source", str(tmp_path / "spool"),
                                       "--store", f"chdb://{tmp_path / 'store'}"],
                     {"MODELMON_PARSE_BATCH_LINES": "100", "MODELMON_FEATURE_SAMPLE_EVERY": "1",
                      "MODELMON_SINK_BATCH_ROWS": "1000", "MODELMON_SINK_FLUSH_SECONDS": "3600",
                      "MODELMON_SAMPLE_INSERT_ROWS": "0"})
    assert job.process.wait(timeout=300) == 0, job.text()[-3000:]
    inserts = [int(rows) for rows in re.findall(r"incoming_features: wrote (\d+) rows", job.text())]
    client = store.open_store(f"chdb://{tmp_path / 'store'}")
    try:
        stored = store.row_counts(client, ["incoming_features"])["incoming_features"]
    finally:
        client.close()
    assert sum(inserts) == stored > 4_000
    assert len(inserts) >= 4 and all(1_000 <= rows < 1_000 + 400 for rows in inserts[:-1]), inserts


def test_a_batch_with_enough_sampled_rows_inserts_them_and_fewer_are_left_to_the_writer(dsn, caplog):
    caplog.set_level(logging.INFO, logger="modelmon.pipelines.store_sink")
    inserts = SampleInserts(dsn, min_rows=1000, retry_max_seconds=30)
    try:
        assert inserts.stored(sampled_rows(0, 1000))
        assert not inserts.stored(sampled_rows(1000, 999))
        assert inserts.stored(sampled_rows(0, 1000))  # a replay's insert: the same row keys replace themselves
        rows = store.row_counts(inserts.client.get(), ["incoming_features"])
    finally:
        inserts.close()
    assert rows == {"incoming_features": 1000}
    assert inserts_logged(caplog) == ["incoming_features: wrote 1000 rows"] * 2
    never = SampleInserts(dsn, min_rows=0, retry_max_seconds=30)
    assert not never.stored(sampled_rows(0, 5000)) and never.client.client is None  # not even connected
    never.close()


def test_a_failing_store_leaves_the_sampled_rows_to_the_writer_and_waits_before_trying_again(caplog):
    inserts = SampleInserts("http://user:secret@127.0.0.1:9/db", min_rows=1000, retry_max_seconds=30)
    try:
        assert not inserts.stored(sampled_rows(0, 1000))
        assert not inserts.stored(sampled_rows(1000, 1000))  # within the backoff's first second: not tried
    finally:
        inserts.close()
    assert inserts.backoff.failures == 1
    assert "1000 sampled rows left to the writer" in caplog.text and "secret" not in caplog.text


def test_sampled_rows_inserted_by_the_parse_are_the_rows_the_writer_inserts(tmp_path):
    simulate(tmp_path / "spool", 2_000, endpoints=2, seed=6)
    stored, logs = {}, {}
    for label, min_rows in (("parse", "1"), ("writer", "0")):
        dsn = f"chdb://{tmp_path / label}"
        job = JobProcess(tmp_path, label, ["--bounded", "--source", str(tmp_path / "spool"), "--store", dsn],
                         {"MODELMON_SAMPLE_INSERT_ROWS": min_rows})
        assert job.process.wait(timeout=300) == 0, job.text()[-3000:]
        logs[label] = job.text()
        client = store.open_store(dsn)
        try:
            stored[label] = client.query("SELECT project, endpoint_id, event_time, row_key, features "
                                         "FROM incoming_features FINAL ORDER BY row_key").result_rows
        finally:
            client.close()
    assert len(stored["parse"]) > 300 and stored["parse"] == stored["writer"]
    assert "rows in" in logs["parse"] and "from the parse" in logs["parse"]
    assert "from the parse" not in logs["writer"]
