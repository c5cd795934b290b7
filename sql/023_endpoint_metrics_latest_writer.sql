-- Keeps endpoint_metrics_latest as endpoint_metrics rows are inserted.
CREATE MATERIALIZED VIEW IF NOT EXISTS endpoint_metrics_latest_writer TO endpoint_metrics_latest AS
SELECT project, endpoint_id, window_size, window_start, window_end, requests_count, predictions_count,
       predictions_per_second, error_count, latency_avg, latency_p50, latency_p95, latency_p99, latency_max
FROM endpoint_metrics
