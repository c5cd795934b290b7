-- Live feature histograms per endpoint, feature and event-time tumbling window (base window,
-- default 5 minutes). bin_counts holds the reference's N bins plus underflow (first) and
-- overflow (last); it is empty when the endpoint had no reference (reference_id 0). Summing
-- bin_counts over windows of one reference_id gives the histogram of any time range.
-- count = valid values, invalid_count = NaN/non-numeric/missing; std is the population std.
CREATE TABLE IF NOT EXISTS feature_histograms
(
    project       LowCardinality(String),
    endpoint_id   LowCardinality(String),
    feature_name  LowCardinality(String),
    feature_index UInt32,
    reference_id  UInt64,
    window_start  DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    window_end    DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    count         UInt64,
    invalid_count UInt64,
    mean          Nullable(Float64),
    std           Nullable(Float64),
    min           Nullable(Float64),
    max           Nullable(Float64),
    bin_counts    Array(UInt64),
    written_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toDate(window_start)
ORDER BY (project, endpoint_id, feature_name, reference_id, window_start)
TTL toDateTime(window_start) + INTERVAL {retention_days} DAY
SETTINGS ttl_only_drop_parts = 1
