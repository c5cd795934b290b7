"""Fixtures of the unit layer."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from modelmon.simulator import simulate
from tests.support.reader_lines import WHEN


@pytest.fixture(scope="session")
def traffic(tmp_path_factory) -> list[bytes]:
    spool = tmp_path_factory.mktemp("fast") / "spool"
    simulate(spool, 3_000, endpoints=4, features=3, seed=3, start=WHEN - timedelta(minutes=10))
    return [line for path in sorted(Path(spool).glob("*.jsonl")) for line in path.read_bytes().splitlines()]
