"""The monitoring job: prediction lines -> metrics, registry, feature histograms, drift -> ClickHouse.

source (spool directory in blocks of lines, their plain events read into columns in Java;
        or Kafka topic, raw bytes)
  -> parse_prediction_lines: one vectorized Python call per block (or Arrow batch of Kafka
     messages) over Java's columns and the lines Java left, returning one record per batch
     (:class:`udfs.batches.BatchOutput`): per endpoint and time slice the counts, latencies
     and custom metrics of its valid events;
     feature partial summaries on the reference bins; dead letters (invalid and late events);
     sampled feature rows (a batch with many inserts them into the store itself:
     :class:`pipelines.store_sink.SampleInserts`)
  -> watermark on the batch's latest event time (the parser flags as late every event the
     watermark could have passed, so nothing valid is dropped by it)
  -> RouteBatch: slices per endpoint | feature partials | dead letters and samples
  -> slices keyed by endpoint -> MetricWindows (keyed state, event-time timers): HOP 5m / 1h
     metrics, slide-long activity and custom metrics, as the watermark passes each slice
  -> partials keyed by endpoint -> FeatureWindows: window histograms and trailing-range drift
  -> one (target, rows) stream -> keyed by target -> StoreWriter (rows wait in keyed
     state until inserted, so checkpoints cover them) -> ClickHouse

No Java operator works per event: Flink reads blocks of lines (one row per block, where a row
per line would cap the job near 70,000 lines/s), hands them to Python (a local file's blocks
stay in the file: Python reads the lines it needs from there), and from there on moves one
record per batch and endpoint.

Runs in PyFlink local mode from ``modelmon run``, or unchanged with ``flink run -py`` on a
cluster (``modelmon submit`` wraps that).
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import numpy as np
import pandas as pd
from pyflink.common import Row, Types
from pyflink.datastream import OutputTag, StreamExecutionEnvironment
from pyflink.datastream.functions import KeyedProcessFunction, ProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueState, ValueStateDescriptor
from pyflink.table import DataTypes, Schema, StreamTableEnvironment, Table
from pyflink.table.expressions import col
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

from modelmon import store
from modelmon.config import DEFAULT_HOME, Config, load_config
from modelmon.kafka_url import is_kafka
from modelmon.logs import configure_logging
from modelmon.reference import JobReferences, load_references, registrations_seen
from pipelines.line_blocks import line_block_jar
from pipelines.local_runtime import limit_malloc_arenas, set_local_jvm_options
from pipelines.sources import payloads_are_blocks, require_kafka_connector, source_columns, source_ddl
from pipelines.store_sink import STORE_ROW, SampleInserts, StoreWriter, WindowRows, store_row
from udfs.batches import BatchOutput, block_lines, parse_batch, slice_length_ms
from udfs.block_events import BlockEvents, BlockLines, decode
from udfs.events import EndpointCache, LatenessTracker
from udfs.feature_windows import drift_rows, histogram_rows
from udfs.features import FeatureSettings
from udfs.histograms import FeatureSummary
from udfs.metric_windows import window_ends, windows_ending

log = logging.getLogger(__name__)

WINDOW_SIZES_MS = {"5m": 5 * 60_000, "1h": 60 * 60_000}
WORKER_MODE_VARIABLE = "_python_worker_execution_mode"
T = TypeVar("T")

PARSED_BATCH_TYPE = DataTypes.ROW([
    DataTypes.FIELD("time_ms", DataTypes.BIGINT()),
    DataTypes.FIELD("batch", DataTypes.BYTES()),
])


def job_slice_ms(config: Config) -> int:
    """The time slice the parser sums events into and the metric windows are built from."""
    return slice_length_ms(config.slide_seconds * 1000, list(WINDOW_SIZES_MS.values()))


class _PredictionParser(ScalarFunction):
    """What both parse adapters share: the settings, and per instance the lateness tracker,
    endpoint cache and references that every call's :func:`udfs.batches.parse_batch` uses,
    and the direct inserts of a large batch's sampled rows (``sample_insert_rows``, 0 to
    leave them all to the writer)."""

    def __init__(self, config: Config, lateness_ms: int | None, references: JobReferences,
                 sample_insert_rows: int):
        self.lateness_ms = lateness_ms
        self.dsn = config.store
        self.sample_insert_rows = sample_insert_rows
        self.retry_max_seconds = config.sink_retry_max_seconds
        self.ahead_ms = config.future_tolerance_seconds * 1000
        self.job_references = references
        self.window_ms = config.feature_window_seconds * 1000
        self.sample_every = config.feature_sample_every
        self.slice_ms = job_slice_ms(config)
        self.dead_letter_max_chars = config.dead_letter_max_chars

    def open(self, function_context: FunctionContext) -> None:
        self.tracker = LatenessTracker(self.lateness_ms, self.ahead_ms)
        self.endpoints = EndpointCache()
        self.references = self.job_references.open()
        self.sample_inserts = SampleInserts(self.dsn, self.sample_insert_rows, self.retry_max_seconds)

    def parse(self, raw_lines: Sequence[bytes], columns: list[BlockEvents]) -> BatchOutput:
        features = FeatureSettings(self.window_ms, self.references.current().get, self.sample_every)
        output = parse_batch(raw_lines, self.tracker, features, self.endpoints, self.slice_ms,
                             self.dead_letter_max_chars, columns)
        if self.sample_inserts.stored(output.samples):
            output.samples = output.samples.slice(0, 0)
        return output

    def close(self) -> None:
        self.references.close()
        self.sample_inserts.close()


class ParsePredictionBlocks(_PredictionParser):
    """Adapter: one block of spool lines (or, for a local file, NULL: the events say where it
    is) and its event columns read in Java -> its pickled :class:`udfs.batches.BatchOutput` and
    latest event time.

    A plain (row-at-a-time) function, not a pandas one: a block is a whole batch already, and
    the Arrow framing of one 9 MB row costs copies on both sides that the row coder avoids.
    """

    def eval(self, payload: bytes | None, events: bytes | None) -> Row:
        if events is None:
            output = self.parse(block_lines([payload or b""]), [])
        else:
            columns = decode(events)
            output = self.parse(BlockLines.of(payload, columns), [columns])
        return Row(output.time_ms, pickle.dumps(output, protocol=pickle.HIGHEST_PROTOCOL))


class ParsePredictionMessages(_PredictionParser):
    """Adapter: a pandas batch of Kafka messages (one line each) -> one pickled
    :class:`udfs.batches.BatchOutput` on the batch's last row (NULL on the others), beside the
    batch's latest event time on every row."""

    def eval(self, payloads: pd.Series) -> pd.DataFrame:
        raw = [b"" if payload is None else payload for payload in payloads]
        output = self.parse(raw, [])
        batches = [None] * len(raw)
        batches[-1] = pickle.dumps(output, protocol=pickle.HIGHEST_PROTOCOL)
        return pd.DataFrame({"time_ms": np.full(len(raw), output.time_ms, dtype=np.int64), "batch": batches})


