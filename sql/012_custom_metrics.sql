-- Custom metrics (the events' `metrics` object) per endpoint, metric and slide-sized tumbling
-- window of event time, from valid successful events. Sum and count recombine into any
-- coarser range: mean = sum(sum) / sum(values_count).
CREATE TABLE IF NOT EXISTS custom_metrics
(
    project      LowCardinality(String),
    endpoint_id  LowCardinality(String),
    metric_name  LowCardinality(String),
    window_start DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    window_end   DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    values_count UInt64,
    sum          Float64,
    mean         Float64,
    min          Float64,
    max          Float64,
    written_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toDate(window_start)
ORDER BY (project, endpoint_id, metric_name, window_start)
TTL toDateTime(window_start) + INTERVAL {retention_days} DAY
SETTINGS ttl_only_drop_parts = 1
