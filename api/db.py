"""Store access per request, like flaskr's db.py: open on first use, close on teardown."""

from __future__ import annotations

from typing import Any, Callable, Hashable

from clickhouse_connect.driver.client import Client
from flask import Flask, current_app, g

from modelmon.api.answers import AnswerCache
from modelmon import store


def get_store() -> Client:
    if "store" not in g:
        g.store = store.connect(current_app.config["MODELMON"].store)
    return g.store


def cached(question: Hashable, ask: Callable[[Client], Any]) -> Any:
    """The answer to an overview question, reused for ``proxy_cache_seconds`` (api/answers.py)."""
    return current_app.extensions["modelmon_answers"].get(question, ask, get_store)


def close_store(_error: BaseException | None = None) -> None:
    client = g.pop("store", None)
    if client is not None:
        client.close()


def init_app(app: Flask) -> None:
    """Bring the schema up to date once, and close each request's client on teardown."""
    config = app.config["MODELMON"]
    store.open_store(config.store, config.retention_days).close()
    app.extensions["modelmon_answers"] = AnswerCache(config.store, config.proxy_cache_seconds)
    app.teardown_appcontext(close_store)
