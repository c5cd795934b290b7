"""Every query the proxy and the CLI run, as functions with bound parameters (no SQL in views)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from modelmon.udfs.drift import MEASURE_NAMES


def _rows(client: Client, sql: str, **parameters: Any) -> list[dict[str, Any]]:
    result = client.query(sql, parameters=parameters)
    return [dict(zip(result.column_names, row)) for row in result.result_rows]


def list_projects(client: Client) -> list[str]:
    return [row["project"] for row in _rows(client, "SELECT DISTINCT project FROM endpoint_registry ORDER BY project")]


def list_endpoints(client: Client, project: str | None = None) -> list[dict[str, Any]]:
    """The endpoint registry, optionally of one project, most recently active first."""
    return _rows(client, """
        SELECT project, endpoint_id, function_uri, model, version, model_class, labels,
               first_request, last_request, requests_count, predictions_count, error_count,
               invalid_count, late_count, drift_status, drift_measure, drift_window_end, feature_names
        FROM endpoints
        WHERE {project:Nullable(String)} IS NULL OR project = {project:Nullable(String)}
        ORDER BY last_request DESC, endpoint_id""", project=project)


def latest_metrics(client: Client, window_size: str = "5m") -> list[dict[str, Any]]:
    """Per endpoint, its most recent closed window of the given size."""
    return _rows(client, """
        SELECT e.project AS project, e.endpoint_id AS endpoint_id, e.model AS model,
               e.drift_status AS drift_status, m.window_end AS window_end,
               m.predictions_per_second AS predictions_per_second,
               m.latency_avg AS latency_avg, m.latency_p95 AS latency_p95, m.error_count AS error_count
        FROM endpoints AS e
        INNER JOIN
        (
            SELECT project, endpoint_id,
                   argMax(window_end, window_start) AS window_end,
                   argMax(predictions_per_second, window_start) AS predictions_per_second,
                   argMax(latency_avg, window_start) AS latency_avg,
                   argMax(latency_p95, window_start) AS latency_p95,
                   argMax(error_count, window_start) AS error_count
            FROM endpoint_metrics_latest FINAL
            WHERE window_size = {window_size:String}
            GROUP BY project, endpoint_id
        ) AS m ON m.project = e.project AND m.endpoint_id = e.endpoint_id
        ORDER BY e.project, e.model, e.endpoint_id""", window_size=window_size)


def list_endpoint_ids(client: Client, project: str) -> list[dict[str, Any]]:
    """Endpoint ids and models of a project, for a dashboard variable."""
    return _rows(client, """
        SELECT endpoint_id, model FROM endpoints WHERE project = {project:String} ORDER BY model, endpoint_id""",
                 project=project)


# Metric names a query may ask for -> (table, window size, column). Columns come from this
# catalog only, so they can be part of the SQL text; every value is still bound.
_OPERATIONAL_COLUMNS = ("requests_count", "predictions_count", "predictions_per_second", "error_count",
                        "latency_avg", "latency_p50", "latency_p95", "latency_p99", "latency_max")
_DRIFT_COLUMNS = ("drift_measure", "tvd_sum", "tvd_mean", "hellinger_sum", "hellinger_mean", "kld_sum", "kld_mean",
                  "psi_mean", "jsd_mean")
METRICS: dict[str, tuple[str, str | None, str]] = {
    **{f"{column}_{size}": ("endpoint_metrics", size, column)
       for column in _OPERATIONAL_COLUMNS for size in ("5m", "1h")},
    "predictions_per_second": ("endpoint_metrics", "5m", "predictions_per_second"),
    **{column: ("drift_status", None, column) for column in _DRIFT_COLUMNS},
}


# Each metric table's copy of every endpoint's newest window, kept by a materialized view.
LATEST = {"endpoint_metrics": "endpoint_metrics_latest", "drift_status": "endpoint_drift_latest"}


def latest_metric_values(client: Client, names: list[str], endpoint_ids: list[str] | None = None
                         ) -> dict[str, dict[str, Any]]:
    """endpoint id -> {metric name: its value in the endpoint's latest window}, of every endpoint
    or of ``endpoint_ids``, from the tables of newest windows: the same cost however much
    history the store keeps."""
    values: dict[str, dict[str, Any]] = {}
    for (table, size), group in _by_source(names).items():
        columns = ", ".join(f"argMax({METRICS[n][2]}, window_end) AS `{n}`" for n in group)
        where = ("WHERE ({every:Bool} OR has({endpoint_ids:Array(String)}, endpoint_id))"
                 + (" AND window_size = {size:String}" if size else ""))
        sql = f"SELECT endpoint_id, {columns} FROM {LATEST[table]} FINAL {where} GROUP BY endpoint_id"
        for row in _rows(client, sql, size=size, every=endpoint_ids is None, endpoint_ids=endpoint_ids or []):
            values.setdefault(row.pop("endpoint_id"), {}).update(row)
    return values


def _by_source(names: list[str]) -> dict[tuple[str, str | None], list[str]]:
    groups: dict[tuple[str, str | None], list[str]] = {}
    for name in names:
        table, size, _ = METRICS[name]
        groups.setdefault((table, size), []).append(name)
    return groups


def metric_series(client: Client, endpoint_id: str, names: list[str], start: datetime, end: datetime,
                  bucket_ms: int) -> dict[str, list[tuple[Any, int]]]:
    """Per metric, [(value, epoch ms of window_end)] in [start, end], averaged per bucket."""
    return metric_series_by_endpoint(client, [endpoint_id], names, start, end, bucket_ms).get(
        endpoint_id, {name: [] for name in names})


def metric_series_by_endpoint(client: Client, endpoint_ids: list[str], names: list[str], start: datetime,
                              end: datetime, bucket_ms: int) -> dict[str, dict[str, list[tuple[Any, int]]]]:
    """:func:`metric_series` of many endpoints in one query per table: endpoint id -> metric ->
    points (every asked endpoint and metric present, empty without windows)."""
    series = {endpoint: {name: [] for name in names} for endpoint in endpoint_ids}
    for (table, size), group in _by_source(names).items():
        columns = ", ".join(f"avg({METRICS[n][2]}) AS `{n}`" for n in group)
        size_filter = "AND window_size = {size:String}" if size else ""
        rows = _rows(client, f"""
            SELECT endpoint_id,
                   toUnixTimestamp64Milli(toStartOfInterval(window_end, toIntervalMillisecond({{bucket:UInt64}})))
                   AS time_ms, {columns}
            FROM {table} FINAL
            WHERE endpoint_id IN {{endpoints:Array(String)}} {size_filter}
              AND window_end BETWEEN {{start:DateTime64(3, 'UTC')}} AND {{end:DateTime64(3, 'UTC')}}
            GROUP BY endpoint_id, time_ms ORDER BY endpoint_id, time_ms""",
                     endpoints=endpoint_ids, size=size, start=start, end=end, bucket=bucket_ms)
        for row in rows:
            for name in group:
                if row[name] is not None:
                    series[row["endpoint_id"]][name].append((row[name], row["time_ms"]))
    return series


# Dead letters counted per bucket of their event time, by kind (invalid_events.kind).
DEAD_LETTER_SERIES = {"invalid_count": "invalid", "late_count": "late"}


def dead_letter_series(client: Client, endpoint_id: str, start: datetime, end: datetime,
                       bucket_ms: int) -> dict[str, list[tuple[int, int]]]:
    """Per name of :data:`DEAD_LETTER_SERIES`, [(dead letters, epoch ms)] of the endpoint's
    events in [start, end], per bucket of event time (buckets without any left out)."""
    rows = _rows(client, """
        SELECT kind, toUnixTimestamp64Milli(toStartOfInterval(assumeNotNull(event_time),
                                                               toIntervalMillisecond({bucket:UInt64}))) AS time_ms,
               count() AS value
        FROM invalid_events FINAL
        WHERE endpoint_id = {endpoint:String} AND kind IN {kinds:Array(String)}
          AND event_time BETWEEN {start:DateTime64(3, 'UTC')} AND {end:DateTime64(3, 'UTC')}
        GROUP BY kind, time_ms ORDER BY kind, time_ms""",
                 endpoint=endpoint_id, kinds=list(DEAD_LETTER_SERIES.values()), start=start, end=end,
                 bucket=bucket_ms)
    series = {name: [] for name in DEAD_LETTER_SERIES}
    names = {kind: name for name, kind in DEAD_LETTER_SERIES.items()}
    for row in rows:
        series[names[row["kind"]]].append((row["value"], row["time_ms"]))
    return series


def drift_status_series(client: Client, endpoint_id: str, start: datetime, end: datetime,
                        bucket_ms: int) -> list[tuple[str, int]]:
    """[(drift status, epoch ms)] of the drift runs ending in [start, end], the last of each bucket."""
    rows = _rows(client, """
        SELECT toUnixTimestamp64Milli(toStartOfInterval(window_end, toIntervalMillisecond({bucket:UInt64})))
               AS time_ms, argMax(drift_status, window_end) AS status
        FROM drift_status FINAL
        WHERE endpoint_id = {endpoint:String}
          AND window_end BETWEEN {start:DateTime64(3, 'UTC')} AND {end:DateTime64(3, 'UTC')}
        GROUP BY time_ms ORDER BY time_ms""", endpoint=endpoint_id, start=start, end=end, bucket=bucket_ms)
    return [(row["status"], row["time_ms"]) for row in rows]


def feature_drift_series(client: Client, endpoint_id: str, measure: str, start: datetime, end: datetime,
                         bucket_ms: int) -> dict[str, list[tuple[float, int]]]:
    """Per feature in reference order, [(measure, epoch ms)] of the drift runs ending in [start,
    end], averaged per bucket. ``measure`` is one of the drift measures (a column name)."""
    if measure not in MEASURE_NAMES:
        raise ValueError(f"unknown drift measure {measure!r}")
    rows = _rows(client, f"""
        SELECT feature_name, min(feature_index) AS feature_index,
               toUnixTimestamp64Milli(toStartOfInterval(window_end, toIntervalMillisecond({{bucket:UInt64}})))
               AS time_ms, avg({measure}) AS value
        FROM drift_measures FINAL
        WHERE endpoint_id = {{endpoint:String}}
          AND window_end BETWEEN {{start:DateTime64(3, 'UTC')}} AND {{end:DateTime64(3, 'UTC')}}
        GROUP BY feature_name, time_ms ORDER BY feature_index, feature_name, time_ms""",
                 endpoint=endpoint_id, start=start, end=end, bucket=bucket_ms)
    series: dict[str, list[tuple[float, int]]] = {}
    for row in rows:
        points = series.setdefault(row["feature_name"], [])
        if row["value"] is not None:
            points.append((row["value"], row["time_ms"]))
    return series


def incoming_feature_series(client: Client, endpoint_id: str, start: datetime, end: datetime,
                            bucket_ms: int) -> dict[str, list[tuple[float, int]]]:
    """Per feature, [(value, epoch ms)] of the sampled rows in [start, end], averaged per bucket."""
    rows = _rows(client, """
        SELECT feature, toUnixTimestamp64Milli(toStartOfInterval(event_time, toIntervalMillisecond({bucket:UInt64})))
               AS time_ms, avg(value) AS value
        FROM incoming_features FINAL
        ARRAY JOIN mapKeys(features) AS feature, mapValues(features) AS value
        WHERE endpoint_id = {endpoint:String}
          AND event_time BETWEEN {start:DateTime64(3, 'UTC')} AND {end:DateTime64(3, 'UTC')}
        GROUP BY feature, time_ms ORDER BY feature, time_ms""",
                 endpoint=endpoint_id, start=start, end=end, bucket=bucket_ms)
    series: dict[str, list[tuple[float, int]]] = {}
    for row in rows:
        if row["value"] is not None:
            series.setdefault(row["feature"], []).append((row["value"], row["time_ms"]))
    return series


def current_reference(client: Client, endpoint_id: str) -> list[dict[str, Any]]:
    """The newest reference's features, in order (empty without one)."""
    return _rows(client, """
        SELECT reference_id, feature_index, feature_name, feature_kind, count, mean, std, min, max, bin_edges,
               bin_counts, categories, r.possible_threshold AS possible_threshold,
               r.detected_threshold AS detected_threshold
        FROM reference_features AS f
        INNER JOIN reference_endpoints AS r USING (endpoint_id, reference_id)
        WHERE endpoint_id = {endpoint:String}
          AND reference_id = (SELECT max(reference_id) FROM reference_endpoints WHERE endpoint_id = {endpoint:String})
        ORDER BY feature_index""", endpoint=endpoint_id)


def feature_actuals(client: Client, endpoint_id: str, start: datetime, end: datetime,
                    reference_id: int) -> list[dict[str, Any]]:
    """Per feature, the live statistics of the windows starting in [start, end) (the standard
    deviation pooled from the windows' counts, means and population deviations), the summed
    bin counts of those binned on ``reference_id``, and the data-quality counts (named as the
    columns they sum: columns win over aliases in the expressions)."""
    return _rows(client, """
        SELECT feature_index, any(feature_name) AS name, sum(count) AS value_count,
               sum(mean * count) / nullIf(value_count, 0) AS value_mean,
               sqrt(greatest(sum(count * (ifNull(std, 0) * ifNull(std, 0) + ifNull(mean, 0) * ifNull(mean, 0)))
                             / nullIf(value_count, 0) - value_mean * value_mean, 0)) AS value_std,
               min(min) AS value_min,
               max(max) AS value_max, sumForEachIf(bin_counts, reference_id = {reference:UInt64}) AS live_bins,
               sum(count + invalid_count) AS values_count, sum(invalid_count) AS invalid_count,
               sum(missing_count) AS missing_count, sum(type_mismatch_count) AS type_mismatch_count,
               sum(nonfinite_count) AS nonfinite_count, sum(out_of_range_count) AS out_of_range_count,
               sum(unseen_count) AS unseen_count
        FROM feature_histograms FINAL
        WHERE endpoint_id = {endpoint:String}
          AND window_start >= {start:DateTime64(3, 'UTC')} AND window_start < {end:DateTime64(3, 'UTC')}
        GROUP BY feature_index ORDER BY feature_index
        SETTINGS prefer_column_name_to_alias = 1""",
                 endpoint=endpoint_id, start=start, end=end, reference=reference_id)


def latency_over_range(client: Client, endpoint_id: str, start: datetime, end: datetime) -> dict[str, Any]:
    """The latency of an endpoint's successful requests in the activity windows starting in
    [start, end): their count, sum and maximum, and their sketches summed (bucket -> count)."""
    return _rows(client, """
        SELECT sum(latency_count) AS count, sum(latency_sum) AS total, max(latency_max) AS maximum,
               sumMap(latency_buckets) AS buckets
        FROM endpoint_activity FINAL
        WHERE endpoint_id = {endpoint:String}
          AND window_start >= {start:DateTime64(3, 'UTC')} AND window_start < {end:DateTime64(3, 'UTC')}""",
                 endpoint=endpoint_id, start=start, end=end)[0]


def drift_statuses(client: Client, endpoint_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The endpoint's drift status rows ending in [start, end], and the last one before."""
    return _rows(client, """
        SELECT toUnixTimestamp64Milli(window_end) AS time_ms, drift_status, drift_measure
        FROM drift_status FINAL
        WHERE endpoint_id = {endpoint:String} AND window_end <= {end:DateTime64(3, 'UTC')}
          AND window_end >= (SELECT coalesce(max(window_end), {start:DateTime64(3, 'UTC')}) FROM drift_status
                             WHERE endpoint_id = {endpoint:String} AND window_end < {start:DateTime64(3, 'UTC')})
        ORDER BY window_end""", endpoint=endpoint_id, start=start, end=end)


def find_endpoints(client: Client, project: str, endpoint_id: str | None = None, model: str | None = None,
                   function: str | None = None, labels: dict[str, str] | None = None,
                   status: str | None = None) -> list[dict[str, Any]]:
    """Registry rows of a project (``*``: of every project), filtered (labels: every key=value
    must match; status: the drift status)."""
    label_filters, parameters = [], {}
    for i, (key, value) in enumerate(sorted((labels or {}).items())):
        label_filters.append(f"AND labels[{{label_key_{i}:String}}] = {{label_value_{i}:String}}")
        parameters[f"label_key_{i}"], parameters[f"label_value_{i}"] = key, value
    return _rows(client, f"""
        SELECT e.*, r.possible_threshold AS possible_threshold, r.detected_threshold AS detected_threshold
        FROM endpoints AS e
        LEFT JOIN
        (
            SELECT endpoint_id, toNullable(argMax(possible_threshold, reference_id)) AS possible_threshold,
                   toNullable(argMax(detected_threshold, reference_id)) AS detected_threshold
            FROM reference_endpoints
            WHERE {{endpoint:Nullable(String)}} IS NULL OR endpoint_id = {{endpoint:Nullable(String)}}
            GROUP BY endpoint_id
        ) AS r ON r.endpoint_id = e.endpoint_id
        WHERE ({{project:String}} = '*' OR e.project = {{project:String}})
          AND ({{status:Nullable(String)}} IS NULL OR e.drift_status = {{status:Nullable(String)}})
          AND ({{endpoint:Nullable(String)}} IS NULL OR e.endpoint_id = {{endpoint:Nullable(String)}})
          AND ({{model:Nullable(String)}} IS NULL OR e.model = {{model:Nullable(String)}})
          AND ({{function:Nullable(String)}} IS NULL OR e.function_uri = {{function:Nullable(String)}})
          {" ".join(label_filters)}
        ORDER BY e.model, e.endpoint_id""",
                 project=project, endpoint=endpoint_id, model=model, function=function, status=status, **parameters)
