"""The Kafka source's parts that need no broker (a real one is in tests/system/test_kafka.py):
the generated DDL uses the Kafka SQL connector's documented options, a missing jar stops the
command with a message naming it, the tracker client writes events the job parses, and
messages read by the topic's value format (``modelmon-events``, here under the filesystem
connector, one message per line) parse in the job's Arrow batches as they would in one batch."""

from __future__ import annotations

import pickle
import re
import shutil
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment
from pyflink.table.udf import udf

from modelmon.config import Config
from modelmon.pipelines.operators import PARSED_BATCH_TYPE, ParsePredictionMessages, job_slice_ms
from modelmon.pipelines.reader_jar import reader_jar
from modelmon.pipelines.references import JobReferences
from modelmon.pipelines.kafka_connector import KAFKA_CONNECTOR_JAR, KAFKA_CONNECTOR_URL
from modelmon.pipelines.sources import kafka_options, source_ddl
from modelmon.pipelines.store_access import StoreAccess
from modelmon.simulator import simulate
from modelmon.tracker import Tracker
from modelmon.udfs.batches import BatchOutput, parse_batch
from modelmon.udfs.contract import EndpointCache
from modelmon.udfs.events import parse_lines
from modelmon.udfs.features import FeatureSettings
from modelmon.udfs.histograms import FeatureSummary
from modelmon.udfs.lateness import LatenessTracker
from tests.support.environment import child_environment

# The Kafka SQL connector's table options (Flink's Kafka connector documentation, 'Connector
# Options'), with the documented values of the enumerated ones; properties.* are passed through.
DOCUMENTED_OPTIONS = {
    "connector", "topic", "topic-pattern", "properties.bootstrap.servers", "properties.group.id", "format",
    "key.format", "key.fields", "key.fields-prefix", "value.format", "value.fields-include",
    "scan.startup.mode", "scan.startup.specific-offsets", "scan.startup.timestamp-millis", "scan.bounded.mode",
    "scan.bounded.specific-offsets", "scan.bounded.timestamp-millis", "scan.topic-partition-discovery.interval",
    "scan.parallelism", "sink.partitioner", "sink.semantic", "sink.delivery-guarantee",
    "sink.transactional-id-prefix", "sink.parallelism",
}
STARTUP_MODES = {"earliest-offset", "latest-offset", "group-offsets", "timestamp", "specific-offsets"}
BOUNDED_MODES = {"unbounded", "latest-offset", "group-offsets", "timestamp", "specific-offsets"}


def ddl_options(ddl: str) -> dict[str, str]:
    return dict(re.findall(r"'((?:[^']|'')*)' = '((?:[^']|'')*)'", ddl))


def test_the_kafka_ddl_uses_the_connectors_documented_options():
    source = ("kafka://k1:9092,k2:9092/predictions?group=monitoring&startup=earliest"
              "&properties.security.protocol=SASL_SSL&properties.sasl.mechanism=PLAIN")
    ddl = source_ddl(Config(source=source), bounded=False)
    assert ddl.startswith("CREATE TEMPORARY TABLE prediction_lines (payload BYTES, events BYTES, "
                          "source_partition INT METADATA FROM 'partition' VIRTUAL) WITH (")
    assert ddl_options(ddl) == {
        "connector": "kafka", "topic": "predictions", "properties.bootstrap.servers": "k1:9092,k2:9092",
        "properties.group.id": "monitoring", "scan.startup.mode": "earliest-offset", "format": "modelmon-events",
        "properties.security.protocol": "SASL_SSL", "properties.sasl.mechanism": "PLAIN",
    }
    for startup in ("earliest", "latest", "group-offsets"):
        for bounded in (False, True):
            options = kafka_options(f"kafka://k:9092/p?startup={startup}", bounded)
            assert all(k in DOCUMENTED_OPTIONS or k.startswith("properties.") for k in options), options
            assert options["scan.startup.mode"] in STARTUP_MODES
            assert options.get("scan.bounded.mode", "unbounded") in BOUNDED_MODES
            assert ("scan.bounded.mode" in options) == bounded
    # With committed offsets missing, a new group starts from the beginning of the topic.
    assert kafka_options("kafka://k:9092/p", False)["properties.auto.offset.reset"] == "earliest"


