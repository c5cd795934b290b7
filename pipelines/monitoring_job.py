"""The monitoring job: prediction lines -> metrics, registry, feature histograms, drift -> ClickHouse.

This module wires the job and holds its typed entry point, :func:`run_monitoring_job`; its
operators are in :mod:`modelmon.pipelines.operators`, its pure functions in :mod:`modelmon.udfs`.

source: a spool directory in blocks of lines (``modelmon-line-blocks``) or a Kafka topic, one
        message per row (``modelmon-events``); beside each, its events read in Java
  -> parse: one vectorized Python call per block or Arrow batch of messages, one record out
  -> watermark on the batch's latest event time (the parser flags as late every event the
     watermark could have passed, so nothing valid is dropped by it)
  -> route: slices per endpoint | feature partials | dead letters and samples
  -> slices keyed by endpoint -> metric windows (HOP 5m / 1h, slide-long activity, custom metrics)
  -> partials keyed by endpoint -> feature windows (histograms, trailing-range drift)
  -> one (target, rows) stream keyed by target -> store writer (rows wait in keyed state until
     inserted, so checkpoints cover them) -> ClickHouse

No Java operator works per event after the source: from there on one record moves per batch
and endpoint. Runs in PyFlink local mode from ``modelmon run``, or unchanged with
``flink run -py`` on a cluster (``modelmon submit`` wraps that).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable, TypeVar

from py4j.java_gateway import JavaClass
from pyflink.common import JobClient, Types
from pyflink.common.completable_future import CompletableFuture
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway
from pyflink.table import DataTypes, Schema, StreamTableEnvironment, Table
from pyflink.table.expressions import col
from pyflink.table.udf import udf

from modelmon import store
from modelmon.config import DEFAULT_HOME, Config, load_config
from modelmon.kafka_url import is_kafka
from modelmon.logs import configure_logging
from modelmon.pipelines.alerting import JobAlertRules
from modelmon.pipelines.kafka_connector import KAFKA_CONNECTOR_JAR, cached_connector, require_kafka_connector
from modelmon.pipelines.local_runtime import (launches_its_jvm, limit_malloc_arenas, local_heap_mb, machine_memory_mb,
                                              set_local_jvm_options)
from modelmon.pipelines.operators import (FEATURE_PARTIALS, PARSED_BATCH_TYPE, STORE_ROWS, FeatureWindows,
                                          MetricWindows, ParsePredictionBlocks, ParsePredictionMessages, RouteBatch)
from modelmon.pipelines.reader_jar import reader_jar
from modelmon.pipelines.references import JobReferences
from modelmon.pipelines.sources import payloads_are_blocks, source_columns, source_ddl
from modelmon.pipelines.store_access import StoreAccess
from modelmon.pipelines.store_sink import STORE_ROW, StoreWriter
from modelmon.pipelines.worker import hang_ups_expected
from modelmon.alert_rules import list_rules
from modelmon.notifier import DRAIN_SECONDS, STOP_DRAIN_SECONDS, Notifier
from modelmon.reference import load_references, registrations_seen
from modelmon.udfs.alerts import AlertRule
from modelmon.udfs.histograms import Reference

log = logging.getLogger(__name__)

WORKER_MODE_VARIABLE = "_python_worker_execution_mode"
T = TypeVar("T")


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


def build_job(t_env: StreamTableEnvironment, config: Config, bounded: bool, references: JobReferences,
              alert_rules: JobAlertRules) -> Table:
    """Declare source, transformations and the store writer; returns the table to insert into ``job_end``."""
    t_env.execute_sql(source_ddl(config, bounded))
    lateness_ms = None if bounded else config.lateness_seconds * 1000
    if payloads_are_blocks(config):
        parse = udf(ParsePredictionBlocks(config, lateness_ms, references), result_type=PARSED_BATCH_TYPE)
    else:
        parse = udf(ParsePredictionMessages(config, lateness_ms, references), result_type=PARSED_BATCH_TYPE,
                    func_type="pandas")
    t_env.create_temporary_function("parse_prediction_lines", parse)
    # Bytes, not STRING: a line that is not UTF-8 would fail Arrow's conversion of a string
    # column (and with it the whole batch), or be altered by Flink's decoding.
    parsed = t_env.sql_query(f"""
        SELECT p.time_ms AS time_ms, p.batch AS batch
        FROM (SELECT parse_prediction_lines({', '.join(source_columns(config))}) AS p FROM prediction_lines)""")
    batches = _with_watermark(t_env, parsed.where(col("batch").is_not_null),
                              {"time_ms": DataTypes.BIGINT(), "batch": DataTypes.BYTES()}, config, bounded)
    routed = (t_env.to_data_stream(batches)
              .process(RouteBatch(), output_type=Types.ROW_NAMED(
                  ["endpoint_id", "slices"], [Types.STRING(), Types.PICKLED_BYTE_ARRAY()]))
              .uid("route-batches").name("route batches"))
    metric_outputs = (routed.key_by(lambda row: row.endpoint_id, key_type=Types.STRING())
                      .process(MetricWindows(config, alert_rules), output_type=STORE_ROW)
                      .uid("metric-windows").name("metric windows"))
    feature_outputs = (routed.get_side_output(FEATURE_PARTIALS)
                       .key_by(lambda row: row.endpoint_id, key_type=Types.STRING())
                       .process(FeatureWindows(config, references, alert_rules), output_type=STORE_ROW)
                       .uid("feature-windows").name("feature windows"))
    writer = (metric_outputs.union(feature_outputs, routed.get_side_output(STORE_ROWS))
              .key_by(lambda row: row.target, key_type=Types.STRING())
              .process(StoreWriter(config.store, config.sink_batch_rows, config.sink_flush_seconds,
                                   config.sink_retry_max_seconds, config.sink_max_waiting_payloads),
                       output_type=Types.STRING())
              .uid("store-writer").name("store writer"))
    if references.access.writer_parallelism:
        writer.set_parallelism(references.access.writer_parallelism)
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
    """The jars the job needs on its class path: --jars, the Java reader's formats, and for a
    Kafka source the cached Kafka connector unless --jars names one."""
    jars = [jar.strip() for jar in config.jars.split(",") if jar.strip()]
    missing = [jar for jar in jars if "://" not in jar and not Path(jar).is_file()]
    if missing:
        raise ValueError(f"--jars: {', '.join(missing)} does not exist")
    if is_kafka(config.source) and not any(jar.endswith(KAFKA_CONNECTOR_JAR) for jar in jars):
        connector = cached_connector()
        if connector is not None:
            jars.append(str(connector))
    return [*jars, str(reader_jar())]


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


def keep_python_timers_in_checkpoints() -> None:
    """Build every Python keyed operator of this process's jobs as the reader jar's
    ``TimersInCheckpointKeyedProcessOperator`` (see its docstring), not PyFlink's own: PyFlink
    looks the operator up by its short name in the gateway's view, which an attribute set
    here shadows. Needs the reader jar on the class path (:func:`job_jars`)."""
    jvm = get_gateway().jvm
    operator = jvm.modelmon.flink.TimersInCheckpointKeyedProcessOperator
    if not isinstance(operator, JavaClass):  # py4j names a class it cannot load as a package
        raise RuntimeError("modelmon.flink.TimersInCheckpointKeyedProcessOperator is not on the job's class path")
    jvm.ExternalPythonKeyedProcessOperator = operator


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
    env.add_jars(*(_as_uri(jar) for jar in job_jars(config)))
    keep_python_timers_in_checkpoints()
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
    # A bounded run's bundles also end after far more elements (records and timers, of which a
    # fleet's window operators get one per endpoint per batch and per timer): 10,000 endpoints'
    # run took 385.7 s at 100,000, 364.9 s at 1,000,000.
    settings.set("python.fn-execution.bundle.size",
                 str(max(config.parse_batch_lines, 1_000_000 if bounded else 100_000)))
    # Each bundle end drains every Python operator and commits the state of every key it
    # changed, while the operators before it wait: a bounded run of 1M lines at Flink's 1 s took
    # about 43 s, at 5-30 s about 37 s; 3,000 endpoints' windows 142-144 s at 10 s, 127 s at 60.
    # No one reads a bounded run's rows before it ends; a continuous one keeps Flink's bundle
    # time (1 s, or the cluster's), which bounds how long a quiet operator holds results.
    if bounded and not settings.get("python.fn-execution.bundle.time", ""):
        settings.set("python.fn-execution.bundle.time", str(round(config.bounded_bundle_seconds * 1000)))  # a long: ms
    # Keyed state a Python worker keeps as objects, per (state, key): past Flink's default of
    # 1,000, every key change at 1,000 endpoints fetched and committed state over gRPC, waiting
    # for each (14 of the 26 s its timers took at the end of a bounded run).
    settings.set("python.state.cache-size", str(config.state_cache_entries or state_cache_entries(0)))
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


# Keyed states per endpoint across the job's Python operators (MetricWindows 3, FeatureWindows 3)
# and room for the writer's and for endpoints without a reference.
STATES_PER_ENDPOINT = 8


def state_cache_entries(registered_endpoints: int) -> int:
    """``state_cache_entries`` when not set: every registered endpoint's states, at least 50,000.
    The cache is one per Python worker, shared by its operators; past it, each change of key
    fetches and commits state through Flink and waits for it (half the time of a 10,000-endpoint
    run's window timers went to those waits with 50,000).

    >>> state_cache_entries(100), state_cache_entries(10_000)
    (50000, 80000)
    """
    return max(50_000, STATES_PER_ENDPOINT * registered_endpoints)


def prepare_store(config: Config) -> tuple[dict[str, Reference], tuple, tuple[AlertRule, ...]]:
    """Bring the store's schema up to date and read the references (and what their
    registrations were then) and the alert rules, then let go of the store: with an embedded
    store, the job's writer must be able to open it."""
    client = store.wait_for_store(config.store, config.retention_days, config.store_wait_seconds,
                                  store.Backoff(maximum=config.sink_retry_max_seconds))
    try:
        seen = registrations_seen(client)  # before reading: a registration in between is picked up later
        snapshot = load_references(client)
        rules = tuple(list_rules(client))
    finally:
        client.close()
    log.info("store %s ready: schema up to date, %d reference(s), %d alert rule(s); the job's writer opens it next",
             store.redact(config.store), len(snapshot), len(rules))
    return snapshot, seen, rules


