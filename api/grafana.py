"""Grafana SimpleJson routes, compatible with MLRun's model-endpoints proxy."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from clickhouse_connect.driver.client import Client
from flask import Blueprint, jsonify, request
from werkzeug.exceptions import BadRequest

from modelmon import alert_rules
from modelmon.api import queries
from modelmon.api.db import cached, get_store
from modelmon.api.feature_analysis import analyze_features
from modelmon.notifier import message

bp = Blueprint("grafana", __name__, url_prefix="/api/grafana-proxy/model-endpoints")

DEFAULT_MAX_POINTS = 1000
MAX_POINTS = 100_000


def parse_target(target: Any) -> dict[str, str]:
    """``key=value;key=value`` with Grafana's regex escaping (``my\\-project``) undone.

    >>> parse_target(r"target_endpoint=list_endpoints;project=my\\-project")
    {'target_endpoint': 'list_endpoints', 'project': 'my-project'}
    """
    if not isinstance(target, str) or not target.strip():
        raise BadRequest("a target must be a non-empty 'key=value;key=value' string")
    parameters = {}
    for part in filter(None, (p.strip() for p in target.split(";"))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise BadRequest(f"target part {part[:100]!r} is not key=value")
        parameters[key.strip()] = re.sub(r"\\(.)", r"\1", value.strip())
    if "target_endpoint" not in parameters:
        raise BadRequest("the target names no target_endpoint")
    return parameters


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def iso_utc(moment: datetime | None) -> str | None:
    """ISO 8601 with the UTC offset (the store's times are UTC; a bare time would be read
    as the browser's local time).

    >>> iso_utc(datetime(2026, 1, 1, 12, 30))
    '2026-01-01T12:30:00+00:00'
    """
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat()


def _table(columns: list[tuple[str, str]], rows: list[list[Any]]) -> dict[str, Any]:
    return {"type": "table", "columns": [{"text": name, "type": kind} for name, kind in columns], "rows": rows}


def _series(name: str, points: list[tuple[Any, int]]) -> dict[str, Any]:
    return {"target": name, "datapoints": [[value, time_ms] for value, time_ms in points]}


@dataclass(frozen=True)
class QueryRange:
    """What Grafana sends besides the targets: ``range.from``/``range.to`` and ``maxDataPoints``."""

    start: datetime | None
    end: datetime | None
    max_points: int

    def required(self) -> tuple[datetime, datetime]:
        if self.start is None or self.end is None:
            raise BadRequest("this target needs the request's range.from and range.to")
        return self.start, self.end

    def bucket_ms(self) -> int:
        """Bucket width that keeps a series within ``max_points``."""
        return bucket_width_ms(*self.required(), self.max_points)


def bucket_width_ms(start: datetime, end: datetime, points: int) -> int:
    """The bucket width (ms) that keeps a series of [start, end] within ``points``; values in
    one bucket are averaged.

    >>> bucket_width_ms(datetime(2026, 1, 1), datetime(2026, 1, 1, 1), 60)
    60000
    """
    return max(1, math.ceil((end - start).total_seconds() * 1000 / points))


def parse_iso_time(value: Any, name: str, accepted: str = "an ISO 8601 time") -> datetime:
    """A request's time (naive = UTC); a 400 naming ``name`` when it is not one.

    >>> parse_iso_time("2026-01-01T00:00:00Z", "range.from").isoformat()
    '2026-01-01T00:00:00+00:00'
    """
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise BadRequest(f"{name} {str(value)[:64]!r} is not {accepted}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def query_range(body: dict[str, Any]) -> QueryRange:
    """The time range comes from ``range.from``/``range.to`` (MLRun read ``rangeRaw``, which
    Grafana fills with expressions like ``now-6h``)."""
    span = body.get("range") or {}
    if not isinstance(span, dict):
        raise BadRequest("'range' must be an object with 'from' and 'to'")
    start = parse_iso_time(span["from"], "range.from") if span.get("from") else None
    end = parse_iso_time(span["to"], "range.to") if span.get("to") else None
    if start and end and start > end:
        raise BadRequest("range.from is after range.to")
    max_points = body.get("maxDataPoints", DEFAULT_MAX_POINTS)
    if not isinstance(max_points, int) or isinstance(max_points, bool) or not 1 <= max_points <= MAX_POINTS:
        raise BadRequest(f"maxDataPoints must be an integer from 1 to {MAX_POINTS}")
    return QueryRange(start, end, max_points)


def _endpoint(parameters: dict[str, str]) -> str:
    endpoint_id = parameters.get("endpoint_id")
    if not endpoint_id:
        raise BadRequest(f"target_endpoint={parameters['target_endpoint']} needs endpoint_id=...")
    return endpoint_id


def _metric_names(parameters: dict[str, str], required: bool) -> list[str]:
    names = [n.strip() for n in parameters.get("metrics", "").split(",") if n.strip()]
    if required and not names:
        raise BadRequest("this target needs metrics=name,name")
    unknown = [n for n in names if n not in queries.METRICS]
    if unknown:
        raise BadRequest(f"unknown metrics {unknown}; known: {', '.join(sorted(queries.METRICS))}")
    return names


_LIST_ENDPOINTS_COLUMNS = [
    ("endpoint_id", "string"), ("endpoint_function", "string"), ("endpoint_model", "string"),
    ("endpoint_model_class", "string"), ("first_request", "time"), ("last_request", "time"),
    ("accuracy", "number"), ("error_count", "number"), ("drift_status", "string"),
]


def list_endpoints_table(parameters: dict[str, str], _span: QueryRange) -> list[dict[str, Any]]:
    """MLRun's columns, then one column per requested metric (its latest value, a plain
    number); accuracy stays null until ground truth exists, drift_status until the
    endpoint's first drift run."""
    metrics = _metric_names(parameters, required=False)
    project = parameters.get("project")

    def ask(client: Client) -> list[list[Any]]:
        latest = queries.latest_metric_values(client, metrics) if metrics else {}
        return [[e["endpoint_id"], e["function_uri"], e["model"], e["model_class"], iso_utc(e["first_request"]),
                 iso_utc(e["last_request"]), None, e["error_count"], e["drift_status"]]
                + [latest.get(e["endpoint_id"], {}).get(name) for name in metrics]
                for e in queries.list_endpoints(client, project)]

    rows = cached(("list_endpoints", project, *metrics), ask)
    return [_table(_LIST_ENDPOINTS_COLUMNS + [(name, "number") for name in metrics], rows)]


