"""The store unavailable while the job runs: at start-up and while its writer has rows to insert.

The outage is real: another process holds the embedded store, whose engine then refuses every
other process (the embedded form of "store busy"; a server that refuses connections raises
from the same client calls). Once it lets go, every row arrives, once.
"""

from __future__ import annotations

import subprocess
import sys

from modelmon.config import Config
from modelmon.simulator import simulate
from modelmon.pipelines.monitoring_job import run_monitoring_job
from tests.support.environment import child_environment
from tests.support.expected import different_rows, stored_rows
from tests.support.job_process import JobProcess

# Opens the store and keeps it (its engine locks the directory) until a line arrives on stdin.
HOLD_STORE = """
import sys, clickhouse_connect
client = clickhouse_connect.get_client(dsn=sys.argv[1])
print("holding", flush=True)
sys.stdin.readline()
client.close()
print("released", flush=True)
"""
OUTAGE_SETTINGS = {"MODELMON_SINK_RETRY_MAX_SECONDS": "2", "MODELMON_SINK_MAX_WAITING_PAYLOADS": "20",
                   "MODELMON_STORE_WAIT_SECONDS": "60"}


def hold_store(dsn: str) -> subprocess.Popen:
    """The outage lasts until ``release``: until the job has shown what the test looks for, however slow."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_STORE, dsn], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_environment())
    assert holder.stdout.readline().strip() == "holding", holder.stdout.read()
    return holder


def release(holder: subprocess.Popen) -> None:
    holder.stdin.write("\n")
    holder.stdin.flush()
    assert holder.wait(timeout=30) == 0 and holder.stdout.read().strip() == "released"


def job_arguments(root, store: str) -> list[str]:
    return ["--bounded", "--source", str(root / "spool"), "--store", store]


def test_a_store_busy_while_the_writer_has_rows_gets_every_row_once_it_is_back(tmp_path):
    simulate(tmp_path / "spool", 4_000, endpoints=3, seed=31, segment_lines=1_000)
    uninterrupted = f"chdb://{tmp_path / 'uninterrupted'}"
    run_monitoring_job(Config(store=uninterrupted, source=str(tmp_path / "spool")), bounded=True)

    outage = f"chdb://{tmp_path / 'store'}"
    job = JobProcess(tmp_path, "outage", job_arguments(tmp_path, outage), OUTAGE_SETTINGS)
    # The job lets go of the store before its JVM starts, seconds before the writer's first insert.
    job.wait_for(lambda: "ready: schema up to date" in job.text(), "the job to let go of the store")
    holder = hold_store(outage)
    # The buffer bound (20 payloads) reached: the writer holds the input instead of growing.
    job.wait_for(lambda: "holding the input until the store takes" in job.text(), "the writer to hold the input")
    release(holder)
    assert job.process.wait(timeout=300) == 0, job.text()[-3000:]

    log = job.text()
    assert "store unavailable" in log and "kept in state" in log  # reported, with what waits
    assert "store available again after" in log
    assert different_rows(stored_rows(uninterrupted), stored_rows(outage)) == {}


def test_start_up_waits_for_a_busy_store_and_reports_it(tmp_path):
    simulate(tmp_path / "spool", 300, endpoints=2, seed=32, segment_lines=300)
    store = f"chdb://{tmp_path / 'store'}"
    holder = hold_store(store)
    job = JobProcess(tmp_path, "waiting", job_arguments(tmp_path, store), OUTAGE_SETTINGS)
    job.wait_for(lambda: "trying again in" in job.text(), "the job to wait for the store")
    release(holder)
    assert job.process.wait(timeout=300) == 0, job.text()[-3000:]
    assert "unavailable" in job.text()
    assert "rows in the store: {'endpoint_metrics': " in job.text()


def test_start_up_gives_up_on_an_unreachable_server_with_a_clear_error(tmp_path):
    (tmp_path / "spool").mkdir()
    job = JobProcess(tmp_path, "unreachable", job_arguments(tmp_path, "http://user:secret@127.0.0.1:9/db"),
                     dict(OUTAGE_SETTINGS, MODELMON_STORE_WAIT_SECONDS="3"))
    assert job.process.wait(timeout=60) != 0
    text = job.text()
    assert "the store http://user:***@127.0.0.1:9/db is unavailable after 3 s" in text
    assert "secret" not in text
