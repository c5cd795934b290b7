-- Per endpoint drift over the trailing range ending at window_end: sums and means of the
-- feature measures over the features with live data, drift_measure = (tvd_mean +
-- hellinger_mean) / 2, and drift_status: NO_DRIFT, POSSIBLE_DRIFT, DRIFT_DETECTED, NO_DATA
-- (no valid live value in range) or NO_REFERENCE (no training set registered; measures NULL).
-- feature_names: the reference's, else f0..fK-1 for the widest rows seen in range.
CREATE TABLE IF NOT EXISTS drift_status
(
    project            LowCardinality(String),
    endpoint_id        LowCardinality(String),
    reference_id       UInt64,
    window_start       DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    window_end         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    feature_names      Array(String),
    features_count     UInt32,
    tvd_sum            Nullable(Float64),
    tvd_mean           Nullable(Float64),
    hellinger_sum      Nullable(Float64),
    hellinger_mean     Nullable(Float64),
    kld_sum            Nullable(Float64),
    kld_mean           Nullable(Float64),
    psi_mean           Nullable(Float64),
    jsd_mean           Nullable(Float64),
    drift_measure      Nullable(Float64),
    drift_status       LowCardinality(String),
    possible_threshold Nullable(Float64),
    detected_threshold Nullable(Float64),
    written_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toDate(window_end)
ORDER BY (project, endpoint_id, window_end)
TTL toDateTime(window_end) + INTERVAL {retention_days} DAY
SETTINGS ttl_only_drop_parts = 1
