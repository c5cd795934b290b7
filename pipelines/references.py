"""References as the job's Python functions reach them: live where the store may be opened,
the snapshot read at submission elsewhere."""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass, replace

from clickhouse_connect.driver.client import Client

from modelmon.pipelines.store_access import RefreshedFromStore, StoreAccess
from modelmon.reference import load_references, registrations_seen
from modelmon.udfs.histograms import Reference

log = logging.getLogger(__name__)


class ReferenceCache(RefreshedFromStore):
    """The newest references, reloaded when a registration is seen (checked every
    ``refresh_seconds``). It starts from the references read at submission (``seen`` as they
    were then)."""

    def __init__(self, dsn: str, refresh_seconds: float, newest: dict[str, Reference], seen: tuple | None):
        super().__init__(dsn, refresh_seconds, checked=-float("inf"))
        self.newest = newest
        self.versions: dict[tuple[str, int], Reference] = {}
        self.seen = seen

    def reload(self, client: Client) -> None:
        seen = registrations_seen(client)
        if seen != self.seen:
            self.newest = load_references(client)
            self.seen = seen
            log.info("loaded %d reference(s)", len(self.newest))

    def held(self) -> str:
        return f"{len(self.newest)} reference(s)"

    def current(self) -> dict[str, Reference]:
        self.refresh()
        return self.newest

    def get(self, endpoint_id: str) -> Reference | None:
        return self.current().get(endpoint_id)

    def version(self, endpoint_id: str, reference_id: int) -> Reference | None:
        """A given version (live counts binned before a re-registration still need its names)."""
        newest = self.current().get(endpoint_id)
        if newest is not None and newest.reference_id == reference_id:
            return newest
        key = (endpoint_id, reference_id)
        if key not in self.versions:
            self.versions[key] = load_references(self.client.get(), endpoint_id, reference_id).get(endpoint_id)
        return self.versions[key]


class FixedReferences:
    """The references read when the job was built, for a Python worker that may not open the
    store: an embedded store is locked by the one process that has it open."""

    def __init__(self, newest: dict[str, Reference]):
        self.newest = newest

    def current(self) -> dict[str, Reference]:
        return self.newest

    def get(self, endpoint_id: str) -> Reference | None:
        return self.newest.get(endpoint_id)

    def version(self, endpoint_id: str, reference_id: int) -> Reference | None:
        newest = self.newest.get(endpoint_id)
        return newest if newest is not None and newest.reference_id == reference_id else None

    def close(self) -> None:
        pass


# Snapshots kept in the process that built the job, for its Python functions when they run in
# that same process (PyFlink's loopback mode, a local run at parallelism 1), by JobReferences.kept.
_KEPT_SNAPSHOTS: dict[str, dict[str, Reference]] = {}


@dataclass(frozen=True)
class JobReferences:
    """How the job's Python functions reach references; pickled with them.

    Where the store may be opened (:meth:`StoreAccess.may_open_here`): live, newest references
    picked up every ``refresh_seconds``, starting from the ``snapshot`` read at submission
    (``seen`` as its registrations were). Elsewhere (an embedded store seen from a worker
    process): the snapshot alone.
    """

    access: StoreAccess
    refresh_seconds: float
    snapshot: dict[str, Reference] | None  # None: kept in the building process under ``kept_as``
    seen: tuple | None
    kept_as: str | None = None

    @classmethod
    def for_job(cls, access: StoreAccess, refresh_seconds: float, snapshot: dict[str, Reference],
                seen: tuple | None) -> "JobReferences":
        references = cls(access, refresh_seconds, snapshot, seen)
        return references.kept() if access.functions_here else references

    def kept(self) -> "JobReferences":
        """These references for functions that run in this process: the snapshot stays here
        instead of travelling in every function that holds it. At 1,000 endpoints it pickles to
        about 8 MB, which py4j, the job graph and Beam each copy: 0.3 GB more at the peak and
        4 s more start-up, measured."""
        kept_as = uuid.uuid4().hex
        _KEPT_SNAPSHOTS[kept_as] = self.snapshot
        return replace(self, snapshot=None, kept_as=kept_as)

    def release(self) -> None:
        """Forget a kept snapshot once the job has ended."""
        if self.kept_as is not None:
            _KEPT_SNAPSHOTS.pop(self.kept_as, None)

    def open(self) -> ReferenceCache | FixedReferences:
        snapshot = self.snapshot
        if snapshot is None:
            if self.kept_as not in _KEPT_SNAPSHOTS:
                raise RuntimeError(f"the job's references were kept in process {self.access.builder_pid}, which "
                                   f"built it, but this function runs in process {os.getpid()}")
            snapshot = _KEPT_SNAPSHOTS[self.kept_as]
        if not self.access.may_open_here():
            log.info("embedded store in a worker process: using the %d reference(s) read at submission",
                     len(snapshot))
            return FixedReferences(snapshot)
        return ReferenceCache(self.access.dsn, self.refresh_seconds, snapshot, self.seen)