FEATURE_PARTIALS = OutputTag("feature-partials", Types.ROW_NAMED(
    ["project", "endpoint_id", "partials"],  # partials: [(window start, FeatureSummary bytes)]
    [Types.STRING(), Types.STRING(), Types.PICKLED_BYTE_ARRAY()]))
STORE_ROWS = OutputTag("store-rows", STORE_ROW)


class RouteBatch(ProcessFunction):
    """Adapter: a batch's output -> its slices per endpoint (main output), its feature partials
    (side output) and its dead letters and samples, which go straight to the store (side output)."""

    def process_element(self, value: Row, ctx: ProcessFunction.Context):
        output: BatchOutput = pickle.loads(value.batch)
        by_endpoint: dict[str, list] = {}
        for s in output.slices:
            by_endpoint.setdefault(s.endpoint_id, []).append(s)
        for endpoint_id, endpoint_slices in by_endpoint.items():
            yield Row(endpoint_id, endpoint_slices)
        # One record per endpoint, not per window: with many quiet endpoints a batch holds about
        # one partial per event, and each record costs FeatureWindows a state read and write.
        by_endpoint_partials: dict[tuple[str, str], list] = {}
        for project, endpoint_id, window_start, data in output.partials:
            by_endpoint_partials.setdefault((project, endpoint_id), []).append((window_start, data))
        for (project, endpoint_id), partials in by_endpoint_partials.items():
            yield FEATURE_PARTIALS, Row(project, endpoint_id, partials)
        if output.dead_letters:
            yield STORE_ROWS, store_row("invalid_events", output.dead_letters)
        if output.samples.num_rows:
            yield STORE_ROWS, store_row("incoming_features", output.samples)


