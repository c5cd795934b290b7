"""Writes the job's output rows into ClickHouse in batches.

The job emits one stream of ``(target table, JSON object or array of objects)`` pairs, or
``(MANY_TABLES, {table: [objects]})``: each record the job emits costs a few round trips
to the JVM in the collecting client, so many rows travel in one record where the job
can group them. This sink buffers the rows
per table and inserts with an explicit column list when a buffer reaches ``batch_rows`` or
is ``flush_seconds`` old, so each table gets at most about one insert per second.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable

from clickhouse_connect.driver.client import Client

from modelmon import store

log = logging.getLogger(__name__)

MANY_TABLES = "*"  # the target of a payload that maps table names to arrays of rows


def to_datetime(value: Any) -> datetime | None:
    """Epoch milliseconds or an ISO timestamp (naive = UTC) as an aware UTC datetime.

    >>> to_datetime(1767225600250)
    datetime.datetime(2026, 1, 1, 0, 0, 0, 250000, tzinfo=datetime.timezone.utc)
    >>> to_datetime("2026-01-01T00:05:00")
    datetime.datetime(2026, 1, 1, 0, 5, tzinfo=datetime.timezone.utc)
    """
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _identity(value: Any) -> Any:
    return value


def _labels(value: str | None) -> dict:
    return json.loads(value) if value else {}


_FEATURE_WINDOW = {"project": _identity, "endpoint_id": _identity, "feature_name": _identity,
                   "feature_index": _identity, "reference_id": _identity, "window_start": to_datetime,
                   "window_end": to_datetime}


# Column lists per table, in insert order, with the conversion from the job's JSON value.
TABLES: dict[str, dict[str, Callable[[Any], Any]]] = {
    "endpoint_metrics": {
        "project": _identity, "endpoint_id": _identity, "window_size": _identity,
        "window_start": to_datetime, "window_end": to_datetime, "requests_count": _identity,
        "predictions_count": _identity, "predictions_per_second": _identity, "error_count": _identity,
        "latency_avg": _identity, "latency_p50": _identity, "latency_p95": _identity,
        "latency_p99": _identity, "latency_max": _identity,
    },
    "endpoint_activity": {
        "project": _identity, "endpoint_id": _identity, "window_start": to_datetime,
        "first_request": to_datetime, "last_request": to_datetime, "requests_count": _identity,
        "predictions_count": _identity, "error_count": _identity, "function_uri": _identity,
        "model": _identity, "version": _identity, "model_class": _identity, "labels": _labels,
    },
    "invalid_events": {
        "kind": _identity, "project": _identity, "endpoint_id": _identity, "event_key": _identity,
        "event_time": to_datetime, "reason": _identity, "raw": _identity,
    },
    "feature_histograms": dict(_FEATURE_WINDOW, **{
        "count": _identity, "invalid_count": _identity, "mean": _identity, "std": _identity, "min": _identity,
        "max": _identity, "bin_counts": _identity,
    }),
    "drift_measures": dict(_FEATURE_WINDOW, **{
        "live_count": _identity, "tvd": _identity, "hellinger": _identity, "kld": _identity, "psi": _identity,
        "jsd": _identity, "drift_measure": _identity, "drift_status": _identity, "exceeded": _identity,
    }),
    "drift_status": {
        "project": _identity, "endpoint_id": _identity, "reference_id": _identity, "window_start": to_datetime,
        "window_end": to_datetime, "feature_names": _identity, "features_count": _identity,
        "tvd_sum": _identity, "tvd_mean": _identity, "hellinger_sum": _identity, "hellinger_mean": _identity,
        "kld_sum": _identity, "kld_mean": _identity, "psi_mean": _identity, "jsd_mean": _identity,
        "drift_measure": _identity, "drift_status": _identity, "possible_threshold": _identity,
        "detected_threshold": _identity,
    },
    "custom_metrics": {
        "project": _identity, "endpoint_id": _identity, "metric_name": _identity, "window_start": to_datetime,
        "window_end": to_datetime, "values_count": _identity, "sum": _identity, "mean": _identity,
        "min": _identity, "max": _identity,
    },
    "incoming_features": {
        "project": _identity, "endpoint_id": _identity, "event_time": to_datetime, "row_key": _identity,
        "features": _identity,
    },
}


class StoreSink:
    """Per-table buffers flushed by size or age."""

    def __init__(self, client: Client, batch_rows: int, flush_seconds: float):
        self.client = client
        self.batch_rows = batch_rows
        self.flush_seconds = flush_seconds
        self.buffers: dict[str, list[list[Any]]] = {table: [] for table in TABLES}
        self.oldest: dict[str, float] = {}
        self.rows_written: dict[str, int] = {table: 0 for table in TABLES}

    def add(self, target: str, payload: str) -> None:
        records = json.loads(payload)
        if target == MANY_TABLES:
            for table, rows in records.items():
                self._buffer(table, rows)
        else:
            self._buffer(target, records if isinstance(records, list) else [records])

    def _buffer(self, target: str, records: list[dict]) -> None:
        columns = TABLES.get(target)
        if columns is None:
            raise ValueError(f"the job emitted rows for unknown table {target!r}")
        for record in records:
            self.buffers[target].append([convert(record[name]) for name, convert in columns.items()])
        self.oldest.setdefault(target, time.monotonic())
        if len(self.buffers[target]) >= self.batch_rows:
            self.flush(target)

    def seconds_to_next_flush(self) -> float:
        if not self.oldest:
            return self.flush_seconds
        return max(0.0, min(self.oldest.values()) + self.flush_seconds - time.monotonic())

    def flush_due(self) -> None:
        now = time.monotonic()
        for target, since in list(self.oldest.items()):
            if now - since >= self.flush_seconds:
                self.flush(target)

    def flush(self, target: str | None = None) -> None:
        for table in [target] if target else list(self.buffers):
            rows = self.buffers[table]
            if not rows:
                continue
            started = time.perf_counter()
            store.insert(self.client, table, list(TABLES[table]), rows)
            self.rows_written[table] += len(rows)
            log.info("%s: wrote %d rows in %.1f ms", table, len(rows), (time.perf_counter() - started) * 1000)
            self.buffers[table] = []
            self.oldest.pop(table, None)
