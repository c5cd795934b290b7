"""The client for model servers: one MLRun-format event per prediction, to the job's source.

    from modelmon.tracker import Tracker

    tracker = Tracker("kafka://kafka:9092/predictions", function_uri="fraud/serving:prod",
                      model="xgb:v3", model_class="XGBClassifier")
    tracker.track(inputs=[[0.2, 1.5]], outputs=[1], latency_us=1840)
    tracker.close()

The sink is a Kafka topic (``pip install 'modelmon[kafka]'``; a message's key is its endpoint
id, so the events of one endpoint stay in order within one partition) or a spool directory
(segments written atomically). ``properties.<name>`` query parameters of a Kafka URL are passed to the
producer with dots as underscores (``properties.security.protocol=SSL`` -> ``security_protocol``).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from modelmon.kafka_url import is_kafka, parse_kafka_url
from modelmon.udfs.contract import parse_endpoint


def format_when(moment: datetime) -> str:
    """MLRun's time format.

    >>> format_when(datetime(2026, 1, 1, tzinfo=timezone.utc))
    '2026-01-01 00:00:00.000000+00:00'
    """
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f+00:00")


def write_segment(spool: Path, lines: Iterable[dict | str], sequence: int) -> Path:
    """Write one segment atomically: a hidden temporary file renamed into the spool, so the
    job's file source (which skips names starting with '.') never reads half a segment."""
    spool.mkdir(parents=True, exist_ok=True)
    final = spool / f"segment-{sequence:08d}-{uuid.uuid4().hex[:8]}.jsonl"
    temporary = spool / f".{final.name}.tmp"
    with open(temporary, "w") as handle:
        for line in lines:
            handle.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    os.replace(temporary, final)
    return final


class SpoolSink:
    """Lines buffered into segments of ``segment_lines``, each renamed into the spool when complete."""

    def __init__(self, spool: Path, segment_lines: int):
        self.spool = spool
        self.segment_lines = segment_lines
        self.lines: list[str] = []
        self.segments = 0

    def send(self, key: str, line: str) -> None:
        self.lines.append(line)
        if len(self.lines) >= self.segment_lines:
            self.flush()

    def flush(self) -> None:
        if self.lines:
            write_segment(self.spool, self.lines, self.segments)
            self.segments += 1
            self.lines = []

    def close(self) -> None:
        self.flush()


class KafkaSink:
    """A kafka-python producer on the topic of a ``kafka://host:9092/topic`` URL."""

    def __init__(self, url: str):
        try:
            from kafka import KafkaProducer
        except ImportError:
            raise ValueError("a kafka:// sink needs the Kafka client: pip install 'modelmon[kafka]'") from None
        address = parse_kafka_url(url)
        self.topic = address.topic
        properties = {name.removeprefix("properties.").replace(".", "_"): value
                      for name, value in address.parameters.items() if name.startswith("properties.")}
        self.producer = KafkaProducer(bootstrap_servers=address.bootstrap_servers.split(","), linger_ms=50,
                                      **properties)

    def send(self, key: str, line: str) -> None:
        self.producer.send(self.topic, key=key.encode(), value=line.encode())

    def flush(self) -> None:
        self.producer.flush()

    def close(self) -> None:
        self.producer.close()


def open_sink(target: str, segment_lines: int = 1000) -> SpoolSink | KafkaSink:
    """``kafka://...`` or a spool directory."""
    return KafkaSink(target) if is_kafka(target) else SpoolSink(Path(target), segment_lines)


class Tracker:
    """Sends one event per prediction (or batch of rows) of one model endpoint."""

    def __init__(self, sink: str, function_uri: str, model: str, model_class: str = "",
                 labels: dict[str, str] | None = None, host: str = "", segment_lines: int = 1000):
        name, _, version = model.partition(":")
        self.base = {"function_uri": function_uri, "model": name, "version": version, "class": model_class,
                     "labels": labels or {}, "host": host}
        self.key = parse_endpoint(self.base).endpoint_id
        self.sink = open_sink(sink, segment_lines)

    def track(self, inputs: Sequence[Sequence[Any]], outputs: Sequence[Any] | None = None,
              latency_us: int | None = None, when: datetime | None = None, error: str | None = None,
              metrics: dict[str, float] | None = None, request_id: str | None = None) -> None:
        """A prediction (``outputs`` and ``latency_us``) or a failed one (``error``)."""
        request_id = request_id or str(uuid.uuid4())
        event = dict(self.base, when=format_when(when or datetime.now(timezone.utc)),
                     request={"id": request_id, "inputs": [list(row) for row in inputs]})
        if error is not None:
            event["error"] = error
        else:
            event.update(resp={"id": request_id, "outputs": list(outputs or [])}, microsec=latency_us)
        if metrics:
            event["metrics"] = metrics
        self.send_line(event)

    def send_line(self, line: dict) -> None:
        """An already formed event line (the simulator's, or a batch with headers/values)."""
        self.sink.send(self.key, json.dumps(line))

    def flush(self) -> None:
        self.sink.flush()

    def close(self) -> None:
        self.sink.close()

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
