-- Per endpoint and slide-sized tumbling window: the source of the endpoint registry.
-- first/last request and counts include error events; the `endpoints` view sums them.
CREATE TABLE IF NOT EXISTS endpoint_activity
(
    project           LowCardinality(String),
    endpoint_id       LowCardinality(String),
    window_start      DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    first_request     DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    last_request      DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    requests_count    UInt64,
    predictions_count UInt64,
    error_count       UInt64,
    function_uri      LowCardinality(String),
    model             LowCardinality(String),
    version           LowCardinality(String),
    model_class       LowCardinality(String),
    labels            Map(LowCardinality(String), String),
    written_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toDate(window_start)
ORDER BY (project, endpoint_id, window_start)
TTL toDateTime(window_start) + INTERVAL {retention_days} DAY
SETTINGS ttl_only_drop_parts = 1
