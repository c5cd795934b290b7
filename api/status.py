"""The built-in status page, for users without Grafana: server-rendered HTML with inline SVG."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Blueprint, current_app, render_template
from werkzeug.exceptions import NotFound

from modelmon.api import queries
from modelmon.api.db import get_store
from modelmon.api.feature_analysis import analyze_features

bp = Blueprint("status", __name__)

STATUS_COLOURS = {"NO_DRIFT": "#2e7d32", "POSSIBLE_DRIFT": "#f9a825", "DRIFT_DETECTED": "#c62828",
                  "NO_REFERENCE": "#757575", "NO_DATA": "#757575"}
CHART_WIDTH, CHART_HEIGHT = 440, 120


# The latest windows the endpoint page shows: metric, label, and how a value reads. Latencies
# are stored in µs and shown in ms; counts are whole numbers.
LATEST_WINDOWS = (
    ("predictions_per_second", "predictions/s, 5 min", "{:.2f} /s"),
    ("latency_avg_5m", "latency avg, 5 min", "ms"), ("latency_p95_5m", "latency p95, 5 min", "ms"),
    ("error_count_5m", "errors, 5 min", "{:.0f}"),
    ("latency_avg_1h", "latency avg, 1 h", "ms"), ("error_count_1h", "errors, 1 h", "{:.0f}"),
)


def latest_cells(values: dict[str, float | None]) -> list[tuple[str, str]]:
    """(label, value as shown) of each of :data:`LATEST_WINDOWS`, ``-`` where there is none.

    >>> cells = latest_cells({"latency_avg_5m": 28555.13, "error_count_5m": 37.0, "predictions_per_second": 1.5})
    >>> [shown for _, shown in cells]
    ['1.50 /s', '28.6 ms', '-', '37', '-', '-']
    """
    cells = []
    for metric, label, form in LATEST_WINDOWS:
        value = values.get(metric)
        if value is None:
            shown = "-"
        elif form == "ms":
            shown = f"{value / 1000:.1f} ms"
        else:
            shown = form.format(value)
        cells.append((label, shown))
    return cells


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # "expected" | "actual"
    share: float


def histogram_bars(expected: list[int], actual: list[int]) -> list[Bar]:
    """Side-by-side bars of both histograms as shares of their totals, on the live bins
    (underflow, the reference's bins, overflow).

    >>> [(b.kind, round(b.share, 2)) for b in histogram_bars([1, 1], [0, 1, 3, 0])][:4]
    [('expected', 0.0), ('actual', 0.0), ('expected', 0.5), ('actual', 0.25)]
    """
    expected = [0, *expected, 0]
    totals = (sum(expected) or 1, sum(actual) or 1)
    shares = [(e / totals[0], a / totals[1]) for e, a in zip(expected, actual or [0] * len(expected))]
    top = max((max(pair) for pair in shares), default=0) or 1
    slot = CHART_WIDTH / len(shares)
    bars = []
    for i, pair in enumerate(shares):
        for k, (kind, share) in enumerate(zip(("expected", "actual"), pair)):
            height = share / top * (CHART_HEIGHT - 10)
            bars.append(Bar(i * slot + k * slot / 2 + 1, CHART_HEIGHT - height, slot / 2 - 2, height, kind, share))
    return bars


@bp.get("/")
def index():
    endpoints = queries.list_endpoints(get_store())
    return render_template("index.html", endpoints=endpoints, colours=STATUS_COLOURS)


@bp.get("/endpoints/<endpoint_id>")
def endpoint(endpoint_id: str):
    rows = [e for e in queries.list_endpoints(get_store()) if e["endpoint_id"] == endpoint_id]
    if not rows:
        raise NotFound(f"no model endpoint {endpoint_id!r}")
    info = rows[0]
    latest = latest_cells(queries.latest_metric_values(get_store(), [metric for metric, _, _ in LATEST_WINDOWS])
                          .get(endpoint_id, {}))
    end = info["last_request"] + timedelta(milliseconds=1)  # the last drift range of traffic
    start = end - timedelta(seconds=current_app.config["MODELMON"].drift_range_seconds)
    analysis = analyze_features(get_store(), endpoint_id, start, end)
    charts = [(f, histogram_bars(f["expected_bins"], f["actual_bins"])) for f in analysis.features
              if f["expected_bins"]]
    return render_template("endpoint.html", endpoint=info, latest=latest, analysis=analysis, charts=charts,
                           start=start, end=end, colours=STATUS_COLOURS, width=CHART_WIDTH, height=CHART_HEIGHT)
