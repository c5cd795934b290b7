"""The monitoring job: prediction lines -> metrics, registry, feature histograms, drift -> ClickHouse.

source (spool directory, raw lines)
  -> parse_prediction_lines (one vectorized Python call per batch of lines: events, plus
     per-batch partial feature summaries on the reference bins, plus sampled feature rows)
  -> UNNEST the events (Java) -> valid | invalid or late (dead letters)
  -> valid: watermark on event time -> HOP 5m / 1h metrics, TUMBLE(slide) activity
  -> custom metrics of valid events: watermark -> TUMBLE(slide) count, sum, mean, min, max
  -> partials: watermark on their time -> keyed by endpoint -> FeatureWindows (keyed state,
     event-time timers): window histograms and trailing-range drift when a window closes
  -> samples -> incoming_features
  -> one (target, JSON row) stream -> collected by this process -> StoreSink batches

Runs in PyFlink local mode from ``modelmon run``, or unchanged with ``flink run -py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import sys
import threading
import time

import pandas as pd
from pyflink.common import Row, Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor
from pyflink.table import DataTypes, Schema, StreamTableEnvironment, Table, TableResult
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

from modelmon import store
from modelmon.config import Config, load_config
from modelmon.logs import configure_logging
from modelmon.reference import ReferenceCache
from pipelines.store_sink import MANY_TABLES, StoreSink
from udfs.events import LatenessTracker, parse_lines
from udfs.feature_windows import drift_rows, histogram_rows
from udfs.features import FeatureSettings
from udfs.histograms import FeatureSummary

log = logging.getLogger(__name__)

WINDOW_SIZES = {"5m": 5 * 60, "1h": 60 * 60}

PARSED_LINES_TYPE = DataTypes.ROW([
    DataTypes.FIELD("project", DataTypes.STRING()),
    DataTypes.FIELD("endpoint_id", DataTypes.STRING()),
    DataTypes.FIELD("function_uri", DataTypes.STRING()),
    DataTypes.FIELD("model", DataTypes.STRING()),
    DataTypes.FIELD("version", DataTypes.STRING()),
    DataTypes.FIELD("model_class", DataTypes.STRING()),
    DataTypes.FIELD("labels", DataTypes.STRING()),
    DataTypes.FIELD("time_ms", DataTypes.ARRAY(DataTypes.BIGINT())),
    DataTypes.FIELD("predictions", DataTypes.ARRAY(DataTypes.INT())),
    DataTypes.FIELD("latency_us", DataTypes.ARRAY(DataTypes.BIGINT())),
    DataTypes.FIELD("is_error", DataTypes.ARRAY(DataTypes.BOOLEAN())),
    DataTypes.FIELD("status", DataTypes.ARRAY(DataTypes.STRING())),
    DataTypes.FIELD("reason", DataTypes.ARRAY(DataTypes.STRING())),
    DataTypes.FIELD("metric_event", DataTypes.ARRAY(DataTypes.INT())),
    DataTypes.FIELD("metric_name", DataTypes.ARRAY(DataTypes.STRING())),
    DataTypes.FIELD("metric_value", DataTypes.ARRAY(DataTypes.DOUBLE())),
    DataTypes.FIELD("partial_project", DataTypes.ARRAY(DataTypes.STRING())),
    DataTypes.FIELD("partial_endpoint_id", DataTypes.ARRAY(DataTypes.STRING())),
    DataTypes.FIELD("partial_window_start", DataTypes.ARRAY(DataTypes.BIGINT())),
    DataTypes.FIELD("partial_time_ms", DataTypes.ARRAY(DataTypes.BIGINT())),
    DataTypes.FIELD("partial_data", DataTypes.ARRAY(DataTypes.BYTES())),
    DataTypes.FIELD("samples", DataTypes.STRING()),
])

_ENDPOINT_COLUMNS = ("project", "endpoint_id", "function_uri", "model", "version", "model_class", "labels")


class ParsePredictionLines(ScalarFunction):
    """Adapter: a pandas batch of raw lines -> the columns of :func:`udfs.events.parse_lines`."""

    def __init__(self, config: Config, lateness_ms: int | None):
        self.lateness_ms = lateness_ms
        self.store = config.store
        self.refresh_seconds = config.reference_refresh_seconds
        self.window_ms = config.feature_window_seconds * 1000
        self.sample_every = config.feature_sample_every
        self.tracker: LatenessTracker | None = None
        self.references: ReferenceCache | None = None

    def open(self, function_context: FunctionContext) -> None:
        self.tracker = LatenessTracker(self.lateness_ms)
        self.references = ReferenceCache(self.store, self.refresh_seconds)

    def eval(self, lines: pd.Series) -> pd.DataFrame:
        features = FeatureSettings(self.window_ms, self.references.current().get, self.sample_every)
        parsed = parse_lines(lines, self.tracker, features)
        return pd.DataFrame({name: getattr(parsed, name) for name in PARSED_LINES_TYPE.field_names()})

    def close(self) -> None:
        self.references.close()


class FeatureWindows(KeyedProcessFunction):
    """Adapter: per endpoint, merges partial feature summaries per window in keyed state and,
    when the watermark closes a window, emits its histograms and the trailing-range drift
    (:mod:`udfs.feature_windows`). While the trailing range still holds windows, drift is
    recomputed each time a further base window closes, so a quiet endpoint's drift stays current.
    """

    def __init__(self, config: Config):
        self.store = config.store
        self.refresh_seconds = config.reference_refresh_seconds
        self.window_ms = config.feature_window_seconds * 1000
        self.range_ms = config.drift_range_seconds * 1000

    def open(self, runtime_context: RuntimeContext) -> None:
        self.windows = runtime_context.get_map_state(
            MapStateDescriptor("feature_windows", Types.LONG(), Types.PICKLED_BYTE_ARRAY()))
        self.project = runtime_context.get_state(ValueStateDescriptor("project", Types.STRING()))
        self.fired_through = runtime_context.get_state(ValueStateDescriptor("fired_through", Types.LONG()))
        self.references = ReferenceCache(self.store, self.refresh_seconds)

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context):
        partial = FeatureSummary.from_bytes(value.data)
        summaries = self.windows.get(value.window_start) or []
        same = [i for i, s in enumerate(summaries) if s.reference_id == partial.reference_id]
        if same:
            summaries[same[0]] = summaries[same[0]].merge(partial)
        else:
            summaries.append(partial)
        self.windows.put(value.window_start, summaries)
        self.project.update(value.project)
        ctx.timer_service().register_event_time_timer(value.window_start + self.window_ms - 1)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        # Timers fire in time order per key, but a registration made in here for a time that
        # has just fired can fire again (seen in bounded runs: PyFlink passes timer
        # registrations to Java asynchronously). The repeat would see pruned state: skip it.
        fired_through = self.fired_through.value()
        if fired_through is not None and timestamp <= fired_through:
            return
        self.fired_through.update(timestamp)
        end = timestamp + 1
        endpoint_id, project = ctx.get_current_key(), self.project.value()
        windows = dict(self.windows.items())
        closed = windows.get(end - self.window_ms)
        measures, status = drift_rows(project, endpoint_id, end, self.range_ms, windows,
                                      self.references.get(endpoint_id))
        tables = {"drift_measures": measures, "drift_status": [status]}
        if closed:
            tables["feature_histograms"] = histogram_rows(
                project, endpoint_id, end - self.window_ms, self.window_ms, closed,
                lambda reference_id: self.references.version(endpoint_id, reference_id))
        yield Row(MANY_TABLES, json.dumps(tables))
        next_end = end + self.window_ms
        for window_start in windows:
            if window_start < next_end - self.range_ms:
                self.windows.remove(window_start)
        if any(next_end - self.range_ms <= start < next_end for start in windows):
            ctx.timer_service().register_event_time_timer(next_end - 1)

    def close(self) -> None:
        self.references.close()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def source_ddl(config: Config, bounded: bool) -> str:
    """The spool directory as a table of raw lines; continuous runs watch it for new files."""
    options = {"connector": "filesystem", "path": config.source, "format": "raw"}
    if not bounded:
        options["source.monitor-interval"] = f"{round(config.monitor_interval_seconds * 1000)}ms"
    with_clause = ", ".join(f"{_quote(k)} = {_quote(v)}" for k, v in options.items())
    return f"CREATE TEMPORARY TABLE prediction_lines (line STRING) WITH ({with_clause})"


def _interval(seconds: int) -> str:
    """A SQL interval literal (DAY TO SECOND: plain SECOND literals stop at 99).

    >>> _interval(3600)
    "INTERVAL '0 01:00:00' DAY TO SECOND"
    """
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    return f"INTERVAL '{days} {hour:02d}:{minute:02d}:{second:02d}' DAY TO SECOND"


def _metrics_query(window_size: str, seconds: int, slide_seconds: int) -> str:
    return f"""
    SELECT 'endpoint_metrics' AS target, JSON_OBJECT(
        KEY 'project' VALUE project, KEY 'endpoint_id' VALUE endpoint_id,
        KEY 'window_size' VALUE '{window_size}',
        KEY 'window_start' VALUE window_start, KEY 'window_end' VALUE window_end,
        KEY 'requests_count' VALUE requests_count, KEY 'predictions_count' VALUE predictions_count,
        KEY 'predictions_per_second' VALUE CAST(predictions_count AS DOUBLE) / {seconds},
        KEY 'error_count' VALUE error_count, KEY 'latency_avg' VALUE latency_avg,
        KEY 'latency_p50' VALUE latency_pct[1], KEY 'latency_p95' VALUE latency_pct[2],
        KEY 'latency_p99' VALUE latency_pct[3], KEY 'latency_max' VALUE latency_max) AS payload
    FROM (
        SELECT project, endpoint_id, window_start, window_end,
               COUNT(*) AS requests_count,
               SUM(CAST(predictions AS BIGINT)) AS predictions_count,
               SUM(CASE WHEN is_error THEN 1 ELSE 0 END) AS error_count,
               AVG(latency_us) AS latency_avg,
               PERCENTILE(latency_us, ARRAY[0.5, 0.95, 0.99]) AS latency_pct,
               MAX(latency_us) AS latency_max
        FROM TABLE(HOP(TABLE prediction_events, DESCRIPTOR(event_time),
                       {_interval(slide_seconds)}, {_interval(seconds)}))
        GROUP BY project, endpoint_id, window_start, window_end)"""


def _activity_query(slide_seconds: int) -> str:
    return f"""
    SELECT 'endpoint_activity' AS target, JSON_OBJECT(
        KEY 'project' VALUE project, KEY 'endpoint_id' VALUE endpoint_id,
        KEY 'window_start' VALUE window_start,
        KEY 'first_request' VALUE MIN(time_ms), KEY 'last_request' VALUE MAX(time_ms),
        KEY 'requests_count' VALUE COUNT(*),
        KEY 'predictions_count' VALUE SUM(CAST(predictions AS BIGINT)),
        KEY 'error_count' VALUE SUM(CASE WHEN is_error THEN 1 ELSE 0 END),
        KEY 'function_uri' VALUE LAST_VALUE(function_uri), KEY 'model' VALUE LAST_VALUE(model),
        KEY 'version' VALUE LAST_VALUE(version), KEY 'model_class' VALUE LAST_VALUE(model_class),
        KEY 'labels' VALUE LAST_VALUE(labels)) AS payload
    FROM TABLE(TUMBLE(TABLE prediction_events, DESCRIPTOR(event_time), {_interval(slide_seconds)}))
    GROUP BY project, endpoint_id, window_start, window_end"""


def _custom_metrics_query(slide_seconds: int) -> str:
    return f"""
    SELECT 'custom_metrics' AS target, JSON_OBJECT(
        KEY 'project' VALUE project, KEY 'endpoint_id' VALUE endpoint_id, KEY 'metric_name' VALUE metric_name,
        KEY 'window_start' VALUE window_start, KEY 'window_end' VALUE window_end,
        KEY 'values_count' VALUE COUNT(*), KEY 'sum' VALUE SUM(metric_value), KEY 'mean' VALUE AVG(metric_value),
        KEY 'min' VALUE MIN(metric_value), KEY 'max' VALUE MAX(metric_value)) AS payload
    FROM TABLE(TUMBLE(TABLE custom_metric_values, DESCRIPTOR(event_time), {_interval(slide_seconds)}))
    GROUP BY project, endpoint_id, metric_name, window_start, window_end"""


def _dead_letters_query(max_chars: int) -> str:
    return f"""
    SELECT 'invalid_events' AS target, JSON_OBJECT(
        KEY 'kind' VALUE status, KEY 'project' VALUE COALESCE(project, ''),
        KEY 'endpoint_id' VALUE COALESCE(endpoint_id, ''),
        KEY 'event_key' VALUE CONCAT(SHA1(line), ':', CAST(event_index AS STRING)),
        KEY 'event_time' VALUE time_ms, KEY 'reason' VALUE reason,
        KEY 'raw' VALUE SUBSTRING(line FROM 1 FOR {max_chars})) AS payload
    FROM unnested_events WHERE status <> 'ok'"""


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


def build_job(t_env: StreamTableEnvironment, config: Config, bounded: bool) -> Table:
    """Declare source, transformations and outputs; returns the (target, payload) table."""
    t_env.execute_sql(source_ddl(config, bounded))
    t_env.create_temporary_function("parse_prediction_lines", udf(
        ParsePredictionLines(config, None if bounded else config.lateness_seconds * 1000),
        result_type=PARSED_LINES_TYPE, func_type="pandas"))
    # Every branch below reads this one parse: a view over the UDF call would be planned
    # (and the lines parsed) once per branch.
    parsed = t_env.sql_query(f"""
        SELECT line, {", ".join(f"p.{f} AS {f}" for f in PARSED_LINES_TYPE.field_names())}
        FROM (SELECT line, parse_prediction_lines(line) AS p FROM prediction_lines)""")
    t_env.create_temporary_view("parsed_lines", t_env.from_data_stream(t_env.to_data_stream(parsed)))
    endpoint = ", ".join(f"q.{name} AS {name}" for name in _ENDPOINT_COLUMNS)
    t_env.create_temporary_view("unnested_events", t_env.sql_query(f"""
        SELECT q.line AS line, e.event_index AS event_index, {endpoint},
               q.time_ms[e.event_index] AS time_ms, q.predictions[e.event_index] AS predictions,
               q.latency_us[e.event_index] AS latency_us, q.is_error[e.event_index] AS is_error,
               e.event_status AS status, q.reason[e.event_index] AS reason
        FROM parsed_lines AS q CROSS JOIN UNNEST(q.status) WITH ORDINALITY AS e(event_status, event_index)"""))

    valid = t_env.sql_query(f"""
        SELECT {", ".join(_ENDPOINT_COLUMNS)}, time_ms, predictions,
               CASE WHEN is_error THEN CAST(NULL AS DOUBLE) ELSE CAST(latency_us AS DOUBLE) END AS latency_us,
               is_error
        FROM unnested_events WHERE status = 'ok'""")
    columns = dict.fromkeys(_ENDPOINT_COLUMNS, DataTypes.STRING())
    columns.update(time_ms=DataTypes.BIGINT(), predictions=DataTypes.INT(), latency_us=DataTypes.DOUBLE(),
                   is_error=DataTypes.BOOLEAN())
    t_env.create_temporary_view("prediction_events", _with_watermark(t_env, valid, columns, config, bounded))

    custom = t_env.sql_query("""
        SELECT q.project AS project, q.endpoint_id AS endpoint_id, m.metric AS metric_name,
               q.metric_value[m.i] AS metric_value, q.time_ms[q.metric_event[m.i]] AS time_ms
        FROM parsed_lines AS q CROSS JOIN UNNEST(q.metric_name) WITH ORDINALITY AS m(metric, i)""")
    t_env.create_temporary_view("custom_metric_values", _with_watermark(t_env, custom, {
        "project": DataTypes.STRING(), "endpoint_id": DataTypes.STRING(), "metric_name": DataTypes.STRING(),
        "metric_value": DataTypes.DOUBLE(), "time_ms": DataTypes.BIGINT()}, config, bounded))

    partials = t_env.sql_query("""
        SELECT q.partial_project[u.i] AS project, u.partial_endpoint AS endpoint_id,
               q.partial_window_start[u.i] AS window_start, q.partial_time_ms[u.i] AS time_ms,
               q.partial_data[u.i] AS data
        FROM parsed_lines AS q CROSS JOIN UNNEST(q.partial_endpoint_id) WITH ORDINALITY AS u(partial_endpoint, i)""")
    partials = _with_watermark(t_env, partials, {
        "project": DataTypes.STRING(), "endpoint_id": DataTypes.STRING(), "window_start": DataTypes.BIGINT(),
        "time_ms": DataTypes.BIGINT(), "data": DataTypes.BYTES()}, config, bounded)
    feature_outputs = (t_env.to_data_stream(partials)
                       .key_by(lambda row: row.endpoint_id, key_type=Types.STRING())
                       .process(FeatureWindows(config), output_type=Types.ROW_NAMED(
                           ["target", "payload"], [Types.STRING(), Types.STRING()])))
    t_env.create_temporary_view("feature_outputs", t_env.from_data_stream(feature_outputs))

    outputs = [_metrics_query(size, seconds, config.slide_seconds) for size, seconds in WINDOW_SIZES.items()]
    outputs += [_activity_query(config.slide_seconds), _custom_metrics_query(config.slide_seconds),
                _dead_letters_query(config.dead_letter_max_chars),
                "SELECT 'incoming_features' AS target, samples AS payload FROM parsed_lines WHERE samples IS NOT NULL",
                "SELECT target, payload FROM feature_outputs"]
    return t_env.sql_query("\nUNION ALL\n".join(outputs))


def create_table_environment(config: Config) -> StreamTableEnvironment:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(config.parallelism)
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("table.local-time-zone", "UTC")
    # The Python workers must run this interpreter, which has the project installed.
    t_env.get_config().set("python.executable", sys.executable)
    return t_env


class _EndOfOutput:
    def __init__(self, error: BaseException | None = None):
        self.error = error


def _collect(result: TableResult, rows: queue.Queue) -> None:
    try:
        with result.collect() as iterator:
            for row in iterator:
                rows.put((row[0], row[1]))
        rows.put(_EndOfOutput())
    except BaseException as error:  # handed to the sink loop, which decides
        rows.put(_EndOfOutput(error))


def run_monitoring_job(config: Config, bounded: bool, stop: threading.Event | None = None,
                       submitted: threading.Event | None = None) -> dict[str, int]:
    """Run the job and sink its output until the input ends (bounded) or ``stop`` is set.

    ``submitted`` is set once the job runs. Returns the rows written per table.
    """
    client = store.open_store(config.store, config.retention_days)
    sink = StoreSink(client, config.sink_batch_rows, config.sink_flush_seconds)
    t_env = create_table_environment(config)
    started = time.perf_counter()
    result = build_job(t_env, config, bounded).execute()
    if submitted is not None:
        submitted.set()
    rows: queue.Queue = queue.Queue(maxsize=100_000)
    threading.Thread(target=_collect, args=(result, rows), name="job-output", daemon=True).start()
    cancelled = ended = False
    try:
        while True:
            if stop is not None and stop.is_set() and not cancelled:
                result.get_job_client().cancel().result()
                cancelled = True
            try:
                item = rows.get(timeout=min(0.5, max(0.05, sink.seconds_to_next_flush())))
            except queue.Empty:
                sink.flush_due()
                continue
            if isinstance(item, _EndOfOutput):
                ended = True
                sink.flush()  # what the job did emit is correct, even if it then failed
                if item.error is not None and not cancelled:
                    raise RuntimeError(f"the monitoring job failed: {item.error}") from item.error
                break
            sink.add(*item)
            sink.flush_due()
    finally:
        if not ended and not cancelled:  # the sink failed: do not leave the job running
            result.get_job_client().cancel()
        client.close()
    log.info("monitoring job %s after %.1f s; rows written: %s",
             "stopped" if cancelled else "finished", time.perf_counter() - started, sink.rows_written)
    return sink.rows_written


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", help="spool directory of JSON-lines segments")
    parser.add_argument("--store", help="chdb:///path or http(s)://user:pass@host:8123/db")
    parser.add_argument("--bounded", action="store_true", help="read what is there, flush every window, exit")
    parser.add_argument("--slide-seconds", type=int, help="slide of the 5m and 1h windows (default 60)")
    parser.add_argument("--lateness-seconds", type=int, help="allowed lateness of events (default 5)")
    parser.add_argument("--parallelism", type=int)
    parser.add_argument("--config", help="TOML configuration file")


def config_from_arguments(args: argparse.Namespace) -> Config:
    return load_config(args.config, source=args.source, store=args.store, slide_seconds=args.slide_seconds,
                       lateness_seconds=args.lateness_seconds, parallelism=args.parallelism)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_job_arguments(parser)
    args, _flink_args = parser.parse_known_args(argv)
    configure_logging(logging.INFO)
    run_monitoring_job(config_from_arguments(args), bounded=args.bounded)
    return 0


if __name__ == "__main__":
    sys.exit(main())
