"""Delivery of alert activations to their rules' notify targets (DESIGN.md "Alerts").

The job stores an activation first; this outbox delivers it after, from the store, so a slow
or dead receiver never holds up the job's windows. Delivery is at least once: an activation
is sent until every target of its rule took it, with its id on every attempt (the webhook's
``Idempotency-Key``, the Kafka message key), at most :data:`MAX_ATTEMPTS` times with
exponential backoff; each attempt is recorded in ``alert_deliveries`` (``notified_at``,
``deliveries``, ``last_error``).
"""

from __future__ import annotations

import json
import logging
import smtplib
import threading
import time
import urllib.request
from datetime import datetime, timezone
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

from clickhouse_connect.driver.client import Client

from modelmon import alert_rules, store
from modelmon.kafka_url import parse_kafka_url
from modelmon.udfs.alerts import AlertRule, parse_target

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
TIMEOUT_SECONDS = 10.0
DRAIN_SECONDS = 30.0  # how long a bounded run waits, once its job is done, for its activations' delivery
STOP_DRAIN_SECONDS = 5.0  # the same for a continuous run that was stopped


def backoff_seconds(attempts: int) -> float:
    """The wait after ``attempts`` failed attempts before the next.

    >>> [backoff_seconds(n) for n in (1, 2, 3, 8)]
    [1.0, 2.0, 4.0, 60.0]
    """
    return min(FIRST_BACKOFF_SECONDS * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.replace(tzinfo=timezone.utc).isoformat()


def message(activation: dict[str, Any]) -> dict[str, Any]:
    """What every target receives: the activation's fields, times in ISO 8601, and a ``summary``.

    >>> m = message({"activation_id": "a1", "rule": "drift", "project": "p", "endpoint_id": "e", "kind": "drift_detected",
    ...              "severity": "high", "value": 0.91, "threshold": None, "opened_at": datetime(2026, 1, 1), "closed_at": None})
    >>> m["summary"]
    '[high] drift: drift_detected on endpoint e of project p, value 0.91, since 2026-01-01T00:00:00+00:00 (activation a1)'
    """
    fields = {key: _iso(value) if key.endswith("_at") else value for key, value in activation.items()
              if key in alert_rules.ACTIVATION_COLUMNS}
    value = "" if fields["value"] is None else f", value {fields['value']:g}"
    threshold = "" if fields["threshold"] is None else f" (threshold {fields['threshold']:g})"
    closed = f", closed {fields['closed_at']}" if fields["closed_at"] else ""
    fields["summary"] = (f"[{fields['severity']}] {fields['rule']}: {fields['kind']} on endpoint {fields['endpoint_id']} "
                         f"of project {fields['project']}{value}{threshold}, since {fields['opened_at']}{closed} "
                         f"(activation {fields['activation_id']})")
    return fields


def send(target_text: str, body: dict[str, Any]) -> None:
    """Deliver ``body`` to one target; raises when the target did not take it."""
    target = parse_target(target_text)
    if target.scheme in ("webhook", "slack"):
        data = body if target.scheme == "webhook" else {"text": body["summary"]}
        request = urllib.request.Request(target.url, json.dumps(data).encode(), method="POST", headers={
            "Content-Type": "application/json", "Idempotency-Key": body["activation_id"]})
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            if not 200 <= response.status < 300:
                raise OSError(f"HTTP {response.status}")
    elif target.scheme == "kafka":
        from kafka import KafkaProducer

        address = parse_kafka_url(target.url)
        producer = KafkaProducer(bootstrap_servers=address.bootstrap_servers.split(","),
                                 request_timeout_ms=int(TIMEOUT_SECONDS * 1000))
        try:
            producer.send(address.topic, key=body["activation_id"].encode(),
                          value=json.dumps(body).encode()).get(timeout=TIMEOUT_SECONDS)
        finally:
            producer.close(timeout=TIMEOUT_SECONDS)
    else:
        parts = urlsplit(target.url)
        query = parse_qs(parts.query)
        mail = EmailMessage()
        mail["From"], mail["To"] = query["from"][0], ", ".join(query["to"])
        mail["Subject"] = f"modelmon alert: {body['rule']} ({body['severity']})"
        mail["Message-ID"] = f"<{body['activation_id']}@modelmon>"
        mail.set_content(body["summary"] + "\n\n" + json.dumps(body, indent=2))
        with smtplib.SMTP(parts.hostname, parts.port, timeout=TIMEOUT_SECONDS) as server:
            server.send_message(mail)


def undelivered(client: Client, max_attempts: int = MAX_ATTEMPTS) -> list[dict[str, Any]]:
    """Activations not delivered yet that have attempts left, oldest first."""
    result = client.query(f"""
        SELECT {', '.join(f'a.{c} AS {c}' for c in alert_rules.ACTIVATION_COLUMNS)},
               ifNull(d.deliveries, 0) AS deliveries, d.attempted_at AS attempted_at
        FROM alert_activations AS a FINAL
        LEFT JOIN (SELECT activation_id, notified_at, toNullable(deliveries) AS deliveries,
                          toNullable(attempted_at) AS attempted_at FROM alert_deliveries FINAL) AS d
            ON d.activation_id = a.activation_id
        WHERE d.notified_at IS NULL AND ifNull(d.deliveries, 0) < {{attempts:UInt32}}
        ORDER BY a.opened_at, a.activation_id""", parameters={"attempts": max_attempts})
    return [dict(zip(result.column_names, row)) for row in result.result_rows]


def due(client: Client, max_attempts: int = MAX_ATTEMPTS) -> list[dict[str, Any]]:
    """Activations not delivered yet whose backoff has passed, oldest first."""
    now = time.time()
    return [row for row in undelivered(client, max_attempts) if row["attempted_at"] is None or
            row["attempted_at"].replace(tzinfo=timezone.utc).timestamp() + backoff_seconds(row["deliveries"]) <= now]


class Notifier:
    """The outbox of one store: :meth:`deliver_due` makes one pass; :meth:`run` passes every
    ``interval`` seconds until stopped (a thread of a local run, or ``modelmon notify``)."""

    def __init__(self, dsn: str, max_attempts: int = MAX_ATTEMPTS):
        self.dsn = dsn
        self.max_attempts = max_attempts
        self.passing = threading.Lock()  # one pass at a time: two would both send what is due
        # One client kept between passes (a pass each second): connecting each time costs
        # 15 ms, and 80 ms while no other client holds an embedded store's engine open.
        self.client: Client | None = None

    def _connection(self) -> Client:
        if self.client is None:
            self.client = store.connect(self.dsn)
        return self.client

    def close(self) -> None:
        with self.passing:
            store.close_quietly(self.client)
            self.client = None

    def deliver_due(self, stop: threading.Event | None = None) -> int:
        """Deliver what is due (until ``stop`` is set); returns how many activations reached all
        their targets."""
        with self.passing:
            return self._pass(stop)

    def _pass(self, stop: threading.Event | None) -> int:
        client = self._connection()
        try:
            pending = due(client, self.max_attempts)
            if not pending:
                return 0
            rules = {(r.project, r.name): r for r in alert_rules.list_rules(client)}
            delivered = 0
            for activation in pending:
                if stop is not None and stop.is_set():
                    break
                delivered += self._deliver(client, activation, rules.get((activation["project"], activation["rule"])))
            return delivered
        except store.UNAVAILABLE:
            store.close_quietly(self.client)  # it may be broken: the next pass connects again
            self.client = None
            raise

    def _deliver(self, client: Client, activation: dict[str, Any], rule: AlertRule | None) -> bool:
        body = message(activation)
        errors = []
        for target in rule.notify if rule is not None else ():
            try:
                send(target, body)
            except Exception as error:  # noqa: BLE001 - any failure of a target is recorded, and retried
                errors.append(f"{target.split('?')[0]}: {type(error).__name__}: {error}"[:500])
        attempts = activation["deliveries"] + 1
        if rule is None:
            errors = []  # removed before delivery: nothing to send it to
            log.warning("alert activation %s: its rule %s was removed; not delivered", body["activation_id"],
                        body["rule"])
        notified = None if errors else datetime.now(timezone.utc)
        store.insert(client, "alert_deliveries", ["activation_id", "notified_at", "deliveries", "last_error"],
                     [[body["activation_id"], notified, attempts, "; ".join(errors)]])
        if errors:
            log.warning("alert activation %s, attempt %d of %d: %s", body["activation_id"], attempts,
                        self.max_attempts, "; ".join(errors))
        else:
            log.info("alert activation %s delivered: %s", body["activation_id"], body["summary"])
        return not errors

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        try:
            while not stop.is_set():
                try:
                    self.deliver_due(stop)
                except store.UNAVAILABLE as error:
                    log.warning("alert delivery: store unavailable (%s); trying again", str(error)[:300])
                stop.wait(interval)
        finally:
            self.close()

    def drain(self, seconds: float = DRAIN_SECONDS) -> int:
        """Deliver until nothing is left to try (every activation delivered or out of attempts)
        or ``seconds`` have passed; returns how many are left undelivered."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.deliver_due()
                with self.passing:
                    left = len(undelivered(self._connection(), self.max_attempts))
                if not left or time.monotonic() >= deadline:
                    return left
                time.sleep(min(1.0, max(deadline - time.monotonic(), 0)))
        finally:
            self.close()