@pytest.mark.parametrize("source, message", [
    ("kafka://k:9092/", "must look like kafka://host:9092/topic"),
    ("kafka:///predictions", "must look like kafka://host:9092/topic"),
    ("kafka://k:9092/p?startup=yesterday", "startup='yesterday' must be one of"),
    ("kafka://k:9092/p?grop=x", "unknown parameter(s) grop"),
])
def test_a_bad_kafka_url_is_refused_with_the_reason(source, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        kafka_options(source, bounded=False)


def test_without_the_connector_jar_the_job_stops_at_once_naming_the_jar(tmp_path):
    # A cache without the connector (the suite's set-up fetched one into the user's cache).
    (tmp_path / "cache" / "jars").mkdir(parents=True)
    shutil.copy(reader_jar(), tmp_path / "cache" / "jars")
    finished = subprocess.run(
        [sys.executable, "-m", "modelmon.cli", "run", "--source", "kafka://127.0.0.1:9/predictions",
         "--store", f"chdb://{tmp_path / 'store'}"], capture_output=True, text=True, timeout=300,
        env=child_environment(MODELMON_CACHE_DIR=str(tmp_path / "cache")))
    assert finished.returncode == 2
    assert KAFKA_CONNECTOR_JAR in finished.stderr and KAFKA_CONNECTOR_URL in finished.stderr
    assert "--jars" in finished.stderr and "python -m modelmon.pipelines.kafka_connector" in finished.stderr
    assert "Traceback" not in finished.stderr and "at org.apache" not in finished.stderr


def test_a_missing_jar_file_is_named(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-m", "modelmon.cli", "run", "--source", "kafka://127.0.0.1:9/predictions",
         "--jars", str(tmp_path / "connector.jar"), "--store", f"chdb://{tmp_path / 'store'}"],
        capture_output=True, text=True, timeout=300, env=child_environment())
    assert finished.returncode == 2
    assert f"--jars: {tmp_path / 'connector.jar'} does not exist" in finished.stderr


def test_tracked_predictions_are_events_the_job_parses(tmp_path):
    when = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    with Tracker(str(tmp_path), function_uri="fraud/serving:prod", model="xgb:v3", model_class="XGBClassifier",
                 labels={"team": "risk"}, segment_lines=2) as tracker:
        tracker.track([[0.5, 1.0], [2.0, 3.5]], outputs=[1, 0], latency_us=1840, when=when,
                      metrics={"confidence": 0.9})
        tracker.track([[0.1, 0.2]], error="model failed", when=when)
        tracker.track([[7.0, 8.0]], outputs=[1], latency_us=2_500_000, when=when)
    lines = [line for path in sorted(tmp_path.glob("*.jsonl")) for line in path.read_bytes().splitlines()]
    assert len(lines) == 3 and len(list(tmp_path.glob("*.jsonl"))) == 2  # a full segment, then the rest at close
    events = parse_lines(lines)
    assert events.status.tolist() == ["ok"] * 3 and events.line.tolist() == [0, 1, 2]
    endpoints = [events.endpoints[code] for code in events.endpoint]
    assert [(e.project, e.model, e.version) for e in endpoints] == [("fraud", "xgb", "v3")] * 3
    assert events.predictions.tolist() == [2, 0, 1] and events.is_error.tolist() == [False, True, False]
    assert events.latency_us.tolist() == [1840, 0, 2_500_000]
    assert events.time_ms.tolist() == [int(when.timestamp() * 1000)] * 3
    assert (events.metric_event.tolist(), events.metric_name.tolist(), events.metric_value.tolist()) == \
        ([0], ["confidence"], [0.9])


