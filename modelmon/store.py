"""The ClickHouse store: one DSN, ``chdb:///path`` (embedded) or ``http(s)://...`` (server).

Both go through the same clickhouse-connect client API; no code path is embedded-only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import numbers
import re
import threading
import time
import weakref
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import urlparse

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, InterfaceError

from modelmon.sql import ddl_files, schema_objects, with_retention
from modelmon.udfs.contract import Endpoint
from modelmon.udfs.registry import EndpointTotals

log = logging.getLogger(__name__)

# What an unreachable, busy or failing store raises: a server down or refusing (HTTP, network),
# or an embedded store whose directory another process holds.
UNAVAILABLE = (ClickHouseError, OSError)

_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    String,
    checksum   String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version
"""


def connect(dsn: str) -> Client:
    """A client for the DSN; the embedded store's directory is created when missing."""
    scheme = urlparse(dsn).scheme
    if is_embedded(dsn):
        path = urlparse(dsn).path
        if path:
            Path(path).mkdir(parents=True, exist_ok=True)
    elif scheme not in ("http", "https"):
        raise ValueError(f"store DSN {dsn!r} must start with chdb://, http:// or https://")
    return clickhouse_connect.get_client(dsn=dsn)


def is_embedded(dsn: str) -> bool:
    """An embedded (chdb) store can be open in only one process at a time.

    >>> is_embedded("chdb:///var/lib/modelmon"), is_embedded("http://clickhouse:8123/default")
    (True, False)
    """
    return urlparse(dsn).scheme == "chdb"


def migrate(client: Client, retention_days: int) -> list[str]:
    """Apply the DDL files not yet recorded; returns the versions applied now.

    Each file is idempotent on its own (IF NOT EXISTS / OR REPLACE), so a crash between
    applying a file and recording it is harmless.
    """
    client.command(_MIGRATIONS_TABLE)
    done = {row[0] for row in client.query("SELECT version FROM schema_migrations FINAL").result_rows}
    applied = []
    for version, text in ddl_files():
        if version in done:
            continue
        client.command(with_retention(text, retention_days))
        checksum = hashlib.sha1(text.encode()).hexdigest()
        client.insert("schema_migrations", [[version, checksum]], column_names=["version", "checksum"])
        applied.append(version)
    if applied:
        log.info("store schema: applied %s", ", ".join(applied))
    return applied


def retention_of(create_query: str) -> int | None:
    """A table's TTL in days, from its ``create_table_query`` in ``system.tables``; None for none.

    >>> retention_of("... ORDER BY x TTL toDateTime(t) + toIntervalDay(90) SETTINGS ttl_only_drop_parts = 1")
    90
    >>> retention_of("... ORDER BY x SETTINGS ttl_only_drop_parts = 1") is None
    True
    """
    ttl = re.search(r"\bTTL .*?toIntervalDay\((\d+)\)", create_query)
    return int(ttl.group(1)) if ttl else None


def _days(retention: int | None) -> str:
    return f"{retention} days" if retention is not None else "none"


def apply_retention(client: Client, retention_days: int) -> dict[str, int | None]:
    """Give every table with a TTL in its DDL the retention ``retention_days`` asks for (0: no
    TTL, rows are kept forever), tables made under another setting included; returns the tables
    changed, each with its retention before. A shorter retention deletes the rows past it."""
    if retention_days < 0:
        raise ValueError(f"retention_days={retention_days}: give a number of days, or 0 to keep every row")
    created = dict(client.query("SELECT name, create_table_query FROM system.tables "
                                "WHERE database = currentDatabase()").result_rows)
    wanted = retention_days or None
    changed = {}
    for table in schema_objects():
        if not table.ttl or table.name not in created:
            continue
        before = retention_of(created[table.name])
        if before == wanted:
            continue
        if wanted:
            client.command(f"ALTER TABLE {table.name} MODIFY TTL {with_retention(table.ttl, retention_days)}")
        else:
            client.command(f"ALTER TABLE {table.name} REMOVE TTL")
        changed[table.name] = before
    if changed:
        log.warning("store retention: now %s on %s (was %s)", _days(wanted), ", ".join(changed),
                    ", ".join(sorted({_days(before) for before in changed.values()})))
    return changed


def open_store(dsn: str, retention_days: int = 90) -> Client:
    """Connect, bring the schema up to date, and give its tables ``retention_days``."""
    client = connect(dsn)
    try:
        migrate(client, retention_days)
        apply_retention(client, retention_days)
    except BaseException:
        client.close()
        raise
    return client


