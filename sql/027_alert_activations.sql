-- Alert activations as the job opens and closes them: one per rule, endpoint and breach that
-- opened it. activation_id = sha1 of the rule's name, the endpoint and the event time (epoch
-- ms) of the evaluation that opened it, so a replay or a restore writes the same id again.
-- opened_at / closed_at are event time (closed_at NULL while open; `modelmon alert resolve`
-- closes a manual one at the wall-clock time it is run). A close writes the row again: the
-- newest (written_at) wins, read with FINAL. Delivery is recorded apart, in alert_deliveries,
-- so that the job's rows and the notifier's never overwrite each other.
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
    written_at    DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(written_at)
ORDER BY (project, endpoint_id, activation_id)
