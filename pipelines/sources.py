"""The job's source, declared in SQL: a spool directory (embedded default) or a Kafka topic.

Both give a table ``prediction_lines (payload BYTES, events BYTES)``: the raw bytes, and beside
them their events read into columns by the Java reader (:mod:`modelmon.pipelines.reader_jar`,
:mod:`modelmon.udfs.java_events`); Kafka adds each message's partition. From a spool directory
a row is a block of whole lines (the ``modelmon-line-blocks`` format), from Kafka one message
(the ``modelmon-events`` format, the topic's ``value.format``). Everything after the source is
the same job.
"""

from __future__ import annotations

from modelmon.config import Config
from modelmon.kafka_url import is_kafka, parse_kafka_url
from modelmon.pipelines.reader_jar import EVENTS_FORMAT, LINE_BLOCKS_FORMAT

_STARTUP_MODES = {"earliest": "earliest-offset", "latest": "latest-offset", "group-offsets": "group-offsets"}
DEFAULT_GROUP = "modelmon"


def kafka_options(source: str, bounded: bool) -> dict[str, str]:
    """The Kafka SQL connector's options for ``kafka://host:9092[,host2:9092]/topic?...``.

    Query parameters: ``group`` (default ``modelmon``), ``startup`` (earliest, latest or
    group-offsets; default group-offsets, starting from the earliest offset when the group
    has none yet), and any ``properties.*`` Kafka client property (security settings).
    Bounded runs read up to the offsets that are latest when the job starts.

    >>> kafka_options("kafka://kafka:9092/predictions?startup=earliest", bounded=False)["scan.startup.mode"]
    'earliest-offset'
    """
    url = parse_kafka_url(source)
    query = dict(url.parameters)
    startup = query.pop("startup", "group-offsets")
    if startup not in _STARTUP_MODES:
        raise ValueError(f"Kafka source: startup={startup!r} must be one of {', '.join(_STARTUP_MODES)}")
    options = {
        "connector": "kafka", "topic": url.topic, "properties.bootstrap.servers": url.bootstrap_servers,
        "properties.group.id": query.pop("group", DEFAULT_GROUP), "scan.startup.mode": _STARTUP_MODES[startup],
        "format": EVENTS_FORMAT,
    }
    if startup == "group-offsets":
        options["properties.auto.offset.reset"] = "earliest"
    if bounded:
        options["scan.bounded.mode"] = "latest-offset"
    unknown = [name for name in query if not name.startswith("properties.")]
    if unknown:
        raise ValueError(f"Kafka source: unknown parameter(s) {', '.join(unknown)}; "
                         "use group, startup or properties.<kafka client property>")
    options.update(query)
    return options


def spool_options(config: Config, bounded: bool) -> dict[str, str]:
    """The spool directory in blocks of up to ``parse_batch_lines`` lines; continuous runs
    watch it for new files."""
    options = {"connector": "filesystem", "path": config.source, "format": LINE_BLOCKS_FORMAT,
               f"{LINE_BLOCKS_FORMAT}.max-lines": str(config.parse_batch_lines)}
    if not bounded:
        options["source.monitor-interval"] = f"{round(config.monitor_interval_seconds * 1000)}ms"
    return options


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def payloads_are_blocks(config: Config) -> bool:
    """Whether each payload holds many lines (spool) rather than one message (Kafka)."""
    return not is_kafka(config.source)


def source_columns(config: Config) -> list[str]:
    """The columns of ``prediction_lines`` the parse takes: the bytes and their events, and from
    Kafka each message's partition, by which lateness is judged (per-partition watermarks).

    >>> source_columns(Config(source="kafka://k:9092/p")), source_columns(Config(source="/spool"))
    (['payload', 'events', 'source_partition'], ['payload', 'events'])
    """
    return ["payload", "events", "source_partition"] if is_kafka(config.source) else ["payload", "events"]


def source_ddl(config: Config, bounded: bool) -> str:
    """``prediction_lines (payload BYTES, events BYTES[, source_partition INT])`` over the configured source."""
    columns = "payload BYTES, events BYTES"
    if is_kafka(config.source):
        options = kafka_options(config.source, bounded)
        columns += ", source_partition INT METADATA FROM 'partition' VIRTUAL"
    else:
        options = spool_options(config, bounded)
    with_clause = ", ".join(f"{_quote(k)} = {_quote(v)}" for k, v in options.items())
    return f"CREATE TEMPORARY TABLE prediction_lines ({columns}) WITH ({with_clause})"
