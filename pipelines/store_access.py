"""The embedded store's one-process rule, decided in one place for the whole job.

A server store may be opened by every process. An embedded (chdb) store is locked by the one
process that opens it, so the job's parts that open it must all run in one process: the one
that built the job, where PyFlink's loopback mode runs the Python functions of a local run at
parallelism 1 (:func:`~modelmon.pipelines.monitoring_job.functions_run_here`). Where they may
open it, what they read from it is read again as the job runs (:class:`RefreshedFromStore`).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from modelmon import store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreAccess:
    """Who may open the job's store, pickled with the functions that need to know."""

    dsn: str
    builder_pid: int  # the process that built the job (and, in loopback mode, runs its functions)
    functions_here: bool  # the Python functions run in the builder's process

    @property
    def embedded(self) -> bool:
        return store.is_embedded(self.dsn)

    def may_open_here(self) -> bool:
        """Whether a function in the calling process may open the store (for reading references):
        any process for a server store; for an embedded one, only the builder's."""
        return not self.embedded or os.getpid() == self.builder_pid

    @property
    def writer_parallelism(self) -> int | None:
        """The store writer's parallelism: one writer for an embedded store, else the job's."""
        return 1 if self.embedded else None

    def builder_may_open(self) -> bool:
        """Whether the process that built the job may open the store while the job runs: always
        a server store; an embedded one only when the job's functions (its writer among them)
        run in that process, which then is the one that may open it."""
        return not self.embedded or self.functions_here

    def direct_insert_rows(self, configured: int) -> int:
        """``sample_insert_rows`` for the parse functions: 0 (every sampled row goes to the writer)
        where they run outside the one process that may open an embedded store."""
        return configured if self.builder_may_open() else 0

    def close_after_job(self) -> int:
        """Once the job has ended: close this process's connections its functions left open (one
        would keep the embedded engine bound to the store's path); returns how many there were."""
        return store.close_clients_left_open(self.dsn)


class RefreshedFromStore:
    """What a job's function reads from the store and reads again every ``refresh_seconds``
    (:meth:`reload`), so a running job picks up changes without a restart; while the store is
    unavailable it keeps what it has and looks again at the next check."""

    def __init__(self, dsn: str, refresh_seconds: float, checked: float):
        self.client = store.LazyClient(dsn)
        self.refresh_seconds = refresh_seconds
        self.checked = checked  # monotonic time of the last check

    def refresh(self) -> None:
        """Reload when ``refresh_seconds`` have passed since the last check."""
        now = time.monotonic()
        if now - self.checked < self.refresh_seconds:
            return
        self.checked = now
        try:
            self.reload(self.client.get())
        except store.UNAVAILABLE as error:
            log.warning("store unavailable (%s): keeping the %s read before", str(error)[:300], self.held())
            self.client.drop()

    def reload(self, client: Client) -> None:
        raise NotImplementedError

    def held(self) -> str:
        """What it holds, for the log."""
        raise NotImplementedError

    def close(self) -> None:
        self.client.close()