def test_a_kafka_sink_without_the_client_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "kafka", None)  # as when modelmon[kafka] is not installed
    with pytest.raises(ValueError, match=re.escape("pip install 'modelmon[kafka]'")):
        Tracker("kafka://127.0.0.1:9/predictions", function_uri="fraud/serving", model="xgb")


def _totals(outputs: list[BatchOutput]) -> dict:
    """What batching must not change: counts per endpoint, feature values per endpoint and
    window, dead letters, sampled rows."""
    counts: Counter = Counter()
    for output in outputs:
        for s in output.slices:
            counts[s.endpoint_id, "requests"] += s.requests
            counts[s.endpoint_id, "predictions"] += s.predictions
            counts[s.endpoint_id, "errors"] += s.errors
        for _, endpoint_id, window_start, data in output.partials:
            counts[endpoint_id, window_start] += int(FeatureSummary.from_bytes(data).count.sum())
    return {"counts": counts, "latest": max(output.time_ms for output in outputs),
            "dead letters": sorted((d["reason"], d["raw"]) for output in outputs for d in output.dead_letters),
            "sampled rows": sorted(key for output in outputs for key in output.samples.column("row_key").to_pylist())}


def test_messages_parse_in_arrow_batches_as_they_would_in_one_batch(tmp_path):
    """Kafka's rows, one message and its events each, reach the pandas parser in Arrow batches
    of ``parse_batch_lines``; the topic's value format over a file gives the same rows here."""
    simulate(tmp_path / "spool", 2_500, endpoints=3, features=3, seed=7,
             start=datetime.now(timezone.utc) - timedelta(minutes=30))
    lines = [line for path in sorted((tmp_path / "spool").glob("*.jsonl")) for line in path.read_bytes().splitlines()]
    lines[100:100] = [b"not json", b"", b'{"function_uri": "x/y", "model": "m", "when": "yesterday"}']
    (tmp_path / "messages.raw").write_bytes(b"\n".join(lines))
    config = Config(parse_batch_lines=1_000)
    # As a worker process sees the store (the references' snapshot alone: none here), and the
    # sampled rows stay in the output (no direct inserts), so no store opens.
    references = JobReferences(StoreAccess(config.store, builder_pid=-1, functions_here=False), 60.0, {}, None)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    env.add_jars(reader_jar().as_uri())
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("python.fn-execution.arrow.batch.size", str(config.parse_batch_lines))
    t_env.get_config().set("python.executable", sys.executable)
    t_env.create_temporary_function("parse", udf(ParsePredictionMessages(config, None, references),
                                                 result_type=PARSED_BATCH_TYPE, func_type="pandas"))
    t_env.execute_sql(f"CREATE TEMPORARY TABLE messages (payload BYTES, events BYTES) WITH ("
                      f"'connector' = 'filesystem', 'path' = '{tmp_path / 'messages.raw'}', "
                      f"'format' = 'modelmon-events')")
    # A column for Kafka's partition (a literal would reach the pandas function as a scalar).
    query = "SELECT p.batch FROM (SELECT parse(payload, events, IF(payload IS NULL, 1, 0)) AS p FROM messages)"
    with t_env.execute_sql(query).collect() as rows:
        batches = [row[0] for row in rows]
    assert len(batches) == len(lines)  # one row out per message; the batch's output on its last row
    outputs = [pickle.loads(bytes(batch)) for batch in batches if batch is not None]
    assert len(outputs) >= 3  # 2,503 messages in batches of at most 1,000

    whole = parse_batch(lines, LatenessTracker(None, config.future_tolerance_seconds * 1000),
                        FeatureSettings(config.feature_window_seconds * 1000, {}.get, config.feature_sample_every),
                        EndpointCache(), job_slice_ms(config), config.dead_letter_max_chars)
    expected = _totals([whole])
    assert len(expected["dead letters"]) == 3 and sum(expected["counts"].values()) > 2_500
    assert _totals(outputs) == expected