class WindowTimer:
    """What both window operators do at a timer around their own rows: find the window ends
    the watermark passed since the last one emitted; then note the last, keep only what a later
    end's windows reach back to (nothing when no end is left), and set the timer for the next.

    ``step_ms`` is the distance between ends (a slice, a base window), ``reach_ms`` how far back
    an end's rows reach (the longest window, the drift range)."""

    def __init__(self, step_ms: int, reach_ms: int):
        self.step_ms, self.reach_ms = step_ms, reach_ms

    def first_end(self, held: Mapping[int, Any], emitted: int | None) -> int:
        """The first end not yet emitted; ``held`` maps start -> what is held for it."""
        return min(held) + self.step_ms if emitted is None else emitted + self.step_ms

    def due(self, held: Mapping[int, Any], emitted: int | None, watermark: int) -> tuple[list[int], int | None]:
        """The ends the watermark has passed, and the next one (None when there is none)."""
        passed = []
        for end in window_ends(sorted(held), self.first_end(held, emitted), self.step_ms, self.reach_ms):
            if end - 1 > watermark:
                return passed, end
            passed.append(end)
        return passed, None

    def settle(self, ctx: KeyedProcessFunction.OnTimerContext, held_state: ValueState, emitted_state: ValueState,
               held: Mapping[int, Any], passed: list[int], next_end: int | None) -> None:
        """After the rows of the ``passed`` ends went out."""
        if passed:
            emitted_state.update(passed[-1])
        if next_end is None:  # nothing held is in any later end's windows
            held_state.clear()
            return
        if passed:
            kept_from = passed[-1] + self.step_ms - self.reach_ms  # the next end's windows start here or later
            held_state.update({start: kept for start, kept in held.items() if start >= kept_from})
        ctx.timer_service().register_event_time_timer(next_end - 1)


def merge_into(held_by_start: dict[int, list], start: int, record, same: Callable[[Any], bool]) -> None:
    """Add ``record`` (a slice or feature summary) to those held for ``start``, merged into the
    one ``same`` matches (same project, or same reference bins) if there is one."""
    held = held_by_start.setdefault(start, [])
    for i, h in enumerate(held):
        if same(h):
            held[i] = h.merge(record)
            return
    held.append(record)


class MetricWindows(KeyedProcessFunction):
    """Adapter: per endpoint, keeps slices in keyed state and, when the watermark passes a
    slice's end, emits the windows ending there (:mod:`udfs.metric_windows`).

    Every timer emits all window ends from the first one not yet emitted up to the watermark,
    so one timer does the work of a chain of them (each a round trip to Java, about 20 ms at
    the end of a bounded input), and a timer that did not come back from a checkpoint costs
    nothing as long as a later one fires.
    """

    def __init__(self, config: Config):
        self.slide_ms = config.slide_seconds * 1000
        self.timer = WindowTimer(job_slice_ms(config), max(max(WINDOW_SIZES_MS.values()), self.slide_ms))

    def open(self, runtime_context: RuntimeContext) -> None:
        # One value per endpoint (slice start -> slices), not a map state: a timer reads every
        # slice of the last hour, and PyFlink's cache keeps the value as a Python object.
        self.slices = runtime_context.get_state(ValueStateDescriptor("metric_slices", Types.PICKLED_BYTE_ARRAY()))
        self.emitted_through = runtime_context.get_state(ValueStateDescriptor("emitted_through", Types.LONG()))

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context):
        state = self.slices.value() or {}
        for s in value.slices:
            merge_into(state, s.start, s, lambda held: held.project == s.project)
        self.slices.update(state)
        ctx.timer_service().register_event_time_timer(self.timer.first_end(state, self.emitted_through.value()) - 1)
        return ()

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        watermark = ctx.timer_service().current_watermark()
        state = self.slices.value() or {}
        if not state:
            return
        passed, next_end = self.timer.due(state, self.emitted_through.value(), watermark)
        rows = WindowRows()
        for table, row in windows_ending(state, passed, self.slide_ms, WINDOW_SIZES_MS):
            yield from rows.add(table, [row])
        yield from rows.rest()
        self.timer.settle(ctx, self.slices, self.emitted_through, state, passed, next_end)


