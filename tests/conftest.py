"""The suite's layers and shared fixtures.

Layers, by folder and marker: ``unit`` (functions, the Java reader in a JVM of its own, a real
embedded store; no Flink job), ``job`` (a real PyFlink job, and what reads its store), ``system``
(several processes: a Flink cluster, a job killed mid-run, a browser). ``pytest -m unit`` runs
the fast layer alone. The session fixtures run the real job once over shared traffic.
"""

from __future__ import annotations

from tests.support.environment import BEFORE_JOBS  # noqa: F401  (first: a clean copy of the environment)

from datetime import datetime, timedelta, timezone
from pathlib import Path

import clickhouse_connect
import pytest

from modelmon.api import create_app
from modelmon.simulator import simulate
from modelmon.tracker import write_segment
from tests.support.categorical_traffic import run_categorical_job
from tests.support.drift_traffic import run_drift_job
from tests.support.traffic import TRAFFIC_ENDPOINTS, TRAFFIC_EVENTS, JobRun, hand_made_lines, run_bounded

LAYERS = ("unit", "job", "system")
# Tests that cancel a continuous job running in this process go last. The job's functions
# have, now and then, closed their connections to its embedded store only after the job was
# reported cancelled, and the chdb engine, once bound to a path, refuses every other path
# while one is open. The job now closes what they leave open and these tests check that
# another store opens; should that ever fail again, only they fail.
CANCELS_AN_IN_PROCESS_JOB = ("test_late_events.py", "test_reference_pickup.py")


def pytest_collection_modifyitems(items):
    """Each test gets its folder's layer as a marker (doctests are unit tests); the layers run
    in order, fastest first."""
    tests = Path(__file__).parent
    for item in items:
        path = Path(item.path)
        folder = path.relative_to(tests).parts[0] if path.is_relative_to(tests) else "unit"
        item.add_marker(folder if folder in LAYERS else "unit")
    def order(item) -> tuple[int, bool]:
        layer = next(m.name for m in item.iter_markers() if m.name in LAYERS)
        return LAYERS.index(layer), item.path.name in CANCELS_AN_IN_PROCESS_JOB
    items.sort(key=order)


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


@pytest.fixture(scope="session")
def categorical_run(tmp_path_factory) -> dict:
    """Numeric and categorical features, the category mix shifting halfway for one endpoint."""
    return run_categorical_job(tmp_path_factory.mktemp("categorical"))


@pytest.fixture
def categorical_store(categorical_run):
    client = clickhouse_connect.get_client(dsn=categorical_run["config"].store)
    yield client
    client.close()
