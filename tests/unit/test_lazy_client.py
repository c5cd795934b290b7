"""Lazy store connections of a job's functions: none stays open once the job has ended, since
one open connection to an embedded store binds this process's chdb engine to that path."""

from __future__ import annotations

import threading
import time

import pytest
from clickhouse_connect.driver.exceptions import InterfaceError

from modelmon import store
from tests.support.store_rows import opens_another_store


def test_connections_left_open_are_closed_and_another_store_opens(tmp_path):
    dsn = f"chdb://{tmp_path / 'job'}"
    lazy = store.LazyClient(dsn)
    try:
        lazy.get().command("SELECT 1")
        assert not opens_another_store(tmp_path / "other")  # the engine is bound to the job's store
        assert store.close_clients_left_open(dsn, grace_seconds=0) == 1
        assert opens_another_store(tmp_path / "other")
        with pytest.raises(InterfaceError, match="is closed"):
            lazy.get()
    finally:
        lazy.close()


def test_a_client_its_function_closes_during_the_grace_is_not_counted(tmp_path):
    dsn = f"chdb://{tmp_path / 'job'}"
    lazy = store.LazyClient(dsn)
    lazy.get()
    closing = threading.Timer(0.3, lazy.close)
    closing.start()
    try:
        assert store.close_clients_left_open(dsn, grace_seconds=10) == 0
        assert not lazy.is_open
    finally:
        closing.join()


def test_a_close_while_another_thread_connects_closes_that_connection(tmp_path, monkeypatch):
    dsn = f"chdb://{tmp_path / 'job'}"
    connecting, proceed = threading.Event(), threading.Event()
    real_connect = store.connect

    def slow_connect(target: str):
        connecting.set()
        proceed.wait(10)
        return real_connect(target)

    monkeypatch.setattr(store, "connect", slow_connect)
    lazy = store.LazyClient(dsn)
    getting = threading.Thread(target=lazy.get)
    getting.start()
    assert connecting.wait(10)
    closing = threading.Thread(target=lazy.close)  # the job cancelled while its writer connects
    closing.start()
    time.sleep(0.2)
    proceed.set()
    getting.join(10)
    closing.join(10)
    monkeypatch.undo()
    assert not lazy.is_open
    assert opens_another_store(tmp_path / "other")
