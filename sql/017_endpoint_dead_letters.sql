-- Each endpoint's dead letters per kind as the set of their event keys, filled from
-- invalid_events by a materialized view, so the registry counts distinct invalid and late
-- events (uniqExactMerge(events)) without reading the dead letters; a replayed dead letter
-- adds a key already in the set.
CREATE TABLE IF NOT EXISTS endpoint_dead_letters
(
    project     LowCardinality(String),
    endpoint_id String,
    kind        LowCardinality(String),
    events      AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
ORDER BY (project, endpoint_id, kind)
