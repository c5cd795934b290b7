-- Each endpoint's newest 5m and 1h window of endpoint_metrics, filled by a materialized view
-- (ReplacingMergeTree on window_end keeps the newest; read it with FINAL), so the overview's
-- latest values cost the same however much history the store keeps.
CREATE TABLE IF NOT EXISTS endpoint_metrics_latest
(
    project                LowCardinality(String),
    endpoint_id            String,
    window_size            LowCardinality(String),
    window_start           DateTime64(3, 'UTC'),
    window_end             DateTime64(3, 'UTC'),
    requests_count         UInt64,
    predictions_count      UInt64,
    predictions_per_second Float64,
    error_count            UInt64,
    latency_avg            Nullable(Float64),
    latency_p50            Nullable(Float64),
    latency_p95            Nullable(Float64),
    latency_p99            Nullable(Float64),
    latency_max            Nullable(Float64)
)
ENGINE = ReplacingMergeTree(window_end)
ORDER BY (project, endpoint_id, window_size)
