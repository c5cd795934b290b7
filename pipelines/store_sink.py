"""The job's sink: writes its output rows into ClickHouse in batches, from inside the job.

The job emits one stream of ``(target table, row or list of rows)`` pairs, rows being dicts of
column values, or ``(MANY_TABLES, {table: [rows]})`` where one operator produces many rows at
once, or ``(table, Arrow table)`` for the sampled feature rows, which are many and arrive
columnar. :func:`store_row` pickles a payload once, where it is made; from there it travels
and waits in state as bytes (no JSON text is built and parsed on the way).
:class:`StoreWriter`, keyed by target, keeps the payloads that are not yet in the store in
keyed list state, so every checkpoint holds them: after a restore they are written again
(the tables replace rows by key, so a second write of a row changes nothing) and nothing
that was emitted is lost. It inserts per table with an explicit column list when
``flush_seconds`` have passed since the first waiting payload, when ``batch_rows`` rows
wait, and at the end of a bounded input: at most about one insert per second per table, or
inserts of at least ``batch_rows`` rows.
While the store is unavailable the payloads keep waiting, and it tries again with backoff.
"""

from __future__ import annotations

import json
import logging
import pickle
import sys
import time
from typing import Any, Callable, Iterable

import pyarrow as pa
from pyflink.common import Row, Types
from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ListStateDescriptor, ValueStateDescriptor

from modelmon import store
from modelmon.pipelines.worker import tune_worker
from modelmon.udfs.features import SAMPLE_SCHEMA
from modelmon.udfs.registry import EndpointTotals, with_history

log = logging.getLogger(__name__)

MANY_TABLES = "*"  # the target of a payload that maps table names to lists of rows
STORE_ROW = Types.ROW_NAMED(["target", "rows", "payload"],
                            [Types.STRING(), Types.INT(), Types.PRIMITIVE_ARRAY(Types.BYTE())])


def store_row(target: str, payload: dict | list[dict] | pa.Table) -> Row:
    """A :data:`STORE_ROW` for the writer: the payload's row count, and the payload pickled here
    with the C pickler, once: PyFlink's ``PICKLED_BYTE_ARRAY`` would run cloudpickle, with a
    Python hook per object, at each hand-over and again into the writer's state.

    >>> row = store_row(MANY_TABLES, {"custom_metrics": [{"sum": 1.5}], "drift_status": [{}, {}]})
    >>> row[1], pickle.loads(row[2])["custom_metrics"]
    (3, [{'sum': 1.5}])
    """
    if isinstance(payload, pa.Table):
        rows = payload.num_rows
    elif target == MANY_TABLES:
        rows = sum(len(table_rows) for table_rows in payload.values())
    else:
        rows = len(payload) if isinstance(payload, list) else 1
    return Row(target, rows, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))


class WindowRows:
    """Rows of many tables bound for the store, sent as ``MANY_TABLES`` payloads of about
    ``payload_rows`` rows: a timer that passes many window ends (the end of a bounded input, or
    catching up) sends a few payloads instead of one per end, each of which costs a pickle, a
    state write and a load in the writer.

    >>> rows = WindowRows(payload_rows=3)
    >>> rows.add("drift_status", [{"a": 1}, {"a": 2}]), len(rows.add("drift_measures", [{"b": 1}]))
    ([], 1)
    >>> rows.add("drift_status", [{"a": 3}]), len(rows.rest())
    ([], 1)
    """

    def __init__(self, payload_rows: int = 1_000):
        self.payload_rows = payload_rows
        self.tables: dict[str, list[dict]] = {}
        self.count = 0

    def add(self, table: str, rows: list[dict]) -> list[Row]:
        """Keep ``rows``; the payload to send once enough are kept."""
        if rows:
            self.tables.setdefault(table, []).extend(rows)
            self.count += len(rows)
        return self.rest() if self.count >= self.payload_rows else []

    def rest(self) -> list[Row]:
        """The payload of the rows kept, if any."""
        if not self.count:
            return []
        payload = store_row(MANY_TABLES, self.tables)
        self.tables, self.count = {}, 0
        return [payload]


def _identity(value: Any) -> Any:
    return value


def _labels(value: str | None) -> dict:
    return json.loads(value) if value else {}