class FeatureWindows(KeyedProcessFunction):
    """Adapter: per endpoint, merges partial feature summaries per window in keyed state and,
    when the watermark closes a window, emits its histograms and the trailing-range drift
    (:mod:`udfs.feature_windows`). While the trailing range still holds windows, drift is
    recomputed each time a further base window closes, so a quiet endpoint's drift stays current.
    Like :class:`MetricWindows`, every timer emits all window ends from the first one not yet
    emitted up to the watermark.
    """

    def __init__(self, config: Config, references: JobReferences):
        self.job_references = references
        self.window_ms = config.feature_window_seconds * 1000
        self.range_ms = config.drift_range_seconds * 1000
        self.timer = WindowTimer(self.window_ms, self.range_ms)

    def open(self, runtime_context: RuntimeContext) -> None:
        # One value per endpoint (window start -> summaries), not a map state, as in
        # MetricWindows: a record brings partials for many windows and a timer reads them all,
        # and PyFlink's cache keeps the value as a Python object between them.
        self.windows = runtime_context.get_state(
            ValueStateDescriptor("feature_summaries", Types.PICKLED_BYTE_ARRAY()))
        self.project = runtime_context.get_state(ValueStateDescriptor("project", Types.STRING()))
        self.emitted_through = runtime_context.get_state(ValueStateDescriptor("emitted_through", Types.LONG()))
        self.references = self.job_references.open()

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context):
        windows = self.windows.value() or {}
        for window_start, data in value.partials:
            partial = FeatureSummary.from_bytes(data)
            merge_into(windows, window_start, partial, lambda held: held.reference_id == partial.reference_id)
        self.windows.update(windows)
        self.project.update(value.project)
        end = min(window_start for window_start, _ in value.partials) + self.window_ms
        emitted = self.emitted_through.value()
        if emitted is not None:
            end = min(end, emitted + self.window_ms)  # the first end not yet emitted
        ctx.timer_service().register_event_time_timer(end - 1)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        watermark = ctx.timer_service().current_watermark()
        windows = self.windows.value() or {}
        if not windows:
            return
        endpoint_id, project = ctx.get_current_key(), self.project.value()
        passed, next_end = self.timer.due(windows, self.emitted_through.value(), watermark)
        drifts = drift_rows(project, endpoint_id, passed, self.range_ms, windows, self.references.get(endpoint_id))
        rows = WindowRows()
        for end, (measures, status) in zip(passed, drifts):
            yield from rows.add("drift_measures", measures)
            yield from rows.add("drift_status", [status])
            closed = windows.get(end - self.window_ms)
            if closed:
                yield from rows.add("feature_histograms", histogram_rows(
                    project, endpoint_id, end - self.window_ms, self.window_ms, closed,
                    lambda reference_id: self.references.version(endpoint_id, reference_id)))
        yield from rows.rest()
        self.timer.settle(ctx, self.windows, self.emitted_through, windows, passed, next_end)

    def close(self) -> None:
        self.references.close()


def _interval(seconds: int) -> str:
    """A SQL interval literal (DAY TO SECOND: plain SECOND literals stop at 99).

    >>> _interval(3600)
    "INTERVAL '0 01:00:00' DAY TO SECOND"
    """
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    return f"INTERVAL '{days} {hour:02d}:{minute:02d}:{second:02d}' DAY TO SECOND"


