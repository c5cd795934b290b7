-- Alert activations: one per rule, endpoint and breach that opened it. activation_id = sha1
-- of the rule's name, the endpoint and the event time (epoch ms) of the evaluation that
-- opened it, so a replay or a restore writes the same id again. opened_at / closed_at are
-- event time (closed_at NULL while open; `modelmon alert resolve` closes a manual one);
-- notified_at, deliveries and last_error record the delivery to the rule's targets. Every
-- change writes the whole row again: the newest (updated_at) wins, read with FINAL.
CREATE TABLE IF NOT EXISTS alert_activations
(
    project       LowCardinality(String),
    endpoint_id   String,
    activation_id String,
    rule          String,
    kind          LowCardinality(String),
    severity      LowCardinality(String),
    value         Nullable(Float64),
    threshold     Nullable(Float64),
    opened_at     DateTime64(3, 'UTC'),
    closed_at     Nullable(DateTime64(3, 'UTC')),
    notified_at   Nullable(DateTime64(3, 'UTC')),
    deliveries    UInt32 DEFAULT 0,
    last_error    String DEFAULT '',
    updated_at    DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (project, endpoint_id, activation_id)