_FEATURE_WINDOW = {"project": _identity, "endpoint_id": _identity, "feature_name": _identity,
                   "feature_index": _identity, "reference_id": _identity, "window_start": store.epoch_ms,
                   "window_end": store.epoch_ms}


# Column lists per table, in insert order, with the conversion from the job's value.
ROW_TABLES: dict[str, dict[str, Callable[[Any], Any]]] = {
    "endpoint_metrics": {
        "project": _identity, "endpoint_id": _identity, "window_size": _identity,
        "window_start": store.epoch_ms, "window_end": store.epoch_ms, "requests_count": _identity,
        "predictions_count": _identity, "predictions_per_second": _identity, "error_count": _identity,
        "latency_avg": _identity, "latency_p50": _identity, "latency_p95": _identity,
        "latency_p99": _identity, "latency_max": _identity,
    },
    "endpoint_activity": {
        "project": _identity, "endpoint_id": _identity, "window_start": store.epoch_ms,
        "first_request": store.epoch_ms, "last_request": store.epoch_ms, "requests_count": _identity,
        "predictions_count": _identity, "error_count": _identity, "latency_count": _identity,
        "latency_sum": _identity, "latency_max": _identity, "latency_buckets": _identity, "function_uri": _identity,
        "model": _identity, "version": _identity, "model_class": _identity, "labels": _labels,
    },
    "invalid_events": {
        "kind": _identity, "project": _identity, "endpoint_id": _identity, "event_key": _identity,
        "event_time": store.epoch_ms, "reason": _identity, "raw": _identity,
    },
    "feature_histograms": dict(_FEATURE_WINDOW, **{
        "count": _identity, "invalid_count": _identity, "mean": _identity, "std": _identity, "min": _identity,
        "max": _identity, "bin_counts": _identity, "bin_labels": _identity, "missing_count": _identity,
        "type_mismatch_count": _identity, "nonfinite_count": _identity, "out_of_range_count": _identity,
        "unseen_count": _identity,
    }),
    "drift_measures": dict(_FEATURE_WINDOW, **{
        "live_count": _identity, "tvd": _identity, "hellinger": _identity, "kld": _identity, "psi": _identity,
        "jsd": _identity, "chi2_pvalue": _identity, "drift_measure": _identity, "drift_status": _identity,
        "exceeded": _identity,
    }),
    "drift_status": {
        "project": _identity, "endpoint_id": _identity, "reference_id": _identity, "window_start": store.epoch_ms,
        "window_end": store.epoch_ms, "feature_names": _identity, "features_count": _identity,
        "tvd_sum": _identity, "tvd_mean": _identity, "hellinger_sum": _identity, "hellinger_mean": _identity,
        "kld_sum": _identity, "kld_mean": _identity, "psi_mean": _identity, "jsd_mean": _identity,
        "drift_measure": _identity, "drift_status": _identity, "possible_threshold": _identity,
        "detected_threshold": _identity,
    },
    "custom_metrics": {
        "project": _identity, "endpoint_id": _identity, "metric_name": _identity, "window_start": store.epoch_ms,
        "window_end": store.epoch_ms, "values_count": _identity, "sum": _identity, "mean": _identity,
        "min": _identity, "max": _identity,
    },
    "alert_activations": {
        "project": _identity, "endpoint_id": _identity, "activation_id": _identity, "rule": _identity,
        "kind": _identity, "severity": _identity, "value": _identity, "threshold": _identity,
        "opened_at": store.epoch_ms, "closed_at": store.epoch_ms,
    },
    "endpoint_registry": {
        "project": _identity, "endpoint_id": _identity, "function_uri": _identity, "model": _identity,
        "version": _identity, "model_class": _identity, "labels": _labels, "first_request": store.epoch_ms,
        "last_request": store.epoch_ms, "requests_count": _identity, "predictions_count": _identity,
        "error_count": _identity,
    },
}
# The table whose rows come as the job's own counts (EndpointTotals), the store's history
# added on the way in (:func:`modelmon.udfs.registry.with_history`).
REGISTRY = "endpoint_registry"
# Tables whose rows come as Arrow tables: their columns are the explicit column list.
ARROW_TABLES: dict[str, pa.Schema] = {"incoming_features": SAMPLE_SCHEMA}
TABLES = (*ROW_TABLES, *ARROW_TABLES)  # every table the job writes