def watermark_expression(config: Config, bounded: bool) -> str:
    """Continuous: the latest event time minus the allowed lateness.

    Bounded: the file source reads a backlog of segments in directory-listing order, not
    event-time order, so a moving watermark would close windows before older segments are
    read. The watermark stays at the epoch until the input ends, when Flink's final
    watermark closes every window over all of the input.
    """
    if bounded:
        return "TO_TIMESTAMP_LTZ(0, 3)"
    return f"event_time - {_interval(config.lateness_seconds)}"


def _with_watermark(t_env: StreamTableEnvironment, table: Table, columns: dict[str, DataTypes],
                    config: Config, bounded: bool) -> Table:
    """``table`` with ``event_time`` from its ``time_ms`` and the job's watermark.

    The event time only exists after parsing, so the table round-trips through a
    DataStream (which stays in Java) to declare it.
    """
    schema = Schema.new_builder()
    for name, kind in columns.items():
        schema.column(name, kind)
    schema = (schema.column_by_expression("event_time", "TO_TIMESTAMP_LTZ(time_ms, 3)")
              .watermark("event_time", watermark_expression(config, bounded)).build())
    return t_env.from_data_stream(t_env.to_data_stream(table), schema)


def build_job(t_env: StreamTableEnvironment, config: Config, bounded: bool, references: JobReferences) -> Table:
    """Declare source, transformations and the store writer; returns the table to insert into ``job_end``."""
    t_env.execute_sql(source_ddl(config, bounded))
    lateness_ms = None if bounded else config.lateness_seconds * 1000
    # Only one process may open an embedded store: the parse inserts into one only when it
    # runs in this process, as the writer then does.
    sample_insert_rows = config.sample_insert_rows \
        if not store.is_embedded(config.store) or functions_run_here(config, t_env) else 0
    if payloads_are_blocks(config):
        parse = udf(ParsePredictionBlocks(config, lateness_ms, references, sample_insert_rows),
                    result_type=PARSED_BATCH_TYPE)
    else:
        parse = udf(ParsePredictionMessages(config, lateness_ms, references, sample_insert_rows),
                    result_type=PARSED_BATCH_TYPE, func_type="pandas")
    t_env.create_temporary_function("parse_prediction_lines", parse)
    # Bytes, not STRING: a line that is not UTF-8 would fail Arrow's conversion of a string
    # column (and with it the whole batch), or be altered by Flink's decoding.
    parsed = t_env.sql_query(f"""
        SELECT p.time_ms AS time_ms, p.batch AS batch
        FROM (SELECT parse_prediction_lines({", ".join(source_columns(config))}) AS p FROM prediction_lines)""")
    batches = _with_watermark(t_env, parsed.where(col("batch").is_not_null),
                              {"time_ms": DataTypes.BIGINT(), "batch": DataTypes.BYTES()}, config, bounded)
    routed = (t_env.to_data_stream(batches)
              .process(RouteBatch(), output_type=Types.ROW_NAMED(
                  ["endpoint_id", "slices"], [Types.STRING(), Types.PICKLED_BYTE_ARRAY()]))
              .uid("route-batches").name("route batches"))
    metric_outputs = (routed.key_by(lambda row: row.endpoint_id, key_type=Types.STRING())
                      .process(MetricWindows(config), output_type=STORE_ROW)
                      .uid("metric-windows").name("metric windows"))
    feature_outputs = (routed.get_side_output(FEATURE_PARTIALS)
                       .key_by(lambda row: row.endpoint_id, key_type=Types.STRING())
                       .process(FeatureWindows(config, references), output_type=STORE_ROW)
                       .uid("feature-windows").name("feature windows"))
    writer = (metric_outputs.union(feature_outputs, routed.get_side_output(STORE_ROWS))
              .key_by(lambda row: row.target, key_type=Types.STRING())
              .process(StoreWriter(config.store, config.sink_batch_rows, config.sink_flush_seconds,
                                   config.sink_retry_max_seconds, config.sink_max_waiting_payloads),
                       output_type=Types.STRING())
              .uid("store-writer").name("store writer"))
    if store.is_embedded(config.store):
        writer.set_parallelism(1)  # only one process may open an embedded store
    t_env.execute_sql("CREATE TEMPORARY TABLE job_end (unused STRING) WITH ('connector' = 'blackhole')")
    return t_env.from_data_stream(writer)


