-- A store upgraded to version 3 of the registry: the totals of the activity it holds.
INSERT INTO endpoint_registry (project, endpoint_id, function_uri, model, version, model_class, labels,
                               first_request, last_request, requests_count, predictions_count, error_count)
SELECT project, endpoint_id, argMax(function_uri, last_request), argMax(model, last_request),
       argMax(version, last_request), argMax(model_class, last_request), argMax(labels, last_request),
       min(first_request), max(last_request), sum(requests_count), sum(predictions_count), sum(error_count)
FROM endpoint_activity FINAL
GROUP BY project, endpoint_id