# Rows of one table in one insert at most, which bounds the memory of a write of many waiting
# payloads (after an outage, say). Below it, a write is one insert per table.
MAX_INSERT_ROWS = 100_000


def _empty_columns() -> dict[str, dict[str, list]]:
    return {table: {name: [] for name in columns} for table, columns in ROW_TABLES.items()}


class StoreSink:
    """Per-table buffers of converted columns, inserted on :meth:`flush` (or on reaching
    :data:`MAX_INSERT_ROWS`); connects to the store on the first insert and again after
    :meth:`reset`.

    The writer decides when to write, and a write of many payloads is one insert per table:
    each insert makes the store a new part, and when a table was flushed as soon as 1,000 rows
    were buffered, a 1M-line run inserted the sampled rows of each batch apart (100 inserts of
    about 2,750 rows, 58 ms each; now 11-13 inserts).

    Rows are kept column by column and inserted as Arrow tables of the store's own column
    types: converting and inserting 100,000 ``drift_measures`` rows by columns took 0.37-0.50 s
    against 0.75-0.97 s row by row, and as Arrow about half of that again (0.71 s against 1.32 s
    on a busier machine).
    """

    def __init__(self, dsn: str, max_insert_rows: int = MAX_INSERT_ROWS):
        self.client = store.LazyClient(dsn)
        self.max_insert_rows = max_insert_rows
        self.buffers = _empty_columns()
        self.buffered_rows = dict.fromkeys(ROW_TABLES, 0)
        self.arrow_buffers: dict[str, list[pa.Table]] = {table: [] for table in ARROW_TABLES}
        self.registry: dict[tuple[str, str], EndpointTotals] = {}  # the newest counts per endpoint
        self.histories = RegistryHistories()
        self.schemas: dict[str, pa.Schema] = {}  # per table, read from the store at its first insert

    def add(self, target: str, records: dict | list[dict] | pa.Table) -> None:
        if target == MANY_TABLES:
            for table, rows in records.items():
                self._buffer(table, rows)
        elif isinstance(records, pa.Table):
            self._buffer_arrow(target, records)
        else:
            self._buffer(target, records if isinstance(records, list) else [records])

    def _buffer(self, target: str, records: list[dict]) -> None:
        if target == REGISTRY:  # counts that only grow: the newest of an endpoint stands for the others
            self.registry.update(((totals.project, totals.endpoint_id), totals) for totals in records)
        else:
            self._convert(target, records)

    def _convert(self, target: str, records: list[dict]) -> None:
        columns = ROW_TABLES.get(target)
        if columns is None:
            raise ValueError(f"the job emitted rows for unknown table {target!r}")
        converted = {}  # every column before any is kept: a record without a column changes no buffer
        for name, convert in columns.items():
            values = [record[name] for record in records]
            converted[name] = values if convert is _identity else list(map(convert, values))
        for name, values in converted.items():
            self.buffers[target][name].extend(values)
        self.buffered_rows[target] += len(records)
        if self.buffered_rows[target] >= self.max_insert_rows:
            self.flush(target)

    def _buffer_arrow(self, target: str, table: pa.Table) -> None:
        if target not in ARROW_TABLES or not table.schema.equals(ARROW_TABLES[target]):
            raise ValueError(f"the job emitted an Arrow table for {target!r} with columns {table.column_names}")
        self.arrow_buffers[target].append(table)
        if sum(part.num_rows for part in self.arrow_buffers[target]) >= self.max_insert_rows:
            self.flush(target)

    def flush(self, target: str | None = None) -> None:
        if self.registry and target in (None, REGISTRY):
            counts, self.registry = list(self.registry.values()), {}
            self._convert(REGISTRY, [totals.row() for totals in self.histories.added(self.client.get(), counts)])
        for table in [target] if target else [*self.buffers, *self.arrow_buffers]:
            started = time.perf_counter()
            if table in ARROW_TABLES:
                if not self.arrow_buffers[table]:
                    continue
                rows = pa.concat_tables(self.arrow_buffers[table])
                store.insert_arrow(self.client.get(), table, rows)
                self.arrow_buffers[table] = []
                count = rows.num_rows
            else:
                count = self.buffered_rows[table]
                if not count:
                    continue
                if table not in self.schemas:
                    self.schemas[table] = store.arrow_schema(self.client.get(), table, list(ROW_TABLES[table]))
                store.insert_columns(self.client.get(), table, self.buffers[table], self.schemas[table])
                self.buffers[table] = {name: [] for name in ROW_TABLES[table]}
                self.buffered_rows[table] = 0
            log.info("%s: wrote %d rows in %.1f ms", table, count, (time.perf_counter() - started) * 1000)

    def reset(self) -> None:
        """After a failed insert: drop the converted rows (their payloads are still waiting, and
        a row inserted twice replaces itself) and the connection, which may be broken."""
        self.buffers = _empty_columns()
        self.buffered_rows = dict.fromkeys(ROW_TABLES, 0)
        self.arrow_buffers = {table: [] for table in ARROW_TABLES}
        self.registry = {}
        self.client.drop()

    def close(self) -> None:
        self.client.close()


