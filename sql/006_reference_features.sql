-- Per feature of a reference: training stats (std is the population std) and the histogram
-- on N equal-width bins over min..max (bin_edges has N+1 values). A non-numeric feature keeps
-- its position with NULL stats and empty bins.
CREATE TABLE IF NOT EXISTS reference_features
(
    project       LowCardinality(String),
    endpoint_id   LowCardinality(String),
    reference_id  UInt64,
    feature_index UInt32,
    feature_name  String,
    count         UInt64,
    invalid_count UInt64,
    mean          Nullable(Float64),
    std           Nullable(Float64),
    min           Nullable(Float64),
    max           Nullable(Float64),
    bin_edges     Array(Float64),
    bin_counts    Array(UInt64)
)
ENGINE = MergeTree
ORDER BY (project, endpoint_id, reference_id, feature_index)
