-- A store upgraded to version 3 of the registry: the newest drift of the history it holds.
INSERT INTO endpoint_drift_latest (project, endpoint_id, window_end, feature_names, tvd_sum, tvd_mean, hellinger_sum,
                                   hellinger_mean, kld_sum, kld_mean, psi_mean, jsd_mean, drift_measure, drift_status)
SELECT project, endpoint_id, window_end, feature_names, tvd_sum, tvd_mean, hellinger_sum, hellinger_mean, kld_sum,
       kld_mean, psi_mean, jsd_mean, drift_measure, drift_status
FROM drift_status FINAL
ORDER BY project, endpoint_id, window_end DESC
LIMIT 1 BY project, endpoint_id
