"""Alert delivery to a Kafka topic target on the suite's real broker."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from modelmon import alert_rules, store
from modelmon.notifier import Notifier
from modelmon.udfs.alerts import make_rule


def test_an_activation_is_a_message_keyed_by_its_id(kafka_broker, tmp_path):
    from kafka import KafkaConsumer

    kafka_broker.create_topic("alerts", 1)
    dsn = f"chdb://{tmp_path / 'store'}"
    client = store.open_store(dsn)
    try:
        target = f"kafka://{kafka_broker.bootstrap}/alerts"
        alert_rules.save_rule(client, make_rule({"name": "p99", "project": "p", "kind": "latency_p99_above",
                                                 "threshold": 250_000, "notify": [target]}))
        store.insert(client, "alert_activations", alert_rules.ACTIVATION_COLUMNS, [[
            "a1", "p99", "p", "e" * 40, "latency_p99_above", "medium", 300_000.0, 250_000.0,
            datetime(2026, 12, 1, tzinfo=timezone.utc), None]])
    finally:
        client.close()
    assert Notifier(dsn).drain(seconds=30) == 0
    consumer = KafkaConsumer("alerts", bootstrap_servers=kafka_broker.bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=10_000, enable_auto_commit=False)
    try:
        messages = [(m.key.decode(), json.loads(m.value)) for m in consumer]
    finally:
        consumer.close()
    assert [(key, body["activation_id"], body["rule"], body["value"], body["threshold"]) for key, body in messages] == [
        ("a1", "a1", "p99", 300_000.0, 250_000.0)]
    assert messages[0][1]["opened_at"] == "2026-12-01T00:00:00+00:00"
