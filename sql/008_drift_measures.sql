-- Per feature drift of the live histogram over [window_start, window_end) (the trailing
-- range, default 1 hour, ending when a base window closed) against the reference.
-- Measures are NULL when the range holds no valid value of the feature. drift_measure is
-- (tvd + hellinger) / 2 with the endpoint's thresholds giving drift_status; `exceeded` names
-- the measures at or above their own default thresholds (udfs/drift.py).
CREATE TABLE IF NOT EXISTS drift_measures
(
    project       LowCardinality(String),
    endpoint_id   LowCardinality(String),
    feature_name  LowCardinality(String),
    feature_index UInt32,
    reference_id  UInt64,
    window_start  DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    window_end    DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    live_count    UInt64,
    tvd           Nullable(Float64),
    hellinger     Nullable(Float64),
    kld           Nullable(Float64),
    psi           Nullable(Float64),
    jsd           Nullable(Float64),
    drift_measure Nullable(Float64),
    drift_status  LowCardinality(String),
    exceeded      Array(LowCardinality(String)),
    written_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toDate(window_end)
ORDER BY (project, endpoint_id, feature_name, window_end)
TTL toDateTime(window_end) + INTERVAL {retention_days} DAY
SETTINGS ttl_only_drop_parts = 1
