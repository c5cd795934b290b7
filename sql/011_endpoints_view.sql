-- The endpoint registry, version 2: version 1 (004) plus the latest drift status and the
-- endpoint's feature names (NULL status and empty names until its first drift run).
-- Query it like a table: SELECT * FROM endpoints.
CREATE OR REPLACE VIEW endpoints AS
SELECT
    a.project                                AS project,
    a.endpoint_id                            AS endpoint_id,
    argMax(a.function_uri, a.last_request)   AS function_uri,
    argMax(a.model, a.last_request)          AS model,
    argMax(a.version, a.last_request)        AS version,
    argMax(a.model_class, a.last_request)    AS model_class,
    argMax(a.labels, a.last_request)         AS labels,
    min(a.first_request)                     AS first_request,
    max(a.last_request)                      AS last_request,
    sum(a.requests_count)                    AS requests_count,
    sum(a.predictions_count)                 AS predictions_count,
    sum(a.error_count)                       AS error_count,
    any(d.invalid_count)                     AS invalid_count,
    any(d.late_count)                        AS late_count,
    any(s.drift_status)                      AS drift_status,
    any(s.drift_measure)                     AS drift_measure,
    any(s.drift_window_end)                  AS drift_window_end,
    any(s.feature_names)                     AS feature_names
FROM endpoint_activity AS a FINAL
LEFT JOIN
(
    SELECT project, endpoint_id,
           uniqExactIf(event_key, kind = 'invalid') AS invalid_count,
           uniqExactIf(event_key, kind = 'late')    AS late_count
    FROM invalid_events
    GROUP BY project, endpoint_id
) AS d ON d.project = a.project AND d.endpoint_id = a.endpoint_id
LEFT JOIN
(
    SELECT project, endpoint_id,
           CAST(argMax(drift_status, window_end) AS Nullable(String)) AS drift_status,
           argMax(drift_measure, window_end)                         AS drift_measure,
           toNullable(max(window_end))                               AS drift_window_end,
           argMax(feature_names, window_end)                         AS feature_names
    FROM drift_status FINAL
    GROUP BY project, endpoint_id
) AS s ON s.project = a.project AND s.endpoint_id = a.endpoint_id
GROUP BY a.project, a.endpoint_id