class RegistryHistories:
    """The store's windows outside each endpoint's counted range (:func:`modelmon.store.registry_history`),
    read in one query for all the endpoints of a write that need it: once per endpoint and
    first window when no stored window lies after the range (the common case), at every write
    while one does (a replay of what the store holds, until it has passed them)."""

    def __init__(self, limit: int = 1_000_000):
        self.limit = limit
        self.settled: dict[tuple[str, str, int], EndpointTotals | None] = {}

    def added(self, client, counts: list[EndpointTotals]) -> list[EndpointTotals]:
        """``counts`` with their endpoints' histories added."""
        found = {(t.project, t.endpoint_id): self.settled[(t.project, t.endpoint_id, t.windows_from)]
                 for t in counts if (t.project, t.endpoint_id, t.windows_from) in self.settled}
        unknown = {(t.project, t.endpoint_id): (t.windows_from, t.windows_through) for t in counts
                   if (t.project, t.endpoint_id) not in found}
        if unknown:
            if len(self.settled) + len(unknown) > self.limit:
                self.settled = {}
            for key, (history, settled) in store.registry_history(client, unknown).items():
                found[key] = history
                if settled:
                    self.settled[(*key, unknown[key][0])] = history
        return [with_history(t, found[(t.project, t.endpoint_id)]) for t in counts]


class SampleInserts:
    """The sampled feature rows of a large batch, inserted by the parse function that made
    them instead of travelling to the writer: they are most of the job's rows, and their way
    through the router and the writer (a pickle and a crossing between Java and Python at
    each step, and the writer's state) cost a 1M-line run about 2 s and 300 MB at the peak.

    Inserted before the parse function returns, they are in the store before any checkpoint
    that passed their lines, and a replay inserts the same row keys again, which replace
    themselves. A batch with fewer than ``min_rows`` sampled rows (low traffic), or one that
    comes while the store is failing (until the next attempt its backoff allows), leaves
    them to the writer, which batches them in time and keeps them in state while it retries.
    ``min_rows`` 0 leaves every batch's rows to the writer.
    """

    def __init__(self, dsn: str, min_rows: int, retry_max_seconds: float):
        self.client = store.LazyClient(dsn)
        self.min_rows = min_rows
        self.backoff = store.Backoff(maximum=retry_max_seconds)

    def stored(self, samples: pa.Table) -> bool:
        """Insert ``samples`` when they are enough; False when they are left to the writer."""
        if not self.min_rows or samples.num_rows < self.min_rows or not self.backoff.ready():
            return False
        started = time.perf_counter()
        try:
            store.insert_arrow(self.client.get(), "incoming_features", samples)
        except store.UNAVAILABLE as error:
            self.client.drop()
            delay = self.backoff.failed()
            log.warning("store unavailable (%s): %d sampled rows left to the writer; next direct insert in %.1f s",
                        str(error)[:300], samples.num_rows, delay)
            return False
        self.backoff.succeeded()
        log.info("incoming_features: wrote %d rows in %.1f ms from the parse", samples.num_rows,
                 (time.perf_counter() - started) * 1000)
        return True

    def close(self) -> None:
        self.client.close()


END_OF_INPUT = sys.maxsize  # an event-time timer here fires only on the final watermark of a bounded input


