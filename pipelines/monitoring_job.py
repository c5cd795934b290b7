"""The monitoring job: prediction lines -> operational windows and registry -> ClickHouse.

source (spool directory, raw lines)
  -> parse_prediction_lines (one vectorized Python call per batch of lines)
  -> UNNEST the events (Java) -> valid | invalid or late (dead letters)
  -> valid: watermark on event time -> HOP 5m / 1h metrics, TUMBLE(slide) activity
  -> one (target, JSON row) stream -> collected by this process -> StoreSink batches

Runs in PyFlink local mode from ``modelmon run``, or unchanged with ``flink run -py``.
"""

from __future__ import annotations

import argparse
import logging
import queue
import sys
import threading
import time

import pandas as pd
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import DataTypes, Schema, StreamTableEnvironment, Table, TableResult
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

from modelmon import store
from modelmon.config import Config, load_config
from modelmon.logs import configure_logging
from pipelines.store_sink import StoreSink
from udfs.events import LatenessTracker, parse_lines

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
])

_ENDPOINT_COLUMNS = ("project", "endpoint_id", "function_uri", "model", "version", "model_class", "labels")


class ParsePredictionLines(ScalarFunction):
    """Adapter: a pandas batch of raw lines -> the columns of :func:`udfs.events.parse_lines`."""

    def __init__(self, lateness_ms: int | None):
        self.lateness_ms = lateness_ms
        self.tracker: LatenessTracker | None = None

    def open(self, function_context: FunctionContext) -> None:
        self.tracker = LatenessTracker(self.lateness_ms)

    def eval(self, lines: pd.Series) -> pd.DataFrame:
        return pd.DataFrame(vars(parse_lines(lines, self.tracker)))


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


def build_job(t_env: StreamTableEnvironment, config: Config, bounded: bool) -> Table:
    """Declare source, transformations and outputs; returns the (target, payload) table."""
    t_env.execute_sql(source_ddl(config, bounded))
    t_env.create_temporary_function("parse_prediction_lines", udf(
        ParsePredictionLines(None if bounded else config.lateness_seconds * 1000),
        result_type=PARSED_LINES_TYPE, func_type="pandas"))
    endpoint = ", ".join(f"q.p.{name} AS {name}" for name in _ENDPOINT_COLUMNS)
    t_env.create_temporary_view("unnested_events", t_env.sql_query(f"""
        SELECT q.line AS line, e.event_index AS event_index, {endpoint},
               q.p.time_ms[e.event_index] AS time_ms, q.p.predictions[e.event_index] AS predictions,
               q.p.latency_us[e.event_index] AS latency_us, q.p.is_error[e.event_index] AS is_error,
               e.status AS status, q.p.reason[e.event_index] AS reason
        FROM (SELECT line, parse_prediction_lines(line) AS p FROM prediction_lines) AS q
        CROSS JOIN UNNEST(q.p.status) WITH ORDINALITY AS e(status, event_index)"""))

    # The watermark needs the event time, which only exists after parsing: round-trip the
    # valid events through a DataStream (stays in Java) to declare it.
    valid = t_env.sql_query(f"""
        SELECT {", ".join(_ENDPOINT_COLUMNS)}, time_ms, predictions,
               CASE WHEN is_error THEN CAST(NULL AS DOUBLE) ELSE CAST(latency_us AS DOUBLE) END AS latency_us,
               is_error
        FROM unnested_events WHERE status = 'ok'""")
    schema = Schema.new_builder()
    for name in _ENDPOINT_COLUMNS:
        schema.column(name, DataTypes.STRING())
    schema = (schema.column("time_ms", DataTypes.BIGINT()).column("predictions", DataTypes.INT())
              .column("latency_us", DataTypes.DOUBLE()).column("is_error", DataTypes.BOOLEAN())
              .column_by_expression("event_time", "TO_TIMESTAMP_LTZ(time_ms, 3)")
              .watermark("event_time", watermark_expression(config, bounded))
              .build())
    t_env.create_temporary_view("prediction_events", t_env.from_data_stream(t_env.to_data_stream(valid), schema))

    outputs = [_metrics_query(size, seconds, config.slide_seconds) for size, seconds in WINDOW_SIZES.items()]
    outputs += [_activity_query(config.slide_seconds), _dead_letters_query(config.dead_letter_max_chars)]
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
