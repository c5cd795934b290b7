"""Shared fixtures: a spool of simulated traffic with hand-made bad lines, run once through
the real job into a real embedded ClickHouse store, and a Flask client over that store."""

from __future__ import annotations

from tests.environment import BEFORE_JOBS  # noqa: F401  (first: a clean copy of the environment)

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import clickhouse_connect
import pytest

from api import create_app
from modelmon.config import Config
from modelmon.simulator import format_when, simulate, write_segment
from pipelines.monitoring_job import run_monitoring_job
from tests.drift_traffic import run_drift_job

TRAFFIC_EVENTS = 100_000
TRAFFIC_ENDPOINTS = 10
GOOD_BASE = {"class": "Manual", "model": "manual", "version": "v1", "function_uri": "tests/serving:prod"}


def hand_made_lines(start: datetime) -> list[str]:
    """Bad lines of each kind, and a batch whose one bad row must not lose the good one."""
    at = [format_when(start + timedelta(seconds=s)) for s in range(3)]
    return [
        '{"model": "broken", "function_uri": "tests/serving"',  # truncated JSON: no endpoint
        json.dumps(dict(GOOD_BASE, request={"inputs": [[1.0]]}, resp={"outputs": [1]}, microsec=10)),  # no when
        json.dumps(dict(GOOD_BASE, when=at[0], request={"inputs": [[1.0], [2.0]]},
                        resp={"outputs": [1]}, microsec=10)),  # outputs do not match inputs
        json.dumps(dict(GOOD_BASE, headers=["when", "request", "resp", "microsec"], values=[
            [at[1], {"inputs": [[1.0]]}, {"outputs": [0]}, 1_500_000],  # valid, latency over one second
            [at[2], {"inputs": [[1.0]]}, {"outputs": [0]}, "fast"],  # bad row
        ])),
    ]


def pytest_collection_modifyitems(items):
    """Tests that cancel a continuous job running in this process go last. The job's functions
    have, now and then, closed their connections to its embedded store only after the job was
    reported cancelled, and the chdb engine, once bound to a path, refuses every other path
    while one is open. The job now closes what they leave open and these tests check that
    another store opens; should that ever fail again, only they fail."""
    cancelling = [item for item in items if item.path.name in CANCELS_AN_IN_PROCESS_JOB]
    items[:] = [item for item in items if item not in cancelling] + cancelling


CANCELS_AN_IN_PROCESS_JOB = ("test_late_events.py", "test_reference_pickup.py")


@dataclass(frozen=True)
class JobRun:
    spool: Path
    config: Config


def run_bounded(spool: Path, store_path: Path) -> JobRun:
    config = Config(store=f"chdb://{store_path}", source=str(spool))
    run_monitoring_job(config, bounded=True)
    return JobRun(spool, config)


@pytest.fixture(scope="session")
def traffic_run(tmp_path_factory) -> JobRun:
    """100,000 lines for 10 endpoints plus the hand-made lines, through one bounded run."""
    root = tmp_path_factory.mktemp("traffic")
    simulate(root / "spool", TRAFFIC_EVENTS, endpoints=TRAFFIC_ENDPOINTS, seed=11, error_rate=0.03)
    write_segment(root / "spool", hand_made_lines(datetime.now(timezone.utc) - timedelta(hours=3)), sequence=999)
    return run_bounded(root / "spool", root / "store")


@pytest.fixture
def traffic_store(traffic_run):
    client = clickhouse_connect.get_client(dsn=traffic_run.config.store)
    yield client
    client.close()


@pytest.fixture(scope="session")
def drift_run(tmp_path_factory) -> dict:
    """References for three of four endpoints, traffic shifting halfway, one bounded run."""
    return run_drift_job(tmp_path_factory.mktemp("drift"))


@pytest.fixture
def drift_store(drift_run):
    client = clickhouse_connect.get_client(dsn=drift_run["config"].store)
    yield client
    client.close()


@pytest.fixture
def app(traffic_run):
    return create_app({"MODELMON": traffic_run.config, "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()