def _as_uri(path: str) -> str:
    return path if "://" in path else Path(path).resolve().as_uri()


def checkpoint_directory(config: Config, bounded: bool, cluster_default: str) -> str | None:
    """Where checkpoints go: ours, else the cluster's (``execution.checkpointing.dir`` of the
    Flink configuration), else .modelmon/checkpoints for continuous runs only."""
    local_default = None if bounded else str((DEFAULT_HOME / "checkpoints").resolve())
    return config.checkpoint_dir or cluster_default or local_default


def latest_checkpoint(directory: str) -> str:
    """The newest completed checkpoint under a checkpoint directory (``<job id>/chk-<n>/_metadata``)."""
    completed = list(Path(directory.removeprefix("file://")).glob("*/chk-*/_metadata"))
    if not completed:
        raise ValueError(f"--restore latest: no completed checkpoint under {directory}")
    return str(max(completed, key=lambda metadata: metadata.stat().st_mtime).parent)


def job_jars(config: Config) -> list[str]:
    """The jars the job needs on its class path: --jars, and the spool source's format."""
    jars = [jar.strip() for jar in config.jars.split(",") if jar.strip()]
    missing = [jar for jar in jars if "://" not in jar and not Path(jar).is_file()]
    if missing:
        raise ValueError(f"--jars: {', '.join(missing)} does not exist")
    if payloads_are_blocks(config):
        jars.append(str(line_block_jar()))
    return jars


def _with_worker_mode(config: Config, create: Callable[[], T]) -> T:
    """``create()`` an environment whose Python workers are separate processes when the job
    runs parallel, so that parallel instances use parallel cores.

    A local run otherwise runs every Python function in this process (PyFlink's loopback
    mode), under one interpreter lock however high the parallelism. PyFlink reads the mode
    from this variable (its own tests set it the same way) when an environment is created.
    """
    if (config.parallelism or 1) <= 1:
        return create()
    before = os.environ.get(WORKER_MODE_VARIABLE)
    os.environ[WORKER_MODE_VARIABLE] = "process"
    try:
        return create()
    finally:
        if before is None:
            del os.environ[WORKER_MODE_VARIABLE]
        else:
            os.environ[WORKER_MODE_VARIABLE] = before


def runs_locally(t_env: StreamTableEnvironment) -> bool:
    """In a MiniCluster started by this process, not on a cluster (``flink run`` sets the target)."""
    return t_env.get_config().get("execution.target", "local") in ("local", "minicluster")


def functions_run_here(config: Config, t_env: StreamTableEnvironment) -> bool:
    """Whether the job's Python functions run in this process: a local run at parallelism 1
    (PyFlink's loopback mode; see :func:`_with_worker_mode`)."""
    return runs_locally(t_env) and (config.parallelism or 1) <= 1


