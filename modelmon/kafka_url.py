"""``kafka://host:9092[,host2:9092]/topic?name=value&...``: the one address format of a Kafka
topic, read by the job's source and by the tracker's sink."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlparse


@dataclass(frozen=True)
class KafkaUrl:
    bootstrap_servers: str  # comma-separated host:port
    topic: str
    parameters: dict[str, str]


def is_kafka(target: str) -> bool:
    return target.startswith("kafka://")


def parse_kafka_url(url: str) -> KafkaUrl:
    """
    >>> parse_kafka_url("kafka://k1:9092,k2:9092/predictions?group=m")
    KafkaUrl(bootstrap_servers='k1:9092,k2:9092', topic='predictions', parameters={'group': 'm'})
    """
    parsed = urlparse(url)
    topic = parsed.path.strip("/")
    if not is_kafka(url) or not parsed.netloc or not topic or "/" in topic:
        raise ValueError(f"Kafka address {url!r} must look like kafka://host:9092/topic")
    return KafkaUrl(parsed.netloc, topic, dict(parse_qsl(parsed.query, keep_blank_values=True)))
