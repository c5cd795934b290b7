"""The proxy's reuse of overview answers (api/answers.py), over a real store: fresh answers are
served as they are, stale ones while the store is asked again, too old ones never."""

from __future__ import annotations

import time

from modelmon.api import queries
from modelmon.api.answers import AnswerCache
from modelmon import store
from tests.support.store_rows import REGISTRY_ROW


def add_project(client, project: str) -> None:
    row = dict(REGISTRY_ROW, project=project)
    store.insert(client, "endpoint_registry", list(row), [list(row.values())])


def test_answers_are_reused_while_fresh_refreshed_when_stale_and_asked_again_when_old(tmp_path):
    dsn = f"chdb://{tmp_path / 'store'}"
    client = store.open_store(dsn)
    now = [0.0]
    answers = AnswerCache(dsn, fresh_seconds=5, clock=lambda: now[0])
    ask = ("list_projects",), queries.list_projects, lambda: client
    try:
        add_project(client, "a")
        assert answers.get(*ask) == ["a"]
        add_project(client, "b")
        now[0] = 5.0
        assert answers.get(*ask) == ["a"]  # fresh: the store is not asked
        now[0] = 6.0
        assert answers.get(*ask) == ["a"]  # stale: served at once, and asked again in the background
        deadline = time.monotonic() + 30
        while answers.refreshing and time.monotonic() < deadline:
            time.sleep(0.05)
        assert answers.get(*ask) == ["a", "b"]
        add_project(client, "c")
        now[0] = 6.0 + 5 * 10 + 1  # past ten times the fresh age: the request waits for the store
        assert answers.get(*ask) == ["a", "b", "c"]
        assert AnswerCache(dsn, fresh_seconds=0).get(*ask) == ["a", "b", "c"]
    finally:
        client.close()
