"""The built-in status page, for users without Grafana: server-rendered HTML with inline SVG.

Every chart draws an answer of the REST API (``api/series.py`` computes both) and links the
request that serves it; the range comes from the URL's ``from``/``to`` as in Grafana."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, render_template, request, url_for
from werkzeug.exceptions import BadRequest, NotFound

from modelmon import alert_rules
from modelmon.api import charts, queries, series
from modelmon.api.db import get_store
from modelmon.api.feature_analysis import analyze_features
from modelmon.udfs.drift import DRIFT_STATUSES

bp = Blueprint("status", __name__)

# The range picker: (``from`` of the URL, label); ``to`` is now. Grafana's default is 6 h.
RANGES = (("now-15m", "15 m"), ("now-1h", "1 h"), ("now-6h", "6 h"), ("now-24h", "24 h"), ("now-7d", "7 d"))
DEFAULT_FROM = "now-6h"
REFRESH_SECONDS = {"30s": 30, "1m": 60, "5m": 300}
# Points per series: 120 on a 420-pixel chart (3 px apart), 48 on a sparkline; the heat map's
# 96 columns make 15-minute cells over 24 hours, as the seed's Overview heat maps have.
CHART_POINTS, SPARKLINE_POINTS, HEAT_MAP_POINTS = 120, 48, 96
PAGE_SIZE = 50
ALERTS_SHOWN = 50  # an endpoint page's alert activations, newest first
# The features table's data-quality shares: (the count, as feature_analysis names it; its label).
QUALITY_COLUMNS = (("missing_count", "missing"), ("type_mismatch_count", "mismatched"),
                   ("nonfinite_count", "not finite"), ("out_of_range_count", "out of range"),
                   ("unseen_count", "unseen"))
SEVERITY_COLOURS = {"high": "#c62828", "medium": "#ef6c00", "low": "#f9a825"}

# The latest windows the endpoint page shows: metric, label, and unit (charts.format_value).
LATEST_WINDOWS = (
    ("predictions_per_second", "predictions/s, 5 min", "/s"),
    ("latency_avg_5m", "latency avg, 5 min", "ms"), ("latency_p95_5m", "latency p95, 5 min", "ms"),
    ("error_count_5m", "errors, 5 min", "count"),
    ("latency_avg_1h", "latency avg, 1 h", "ms"), ("error_count_1h", "errors, 1 h", "count"),
)

# The endpoint page's time-series charts: title, series (REST series names), unit.
ENDPOINT_CHARTS = (
    ("predictions/s (5 min windows)", ("predictions_per_second_5m",), "/s"),
    ("latency, 5 min windows", ("latency_avg_5m", "latency_p50_5m", "latency_p95_5m", "latency_p99_5m"), "ms"),
    ("latency, 1 h windows", ("latency_avg_1h", "latency_p50_1h", "latency_p95_1h", "latency_p99_1h"), "ms"),
    ("errors (5 min windows), invalid and late events", ("error_count_5m", "invalid_count", "late_count"), "count"),
    ("drift, means over features (band: drift status)", ("tvd_mean", "hellinger_mean", "kld_mean", "drift_status"), ""),
    ("drift, sums over features", ("tvd_sum", "hellinger_sum", "kld_sum"), ""),
)

# The index's sparklines: series, unit, column title.
SPARKLINES = (("predictions_per_second_5m", "/s", "predictions/s"), ("latency_p95_5m", "ms", "p95 latency"),
              ("error_count_5m", "count", "errors / 5 min"))

SORT_KEYS = ("project", "model", "last_request", "predictions_count", "error_count", "drift_status",
             "drift_measure")


def latest_cells(values: dict[str, float | None]) -> list[tuple[str, str]]:
    """(label, value as shown) of each of :data:`LATEST_WINDOWS`, ``-`` where there is none.

    >>> cells = latest_cells({"latency_avg_5m": 28555.13, "error_count_5m": 37.0, "predictions_per_second": 1.5})
    >>> [shown for _, shown in cells]
    ['1.500 /s', '28.56 ms', '-', '37', '-', '-']
    """
    return [(label, "-" if values.get(metric) is None else charts.format_value(values[metric], unit))
            for metric, label, unit in LATEST_WINDOWS]


def page_range(points: int) -> series.TimeRange:
    """The range of the URL's ``from``/``to`` (Grafana's names; default the last 6 hours)."""
    return series.time_range(request.args.get("from") or DEFAULT_FROM, request.args.get("to") or "now", points,
                             names=("from", "to"))


def page_url(**changes: Any) -> str:
    """This page's URL with some arguments changed (``None`` removes one)."""
    arguments = {**request.args.to_dict(), **changes}
    return url_for(request.endpoint, **(request.view_args or {}),
                   **{k: v for k, v in arguments.items() if v not in (None, "")})


def _api_url(path: str, span: series.TimeRange, **arguments: Any) -> str:
    return f"{path}?{urlencode({**arguments, **span.query()}, doseq=True)}"


def _sort_key(name: str):
    def key(row: dict[str, Any]):
        value = row.get(name)
        return (value is None, value if value is not None else 0)
    return key


@bp.context_processor
def _page_tools() -> dict[str, Any]:
    return {"ranges": RANGES, "page_url": page_url, "refresh_choices": REFRESH_SECONDS,
            "refresh_seconds": REFRESH_SECONDS.get(request.args.get("refresh", "")),
            "colours": charts.STATUS_COLOURS, "severity_colours": SEVERITY_COLOURS,
            "range_args": {key: request.args[key] for key in ("from", "to", "refresh") if request.args.get(key)}}