class StoreWriter(KeyedProcessFunction):
    """Adapter: the job's last operator, keyed by target; see the module docstring.

    While the store is unavailable, payloads keep waiting in state and the writer tries again
    with backoff (``retry_max_seconds`` at most between attempts), logging each failure. Past
    ``max_waiting`` payloads for a table, or at the end of a bounded input, it stops taking
    input and tries until the store takes them, so Flink's backpressure holds the rest in the
    source (the spool files or Kafka) and the state stays bounded.
    """

    def __init__(self, dsn: str, batch_rows: int, flush_seconds: float, retry_max_seconds: float = 30.0,
                 max_waiting: int = 100_000):
        self.dsn = dsn
        self.batch_rows = batch_rows
        self.flush_ms = round(flush_seconds * 1000)
        self.retry_max_seconds = retry_max_seconds
        self.max_waiting = max_waiting

    def open(self, runtime_context: RuntimeContext) -> None:
        tune_worker()
        self.waiting = runtime_context.get_list_state(
            ListStateDescriptor("waiting_payloads", Types.PRIMITIVE_ARRAY(Types.BYTE())))
        self.waiting_count = runtime_context.get_state(ValueStateDescriptor("waiting_count", Types.LONG()))
        self.waiting_rows = runtime_context.get_state(ValueStateDescriptor("waiting_rows", Types.LONG()))
        self.flush_at = runtime_context.get_state(ValueStateDescriptor("flush_at", Types.LONG()))
        self.sink = StoreSink(self.dsn)
        self.backoff = store.Backoff(maximum=self.retry_max_seconds)
        log.info("store writer %d of %d open", runtime_context.get_index_of_this_subtask() + 1,
                 runtime_context.get_number_of_parallel_subtasks())

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterable[str]:
        self.waiting.add(value.payload)
        count = (self.waiting_count.value() or 0) + 1
        self.waiting_count.update(count)
        rows = (self.waiting_rows.value() or 0) + value.rows
        self.waiting_rows.update(rows)
        target = ctx.get_current_key()
        if count >= self.max_waiting:
            self._write_until_stored(target)
        elif rows < self.batch_rows or not self._try_write(target):
            self._schedule(ctx, self.flush_ms)
        return ()  # PyFlink iterates what a process function returns; this one emits nothing

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterable[str]:
        self.flush_at.clear()
        target = ctx.get_current_key()
        if timestamp == END_OF_INPUT:
            self._write_until_stored(target)
        elif not self._try_write(target):
            self._schedule(ctx, round(max(0.1, self.backoff.next_attempt - time.monotonic()) * 1000))
        return ()

    def _schedule(self, ctx: KeyedProcessFunction.Context, delay_ms: int) -> None:
        """A write of the current target in ``delay_ms``, unless one is due sooner."""
        timers = ctx.timer_service()
        due = timers.current_processing_time() + delay_ms
        flush_at = self.flush_at.value()
        # None pending yet, or a timer restored from a run with a longer flush interval.
        if flush_at is None or flush_at > due:
            timers.register_processing_time_timer(due)
            timers.register_event_time_timer(END_OF_INPUT)
            self.flush_at.update(due)

    def _try_write(self, target: str) -> bool:
        """Insert the target's waiting payloads; False when the store did not take them (or is
        still in its backoff), in which case they stay waiting."""
        if not self.backoff.ready():
            return False
        payloads = list(self.waiting.get() or ())
        if not payloads:  # a timer left from a write made when the batch filled
            return True
        count = len(payloads)
        try:
            for payload in payloads:
                self.sink.add(target, pickle.loads(payload))
            self.sink.flush()
        except store.UNAVAILABLE as error:
            self.sink.reset()
            delay = self.backoff.failed()
            log.warning("store unavailable (%s): %d %s payload(s) kept in state; attempt %d failed, next in %.1f s",
                        str(error)[:300], count, target, self.backoff.failures, delay)
            return False
        outage = self.backoff.succeeded()
        if outage is not None:
            log.warning("store available again after %.1f s: wrote the %d waiting %s payload(s)", outage, count, target)
        self.waiting.clear()
        self.waiting_count.clear()
        self.waiting_rows.clear()
        return True

    def _write_until_stored(self, target: str) -> None:
        """Hold the input (backpressure) until the store takes the waiting payloads."""
        if not self._try_write(target):
            log.warning("%s: holding the input until the store takes %d waiting payload(s)",
                        target, self.waiting_count.value() or 0)
            while not self._try_write(target):
                time.sleep(max(0.05, self.backoff.next_attempt - time.monotonic()))

    def close(self) -> None:
        self.sink.close()
