"""What the job stores when the watermark passes the end of a slice: the HOP windows (5 minutes,
1 hour) ending there, and the slide-long activity and custom-metric windows ending there,
each merged from :class:`udfs.batches.Slice` records. Plain functions; the Flink adapter
(pipelines/monitoring_job.py) keeps the slices in keyed state.

A HOP window starts on a multiple of the slide and is emitted when it holds at least one
event, as Flink's ``HOP`` does. Percentiles interpolate linearly between the two nearest
latencies (``numpy.percentile``'s default).
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np

from udfs.batches import Slice

PERCENTILES = (50, 95, 99)


def merged(slices: Iterable[Slice]) -> dict[str, Slice]:
    """Per project, all of ``slices`` (given in time order) as one (:meth:`Slice.combine`).

    >>> from udfs.events import Endpoint
    >>> e, f = Endpoint("p", "e", "p/f", "m", "", "C", "{}"), Endpoint("p", "e", "p/f", "m", "2", "C", "{}")
    >>> a = Slice(0, "p", "e", 2, 3, 1, np.array([5]), 10, 20, e, {"c": (1, 0.5, 0.5, 0.5)})
    >>> b = Slice(60, "p", "e", 1, 1, 0, np.array([7]), 65, 70, f, {"c": (1, 1.5, 1.5, 1.5), "d": (1, 2.0, 2.0, 2.0)})
    >>> m = merged([a, b])["p"]
    >>> m.requests, m.predictions, m.errors, m.latencies.tolist(), m.first_ms, m.last_ms, m.endpoint.version, m.metrics
    (3, 4, 1, [5, 7], 10, 70, '2', {'c': (2, 2.0, 0.5, 1.5), 'd': (1, 2.0, 2.0, 2.0)})
    """
    by_project: dict[str, list[Slice]] = {}
    for s in slices:
        by_project.setdefault(s.project, []).append(s)
    return {project: group[0] if len(group) == 1 else Slice.combine(group) for project, group in by_project.items()}


def _in_range(state: Mapping[int, list[Slice]], start: int, end: int) -> list[Slice]:
    return [s for slice_start in sorted(state) if start <= slice_start < end for s in state[slice_start]]


def latency_percentiles(latencies: np.ndarray) -> list[float]:
    """``numpy.percentile(latencies, PERCENTILES)`` (linear), computed as numpy does (partition
    at the neighbouring ranks, then its interpolation) without its per-call overhead, which
    dominated the metric windows of endpoints with few events.

    >>> rng = np.random.default_rng(0)
    >>> samples = [rng.integers(0, 10**6, n).astype(np.float64) for n in (1, 2, 3, 7, 100, 1001)]
    >>> all(latency_percentiles(a) == np.percentile(a, PERCENTILES).tolist() for a in samples)
    True
    """
    n = len(latencies)
    positions = [(n - 1) * (q / 100) for q in PERCENTILES]
    below = [math.floor(position) for position in positions]
    ranks = sorted({rank for b in below for rank in (b, min(b + 1, n - 1))})
    ordered = np.partition(latencies, ranks)
    values = []
    for position, b in zip(positions, below):
        low, high = float(ordered[b]), float(ordered[min(b + 1, n - 1)])
        weight = position - b
        difference = high - low
        values.append(high - difference * (1 - weight) if weight >= 0.5 else low + difference * weight)
    return values


def metrics_row(window: Slice, window_size: str, start: int, size_ms: int) -> dict:
    """An ``endpoint_metrics`` row; latencies are NULL when the window holds only errors.

    >>> from udfs.events import Endpoint
    >>> e = Endpoint("p", "e", "p/f", "m", "", "C", "{}")
    >>> row = metrics_row(Slice(0, "p", "e", 3, 4, 1, np.array([10, 20]), 0, 9, e), "5m", 0, 300_000)
    >>> row["predictions_per_second"], row["latency_avg"], row["latency_p50"], row["latency_max"]
    (0.013333333333333334, 15.0, 15.0, 20.0)
    """
    latencies = window.latencies.astype(np.float64)
    row = {"project": window.project, "endpoint_id": window.endpoint_id, "window_size": window_size,
           "window_start": start, "window_end": start + size_ms, "requests_count": window.requests,
           "predictions_count": window.predictions, "predictions_per_second": window.predictions / (size_ms / 1000),
           "error_count": window.errors, "latency_avg": None, "latency_p50": None, "latency_p95": None,
           "latency_p99": None, "latency_max": None}
    if latencies.size:
        p50, p95, p99 = latency_percentiles(latencies)
        row.update(latency_avg=float(latencies.mean()), latency_p50=p50, latency_p95=p95, latency_p99=p99,
                   latency_max=float(latencies.max()))
    return row


def activity_row(window: Slice, start: int) -> dict:
    """An ``endpoint_activity`` row: the registry's counts and the endpoint as last seen."""
    endpoint = window.endpoint
    return {"project": window.project, "endpoint_id": window.endpoint_id, "window_start": start,
            "first_request": window.first_ms, "last_request": window.last_ms, "requests_count": window.requests,
            "predictions_count": window.predictions, "error_count": window.errors,
            "function_uri": endpoint.function_uri, "model": endpoint.model, "version": endpoint.version,
            "model_class": endpoint.model_class, "labels": endpoint.labels}


def custom_metric_rows(window: Slice, start: int, end: int) -> list[dict]:
    return [{"project": window.project, "endpoint_id": window.endpoint_id, "metric_name": name,
             "window_start": start, "window_end": end, "values_count": count, "sum": total, "mean": total / count,
             "min": low, "max": high} for name, (count, total, low, high) in window.metrics.items()]


def rows_at(state: Mapping[int, list[Slice]], end: int, slide_ms: int,
            window_sizes: Mapping[str, int]) -> dict[str, list[dict]]:
    """The rows of every window that ends at ``end``, from the slices in ``state`` (start -> slices).

    >>> from udfs.events import Endpoint
    >>> e = Endpoint("p", "e", "p/f", "m", "", "C", "{}")
    >>> state = {0: [Slice(0, "p", "e", 1, 1, 0, np.array([7]), 5, 5, e, {"c": (1, 2.0, 2.0, 2.0)})]}
    >>> rows = rows_at(state, 60_000, 60_000, {"5m": 300_000})
    >>> [r["window_start"] for r in rows["endpoint_metrics"]], len(rows["endpoint_activity"]), rows["custom_metrics"][0]["mean"]
    ([-240000], 1, 2.0)
    >>> rows_at(state, 360_000, 60_000, {"5m": 300_000})["endpoint_metrics"]  # the window [60 s, 360 s) is empty
    []
    """
    tables: dict[str, list[dict]] = {"endpoint_metrics": [], "endpoint_activity": [], "custom_metrics": []}
    for window_size, size_ms in window_sizes.items():
        start = end - size_ms
        if start % slide_ms == 0:
            tables["endpoint_metrics"] += [metrics_row(w, window_size, start, size_ms)
                                           for w in merged(_in_range(state, start, end)).values()]
    if end % slide_ms == 0:
        for window in merged(_in_range(state, end - slide_ms, end)).values():
            tables["endpoint_activity"].append(activity_row(window, end - slide_ms))
            tables["custom_metrics"] += custom_metric_rows(window, end - slide_ms, end)
    return tables
