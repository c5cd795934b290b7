-- Dead letters: events that broke the contract (kind 'invalid') or arrived after the
-- watermark (kind 'late'). event_key = sha1(raw line) ':' position of the event in it, so a
-- replayed line lands on the same key; count distinct event_key to count events.
CREATE TABLE IF NOT EXISTS invalid_events
(
    kind        LowCardinality(String),
    project     LowCardinality(String),
    endpoint_id LowCardinality(String),
    event_key   String,
    event_time  Nullable(DateTime64(3, 'UTC')),
    reason      String,
    raw         String CODEC(ZSTD(3)),
    received_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toDate(received_at)
ORDER BY (kind, project, endpoint_id, event_key)
TTL toDateTime(received_at) + INTERVAL {retention_days} DAY
SETTINGS ttl_only_drop_parts = 1
