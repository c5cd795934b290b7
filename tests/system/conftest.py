"""The system layer's Kafka broker: one real KRaft node for the session, on free loopback ports."""

from __future__ import annotations

import logging

import pytest

from tests.support.kafka_broker import KafkaBroker

log = logging.getLogger(__name__)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory) -> KafkaBroker:
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"))
    seconds = broker.start()
    log.info("Kafka broker on %s ready in %.1f s", broker.bootstrap, seconds)
    yield broker
    broker.stop()
