-- The endpoint registry, version 3: version 2's columns (011), read from endpoint_registry,
-- endpoint_drift_latest and endpoint_dead_letters, which hold one row per endpoint (and
-- kind), so a read costs the same however much history the store keeps.
-- Query it like a table: SELECT * FROM endpoints.
CREATE OR REPLACE VIEW endpoints AS
SELECT
    r.project                                   AS project,
    r.endpoint_id                               AS endpoint_id,
    r.function_uri                              AS function_uri,
    r.model                                     AS model,
    r.version                                   AS version,
    r.model_class                               AS model_class,
    r.labels                                    AS labels,
    r.first_request                             AS first_request,
    r.last_request                              AS last_request,
    r.requests_count                            AS requests_count,
    r.predictions_count                         AS predictions_count,
    r.error_count                               AS error_count,
    d.invalid_count                             AS invalid_count,
    d.late_count                                AS late_count,
    CAST(s.drift_status AS Nullable(String))    AS drift_status,
    s.drift_measure                             AS drift_measure,
    s.drift_window_end                          AS drift_window_end,
    s.feature_names                             AS feature_names
FROM endpoint_registry AS r FINAL
LEFT JOIN
(
    SELECT project, endpoint_id,
           uniqExactMergeIf(events, kind = 'invalid') AS invalid_count,
           uniqExactMergeIf(events, kind = 'late')    AS late_count
    FROM endpoint_dead_letters
    GROUP BY project, endpoint_id
) AS d ON d.project = r.project AND d.endpoint_id = r.endpoint_id
LEFT JOIN
(
    SELECT project, endpoint_id, toNullable(drift_status) AS drift_status, drift_measure,
           toNullable(window_end) AS drift_window_end, feature_names
    FROM endpoint_drift_latest FINAL
) AS s ON s.project = r.project AND s.endpoint_id = r.endpoint_id
