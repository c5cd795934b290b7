"""REST API in MLRun's model-endpoint shape (``metadata`` / ``spec`` / ``status``)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import BadRequest, NotFound

from modelmon.api import queries, series
from modelmon.api.db import get_store
from modelmon.api.feature_analysis import QUALITY_COUNTS, analyze_features
from modelmon.api.grafana import iso_utc
from modelmon.udfs.drift import MEASURE_NAMES
from modelmon.udfs.latency_sketch import bucket_percentiles
from modelmon.udfs.metric_windows import PERCENTILES

bp = Blueprint("rest", __name__, url_prefix="/api/projects/<project>/model-endpoints")

def _time_range(points: str | int | None = series.DEFAULT_POINTS) -> series.TimeRange:
    return series.time_range(request.args.get("start", "now-1h"), request.args.get("end", "now"),
                             request.args.get("points", points))


def _metric_names() -> list[str]:
    names = request.args.getlist("metric")
    unknown = [n for n in names if n not in queries.METRICS]
    if unknown:
        raise BadRequest(f"unknown metrics {unknown}; known: {', '.join(sorted(queries.METRICS))}")
    return names


def _labels() -> dict[str, str]:
    labels = {}
    for item in request.args.getlist("label"):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadRequest(f"label {item[:100]!r} is not key=value")
        labels[key] = value
    return labels


def _endpoint_rows(project: str, endpoint_id: str) -> list[dict[str, Any]]:
    rows = queries.find_endpoints(get_store(), project, endpoint_id=endpoint_id)
    if not rows:
        raise NotFound(f"no model endpoint {endpoint_id!r} in project {project!r}")
    return rows


def _endpoint_object(row: dict[str, Any], metrics: dict[str, list] | None) -> dict[str, Any]:
    status = {
        "state": "active", "first_request": iso_utc(row["first_request"]), "last_request": iso_utc(row["last_request"]),
        "predictions_count": row["predictions_count"], "error_count": row["error_count"],
        "invalid_count": row["invalid_count"], "late_count": row["late_count"], "accuracy": None,
        "drift_status": row["drift_status"], "drift_measure": row["drift_measure"],
    }
    if metrics is not None:
        status["metrics"] = {"real_time": metrics}
    return {
        "kind": "model-endpoint",
        "metadata": {"project": row["project"], "uid": row["endpoint_id"], "labels": row["labels"]},
        "spec": {"function_uri": row["function_uri"],
                 "model": f"{row['model']}:{row['version'] or 'latest'}", "model_class": row["model_class"],
                 "feature_names": row["feature_names"],
                 "monitor_configuration": {"possible_drift": row["possible_threshold"],
                                           "drift_detected": row["detected_threshold"]}},
        "status": status,
    }


def _real_time(points: list[list[Any]]) -> list[list[Any]]:
    return [[datetime.fromtimestamp(t / 1000, timezone.utc).isoformat(), v] for t, v in points]


@bp.get("")
def list_model_endpoints(project: str):
    """Filters: ``model``, ``function`` (function_uri), ``label=k=v`` (repeatable), ``status``
    (drift status); ``metric`` (repeatable, see /api/grafana-proxy metrics names) with
    ``start``/``end`` and ``points`` (default: every window). Project ``*``: every project."""
    names, span = _metric_names(), _time_range(points=None)
    rows = series.find_endpoints(get_store(), project, model=request.args.get("model"),
                                 function=request.args.get("function"), labels=_labels(),
                                 status=request.args.get("status"))
    found = series.fleet_series(get_store(), [r["endpoint_id"] for r in rows], names, span) if names else {}
    return jsonify(endpoints=[
        _endpoint_object(r, {n: _real_time(p) for n, p in found[r["endpoint_id"]].items()} if names else None)
        for r in rows])


@bp.get("/<endpoint_id>")
def get_model_endpoint(project: str, endpoint_id: str):
    """One endpoint; ``feature_analysis=true`` adds the reference (``spec.feature_stats``), the
    live statistics of [start, end) (``status.current_stats``) and their drift."""
    names, span = _metric_names(), _time_range(points=None)
    start, end = span.start, span.end
    rows = _endpoint_rows(project, endpoint_id)
    metrics = series.fleet_series(get_store(), [endpoint_id], names, span)[endpoint_id] if names else None
    endpoint = _endpoint_object(rows[0], {n: _real_time(p) for n, p in metrics.items()} if names else None)
    if request.args.get("feature_analysis", "false").lower() == "true":
        analysis = analyze_features(get_store(), endpoint_id, start, end)
        endpoint["spec"]["feature_stats"] = {
            f["feature_name"]: {"count": f["expected_count"], "mean": f["expected_mean"], "min": f["expected_min"],
                                "max": f["expected_max"], "hist": [f["expected_bins"], f["bin_edges"]]}
            for f in analysis.features if f["expected_count"] is not None}
        endpoint["status"]["current_stats"] = {
            f["feature_name"]: {"count": f["actual_count"], "mean": f["actual_mean"], "min": f["actual_min"],
                                "max": f["actual_max"], "hist": [f["actual_bins"], f["bin_edges"]]}
            for f in analysis.features}
        drift = {f["feature_name"]: {n: f[n] for n in MEASURE_NAMES if f[n] is not None}
                 for f in analysis.features if f["tvd"] is not None}
        if analysis.overall is not None:
            for name in ("tvd", "hellinger", "kld"):
                drift[f"{name}_sum"] = analysis.overall.sums[name]
                drift[f"{name}_mean"] = analysis.overall.means[name]
        endpoint["status"]["drift_measures"] = drift
    return jsonify(endpoint)


@bp.get("/<endpoint_id>/latency")
def latency_over_range(project: str, endpoint_id: str):
    """The latency (µs) of the endpoint's successful requests in the windows starting in [start,
    end): count, average and maximum exact, p50/p95/p99 from the windows' summed sketches, within
    1 % of the percentiles of the requests' latencies. Nulls when there were none."""
    span = _time_range(points=None)
    start, end = span.start, span.end
    _endpoint_rows(project, endpoint_id)
    stored = queries.latency_over_range(get_store(), endpoint_id, start, end)
    answer = {"start": iso_utc(start), "end": iso_utc(end), "count": int(stored["count"]), "avg": None, "max": None,
              **{f"p{q}": None for q in PERCENTILES}}
    if stored["count"]:
        answer.update(avg=stored["total"] / stored["count"], max=stored["maximum"],
                      **{f"p{q}": value for q, value in zip(PERCENTILES, bucket_percentiles(stored["buckets"],
                                                                                             PERCENTILES))})
    return jsonify(answer)


