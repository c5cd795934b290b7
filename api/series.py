"""Time ranges and the series answers the REST API serves and the status page draws: the page
calls these same functions (it holds no query of its own), and each of its charts links the
REST request that answers with its points."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from clickhouse_connect.driver.client import Client
from werkzeug.exceptions import BadRequest

from modelmon.api import queries
from modelmon.api.grafana import bucket_width_ms, iso_utc, parse_iso_time
from modelmon.udfs.drift import DRIFT_STATUSES, MEASURE_NAMES

_RELATIVE = re.compile(r"now(?:-(\d+)([smhd]))?")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DEFAULT_POINTS = 300
MAX_POINTS = 10_000


def parse_time(text: str, name: str, now: datetime | None = None) -> datetime:
    """ISO 8601 (naive = UTC), epoch milliseconds (as Grafana's URLs carry them), ``now`` or
    ``now-<n><s|m|h|d>`` as MLRun's API accepts.

    >>> parse_time("2026-01-01T00:00:00Z", "start").isoformat()
    '2026-01-01T00:00:00+00:00'
    >>> parse_time("1767225600000", "from").isoformat()
    '2026-01-01T00:00:00+00:00'
    """
    relative = _RELATIVE.fullmatch(text)
    if relative:
        amount, unit = relative.groups()
        return (now or datetime.now(timezone.utc)) - timedelta(seconds=int(amount or 0) * _UNIT_SECONDS.get(unit, 0))
    if text.isdigit() and len(text) <= 15:
        return datetime.fromtimestamp(int(text) / 1000, timezone.utc)
    return parse_iso_time(text, name, "an ISO 8601 time, epoch milliseconds or now[-<n><s|m|h|d>]")


@dataclass(frozen=True)
class TimeRange:
    """A resolved [start, end] and the number of points a series over it keeps at most
    (``None``: every window)."""

    start: datetime
    end: datetime
    points: int | None = DEFAULT_POINTS

    def bucket_ms(self) -> int:
        """Bucket width that keeps a series within ``points`` (1 ms: every value, without)."""
        return 1 if self.points is None else bucket_width_ms(self.start, self.end, self.points)

    def query(self) -> dict[str, str]:
        """The request arguments that ask the REST API for this same range."""
        return {"start": iso_utc(self.start), "end": iso_utc(self.end),
                **({} if self.points is None else {"points": str(self.points)})}


def time_range(start: str, end: str, points: str | int | None = DEFAULT_POINTS,
               names: tuple[str, str] = ("start", "end")) -> TimeRange:
    """A range from request arguments (``now`` the same moment in both); a 400 naming the
    argument that is wrong."""
    now = datetime.now(timezone.utc)
    first, last = parse_time(start, names[0], now), parse_time(end, names[1], now)
    if first > last:
        raise BadRequest(f"{names[0]} is after {names[1]}")
    if points is None:
        return TimeRange(first, last, None)
    count = int(points) if str(points).isdigit() else 0
    if not 1 <= count <= MAX_POINTS:
        raise BadRequest(f"points must be an integer from 1 to {MAX_POINTS}")
    return TimeRange(first, last, count)


def _points(points: list[tuple[Any, int]]) -> list[list[Any]]:
    return [[time_ms, value] for value, time_ms in points]


def find_endpoints(client: Client, project: str, **filters: Any) -> list[dict[str, Any]]:
    """The registry rows the REST list answers with (project ``*``: every project), which the
    status page's index shows too; an unknown drift status is a 400."""
    status = filters.get("status")
    if status is not None and status not in DRIFT_STATUSES:
        raise BadRequest(f"unknown status {status!r}; known: {', '.join(DRIFT_STATUSES)}")
    return queries.find_endpoints(client, project, **filters)


SERIES_NAMES = (*queries.METRICS, *queries.DEAD_LETTER_SERIES, "drift_status")


def endpoint_series(client: Client, endpoint_id: str, names: list[str], span: TimeRange) -> dict[str, Any]:
    """Each named series of one endpoint over the range, ``[[epoch ms, value], ...]`` per bucket:
    window metrics averaged, dead letters counted, the drift status the last of its bucket."""
    unknown = [n for n in names if n not in SERIES_NAMES]
    if unknown or not names:
        raise BadRequest(f"unknown or no metric {unknown}; known: {', '.join(SERIES_NAMES)}")
    bucket = span.bucket_ms()
    metrics = [n for n in names if n in queries.METRICS]
    found: dict[str, list[tuple[Any, int]]] = {}
    if metrics:
        found.update(queries.metric_series(client, endpoint_id, metrics, span.start, span.end, bucket))
    if any(n in queries.DEAD_LETTER_SERIES for n in names):
        found.update(queries.dead_letter_series(client, endpoint_id, span.start, span.end, bucket))
    if "drift_status" in names:
        found["drift_status"] = queries.drift_status_series(client, endpoint_id, span.start, span.end, bucket)
    return {"start": iso_utc(span.start), "end": iso_utc(span.end), "bucket_ms": bucket,
            "series": {name: _points(found[name]) for name in names}}


def feature_drift(client: Client, endpoint_id: str, measure: str, span: TimeRange) -> dict[str, Any]:
    """One drift measure per feature over time (a heat map's rows), averaged per bucket."""
    if measure not in MEASURE_NAMES:
        raise BadRequest(f"unknown measure {measure!r}; known: {', '.join(MEASURE_NAMES)}")
    bucket = span.bucket_ms()
    series = queries.feature_drift_series(client, endpoint_id, measure, span.start, span.end, bucket)
    return {"start": iso_utc(span.start), "end": iso_utc(span.end), "bucket_ms": bucket, "measure": measure,
            "features": {name: _points(points) for name, points in series.items()}}


def incoming_features(client: Client, endpoint_id: str, span: TimeRange) -> dict[str, Any]:
    """The sampled incoming feature values over time, averaged per bucket."""
    bucket = span.bucket_ms()
    series = queries.incoming_feature_series(client, endpoint_id, span.start, span.end, bucket)
    return {"start": iso_utc(span.start), "end": iso_utc(span.end), "bucket_ms": bucket,
            "features": {name: _points(points) for name, points in series.items()}}


def fleet_series(client: Client, endpoint_ids: list[str], names: list[str], span: TimeRange
                 ) -> dict[str, dict[str, list[list[Any]]]]:
    """Window metrics of many endpoints at once (the overview's sparklines): endpoint id ->
    metric -> ``[[epoch ms, value], ...]``."""
    if not endpoint_ids or not names:
        return {endpoint: {} for endpoint in endpoint_ids}
    found = queries.metric_series_by_endpoint(client, endpoint_ids, names, span.start, span.end, span.bucket_ms())
    return {endpoint: {name: _points(points) for name, points in metrics.items()}
            for endpoint, metrics in found.items()}
