-- A store upgraded to version 3 of the registry: the newest windows of the history it holds.
INSERT INTO endpoint_metrics_latest (project, endpoint_id, window_size, window_start, window_end, requests_count,
                                     predictions_count, predictions_per_second, error_count, latency_avg, latency_p50,
                                     latency_p95, latency_p99, latency_max)
SELECT project, endpoint_id, window_size, window_start, window_end, requests_count, predictions_count,
       predictions_per_second, error_count, latency_avg, latency_p50, latency_p95, latency_p99, latency_max
FROM endpoint_metrics FINAL
ORDER BY project, endpoint_id, window_size, window_end DESC
LIMIT 1 BY project, endpoint_id, window_size
