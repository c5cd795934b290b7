"""REST API in MLRun's model-endpoint shape (``metadata`` / ``spec`` / ``status``)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import BadRequest, NotFound

from modelmon.api import queries
from modelmon.api.db import get_store
from modelmon.api.feature_analysis import analyze_features
from modelmon.api.grafana import iso_utc, parse_iso_time
from modelmon.udfs.drift import MEASURE_NAMES
from modelmon.udfs.latency_sketch import bucket_percentiles
from modelmon.udfs.metric_windows import PERCENTILES

bp = Blueprint("rest", __name__, url_prefix="/api/projects/<project>/model-endpoints")

_RELATIVE = re.compile(r"now(?:-(\d+)([smhd]))?")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str, name: str) -> datetime:
    """ISO 8601 (naive = UTC), ``now`` or ``now-<n><s|m|h|d>`` as MLRun's API accepts.

    >>> parse_time("2026-01-01T00:00:00Z", "start").isoformat()
    '2026-01-01T00:00:00+00:00'
    """
    relative = _RELATIVE.fullmatch(text)
    if relative:
        amount, unit = relative.groups()
        return datetime.now(timezone.utc) - timedelta(seconds=int(amount or 0) * _UNIT_SECONDS.get(unit, 0))
    return parse_iso_time(text, name, "an ISO 8601 time or now[-<n><s|m|h|d>]")


def _time_range() -> tuple[datetime, datetime]:
    start = parse_time(request.args.get("start", "now-1h"), "start")
    end = parse_time(request.args.get("end", "now"), "end")
    if start > end:
        raise BadRequest("start is after end")
    return start, end


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


def _metrics(endpoint_id: str, names: list[str], start: datetime, end: datetime) -> dict[str, list] | None:
    if not names:
        return None
    series = queries.metric_series(get_store(), endpoint_id, names, start, end, bucket_ms=1)
    return {name: [[datetime.fromtimestamp(t / 1000, timezone.utc).isoformat(), v] for v, t in series[name]]
            for name in names}


@bp.get("")
def list_model_endpoints(project: str):
    """Filters: ``model``, ``function`` (function_uri), ``label=k=v`` (repeatable), ``metric``
    (repeatable, see /api/grafana-proxy metrics names), ``start``/``end`` for the metrics."""
    names, (start, end) = _metric_names(), _time_range()
    rows = queries.find_endpoints(get_store(), project, model=request.args.get("model"),
                                  function=request.args.get("function"), labels=_labels())
    return jsonify(endpoints=[_endpoint_object(r, _metrics(r["endpoint_id"], names, start, end)) for r in rows])


@bp.get("/<endpoint_id>")
def get_model_endpoint(project: str, endpoint_id: str):
    """One endpoint; ``feature_analysis=true`` adds the reference (``spec.feature_stats``), the
    live statistics of [start, end) (``status.current_stats``) and their drift."""
    names, (start, end) = _metric_names(), _time_range()
    rows = queries.find_endpoints(get_store(), project, endpoint_id=endpoint_id)
    if not rows:
        raise NotFound(f"no model endpoint {endpoint_id!r} in project {project!r}")
    endpoint = _endpoint_object(rows[0], _metrics(endpoint_id, names, start, end))
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
        drift = {f["feature_name"]: {n: f[n] for n in MEASURE_NAMES}
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
    start, end = _time_range()
    if not queries.find_endpoints(get_store(), project, endpoint_id=endpoint_id):
        raise NotFound(f"no model endpoint {endpoint_id!r} in project {project!r}")
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
    start, end = _time_range()
    if not queries.find_endpoints(get_store(), project, endpoint_id=endpoint_id):
        raise NotFound(f"no model endpoint {endpoint_id!r} in project {project!r}")
    analysis = analyze_features(get_store(), endpoint_id, start, end)
    keep = ("feature_name", "actual_count", "actual_min", "actual_mean", "actual_max", "expected_count",
            "expected_min", "expected_mean", "expected_max", *MEASURE_NAMES)
    return jsonify([{name: f[name] for name in keep} for f in analysis.features])
