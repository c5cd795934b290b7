-- A sample of incoming feature rows (default 1 in 10 per endpoint) for time-series plots.
-- The sample is chosen by a hash of the line, so a replay samples the same rows; row_key =
-- sha1(raw line) ':' row number among the rows of the line's successful events. Invalid
-- values are NULL.
CREATE TABLE IF NOT EXISTS incoming_features
(
    project     LowCardinality(String),
    endpoint_id LowCardinality(String),
    event_time  DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    row_key     String,
    features    Map(LowCardinality(String), Nullable(Float64)),
    written_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toDate(event_time)
ORDER BY (project, endpoint_id, event_time, row_key)
TTL toDateTime(event_time) + INTERVAL {retention_days} DAY
SETTINGS ttl_only_drop_parts = 1
