"""The alert outbox delivering to real receivers on loopback: an HTTP server (webhook, Slack)
and an SMTP server (aiosmtpd), from a real embedded store."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest
from aiosmtpd.controller import Controller

from modelmon import alert_rules, store
from modelmon.notifier import Notifier, backoff_seconds
from modelmon.udfs.alerts import make_rule
from tests.support.loopback import free_port
from tests.support.receivers import WebhookReceiver

ENDPOINT = "e" * 40
OPENED = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def open_store_with(tmp_path, notify: list[str], activations: int = 1) -> str:
    dsn = f"chdb://{tmp_path / 'store'}"
    client = store.open_store(dsn)
    try:
        alert_rules.save_rule(client, make_rule({"name": "drift", "project": "p", "kind": "drift_detected",
                                                 "severity": "high", "notify": notify}))
        store.insert(client, "alert_activations", alert_rules.ACTIVATION_COLUMNS, [
            [f"a{i}", "drift", "p", ENDPOINT, "drift_detected", "high", 0.9, None, OPENED, None]
            for i in range(activations)])
    finally:
        client.close()
    return dsn


def delivery(dsn: str, activation_id: str = "a0") -> dict:
    client = store.connect(dsn)
    try:
        [found] = alert_rules.list_activations(client, activation_id=activation_id)
        return found
    finally:
        client.close()


def test_a_receiver_that_is_down_gets_the_activation_after_backoff_once_it_is_back(tmp_path, receiver):
    dsn = open_store_with(tmp_path, [f"webhook:{receiver.url}/hook"])
    notifier = Notifier(dsn)
    receiver.status = 503
    assert notifier.deliver_due() == 0
    assert (delivery(dsn)["deliveries"], receiver.refused) == (1, 1)
    assert "HTTP Error 503" in delivery(dsn)["last_error"] and delivery(dsn)["notified_at"] is None
    assert notifier.deliver_due() == 0 and receiver.refused == 1  # within the backoff: no attempt
    time.sleep(backoff_seconds(1) + 0.2)
    assert notifier.deliver_due() == 0 and receiver.refused == 2
    receiver.status = 200
    time.sleep(backoff_seconds(2) + 0.2)
    assert notifier.deliver_due() == 1
    done = delivery(dsn)
    assert (done["deliveries"], done["last_error"]) == (3, "") and done["notified_at"] is not None
    [received] = receiver.received
    assert received.headers["Idempotency-Key"] == "a0" and received.body["activation_id"] == "a0"
    assert received.body["summary"].startswith("[high] drift: drift_detected on endpoint " + ENDPOINT)
    assert notifier.deliver_due() == 0 and len(receiver.received) == 1  # delivered: never again
    notifier.close()


def test_attempts_stop_at_the_limit(tmp_path):
    dsn = open_store_with(tmp_path, [f"webhook:http://127.0.0.1:{free_port()}/nobody"])
    notifier = Notifier(dsn, max_attempts=2)
    notifier.deliver_due()
    time.sleep(backoff_seconds(1) + 0.2)
    notifier.deliver_due()
    failed = delivery(dsn)
    assert failed["deliveries"] == 2 and "Connection refused" in failed["last_error"] and failed["notified_at"] is None
    assert notifier.drain(seconds=0) == 0  # out of attempts: nothing left to try


def test_slack_gets_the_summary_as_text(tmp_path, receiver):
    dsn = open_store_with(tmp_path, [f"slack:{receiver.url}/services/T/B/X"], activations=2)
    assert Notifier(dsn).drain(seconds=5) == 0
    assert [set(r.body) for r in receiver.received] == [{"text"}, {"text"}]
    assert sorted(r.body["text"].rsplit(" ", 1)[1] for r in receiver.received) == ["a0)", "a1)"]


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


def test_mail_goes_to_the_smtp_server_with_the_activation(tmp_path):
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        dsn = open_store_with(tmp_path, [f"smtp://127.0.0.1:{port}?from=alerts@modelmon.test&to=oncall@team.test"])
        assert Notifier(dsn).drain(seconds=5) == 0
    finally:
        controller.stop()
    [(sender, recipients, content)] = mailbox.messages
    assert (sender, recipients) == ("alerts@modelmon.test", ["oncall@team.test"])
    assert "Subject: modelmon alert: drift (high)" in content and "Message-ID: <a0@modelmon>" in content
    assert '"activation_id": "a0"' in content


def test_passes_at_the_same_time_send_each_activation_once(tmp_path, receiver):
    """The run's thread and the drain at the job's end may both pass over the outbox."""
    dsn = open_store_with(tmp_path, [f"webhook:{receiver.url}/hook"], activations=5)
    notifier = Notifier(dsn)
    passes = [threading.Thread(target=notifier.deliver_due) for _ in range(3)]
    for thread in passes:
        thread.start()
    for thread in passes:
        thread.join()
    notifier.close()
    assert sorted(r.body["activation_id"] for r in receiver.received) == [f"a{i}" for i in range(5)]
