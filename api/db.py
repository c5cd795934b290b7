"""Store access per request, like flaskr's db.py: a client on first use, given back on
teardown to a small pool (``MODELMON_IDLE_CLIENTS`` in the app's config), since making one
costs a round trip to a server, and to an embedded store the engine's start when no client is
open (57-65 ms of a 10,000-endpoint overview's 221 ms; 9 ms with one open).

An open client binds the process's one embedded engine to its store's path, so an app keeps
none idle for an embedded store unless its process serves that store alone (``modelmon
serve``); tests and the demo open other clients and stores in the same process."""

from __future__ import annotations

import queue
from typing import Any, Callable, Hashable

from clickhouse_connect.driver.client import Client
from flask import Flask, current_app, g

from modelmon.api.answers import AnswerCache
from modelmon import store


IDLE_CLIENTS = 8


class ClientPool:
    """Up to ``size`` idle clients of one store, reused newest first."""

    def __init__(self, dsn: str, size: int):
        self.dsn = dsn
        self.size = size
        self.idle: queue.LifoQueue[Client] = queue.LifoQueue(maxsize=max(size, 1))

    def take(self) -> Client:
        try:
            return self.idle.get_nowait()
        except queue.Empty:
            return store.connect(self.dsn)

    def give_back(self, client: Client, failed: bool) -> None:
        """Keep ``client`` for a later request, unless its request failed (it may be broken)
        or enough are idle."""
        if failed or not self.size:
            client.close()
            return
        try:
            self.idle.put_nowait(client)
        except queue.Full:
            client.close()


def get_store() -> Client:
    if "store" not in g:
        g.store = current_app.extensions["modelmon_clients"].take()
    return g.store


def cached(question: Hashable, ask: Callable[[Client], Any]) -> Any:
    """The answer to an overview question, reused for ``proxy_cache_seconds`` (api/answers.py)."""
    return current_app.extensions["modelmon_answers"].get(question, ask, get_store)


def close_store(error: BaseException | None = None) -> None:
    client = g.pop("store", None)
    if client is not None:
        current_app.extensions["modelmon_clients"].give_back(client, failed=error is not None)


def init_app(app: Flask) -> None:
    """Bring the schema up to date once, and give each request's client back on teardown."""
    config = app.config["MODELMON"]
    store.open_store(config.store, config.retention_days).close()
    app.extensions["modelmon_answers"] = AnswerCache(config.store, config.proxy_cache_seconds)
    idle = app.config.get("MODELMON_IDLE_CLIENTS")
    app.extensions["modelmon_clients"] = ClientPool(config.store, (0 if store.is_embedded(config.store) else IDLE_CLIENTS)
                                                    if idle is None else idle)
    app.teardown_appcontext(close_store)