class Backoff:
    """When to try an unavailable store again: delays double from ``initial`` (1 s) to
    ``maximum`` seconds, and a success starts over. One per process, since the store is shared.

    >>> backoff = Backoff(initial=1, maximum=5)
    >>> [backoff.failed(now=100) for _ in range(5)]
    [1, 2, 4, 5, 5]
    >>> backoff.ready(now=104), backoff.ready(now=105)
    (False, True)
    >>> backoff.succeeded(now=130), backoff.failures, backoff.ready(now=0)
    (30, 0, True)
    """

    def __init__(self, maximum: float, initial: float = 1.0):
        self.initial = initial
        self.maximum = maximum
        self.failures = 0
        self.failing_since: float | None = None
        self.next_attempt = -float("inf")

    def ready(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) >= self.next_attempt

    def failed(self, now: float | None = None) -> float:
        """Record a failed attempt; returns the delay before the next one."""
        now = time.monotonic() if now is None else now
        delay = min(self.initial * 2 ** self.failures, self.maximum)
        self.failures += 1
        if self.failing_since is None:
            self.failing_since = now
        self.next_attempt = now + delay
        return delay

    def succeeded(self, now: float | None = None) -> float | None:
        """Record a success; returns how long the store had been unavailable, if it had been."""
        now = time.monotonic() if now is None else now
        outage = None if self.failing_since is None else now - self.failing_since
        self.failures, self.failing_since, self.next_attempt = 0, None, -float("inf")
        return outage


def wait_for_store(dsn: str, retention_days: int, wait_seconds: float, backoff: Backoff) -> Client:
    """:func:`open_store`, tried again with backoff for up to ``wait_seconds`` while the store is
    unavailable (a server restarting, an embedded store another process holds); then the last
    error is raised, naming the store."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return open_store(dsn, retention_days)
        except UNAVAILABLE as error:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"the store {redact(dsn)} is unavailable after {wait_seconds:g} s: "
                                   f"{str(error)[:300]}") from error
            delay = min(backoff.failed(), remaining)
            log.warning("store %s unavailable (%s); trying again in %.1f s", redact(dsn), str(error)[:200], delay)
            time.sleep(delay)


def close_quietly(client: Client | None) -> None:
    """Close a client that may have lost its store (closing it then may fail too)."""
    if client is not None:
        try:
            client.close()
        except UNAVAILABLE:
            pass


class LazyClient:
    """A client opened on first use, and again after :meth:`drop` (a failed call may have broken
    it), but never after :meth:`close`: a function still running while its job is cancelled
    must not open a store that nothing will close (an embedded engine then stays bound to
    that path for the rest of the process). A lock makes a close that comes while another
    thread connects close that new connection too.
    """

    def __init__(self, dsn: str):
        self.dsn = dsn
        self.client: Client | None = None
        self.closed = False
        self.lock = threading.RLock()  # close() drops under it
        _LAZY_CLIENTS.add(self)

    def get(self) -> Client:
        with self.lock:
            if self.closed:
                raise InterfaceError(f"the connection to {redact(self.dsn)} is closed")
            if self.client is None:
                self.client = connect(self.dsn)
            return self.client

    def drop(self) -> None:
        with self.lock:
            close_quietly(self.client)
            self.client = None

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.drop()

    @property
    def is_open(self) -> bool:
        return self.client is not None


# Every LazyClient of this process, for close_clients_left_open.
_LAZY_CLIENTS: weakref.WeakSet[LazyClient] = weakref.WeakSet()


def close_clients_left_open(dsn: str, grace_seconds: float = 5.0) -> int:
    """Close this process's lazy connections to ``dsn`` once a job run here has ended; returns
    how many were still open after ``grace_seconds``.

    A cancelled job's Python functions (PyFlink's loopback mode runs them in this process) do
    not always close theirs, or close them after the job is reported cancelled, and one open
    connection to an embedded store keeps the process's chdb engine bound to its path: no
    other store could be opened in this process afterwards.
    """
    def still_open() -> list[LazyClient]:
        return [c for c in list(_LAZY_CLIENTS) if c.dsn == dsn and c.is_open]

    deadline = time.monotonic() + grace_seconds
    while still_open() and time.monotonic() < deadline:
        time.sleep(0.1)
    left_open = still_open()
    for client in left_open:
        client.close()
    if left_open:
        log.warning("closed %d connection(s) to %s that the ended job's functions had left open",
                    len(left_open), redact(dsn))
    return len(left_open)


def redact(dsn: str) -> str:
    """The DSN without its password, for logs and errors.

    >>> redact("http://default:secret@clickhouse:8123/db")
    'http://default:***@clickhouse:8123/db'
    >>> redact("chdb:///var/lib/modelmon")
    'chdb:///var/lib/modelmon'
    """
    parsed = urlparse(dsn)
    if parsed.password is None:
        return dsn
    return parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)).geturl()


def insert(client: Client, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert rows with an explicit column list."""
    client.insert(table, rows, column_names=list(columns))


