"""The ClickHouse store: one DSN, ``chdb:///path`` (embedded) or ``http(s)://...`` (server).

Both go through the same clickhouse-connect client API; no code path is embedded-only.
"""

from __future__ import annotations

import hashlib
import logging
from importlib import resources
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)

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


def migrations() -> list[tuple[str, str]]:
    """The versioned DDL files of ``sql/`` as (version, text), in order."""
    files = sorted(f for f in resources.files("sql").iterdir() if f.name.endswith(".sql"))
    return [(f.name.removesuffix(".sql"), f.read_text()) for f in files]


def migrate(client: Client, retention_days: int) -> list[str]:
    """Apply the DDL files not yet recorded; returns the versions applied now.

    Each file is idempotent on its own (IF NOT EXISTS / OR REPLACE), so a crash between
    applying a file and recording it is harmless.
    """
    client.command(_MIGRATIONS_TABLE)
    done = {row[0] for row in client.query("SELECT version FROM schema_migrations FINAL").result_rows}
    applied = []
    for version, text in migrations():
        if version in done:
            continue
        client.command(text.replace("{retention_days}", str(int(retention_days))))
        checksum = hashlib.sha1(text.encode()).hexdigest()
        client.insert("schema_migrations", [[version, checksum]], column_names=["version", "checksum"])
        applied.append(version)
    if applied:
        log.info("store schema: applied %s", ", ".join(applied))
    return applied


def open_store(dsn: str, retention_days: int = 90) -> Client:
    """Connect and bring the schema up to date."""
    client = connect(dsn)
    migrate(client, retention_days)
    return client


def insert(client: Client, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert rows with an explicit column list."""
    client.insert(table, rows, column_names=list(columns))


def row_counts(client: Client, tables: Sequence[str]) -> dict[str, int]:
    """Rows per table after replacement by key (FINAL): what a replay must leave unchanged."""
    return {table: client.query(f"SELECT count() FROM {table} FINAL").result_rows[0][0] for table in tables}
