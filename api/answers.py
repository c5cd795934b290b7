"""Overview answers reused for a few seconds, so that many Grafana panels and viewers asking for
the endpoint list cost one query, not one each.

An answer younger than ``fresh_seconds`` is served as it is. An older one, up to ten times
that, is served while one background thread asks the store again; older still, or none yet,
and the request waits for the store (one request per question; the others wait for its
answer). So an overview is at most about ``fresh_seconds`` plus one query's time old.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Hashable

from clickhouse_connect.driver.client import Client

from modelmon import store

log = logging.getLogger(__name__)

STALE_FACTOR = 10


class AnswerCache:
    """Answers by question; ``fresh_seconds`` 0 turns it off.

    >>> asked = []
    >>> def ask(client):
    ...     asked.append(client)
    ...     return len(asked)
    >>> answers = AnswerCache("chdb:///unused", fresh_seconds=5)
    >>> [answers.get(("q",), ask, lambda: "client") for _ in range(3)]
    [1, 1, 1]
    >>> [AnswerCache("chdb:///unused", fresh_seconds=0).get(("q",), ask, lambda: "client") for _ in range(2)]
    [2, 3]
    """

    def __init__(self, dsn: str, fresh_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.dsn = dsn
        self.fresh_seconds = fresh_seconds
        self.clock = clock
        self.answers: dict[Hashable, tuple[Any, float]] = {}
        self.refreshing: set[Hashable] = set()
        self.lock = threading.Lock()
        self.asking: dict[Hashable, threading.Lock] = {}

    def get(self, question: Hashable, ask: Callable[[Client], Any], request_client: Callable[[], Client]) -> Any:
        if self.fresh_seconds <= 0:
            return ask(request_client())
        with self.lock:
            answer = self.answers.get(question)
            if answer is not None:
                age = self.clock() - answer[1]
                if age <= self.fresh_seconds:
                    return answer[0]
                if age <= self.fresh_seconds * STALE_FACTOR:
                    if question not in self.refreshing:
                        self.refreshing.add(question)
                        threading.Thread(target=self._refresh, args=(question, ask), daemon=True).start()
                    return answer[0]
            asking = self.asking.setdefault(question, threading.Lock())
        with asking:  # one request asks the store; the others then find its answer
            with self.lock:
                answer = self.answers.get(question)
                if answer is not None and self.clock() - answer[1] <= self.fresh_seconds:
                    return answer[0]
            value = ask(request_client())
            with self.lock:
                self.answers[question] = (value, self.clock())
            return value

    def _refresh(self, question: Hashable, ask: Callable[[Client], Any]) -> None:
        client = None
        try:
            client = store.connect(self.dsn)
            value = ask(client)
            with self.lock:
                self.answers[question] = (value, self.clock())
        except store.UNAVAILABLE as error:  # the stale answer stays until it is too old to serve
            log.warning("refreshing %s failed: %s", question, str(error)[:300])
        finally:
            store.close_quietly(client)
            with self.lock:
                self.refreshing.discard(question)
