"""The job file on a real standalone Flink cluster (``bin/start-cluster.sh`` of the installed
PyFlink), submitted with ``flink run -py`` at parallelism 2: the store must hold the same
numbers as the local run over the same input, from a spool and from a Kafka topic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace

import clickhouse_connect

from modelmon.simulator import simulate
from modelmon.pipelines import monitoring_job
from modelmon.pipelines.store_sink import TABLES
from tests.support.drift_traffic import write_drift_input
from tests.support.expected import different_rows, read_spool, stored_rows
from tests.support.flink_cluster import FLINK_HOME, standalone_cluster
from tests.support.traffic import spool_lines, track


def python_workers() -> set[int]:
    """PyFlink's Python worker processes."""
    workers = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if b"pyflink.fn_execution.beam.beam_boot" in handle.read():
                    workers.add(int(pid))
        except OSError:  # gone meanwhile
            pass
    return workers


def open_files(pid: int) -> set[str]:
    """The paths a process has open; a descriptor closed meanwhile is left out, not the process."""
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # gone
        return set()
    files = set()
    for descriptor in descriptors:
        try:
            files.add(os.readlink(f"/proc/{pid}/fd/{descriptor}"))
        except OSError:
            pass
    return files


def flink_rest(jobmanager: str, path: str) -> dict:
    with urllib.request.urlopen(f"http://{jobmanager}/{path}", timeout=10) as response:
        return json.load(response)


def test_flink_run_at_parallelism_2_stores_the_same_numbers_as_a_local_run(drift_run, kafka_broker, tmp_path):
    dsn, _ = write_drift_input(tmp_path, drift_run["start"])
    with standalone_cluster(tmp_path / "flink", slots=2) as (jobmanager, environment):
        finished = subprocess.run(
            [str(FLINK_HOME / "bin" / "flink"), "run", "-m", jobmanager, "-p", "2", "-pyclientexec", sys.executable,
             "-py", monitoring_job.__file__, "--source", str(tmp_path / "spool"), "--store", dsn, "--bounded"],
            env=environment, capture_output=True, text=True, timeout=600)
        assert finished.returncode == 0, finished.stderr[-3000:]
        (job,) = flink_rest(jobmanager, "jobs/overview")["jobs"]
        vertices = {v["name"]: v["parallelism"] for v in flink_rest(jobmanager, f"jobs/{job['jid']}")["vertices"]}
        writer = [name for name in vertices if "store writer" in name]
        assert len(writer) == 1 and vertices.pop(writer[0]) == 1  # the embedded store's one writer
        assert set(vertices.values()) == {2}

        local, cluster = stored_rows(drift_run["config"].store), stored_rows(dsn)
        assert different_rows(local, cluster) == {}
        assert all(len(local[table]) > 0 for table in TABLES if table != "alert_activations")  # the run has no rule

        client = clickhouse_connect.get_client(dsn=dsn)
        try:  # the workers binned on the references registered in this store, read at submission
            unknown = client.query("SELECT count() FROM feature_histograms WHERE reference_id > 0 AND reference_id "
                                   "NOT IN (SELECT reference_id FROM reference_endpoints)").result_rows[0][0]
            binned = client.query("SELECT uniqExact(reference_id) FROM feature_histograms "
                                  "WHERE reference_id > 0").result_rows[0][0]
        finally:
            client.close()
        assert (unknown, binned) == (0, 3)

        # modelmon submit wraps the same line and waits for a bounded job.
        simulate(tmp_path / "small", 2_000, endpoints=2, seed=3)
        small = f"chdb://{tmp_path / 'small-store'}"
        submitted = subprocess.run(
            [sys.executable, "-m", "modelmon.cli", "submit", "--jobmanager", jobmanager, "--parallelism", "2",
             "--bounded", "--source", str(tmp_path / "small"), "--store", small],
            env=environment, capture_output=True, text=True, timeout=600)
        assert submitted.returncode == 0, submitted.stderr[-3000:]
        assert "bin/flink run -m" in submitted.stderr

        # The same events from a topic of 3 partitions, read by 2 subtasks: the job ships the
        # cached Kafka connector to the cluster itself.
        kafka_broker.create_topic("cluster", 3)
        known = {job["jid"] for job in flink_rest(jobmanager, "jobs/overview")["jobs"]}
        track(spool_lines(tmp_path / "small"), f"kafka://{kafka_broker.bootstrap}/cluster")
        from_kafka = f"chdb://{tmp_path / 'kafka-store'}"
        submitted = subprocess.run(
            [sys.executable, "-m", "modelmon.cli", "submit", "--jobmanager", jobmanager, "--parallelism", "2",
             "--bounded", "--source", f"kafka://{kafka_broker.bootstrap}/cluster", "--store", from_kafka],
            env=environment, capture_output=True, text=True, timeout=600)
        assert submitted.returncode == 0, submitted.stderr[-3000:]
        (kafka_job,) = [job for job in flink_rest(jobmanager, "jobs/overview")["jobs"] if job["jid"] not in known]
        sources = [v for v in flink_rest(jobmanager, f"jobs/{kafka_job['jid']}")["vertices"]
                   if v["name"].startswith("Source: prediction_lines")]
        assert [v["parallelism"] for v in sources] == [2]
    client = clickhouse_connect.get_client(dsn=small)
    try:
        requests = client.query("SELECT sum(requests_count) FROM endpoint_activity FINAL").result_rows[0][0]
    finally:
        client.close()
    assert requests == sum(len(events["time_ms"]) for events in read_spool(tmp_path / "small").values())
    assert different_rows(stored_rows(small), stored_rows(from_kafka)) == {}


def test_a_local_run_at_parallelism_2_stores_the_same_numbers_in_two_python_processes(drift_run, tmp_path):
    dsn, _ = write_drift_input(tmp_path, drift_run["start"])
    config = replace(drift_run["config"], store=dsn, source=str(tmp_path / "spool"), parallelism=2)
    store_path = str(tmp_path / "store")
    workers, writers = set(), set()
    job = threading.Thread(target=monitoring_job.run_monitoring_job, args=(config, True))
    job.start()
    looked_for_workers = 0.0
    while job.is_alive():
        if time.monotonic() - looked_for_workers > 0.2:
            workers |= python_workers()
            looked_for_workers = time.monotonic()
        # A bounded run's writer holds the store open only for its last inserts, some 0.2-0.5 s.
        writers |= {pid for pid in workers if any(name.startswith(store_path) for name in open_files(pid))}
        time.sleep(0.01)
    # The writer ran in a Python process of its own (in-process workers leave the store to
    # this process), beside the workers of both slots.
    assert len(writers) == 1 and len(workers) == 2
    assert different_rows(stored_rows(drift_run["config"].store), stored_rows(dsn)) == {}