_INDIVIDUAL_COLUMNS = ["feature_name", "actual_min", "actual_mean", "actual_max", "expected_min", "expected_mean",
                       "expected_max", "tvd", "hellinger", "kld"]


def individual_feature_analysis(parameters: dict[str, str], span: QueryRange) -> list[dict[str, Any]]:
    """Per feature, actual values over the requested range against the reference."""
    analysis = analyze_features(get_store(), _endpoint(parameters), *span.required())
    columns = [(name, "string" if name == "feature_name" else "number") for name in _INDIVIDUAL_COLUMNS]
    return [_table(columns, [[f[name] for name in _INDIVIDUAL_COLUMNS] for f in analysis.features])]


_OVERALL_COLUMNS = ["tvd_sum", "tvd_mean", "hellinger_sum", "hellinger_mean", "kld_sum", "kld_mean"]


def overall_feature_analysis(parameters: dict[str, str], span: QueryRange) -> list[dict[str, Any]]:
    """The endpoint's sums and means over its features, for the requested range."""
    overall = analyze_features(get_store(), _endpoint(parameters), *span.required()).overall
    rows = []
    if overall is not None:
        rows = [[(overall.sums if name.endswith("_sum") else overall.means)[name.rsplit("_", 1)[0]]
                 for name in _OVERALL_COLUMNS]]
    return [_table([(name, "number") for name in _OVERALL_COLUMNS], rows)]


def incoming_features(parameters: dict[str, str], span: QueryRange) -> list[dict[str, Any]]:
    """One time series per feature from the sampled rows."""
    series = queries.incoming_feature_series(get_store(), _endpoint(parameters), *span.required(), span.bucket_ms())
    return [_series(name, points) for name, points in series.items()]


def metrics(parameters: dict[str, str], span: QueryRange) -> list[dict[str, Any]]:
    """Operational metrics and drift over time, one series per metric."""
    names = _metric_names(parameters, required=True)
    series = queries.metric_series(get_store(), _endpoint(parameters), names, *span.required(), span.bucket_ms())
    return [_series(name, series[name]) for name in names]


QUERY_TARGETS: dict[str, Callable[[dict[str, str], QueryRange], list[dict[str, Any]]]] = {
    "list_endpoints": list_endpoints_table,
    "individual_feature_analysis": individual_feature_analysis,
    "overall_feature_analysis": overall_feature_analysis,
    "incoming_features": incoming_features,
    "metrics": metrics,
}


