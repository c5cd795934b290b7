"""The proxy's store clients (api/db.py): reused across requests where the app may keep them
idle (``modelmon serve``), never after a failed request, and not at all by default for an
embedded store, whose open client would bind this process's engine to it."""

from __future__ import annotations

from modelmon.api import create_app
from modelmon.api.db import close_store, get_store
from modelmon.config import Config


def clients_of_requests(app, failures: list[bool]) -> list:
    """The client each request got (kept, so that none is another's recycled id), a request
    failing where ``failures`` says."""
    seen = []
    for failed in failures:
        with app.test_request_context():
            client = get_store()
            assert client.query("SELECT 1").result_rows == [(1,)]
            seen.append(client)
            close_store(RuntimeError("boom") if failed else None)
    return seen


def test_a_serving_app_reuses_its_clients_but_not_one_whose_request_failed(tmp_path):
    app = create_app({"MODELMON": Config(store=f"chdb://{tmp_path / 'store'}"), "MODELMON_IDLE_CLIENTS": 2})
    first, second, failed, after = clients_of_requests(app, [False, False, True, False])
    assert first is second is failed  # the same client, taken back and given again
    assert after is not failed  # closed after its request failed, so a new one


def test_an_app_over_an_embedded_store_keeps_no_client_idle_by_default(tmp_path):
    app = create_app({"MODELMON": Config(store=f"chdb://{tmp_path / 'store'}")})
    clients_of_requests(app, [False])
    assert app.extensions["modelmon_clients"].idle.empty()