def create_table_environment(config: Config, bounded: bool, restore: str | None = None) -> StreamTableEnvironment:
    set_local_jvm_options(config.local_jvm_heap_mb)
    env = _with_worker_mode(config, StreamExecutionEnvironment.get_execution_environment)
    # Before the table environment exists: its class loader, which finds connector and format
    # factories, is made from the jars known at its creation.
    jars = job_jars(config)
    if jars:
        env.add_jars(*(_as_uri(jar) for jar in jars))
    t_env = _with_worker_mode(config, lambda: StreamTableEnvironment.create(env))
    settings = t_env.get_config()
    if config.parallelism:
        env.set_parallelism(config.parallelism)
    elif runs_locally(t_env):
        env.set_parallelism(1)  # on a cluster, flink run -p or the cluster's parallelism.default decides
    # A parallel instance without input (more instances than files or partitions) would hold
    # back the watermark of every window: after this long without events it stops counting.
    settings.set("table.exec.source.idle-timeout", f"{round(config.source_idle_seconds * 1000)} ms")
    settings.set("pipeline.name", "modelmon monitoring")
    # Fewer, larger Python calls: per-call costs (Arrow framing, the fast parser's per-batch
    # work, one feature partial per endpoint and window) shrink. A spool block already holds
    # parse_batch_lines lines; Kafka messages reach their pandas parser in Arrow batches of as
    # many. An Arrow batch never exceeds the bundle, whose default is 1,000 elements in Flink
    # 2.x, so both are raised; a continuous run still ends each bundle, however small, within
    # python.fn-execution.bundle.time (1 s).
    settings.set("python.fn-execution.arrow.batch.size", str(config.parse_batch_lines))
    settings.set("python.fn-execution.bundle.size", str(max(config.parse_batch_lines, 100_000)))
    # Each bundle end drains every Python operator and commits its state, while the operators
    # before it wait: a bounded run of 1M lines at Flink's 1 s took about 43 s, at 5-30 s about
    # 37 s. No one reads a bounded run's rows before it ends; a continuous one keeps Flink's
    # bundle time (1 s, or the cluster's), which bounds how long a quiet operator holds results.
    if bounded and not settings.get("python.fn-execution.bundle.time", ""):
        settings.set("python.fn-execution.bundle.time", str(round(config.bounded_bundle_seconds * 1000)))  # a long: ms
    # Keyed state a Python worker keeps as objects, per (state, key): past Flink's default of
    # 1,000, every key change at 1,000 endpoints fetched and committed state over gRPC, waiting
    # for each (14 of the 26 s its timers took at the end of a bounded run).
    settings.set("python.state.cache-size", str(config.state_cache_entries))
    settings.set("table.local-time-zone", "UTC")
    if not settings.get("python.executable", ""):  # flink run -pyexec sets it for remote TaskManagers
        # The Python workers must run this interpreter, which has the project installed.
        settings.set("python.executable", sys.executable)
    settings.set("restart-strategy.type", config.restart_strategy)
    if config.restart_strategy == "fixed-delay":
        settings.set("restart-strategy.fixed-delay.attempts", str(config.restart_attempts))
        settings.set("restart-strategy.fixed-delay.delay", f"{round(config.restart_delay_seconds * 1000)} ms")
    elif config.restart_strategy == "exponential-delay":
        settings.set("restart-strategy.exponential-delay.initial-backoff",
                     f"{round(config.restart_delay_seconds * 1000)} ms")
    checkpoints = checkpoint_directory(config, bounded, settings.get("execution.checkpointing.dir", ""))
    if checkpoints:
        settings.set("execution.checkpointing.dir", _as_uri(checkpoints))
        settings.set("execution.checkpointing.interval", f"{round(config.checkpoint_interval_seconds * 1000)} ms")
        settings.set("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
        settings.set("state.backend.type", config.state_backend)
    if restore:
        if restore == "latest":
            if not checkpoints:
                raise ValueError("--restore latest needs --checkpoint-dir for a bounded run")
            restore = latest_checkpoint(checkpoints)
        settings.set("execution.state-recovery.path", _as_uri(restore))
        log.info("restoring from %s", restore)
    return t_env


def prepare_store(config: Config) -> JobReferences:
    """Bring the store's schema up to date and read the references, then let go of the store
    (with an embedded store, the job's writer must be able to open it)."""
    client = store.wait_for_store(config.store, config.retention_days, config.store_wait_seconds,
                                  store.Backoff(maximum=config.sink_retry_max_seconds))
    try:
        seen = registrations_seen(client)  # before reading: a registration in between is picked up later
        snapshot = load_references(client)
    finally:
        client.close()
    log.info("store %s ready: schema up to date, %d reference(s); the job's writer opens it next",
             store.redact(config.store), len(snapshot))
    return JobReferences(config.store, config.reference_refresh_seconds, snapshot, seen, os.getpid())


def run_monitoring_job(config: Config, bounded: bool, stop: threading.Event | None = None,
                       submitted: threading.Event | None = None, restore: str | None = None) -> None:
    """Run the job until the input ends (bounded) or ``stop`` is set.

    ``submitted`` is set once the job runs; ``restore`` is a checkpoint or savepoint path, or
    ``latest`` for the newest checkpoint under the checkpoint directory.
    """
    limit_malloc_arenas()
    references = prepare_store(config)
    t_env = create_table_environment(config, bounded, restore)
    if functions_run_here(config, t_env):
        references = references.kept()
    try:
        _run(t_env, config, bounded, references, stop, submitted)
    finally:
        references.release()


def _run(t_env: StreamTableEnvironment, config: Config, bounded: bool, references: JobReferences,
         stop: threading.Event | None, submitted: threading.Event | None) -> None:
    if is_kafka(config.source):
        require_kafka_connector()
    started = time.perf_counter()
    result = build_job(t_env, config, bounded, references).execute_insert("job_end")
    job = result.get_job_client()
    if submitted is not None:
        submitted.set()
    if t_env.get_config().get("execution.attached", "true") == "false":
        log.info("monitoring job %s submitted (detached)", job.get_job_id())
        return
    outcome = job.get_job_execution_result()
    try:
        while not outcome.done():
            if stop is not None and stop.is_set():
                job.cancel().result()
                while not outcome.done():
                    time.sleep(0.1)
                log.info("monitoring job stopped after %.1f s", time.perf_counter() - started)
                return
            time.sleep(0.2)
        try:
            outcome.result()
        except Exception as error:
            raise RuntimeError(f"the monitoring job failed: {error}") from error
        log.info("monitoring job finished after %.1f s", time.perf_counter() - started)
    finally:
        if outcome.done():  # not on an interrupt while it runs
            store.close_clients_left_open(config.store)


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", help="spool directory of JSON-lines segments, or "
                                         "kafka://host:9092/topic?group=NAME&startup=earliest|latest|group-offsets")
    parser.add_argument("--store", help="chdb:///path or http(s)://user:pass@host:8123/db")
    parser.add_argument("--bounded", action="store_true", help="read what is there, flush every window, exit")
    parser.add_argument("--slide-seconds", type=int, help="slide of the 5m and 1h windows (default 60)")
    parser.add_argument("--lateness-seconds", type=int, help="allowed lateness of events (default 5)")
    parser.add_argument("--parallelism", type=int)
    parser.add_argument("--jars", help="comma-separated connector jars (the Kafka source needs its SQL connector)")
    parser.add_argument("--checkpoint-dir", help="checkpoints (default .modelmon/checkpoints for continuous runs; "
                                                 "bounded runs checkpoint only when given)")
    parser.add_argument("--checkpoint-interval", type=float, help="seconds between checkpoints (default 30)")
    parser.add_argument("--state-backend", choices=["hashmap", "rocksdb"])
    parser.add_argument("--restart-strategy", choices=["none", "fixed-delay", "exponential-delay"])
    parser.add_argument("--restore", help="resume from 'latest' (newest checkpoint under --checkpoint-dir) "
                                          "or a checkpoint or savepoint path")
    parser.add_argument("--config", help="TOML configuration file")


def config_from_arguments(args: argparse.Namespace) -> Config:
    return load_config(args.config, source=args.source, store=args.store, slide_seconds=args.slide_seconds,
                       lateness_seconds=args.lateness_seconds, parallelism=args.parallelism, jars=args.jars,
                       checkpoint_dir=args.checkpoint_dir, checkpoint_interval_seconds=args.checkpoint_interval,
                       state_backend=args.state_backend, restart_strategy=args.restart_strategy)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_job_arguments(parser)
    args, _flink_args = parser.parse_known_args(argv)
    configure_logging(logging.INFO)
    run_monitoring_job(config_from_arguments(args), bounded=args.bounded, restore=args.restore)
    return 0


if __name__ == "__main__":
    sys.exit(main())