def insert_columns(client: Client, table: str, columns: Mapping[str, Sequence[Any]], schema: pa.Schema) -> None:
    """Insert rows given column by column (the names are the explicit column list) as Arrow of
    ``schema`` (:func:`arrow_schema`): the store reads Arrow natively, where the client's own
    format is written value by value in Python (100,000 drift rows: 0.71 s against 1.32 s)."""
    insert_arrow(client, table, pa.table([pa.array(values, type=schema.field(name).type)
                                          for name, values in columns.items()], schema=schema))


def arrow_schema(client: Client, table: str, columns: Sequence[str]) -> pa.Schema:
    """The Arrow schema of ``columns`` of ``table``, from the table's own column types."""
    types = {name: kind for name, kind, *_ in client.query(f"DESCRIBE TABLE {table}").result_rows}
    return pa.schema([(name, arrow_type(types[name])) for name in columns])


_ARROW_SCALARS = {"String": pa.string(), "Float64": pa.float64(), "Int16": pa.int16(), "Int64": pa.int64(),
                  "UInt8": pa.uint8(), "UInt16": pa.uint16(), "UInt32": pa.uint32(), "UInt64": pa.uint64()}


def arrow_type(column_type: str) -> pa.DataType:
    """The Arrow type a ClickHouse column of ``column_type`` takes in.

    >>> [str(arrow_type(t)) for t in ("LowCardinality(String)", "Nullable(DateTime64(3, 'UTC'))", "Array(UInt64)")]
    ['string', 'timestamp[ms, tz=UTC]', 'list<item: uint64>']
    >>> str(arrow_type("Map(LowCardinality(String), Nullable(Float64))"))
    'map<string, double>'
    """
    wrapped = re.fullmatch(r"(Nullable|LowCardinality)\((.*)\)", column_type)
    if wrapped:
        return arrow_type(wrapped.group(2))
    if column_type.startswith("Array("):
        return pa.list_(arrow_type(column_type[6:-1]))
    if column_type.startswith("Map("):
        key, value = re.fullmatch(r"Map\(((?:LowCardinality\([^)]*\))|[^,]+), (.*)\)", column_type).groups()
        return pa.map_(arrow_type(key), arrow_type(value))
    if column_type == "DateTime64(3, 'UTC')":
        return pa.timestamp("ms", tz="UTC")
    if column_type not in _ARROW_SCALARS:
        raise ValueError(f"no Arrow type for the store's column type {column_type}")
    return _ARROW_SCALARS[column_type]


def insert_arrow(client: Client, table: str, rows: pa.Table) -> None:
    """Insert an Arrow table; its column names are the explicit column list.

    Without ``optimize_on_insert``: a ReplacingMergeTree would sort each insert by key and drop
    the duplicates inside it, about 40% of the time of inserting 275,000 sampled feature rows
    into an embedded store. Duplicates across inserts stay until a merge anyway, so the readers
    of these tables use FINAL, which gives the same rows either way.
    """
    client.insert_arrow(table, rows, settings={"optimize_on_insert": 0})


def dead_letter_counts(client: Client) -> dict[str, int]:
    """Events kept aside in ``invalid_events``, per kind."""
    return dict(client.query("SELECT kind, uniqExact(event_key) FROM invalid_events GROUP BY kind ORDER BY kind")
                .result_rows)


def row_counts(client: Client, tables: Sequence[str]) -> dict[str, int]:
    """Rows per table after replacement by key (FINAL): what a replay must leave unchanged."""
    return {table: client.query(f"SELECT count() FROM {table} FINAL").result_rows[0][0] for table in tables}


_REGISTRY_COLUMNS = """project, endpoint_id, function_uri, model, version, model_class, labels,
                       first_request, last_request, requests_count, predictions_count, error_count"""


