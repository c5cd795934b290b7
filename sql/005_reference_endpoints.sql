-- Registered training-set references, one row per registration (`modelmon reference register`).
-- The newest reference_id of an endpoint is its current reference; older ones stay as history.
-- Thresholds on drift_measure: possible <= POSSIBLE_DRIFT < detected <= DRIFT_DETECTED.
CREATE TABLE IF NOT EXISTS reference_endpoints
(
    project            LowCardinality(String),
    endpoint_id        LowCardinality(String),
    reference_id       UInt64,
    registered_at      DateTime64(6, 'UTC'),
    function_uri       LowCardinality(String),
    model              LowCardinality(String),
    version            LowCardinality(String),
    feature_names      Array(String),
    label_column       Nullable(String),
    training_set       String,
    training_rows      UInt64,
    bins               UInt16,
    possible_threshold Float64,
    detected_threshold Float64
)
ENGINE = MergeTree
ORDER BY (project, endpoint_id, reference_id)
