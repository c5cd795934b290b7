-- Each endpoint's newest drift_status row, filled from drift_status by a materialized view
-- (ReplacingMergeTree on drift_window_end keeps the newest; read it with FINAL), so the
-- registry finds an endpoint's drift without reading the drift history.
CREATE TABLE IF NOT EXISTS endpoint_drift_latest
(
    project          LowCardinality(String),
    endpoint_id      String,
    drift_status     LowCardinality(String),
    drift_measure    Nullable(Float64),
    drift_window_end DateTime64(3, 'UTC'),
    feature_names    Array(String)
)
ENGINE = ReplacingMergeTree(drift_window_end)
ORDER BY (project, endpoint_id)
