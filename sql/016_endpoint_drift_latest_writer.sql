-- Keeps endpoint_drift_latest as drift_status rows are inserted.
CREATE MATERIALIZED VIEW IF NOT EXISTS endpoint_drift_latest_writer TO endpoint_drift_latest AS
SELECT project, endpoint_id, drift_status, drift_measure, window_end AS drift_window_end, feature_names
FROM drift_status