def run_monitoring_job(config: Config, bounded: bool, stop: threading.Event | None = None,
                       submitted: threading.Event | None = None, restore: str | None = None) -> str | None:
    """Run the job until the input ends (bounded) or ``stop`` is set; returns the savepoint
    a stopped job took (:func:`stop_job`), if any.

    ``submitted`` is set once the job runs; ``restore`` is a checkpoint or savepoint path, or
    ``latest`` for the newest checkpoint under the checkpoint directory.
    """
    limit_malloc_arenas()
    snapshot, seen, rules = prepare_store(config)
    heap_mb = local_heap_mb(config.local_jvm_heap_mb, sum(len(r.features) for r in snapshot.values()),
                            machine_memory_mb()) if launches_its_jvm() else config.local_jvm_heap_mb
    if heap_mb != config.local_jvm_heap_mb:
        log.info("local_jvm_heap_mb = %d for the %d registered endpoint(s)", heap_mb, len(snapshot))
        config = config.replace(local_jvm_heap_mb=heap_mb)
    if not config.state_cache_entries:
        config = config.replace(state_cache_entries=state_cache_entries(len(snapshot)))
    t_env = create_table_environment(config, bounded, restore)
    access = StoreAccess(config.store, os.getpid(), functions_run_here(config, t_env))
    references = JobReferences.for_job(access, config.reference_refresh_seconds, snapshot, seen)
    alert_rules = JobAlertRules(access, config.alert_refresh_seconds, rules)
    # The activations' outbox, delivered from this process once the job runs (not while it is
    # planned: py4j may then serve the planner's calls on another Java thread, where Calcite's
    # per-thread metadata provider is missing). `modelmon notify` delivers instead for a
    # detached submission, and for an embedded store whose writer runs in another process (a
    # cluster's TaskManager): that process alone may open it.
    notifier, delivering = Notifier(config.store), threading.Event()
    delivers_here = t_env.get_config().get("execution.attached", "true") != "false" and access.builder_may_open()
    delivery = threading.Thread(target=notifier.run, args=(delivering,), name="alert-notifier", daemon=True)
    try:
        savepoint = _run(t_env, config, bounded, references, alert_rules, stop, submitted,
                         running=delivery.start if delivers_here else None)
        delivering.set()  # the last deliveries from this thread
        drain_seconds = DRAIN_SECONDS if bounded else STOP_DRAIN_SECONDS
        left = notifier.drain(drain_seconds) if delivers_here else 0
        if left:
            log.warning("%d alert activation(s) not delivered within %.0f s of the job's end; "
                        "`modelmon notify --store DSN` goes on delivering them", left, drain_seconds)
        return savepoint
    finally:
        delivering.set()
        if delivery.is_alive():  # a process that exits while the thread holds a store client can crash
            delivery.join()
        references.release()


