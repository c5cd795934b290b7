"""The store's schema: versioned DDL, one file per table or view, applied in order by
:func:`modelmon.store.migrate`. ``python -m modelmon.sql`` prints the schema's documentation
(docs/schema.md) from these files."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class SchemaObject:
    """A table or view as its newest DDL file declares it."""

    name: str
    kind: str  # "table" | "view" | "materialized view"
    version: str  # the file that declares it last
    description: str  # the file's leading comment
    columns: list[tuple[str, str]]  # (name, type); a view's types are blank
    engine: str  # a table's; blank for a view
    order_by: str  # a table's key
    ttl: str = ""  # a table's TTL expression, ``{retention_days}`` in it; blank for none


def ddl_files() -> list[tuple[str, str]]:
    """(version, text) of every DDL file, in order."""
    files = sorted(f for f in resources.files(__name__).iterdir() if f.name.endswith(".sql"))
    return [(f.name.removesuffix(".sql"), f.read_text()) for f in files]


def with_retention(ddl: str, retention_days: int) -> str:
    r"""A DDL file's text with its TTL kept ``retention_days`` (0: no TTL line at all).

    >>> with_retention("ORDER BY k\nTTL toDateTime(t) + INTERVAL {retention_days} DAY\nSETTINGS x = 1", 7)
    'ORDER BY k\nTTL toDateTime(t) + INTERVAL 7 DAY\nSETTINGS x = 1'
    >>> with_retention("ORDER BY k\nTTL toDateTime(t) + INTERVAL {retention_days} DAY\nSETTINGS x = 1", 0)
    'ORDER BY k\nSETTINGS x = 1'
    """
    if not retention_days:
        return re.sub(r"^TTL .*\{retention_days\}.*\n", "", ddl, flags=re.M)
    return ddl.replace("{retention_days}", str(int(retention_days)))


def schema_objects() -> list[SchemaObject]:
    """Every table and view, each as its newest file declares it, in the order first declared."""
    objects: dict[str, SchemaObject] = {}
    for version, text in ddl_files():
        description = " ".join(line.removeprefix("--").strip() for line in text.splitlines() if line.startswith("--"))
        table = re.search(r"CREATE TABLE IF NOT EXISTS (\w+)\s*\((.*?)\n\)", text, re.S)
        if table:
            columns = [tuple(line.strip().rstrip(",").split(None, 1)) for line in table.group(2).splitlines()
                       if line.strip() and not line.strip().startswith("--")]
            columns = [(name, re.sub(r"\s+(CODEC|DEFAULT)\b.*", "", kind)) for name, kind in columns]
            order_by = re.search(r"ORDER BY \(?([^)\n]*)\)?", text).group(1)
            engine = re.search(r"ENGINE = (\w+)", text).group(1)
            ttl = re.search(r"^TTL (.*)$", text, re.M)
            objects[table.group(1)] = SchemaObject(table.group(1), "table", version, description, columns, engine,
                                                   order_by, ttl.group(1) if ttl else "")
            continue
        altered = re.search(r"ALTER TABLE (\w+)\n(.*)", text, re.S)
        if altered:  # a table's next version: columns added after named ones
            table = objects[altered.group(1)]
            columns = list(table.columns)
            for name, kind, after in re.findall(r"ADD COLUMN IF NOT EXISTS (\w+)\s+(.*?) AFTER (\w+)", altered.group(2)):
                columns.insert([c for c, _ in columns].index(after) + 1, (name, kind))
            objects[table.name] = dataclasses.replace(table, version=version, columns=columns,
                                                      description=f"{table.description} {description}")
            continue
        backfill = re.match(r"INSERT INTO (\w+)", "\n".join(l for l in text.splitlines() if not l.startswith("--")))
        if backfill:  # rows an upgrade derives from the older tables
            table = objects[backfill.group(1)]
            objects[table.name] = dataclasses.replace(table, description=f"{table.description} {description}")
            continue
        writer = re.search(r"CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO (\w+) AS\s*SELECT(.*?)\nFROM (\w+)", text, re.S)
        if writer:  # a table's writer: rows of another table's inserts, as the target's columns
            objects[writer.group(1)] = SchemaObject(writer.group(1), "materialized view", version,
                                                    f"{description} From `{writer.group(4)}` to `{writer.group(2)}`.",
                                                    [], "", "")
            continue
        view = re.search(r"CREATE OR REPLACE VIEW (\w+) AS\s*SELECT(.*?)\nFROM", text, re.S)
        if view:
            columns = [(alias, "") for alias in re.findall(r"\bAS (\w+)\s*(?:,|$)", view.group(2), re.M)]
            objects[view.group(1)] = SchemaObject(view.group(1), "view", version, description, columns, "", "")
    return list(objects.values())


def schema_markdown() -> str:
    """docs/schema.md: each table and view with its description, key and columns."""
    out = ["# Schema", "", "Generated from `sql/` by `python -m modelmon.sql > docs/schema.md` (a test keeps it so).",
           "The job's tables are `ReplacingMergeTree`s keyed by their `ORDER BY`: a replayed input rewrites the",
           "same keys, so read them with `FINAL` (the `endpoints` view does). Times are `DateTime64(3, 'UTC')`,",
           "latencies microseconds; `{retention_days}` is the TTL (configuration: `retention_days`).", ""]
    for obj in schema_objects():
        out += [f"## `{obj.name}` ({obj.kind}, `sql/{obj.version}.sql`)", "", obj.description, ""]
        if obj.order_by:
            out += [f"Engine `{obj.engine}`, key `{obj.order_by}`", ""]
        if obj.kind == "table":
            out += ["| column | type |", "|---|---|", *(f"| `{name}` | `{kind}` |" for name, kind in obj.columns), ""]
        elif obj.columns:
            out += ["Columns: " + ", ".join(f"`{name}`" for name, _ in obj.columns), ""]
    return "\n".join(out)
