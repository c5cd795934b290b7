-- The endpoint registry's running totals, one row per endpoint, written by the job from its
-- keyed state (ReplacingMergeTree: the newest row of an endpoint wins, read it with FINAL).
-- The totals are those of all the endpoint's endpoint_activity windows: a job adds what it
-- counts to the stored windows outside the range it writes (udfs/registry.py). Identity and
-- labels as of the last request.
CREATE TABLE IF NOT EXISTS endpoint_registry
(
    project           LowCardinality(String),
    endpoint_id       String,
    function_uri      LowCardinality(String),
    model             LowCardinality(String),
    version           LowCardinality(String),
    model_class       LowCardinality(String),
    labels            Map(LowCardinality(String), String),
    first_request     DateTime64(3, 'UTC'),
    last_request      DateTime64(3, 'UTC'),
    requests_count    UInt64,
    predictions_count UInt64,
    error_count       UInt64,
    written_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
ORDER BY (project, endpoint_id)