@bp.get("/")
def index():
    """The endpoints, filtered by project, model and drift status, sorted by a column, 50 a
    page, with sparklines of their traffic, p95 latency and errors over the range."""
    span = page_range(SPARKLINE_POINTS)
    sort = request.args.get("sort", "last_request")
    if sort not in SORT_KEYS:
        raise BadRequest(f"unknown sort {sort!r}; known: {', '.join(SORT_KEYS)}")
    descending = request.args.get("order", "desc" if sort == "last_request" else "asc") == "desc"
    client = get_store()
    status = request.args.get("status") or None
    rows = series.find_endpoints(client, request.args.get("project") or "*", model=request.args.get("model") or None,
                                 status=status)
    rows.sort(key=_sort_key(sort), reverse=descending)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    asked = request.args.get("page", "1")
    page = min(max(int(asked) if asked.isdigit() else 1, 1), pages)
    shown = rows[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    names = [name for name, _, _ in SPARKLINES]
    found = series.fleet_series(client, [r["endpoint_id"] for r in shown], names, span)
    start_ms, end_ms = (int(t.timestamp() * 1000) for t in (span.start, span.end))
    sparklines = {
        r["endpoint_id"]: [charts.line_chart(title, {name: found[r["endpoint_id"]][name]}, start_ms, end_ms, unit,
                                             _api_url(f"/api/projects/{r['project']}/model-endpoints/"
                                                      f"{r['endpoint_id']}", span, metric=name),
                                             width=100, height=28, axes=False)
                           for name, unit, title in SPARKLINES]
        for r in shown}
    open_alerts: dict[str, list[dict]] = {}
    for activation in alert_rules.list_activations(client, open_only=True):
        open_alerts.setdefault(activation["endpoint_id"], []).append(activation)
    return render_template("index.html", endpoints=shown, total=len(rows), page=page, pages=pages,
                           open_alerts=open_alerts, sparklines=sparklines,
                           sparkline_titles=[t for _, _, t in SPARKLINES], span=span, sort=sort,
                           descending=descending, projects=queries.list_projects(client), statuses=DRIFT_STATUSES)


@bp.get("/endpoints/<endpoint_id>")
def endpoint(endpoint_id: str):
    """The seed's summary, performance, drift and features screens of one endpoint, over the range."""
    client = get_store()
    rows = queries.find_endpoints(client, "*", endpoint_id=endpoint_id)
    if not rows:
        raise NotFound(f"no model endpoint {endpoint_id!r}")
    info = rows[0]
    span = page_range(CHART_POINTS)
    start_ms, end_ms = (int(t.timestamp() * 1000) for t in (span.start, span.end))
    api = f"/api/projects/{info['project']}/model-endpoints/{endpoint_id}"
    found = series.endpoint_series(client, endpoint_id, [n for _, names, _ in ENDPOINT_CHARTS for n in names],
                                   span)["series"]  # one query per table for all the charts
    time_charts = [charts.line_chart(title, {n: found[n] for n in names if n != "drift_status"}, start_ms, end_ms,
                                     unit, _api_url(f"{api}/series", span, metric=list(names)),
                                     statuses=found["drift_status"] if "drift_status" in names else None)
                   for title, names, unit in ENDPOINT_CHARTS]
    heat_span = series.TimeRange(span.start, span.end, HEAT_MAP_POINTS)
    drift = series.feature_drift(client, endpoint_id, "tvd", heat_span)
    heat = charts.heat_map("TVD per feature", drift["features"], start_ms, end_ms, drift["bucket_ms"],
                           info["detected_threshold"] or 1.0, _api_url(f"{api}/feature-drift", heat_span,
                                                                       measure="tvd"))
    incoming = series.incoming_features(client, endpoint_id, span)
    time_charts.append(charts.line_chart("incoming features (sampled rows, mean per bucket)", incoming["features"],
                                         start_ms, end_ms, "", _api_url(f"{api}/incoming-features", span)))
    latest = latest_cells(queries.latest_metric_values(client, [m for m, _, _ in LATEST_WINDOWS], [endpoint_id])
                          .get(endpoint_id, {}))
    analysis = analyze_features(client, endpoint_id, span.start, span.end)
    histograms = [charts.category_histogram(f["feature_name"], f["bin_labels"], f["expected_bins"], f["actual_bins"])
                  if f["bin_labels"] else
                  charts.histogram(f["feature_name"], f["bin_edges"], f["expected_bins"], f["actual_bins"])
                  for f in analysis.features if f["expected_bins"]]
    # Its alert activations: the open ones, and those opened in the range, newest first.
    activations = [a for a in alert_rules.list_activations(client, info["project"], endpoint_id=endpoint_id)
                   if a["closed_at"] is None or span.start.replace(tzinfo=None) <= a["opened_at"]
                   <= span.end.replace(tzinfo=None)][:ALERTS_SHOWN]
    return render_template("endpoint.html", endpoint=info, latest=latest, analysis=analysis, charts=time_charts,
                           quality_columns=QUALITY_COLUMNS,
                           heat=heat, histograms=histograms, span=span, source=current_app.config["MODELMON"].source,
                           activations=activations, alerts_source=f"/api/projects/{info['project']}/alert-activations"
                                                                  f"?{urlencode({'endpoint': endpoint_id})}",
                           features_source=_api_url(f"{api}/features", series.TimeRange(span.start, span.end, None)))
