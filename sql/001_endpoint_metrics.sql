-- Operational metrics per endpoint and event-time HOP window (window_size '5m' | '1h').
-- One row per (endpoint, window); a replay rewrites the same key, so read with FINAL.
CREATE TABLE IF NOT EXISTS endpoint_metrics
(
    project                LowCardinality(String),
    endpoint_id            LowCardinality(String),
    window_size            LowCardinality(String),
    window_start           DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    window_end             DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    requests_count         UInt64,
    predictions_count      UInt64,
    predictions_per_second Float64,
    error_count            UInt64,
    latency_avg            Nullable(Float64),
    latency_p50            Nullable(Float64),
    latency_p95            Nullable(Float64),
    latency_p99            Nullable(Float64),
    latency_max            Nullable(Float64),
    written_at             DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toDate(window_start)
ORDER BY (project, endpoint_id, window_size, window_start)
TTL toDateTime(window_start) + INTERVAL {retention_days} DAY
SETTINGS ttl_only_drop_parts = 1
