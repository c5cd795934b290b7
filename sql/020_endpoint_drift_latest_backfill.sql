-- A store upgraded to version 3 of the registry: the newest drift of the history it holds.
INSERT INTO endpoint_drift_latest (project, endpoint_id, drift_status, drift_measure, drift_window_end, feature_names)
SELECT project, endpoint_id, argMax(drift_status, window_end), argMax(drift_measure, window_end), max(window_end),
       argMax(feature_names, window_end)
FROM drift_status FINAL
GROUP BY project, endpoint_id