def job_failure(error: str, config: Config, local: bool) -> str:
    """What a failed job's error says; first, when a local run's JVM ran out of heap (its
    state grows with endpoints x features), the setting that gives it more.

    >>> job_failure("JobExecutionException ... java.lang.OutOfMemoryError: Java heap space",
    ...             Config(local_jvm_heap_mb=512), True)[:96]
    'the monitoring job ran out of Java heap (local_jvm_heap_mb = 512): give it more, e.g. MODELMON_L'
    >>> job_failure("JobExecutionException: boom", Config(), True)
    'the monitoring job failed: JobExecutionException: boom'
    """
    if local and "java.lang.OutOfMemoryError: Java heap space" in error:
        return (f"the monitoring job ran out of Java heap (local_jvm_heap_mb = {config.local_jvm_heap_mb}): give it "
                f"more, e.g. MODELMON_LOCAL_JVM_HEAP_MB={config.local_jvm_heap_mb * 4} (or local_jvm_heap_mb in the "
                f"configuration file; JVM_ARGS wins when set). Flink's error: {error}")
    return f"the monitoring job failed: {error}"


def _run(t_env: StreamTableEnvironment, config: Config, bounded: bool, references: JobReferences,
         alert_rules: JobAlertRules, stop: threading.Event | None, submitted: threading.Event | None,
         running: Callable[[], None] | None = None) -> str | None:
    if is_kafka(config.source):
        require_kafka_connector()
    started = time.perf_counter()
    result = build_job(t_env, config, bounded, references, alert_rules).execute_insert("job_end")
    job = result.get_job_client()
    if submitted is not None:
        submitted.set()
    if running is not None:
        running()
    if t_env.get_config().get("execution.attached", "true") == "false":
        log.info("monitoring job %s submitted (detached)", job.get_job_id())
        return None
    outcome = job.get_job_execution_result()
    try:
        while not outcome.done():
            if stop is not None and stop.is_set():
                # The directory create_table_environment chose, if any.
                savepoint = stop_job(job, t_env.get_config().get("execution.checkpointing.dir", "") or None)
                while not outcome.done():
                    time.sleep(0.1)
                log.info("monitoring job stopped after %.1f s", time.perf_counter() - started)
                return savepoint
            time.sleep(0.2)
        try:
            outcome.result()
        except Exception as error:
            raise RuntimeError(job_failure(str(error), config, runs_locally(t_env))) from error
        log.info("monitoring job finished after %.1f s", time.perf_counter() - started)
        return None
    finally:
        if outcome.done():  # not on an interrupt while it runs
            references.access.close_after_job()


def stop_job(job: JobClient, checkpoints: str | None, patience_seconds: float = 30) -> str | None:
    """Stop a running job with a savepoint under ``checkpoints``/savepoints: its sources stop,
    every operator takes the savepoint and closes in order, so its Python workers end without
    the errors of a cancel (a channel closed under a running bundle); returns the savepoint's
    path. A job whose tasks are still starting cannot take one yet, so it tries again for
    ``patience_seconds``; without a checkpoint directory, or past that, the job is cancelled."""
    hang_ups_expected()
    if checkpoints:
        target = _as_uri(str(Path(checkpoints.removeprefix("file://")) / "savepoints"))
        # PyFlink's stop_with_savepoint calls a Java method Flink 2 no longer has (without a format).
        canonical = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType.CANONICAL
        deadline = time.monotonic() + patience_seconds
        while True:
            try:
                return CompletableFuture(job._j_job_client.stopWithSavepoint(False, target, canonical), str).result()
            except Exception as error:  # noqa: BLE001 - py4j raises its own types; the cancel below stops the job
                if time.monotonic() > deadline:
                    log.warning("stop with a savepoint failed (%s); cancelling the job", str(error)[:3000])
                    break
            time.sleep(1)
    job.cancel().result()
    return None


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
