-- Keeps endpoint_drift_latest as drift_status rows are inserted.
CREATE MATERIALIZED VIEW IF NOT EXISTS endpoint_drift_latest_writer TO endpoint_drift_latest AS
SELECT project, endpoint_id, window_end, feature_names, tvd_sum, tvd_mean, hellinger_sum, hellinger_mean, kld_sum,
       kld_mean, psi_mean, jsd_mean, drift_measure, drift_status
FROM drift_status
