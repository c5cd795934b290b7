"""What the job stores when the watermark passes the end of a slice: the HOP windows (5 minutes,
1 hour) ending there, and the slide-long activity and custom-metric windows ending there,
each merged from :class:`modelmon.udfs.slices.Slice` records. Plain functions; the Flink adapter
(pipelines/monitoring_job.py) keeps the slices in keyed state.

A HOP window starts on a multiple of the slide and is emitted when it holds at least one
event, as Flink's ``HOP`` does. Its latency percentiles come from the latency sketch of its
slices (within 1 % of ``numpy.percentile``'s linear ones on the same latencies); its average
and maximum are exact.

When the watermark passes many ends at once (the end of a bounded input, or catching up after
an outage), the HOP windows slide over the slices: each window adds a slice's counts as it
comes in and subtracts them as it leaves, instead of merging an hour of slices afresh for every end.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np

from modelmon.udfs.latency_sketch import BUCKETS, ZERO_BUCKET, LatencySketch, dense_percentiles
from modelmon.udfs.slices import Slice

PERCENTILES = (50, 95, 99)


def merged(slices: Iterable[Slice]) -> dict[str, Slice]:
    """Per project, all of ``slices`` (given in time order) as one (:meth:`Slice.combine`).

    >>> from modelmon.udfs.contract import Endpoint
    >>> e, f = Endpoint("p", "e", "p/f", "m", "", "C", "{}"), Endpoint("p", "e", "p/f", "m", "2", "C", "{}")
    >>> a = Slice(0, "p", "e", 2, 3, 1, LatencySketch.of(np.array([5])), 10, 20, e, {"c": (1, 0.5, 0.5, 0.5)})
    >>> b = Slice(60, "p", "e", 1, 1, 0, LatencySketch.of(np.array([7])), 65, 70, f,
    ...           {"c": (1, 1.5, 1.5, 1.5), "d": (1, 2.0, 2.0, 2.0)})
    >>> m = merged([a, b])["p"]
    >>> m.requests, m.predictions, m.errors, m.latency.total_us, m.first_ms, m.last_ms, m.endpoint.version, m.metrics
    (3, 4, 1, 12, 10, 70, '2', {'c': (2, 2.0, 0.5, 1.5), 'd': (1, 2.0, 2.0, 2.0)})
    """
    by_project: dict[str, list[Slice]] = {}
    for s in slices:
        by_project.setdefault(s.project, []).append(s)
    return {project: group[0] if len(group) == 1 else Slice.combine(group) for project, group in by_project.items()}


class _ProjectWindow:
    """One project's events in a sliding HOP window: counts, the exact latency count and sum,
    the latency sketch as dense bucket counts, and the latency maximum of each slice in order:
    all take in and let go of whole slices."""

    def __init__(self) -> None:
        self.endpoint_id = ""
        self._empty()

    def _empty(self) -> None:
        self.slices = 0
        self.requests = self.predictions = self.errors = self.latency_sum = self.latency_count = 0
        self.buckets = np.zeros(BUCKETS, dtype=np.int64)
        self.maxima: deque[int | None] = deque()  # per slice, in start order: slices leave in the order they came
        self.latencies: tuple[float, ...] | None = None  # p50, p95, p99, max until a slice comes or goes

    def add(self, s: Slice) -> None:
        self.slices += 1
        self.requests += s.requests
        self.predictions += s.predictions
        self.errors += s.errors
        self.latency_sum += s.latency.total_us
        self.latency_count += s.latency.count
        self.buckets[s.latency.keys - ZERO_BUCKET] += s.latency.counts
        self.maxima.append(s.latency.max_us if s.latency.count else None)
        self.latencies = None
        self.endpoint_id = s.endpoint_id

    def remove(self, s: Slice) -> None:
        self.slices -= 1
        if not self.slices:  # nothing left: start over rather than take out
            self._empty()
            return
        self.requests -= s.requests
        self.predictions -= s.predictions
        self.errors -= s.errors
        self.latency_sum -= s.latency.total_us
        self.latency_count -= s.latency.count
        self.buckets[s.latency.keys - ZERO_BUCKET] -= s.latency.counts
        self.maxima.popleft()
        self.latencies = None

    def row(self, project: str, window_size: str, start: int, size_ms: int) -> dict:
        """An ``endpoint_metrics`` row; latencies are NULL when the window holds only errors.
        Average and maximum are exact, percentiles within 1 % (:mod:`modelmon.udfs.latency_sketch`)."""
        row = {"project": project, "endpoint_id": self.endpoint_id, "window_size": window_size,
               "window_start": start, "window_end": start + size_ms, "requests_count": self.requests,
               "predictions_count": self.predictions, "predictions_per_second": self.predictions / (size_ms / 1000),
               "error_count": self.errors, "latency_avg": None, "latency_p50": None, "latency_p95": None,
               "latency_p99": None, "latency_max": None}
        if self.latency_count:
            if self.latencies is None:  # a quiet endpoint's window often holds the same slices as at the last end
                self.latencies = (*dense_percentiles(self.buckets, PERCENTILES),
                                  float(max(m for m in self.maxima if m is not None)))
            p50, p95, p99, maximum = self.latencies
            row.update(latency_avg=self.latency_sum / self.latency_count, latency_p50=p50, latency_p95=p95,
                       latency_p99=p99, latency_max=maximum)
        return row


class _HopWindow:
    """The slices of one window size (``starts`` sorted) as its end moves forward."""

    def __init__(self, window_size: str, size_ms: int, state: Mapping[int, list[Slice]], starts: Sequence[int]):
        self.window_size, self.size_ms = window_size, size_ms
        self.state, self.starts = state, starts
        self.first = self.after_last = 0  # the window's slices are those of starts[first:after_last]
        self.projects: dict[str, _ProjectWindow] = {}

    def move_to(self, end: int) -> None:
        while self.after_last < len(self.starts) and self.starts[self.after_last] < end:
            for s in self.state[self.starts[self.after_last]]:
                self.projects.setdefault(s.project, _ProjectWindow()).add(s)
            self.after_last += 1
        while self.first < self.after_last and self.starts[self.first] < end - self.size_ms:
            for s in self.state[self.starts[self.first]]:
                self.projects[s.project].remove(s)
            self.first += 1

    def rows(self, end: int) -> Iterator[dict]:
        for project, window in self.projects.items():
            if window.slices:
                yield window.row(project, self.window_size, end - self.size_ms, self.size_ms)


def window_ends(starts: Sequence[int], first_end: int, step_ms: int, reach_ms: int) -> Iterator[int]:
    """The ends, from ``first_end`` on in steps of ``step_ms``, that the windows or slices
    starting at ``starts`` (sorted) give rows to emit at: those with a start in the
    ``reach_ms`` before them (the longest window, or the drift range).

    >>> list(window_ends([0, 60, 300], 60, 60, 120))
    [60, 120, 180, 360, 420]
    """
    end = first_end
    while True:
        i = bisect_left(starts, end - reach_ms)
        if i == len(starts):
            return
        if starts[i] < end:
            yield end
            end += step_ms
        else:  # nothing in range: skip to the next start's end
            end = starts[i] + step_ms


def windows_ending(state: Mapping[int, list[Slice]], ends: Iterable[int], slide_ms: int,
                   window_sizes: Mapping[str, int]) -> Iterator[tuple[str, dict]]:
    """(table, row) for every window that ends at one of ``ends`` (ascending), from the slices
    in ``state`` (start -> slices).

    >>> from modelmon.udfs.contract import Endpoint
    >>> e = Endpoint("p", "e", "p/f", "m", "", "C", "{}")
    >>> state = {0: [Slice(0, "p", "e", 1, 1, 0, LatencySketch.of(np.array([7])), 5, 5, e, {"c": (1, 2.0, 2.0, 2.0)})]}
    >>> rows = list(windows_ending(state, [60_000], 60_000, {"5m": 300_000}))
    >>> [(table, row["window_start"]) for table, row in rows], rows[2][1]["mean"]
    ([('endpoint_metrics', -240000), ('endpoint_activity', 0), ('custom_metrics', 0)], 2.0)
    >>> list(windows_ending(state, [360_000], 60_000, {"5m": 300_000}))  # the window [60 s, 360 s) is empty
    []
    """
    starts = sorted(state)
    hops = [_HopWindow(window_size, size_ms, state, starts) for window_size, size_ms in window_sizes.items()]
    for end in ends:
        for hop in hops:
            hop.move_to(end)
            if (end - hop.size_ms) % slide_ms == 0:
                for row in hop.rows(end):
                    yield "endpoint_metrics", row
        if end % slide_ms == 0:
            in_slide = starts[bisect_left(starts, end - slide_ms):bisect_left(starts, end)]
            for window in merged(s for start in in_slide for s in state[start]).values():
                yield "endpoint_activity", activity_row(window, end - slide_ms)
                for row in custom_metric_rows(window, end - slide_ms, end):
                    yield "custom_metrics", row


def activity_row(window: Slice, start: int) -> dict:
    """An ``endpoint_activity`` row: the registry's counts, the latency sketch (bucket -> count),
    whose rows add up over any range, and the endpoint as last seen."""
    endpoint, latency = window.endpoint, window.latency
    return {"project": window.project, "endpoint_id": window.endpoint_id, "window_start": start,
            "first_request": window.first_ms, "last_request": window.last_ms, "requests_count": window.requests,
            "predictions_count": window.predictions, "error_count": window.errors,
            "latency_count": latency.count, "latency_sum": float(latency.total_us),
            "latency_max": float(latency.max_us) if latency.count else None,
            "latency_buckets": dict(zip(latency.keys.tolist(), latency.counts.tolist())),
            "function_uri": endpoint.function_uri, "model": endpoint.model, "version": endpoint.version,
            "model_class": endpoint.model_class, "labels": endpoint.labels}


def custom_metric_rows(window: Slice, start: int, end: int) -> list[dict]:
    return [{"project": window.project, "endpoint_id": window.endpoint_id, "metric_name": name,
             "window_start": start, "window_end": end, "values_count": count, "sum": total, "mean": total / count,
             "min": low, "max": high} for name, (count, total, low, high) in window.metrics.items()]