@bp.get("/<endpoint_id>/features")
def feature_analysis_rows(project: str, endpoint_id: str):
    """Per feature, expected (reference) against actual (live, windows starting in [start,
    end)) statistics and drift, as a plain list (for table panels such as Infinity's)."""
    span = _time_range(points=None)
    _endpoint_rows(project, endpoint_id)
    analysis = analyze_features(get_store(), endpoint_id, span.start, span.end)
    keep = ("feature_name", "actual_count", "actual_min", "actual_mean", "actual_std", "actual_max",
            "expected_count", "expected_min", "expected_mean", "expected_std", "expected_max", "feature_kind",
            "bin_labels", "expected_bins", "actual_bins", *QUALITY_COUNTS, *MEASURE_NAMES)
    return jsonify([{name: f[name] for name in keep} for f in analysis.features])


@bp.get("/<endpoint_id>/series")
def endpoint_series(project: str, endpoint_id: str):
    """The series the status page draws: ``metric`` (repeatable: the metric names, plus
    ``invalid_count``, ``late_count`` and ``drift_status``) over ``start``/``end``, at most
    ``points`` (default 300) per series: ``{"series": {name: [[epoch ms, value], ...]}}``."""
    _endpoint_rows(project, endpoint_id)
    return jsonify(series.endpoint_series(get_store(), endpoint_id, request.args.getlist("metric"), _time_range()))


@bp.get("/<endpoint_id>/feature-drift")
def feature_drift(project: str, endpoint_id: str):
    """One drift ``measure`` (default tvd) per feature over time, for a heat map."""
    _endpoint_rows(project, endpoint_id)
    return jsonify(series.feature_drift(get_store(), endpoint_id, request.args.get("measure", "tvd"), _time_range()))


@bp.get("/<endpoint_id>/incoming-features")
def incoming_features(project: str, endpoint_id: str):
    """The sampled incoming feature values over time."""
    _endpoint_rows(project, endpoint_id)
    return jsonify(series.incoming_features(get_store(), endpoint_id, _time_range()))