@bp.get("/")
def health():
    return jsonify(status="ok")


@bp.post("/search")
def search():
    """``list_projects``, or ``list_endpoints;project=P`` as {text, value} for a variable."""
    parameters = parse_target(_json_body().get("target"))
    if parameters["target_endpoint"] == "list_projects":
        return jsonify(cached(("list_projects",), queries.list_projects))
    if parameters["target_endpoint"] == "list_endpoints":
        project = parameters.get("project")
        if not project:
            raise BadRequest("target_endpoint=list_endpoints needs project=...")
        return jsonify([{"text": f"{e['model']} ({e['endpoint_id'][:8]})", "value": e["endpoint_id"]}
                        for e in queries.list_endpoint_ids(get_store(), project)])
    raise BadRequest(f"unknown search target_endpoint {parameters['target_endpoint']!r}; "
                     f"known: list_endpoints, list_projects")


@bp.post("/query")
def query():
    body = _json_body()
    span = query_range(body)
    targets = body.get("targets")
    if not isinstance(targets, list) or not targets:
        raise BadRequest("'targets' must be a non-empty list")
    answers = []
    for target in targets:
        if not isinstance(target, dict):
            raise BadRequest("each target must be an object with a 'target' string")
        parameters = parse_target(target.get("target"))
        handler = QUERY_TARGETS.get(parameters["target_endpoint"])
        if handler is None:
            raise BadRequest(f"unknown query target_endpoint {parameters['target_endpoint']!r}; "
                             f"known: {', '.join(sorted(QUERY_TARGETS))}")
        answers.extend(handler(parameters, span))
    return jsonify(answers)


@bp.post("/annotations")
def annotations():
    """Drift status changes of an endpoint in the range (``annotation.query`` is a target:
    ``target_endpoint=drift_status;endpoint_id=...``)."""
    body = _json_body()
    annotation = body.get("annotation")
    if not isinstance(annotation, dict):
        raise BadRequest("'annotation' must be an object with a 'query' target")
    parameters = parse_target(annotation.get("query"))
    if parameters["target_endpoint"] == "alerts":
        return jsonify(alert_annotations(annotation, parameters, *query_range(body).required()))
    if parameters["target_endpoint"] != "drift_status":
        raise BadRequest(f"unknown annotation target_endpoint {parameters['target_endpoint']!r}; "
                         "known: drift_status, alerts")
    start, end = query_range(body).required()
    rows = queries.drift_statuses(get_store(), _endpoint(parameters), start, end)
    changes, previous = [], None
    for row in rows:
        if previous is not None and row["drift_status"] != previous and row["time_ms"] >= start.timestamp() * 1000:
            changes.append({"annotation": annotation, "time": row["time_ms"], "title": row["drift_status"],
                            "tags": ["drift", row["drift_status"]],
                            "text": f"drift status {previous} -> {row['drift_status']} "
                                    f"(drift_measure {row['drift_measure']})"})
        previous = row["drift_status"]
    return jsonify(changes)


def alert_annotations(annotation: dict[str, Any], parameters: dict[str, str], start: datetime,
                      end: datetime) -> list[dict[str, Any]]:
    """``target_endpoint=alerts;project=P[;endpoint_id=E]``: a region per alert activation open
    at some time in the range, from its opening to its close (or the range's end)."""
    project = parameters.get("project")
    if not project:
        raise BadRequest("target_endpoint=alerts needs project=...")
    start_ms, end_ms = (round(t.timestamp() * 1000) for t in (start, end))
    found = []
    for activation in alert_rules.list_activations(get_store(), project, endpoint_id=parameters.get("endpoint_id")):
        opened = round(activation["opened_at"].replace(tzinfo=timezone.utc).timestamp() * 1000)
        closed = (None if activation["closed_at"] is None else
                  round(activation["closed_at"].replace(tzinfo=timezone.utc).timestamp() * 1000))
        if opened <= end_ms and (closed is None or closed >= start_ms):
            found.append({"annotation": annotation, "time": opened, "timeEnd": closed if closed is not None else end_ms,
                          "isRegion": True, "title": f"{activation['rule']} ({activation['severity']})",
                          "tags": ["alert", activation["kind"], activation["severity"]],
                          "text": message(activation)["summary"]})
    return sorted(found, key=lambda a: a["time"])
