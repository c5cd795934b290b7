-- Keeps endpoint_dead_letters as invalid_events rows are inserted.
CREATE MATERIALIZED VIEW IF NOT EXISTS endpoint_dead_letters_writer TO endpoint_dead_letters AS
SELECT project, endpoint_id, kind, uniqExactState(event_key) AS events
FROM invalid_events
GROUP BY project, endpoint_id, kind
