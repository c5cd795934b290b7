-- Each endpoint's newest drift_status row, filled from drift_status by a materialized view
-- (ReplacingMergeTree on window_end keeps the newest; read it with FINAL), so the registry
-- and the overview's latest values find an endpoint's drift without reading its history.
CREATE TABLE IF NOT EXISTS endpoint_drift_latest
(
    project        LowCardinality(String),
    endpoint_id    String,
    window_end     DateTime64(3, 'UTC'),
    feature_names  Array(String),
    tvd_sum        Nullable(Float64),
    tvd_mean       Nullable(Float64),
    hellinger_sum  Nullable(Float64),
    hellinger_mean Nullable(Float64),
    kld_sum        Nullable(Float64),
    kld_mean       Nullable(Float64),
    psi_mean       Nullable(Float64),
    jsd_mean       Nullable(Float64),
    drift_measure  Nullable(Float64),
    drift_status   LowCardinality(String)
)
ENGINE = ReplacingMergeTree(window_end)
ORDER BY (project, endpoint_id)