def registry_history(client: Client, ranges: Mapping[tuple[str, str], tuple[int, int]]
                     ) -> dict[tuple[str, str], tuple[EndpointTotals | None, bool]]:
    """Per (project, endpoint id): the totals of its ``endpoint_activity`` windows outside the
    range (first and last window start, epoch ms) a job counts itself, None where there are
    none; and whether that stays so as the range grows (no stored window after it).

    Two bulk reads: the registry row stands for the history where all its requests came before
    the range, the common case (a job goes on from where the last one stopped); the windows are
    summed for the others (a job replaying what the store holds, or restored from a checkpoint).
    """
    if not ranges:
        return {}
    keys = list(ranges)
    history = {}
    for row in client.query(f"""
            SELECT {_REGISTRY_COLUMNS} FROM endpoint_registry FINAL
            WHERE (project, endpoint_id) IN {{keys:Array(Tuple(String, String))}}""",
                            parameters={"keys": keys}).named_results():
        key = (row["project"], row["endpoint_id"])
        if epoch_ms(row["last_request"]) < ranges[key][0]:
            history[key] = (_stored_totals(row), True)
    rest = [key for key in keys if key not in history]
    if rest:
        for row in client.query("""
                SELECT project, endpoint_id, argMaxIf(w_function_uri, w_last, outside) AS function_uri,
                       argMaxIf(w_model, w_last, outside) AS model, argMaxIf(w_version, w_last, outside) AS version,
                       argMaxIf(w_model_class, w_last, outside) AS model_class,
                       argMaxIf(w_labels, w_last, outside) AS labels, minIf(w_first, outside) AS first_request,
                       maxIf(w_last, outside) AS last_request, sumIf(w_requests, outside) AS requests_count,
                       sumIf(w_predictions, outside) AS predictions_count, sumIf(w_errors, outside) AS error_count,
                       countIf(outside) AS windows, max(w_start) AS stored_through
                FROM
                (
                    SELECT project, endpoint_id, function_uri AS w_function_uri, model AS w_model,
                           version AS w_version, model_class AS w_model_class, labels AS w_labels,
                           first_request AS w_first, last_request AS w_last, requests_count AS w_requests,
                           predictions_count AS w_predictions, error_count AS w_errors,
                           toUnixTimestamp64Milli(window_start) AS w_start, concat(project, '/', endpoint_id) AS k,
                           w_start NOT BETWEEN transform(k, {names:Array(String)}, {froms:Array(Int64)}, 0)
                                           AND transform(k, {names:Array(String)}, {throughs:Array(Int64)}, 0) AS outside
                    FROM endpoint_activity FINAL
                    WHERE (project, endpoint_id) IN {keys:Array(Tuple(String, String))}
                )
                GROUP BY project, endpoint_id""",
                                parameters={"keys": rest, "names": [f"{p}/{e}" for p, e in rest],
                                            "froms": [ranges[key][0] for key in rest],
                                            "throughs": [ranges[key][1] for key in rest]}).named_results():
            key = (row["project"], row["endpoint_id"])
            history[key] = (_stored_totals(row) if row["windows"] else None,
                            row["stored_through"] <= ranges[key][1])
    return {key: history.get(key, (None, True)) for key in keys}


def _stored_totals(row: Mapping[str, Any]) -> EndpointTotals:
    """Totals read from the store (their window range spans their requests)."""
    endpoint = Endpoint(row["project"], row["endpoint_id"], row["function_uri"], row["model"], row["version"],
                        row["model_class"], json.dumps(dict(row["labels"]), sort_keys=True))
    first, last = epoch_ms(row["first_request"]), epoch_ms(row["last_request"])
    return EndpointTotals(row["project"], row["endpoint_id"], first, last, first, last, row["requests_count"],
                          row["predictions_count"], row["error_count"], endpoint)


def epoch_ms(value: Any) -> int | None:
    """A time as epoch milliseconds, as the job's rows carry it and the store's Arrow columns
    take it: given so, or a number, a datetime or an ISO timestamp (naive = UTC).

    >>> epoch_ms(1767225600250), epoch_ms("2026-01-01T00:05:00"), epoch_ms(datetime(2026, 1, 1)), epoch_ms(None)
    (1767225600250, 1767225900000, 1767225600000, None)
    """
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, numbers.Real):
        return round(value)
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return round((moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp() * 1000)
