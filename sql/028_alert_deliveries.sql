-- The delivery of each activation to its rule's notify targets, written by the notifier:
-- notified_at (wall-clock time of the first delivery that reached every target), the attempts
-- made (deliveries) and the last failure (last_error, '' when none). One row per attempt; the
-- newest (attempted_at) wins, read with FINAL. An activation without a row here is not
-- delivered yet (the outbox).
CREATE TABLE IF NOT EXISTS alert_deliveries
(
    activation_id String,
    notified_at   Nullable(DateTime64(3, 'UTC')),
    deliveries    UInt32,
    last_error    String,
    attempted_at  DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(attempted_at)
ORDER BY activation_id
