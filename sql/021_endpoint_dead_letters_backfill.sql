-- A store upgraded to version 3 of the registry: the dead letters it holds.
INSERT INTO endpoint_dead_letters (project, endpoint_id, kind, events)
SELECT project, endpoint_id, kind, uniqExactState(event_key)
FROM invalid_events
GROUP BY project, endpoint_id, kind
