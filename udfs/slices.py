"""A batch's valid events summed per endpoint and time slice: the unit the metric windows are
merged from (:mod:`modelmon.udfs.metric_windows`), so that one record per batch and endpoint,
not one per event, reaches Flink's keyed state.

Slices are as long as the greatest common divisor of the slide and the window sizes, so every
HOP window (starts on multiples of the slide) and every slide-long activity window is a whole
number of slices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from modelmon.udfs.contract import STATUS_OK, Endpoint
from modelmon.udfs.event_columns import EventColumns
from modelmon.udfs.latency_sketch import BUCKETS, ZERO_BUCKET, LatencySketch, buckets_of

SLICE_KEY_BITS = 34  # time // slice_ms < 2**34 for every time the store keeps (slices of 1 s or more)


def slice_length_ms(slide_ms: int, window_sizes_ms: Sequence[int]) -> int:
    """The longest slice that tiles every window: gcd of the slide and the window sizes.

    >>> slice_length_ms(60_000, [300_000, 3_600_000]), slice_length_ms(45_000, [300_000, 3_600_000])
    (60000, 15000)
    """
    return math.gcd(slide_ms, *window_sizes_ms)


@dataclass
class Slice:
    """The valid events of one endpoint in one time slice [start, start + length).

    ``latency`` sketches the latencies of its successful events (bounded whatever their
    number); ``metrics`` maps a custom metric name to (count, sum, min, max) over the slice's
    successful events; ``endpoint`` is the endpoint as the slice's last event named it.
    """

    start: int
    project: str
    endpoint_id: str
    requests: int
    predictions: int
    errors: int
    latency: LatencySketch  # of the successful events, in microseconds
    first_ms: int
    last_ms: int
    endpoint: Endpoint
    metrics: dict[str, tuple[int, float, float, float]] = field(default_factory=dict)

    def merge(self, later: "Slice") -> "Slice":
        """Both slices' events, ``later`` having arrived after this one.

        >>> e = Endpoint("p", "e", "p/f", "m", "", "C", "{}")
        >>> a = Slice(0, "p", "e", 2, 3, 1, LatencySketch.of(np.array([5])), 10, 20, e, {"c": (1, 0.5, 0.5, 0.5)})
        >>> b = Slice(0, "p", "e", 1, 1, 0, LatencySketch.of(np.array([7])), 5, 15, e, {"c": (1, 1.5, 1.5, 1.5)})
        >>> m = a.merge(b)
        >>> m.requests, (m.latency.count, m.latency.total_us, m.latency.max_us), (m.first_ms, m.last_ms), m.metrics
        (3, (2, 12, 7), (5, 20), {'c': (2, 2.0, 0.5, 1.5)})
        """
        return Slice.combine([self, later])

    @staticmethod
    def combine(slices: Sequence["Slice"]) -> "Slice":
        """The events of ``slices`` (one project and endpoint, in arrival order) as one slice
        starting where the first does, in a single pass."""
        metrics: dict[str, tuple[int, float, float, float]] = {}
        for s in slices:
            for name, (count, total, low, high) in s.metrics.items():
                c, t, lo, hi = metrics.get(name, (0, 0.0, math.inf, -math.inf))
                metrics[name] = (c + count, t + total, min(lo, low), max(hi, high))
        last = slices[-1]
        return Slice(slices[0].start, last.project, last.endpoint_id, sum(s.requests for s in slices),
                     sum(s.predictions for s in slices), sum(s.errors for s in slices),
                     LatencySketch.combine([s.latency for s in slices]), min(s.first_ms for s in slices),
                     max(s.last_ms for s in slices), last.endpoint, metrics)


def slices(events: EventColumns, slice_ms: int) -> list[Slice]:
    """The valid events grouped per (project, endpoint id, slice), with no Python loop per event.

    >>> from dataclasses import replace
    >>> events = replace(EventColumns.empty(), line=np.array([0, 1, 2]), endpoint=np.array([0, 0, 0]),
    ...     time_ms=np.array([1_000, 61_000, 2_000]), predictions=np.array([2, 1, 0]),
    ...     latency_us=np.array([30, 40, 0]), is_error=np.array([False, False, True]),
    ...     status=np.array(["ok", "ok", "ok"], dtype=object), endpoints=[Endpoint("p", "e1", "p/f", "m", "", "C", "{}")],
    ...     metric_event=np.array([0]), metric_name=np.array(["c"], dtype=object), metric_value=np.array([0.5]))
    >>> [(s.start, s.requests, s.predictions, s.errors, s.latency.total_us, s.metrics)
    ...  for s in slices(events, 60_000)]
    [(0, 2, 2, 1, 30, {'c': (1, 0.5, 0.5, 0.5)}), (60000, 1, 1, 0, 40, {})]
    """
    valid = np.flatnonzero(events.status == STATUS_OK)
    if not valid.size:
        return []
    pairs: dict[tuple[str, str], int] = {}
    pair_of_endpoint = np.array([pairs.setdefault((e.project, e.endpoint_id), len(pairs))
                                 for e in events.endpoints], dtype=np.int64)
    slot = events.time_ms[valid] // slice_ms
    keys, group = np.unique((pair_of_endpoint[events.endpoint[valid]] << SLICE_KEY_BITS) + slot,
                            return_inverse=True)
    n = len(keys)
    requests = np.bincount(group, minlength=n)
    predictions = np.bincount(group, weights=events.predictions[valid], minlength=n)
    errors = np.bincount(group, weights=events.is_error[valid], minlength=n)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, group, events.time_ms[valid])
    last = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last, group, events.time_ms[valid])
    last_event = np.zeros(n, dtype=np.int64)
    np.maximum.at(last_event, group, valid)
    latencies = _latency_sketches(events.latency_us[valid], group, ~events.is_error[valid], n)
    metrics = _metric_groups(events, valid, group)
    result = []
    for g, key in enumerate(keys):
        endpoint = events.endpoints[events.endpoint[last_event[g]]]
        result.append(Slice(int(key & ((1 << SLICE_KEY_BITS) - 1)) * slice_ms, endpoint.project,
                            endpoint.endpoint_id, int(requests[g]), int(predictions[g]), int(errors[g]),
                            latencies[g], int(first[g]), int(last[g]), endpoint, metrics.get(g, {})))
    return result


def _latency_sketches(latency_us: np.ndarray, group: np.ndarray, success: np.ndarray, n: int) -> list[LatencySketch]:
    """Per slice group, the sketch of its successful events' latencies, with no loop per event."""
    latency_us, group = latency_us[success], group[success]
    # Exact integer sums, also past 2**63 µs (valid latencies go up to it): the high and low
    # 32 bits apart, each summed in int64, joined as Python integers.
    high, low = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    np.add.at(high, group, latency_us >> 32)
    np.add.at(low, group, latency_us & 0xFFFFFFFF)
    largest = np.zeros(n, dtype=np.int64)
    np.maximum.at(largest, group, latency_us)
    cells, counts = np.unique(group * BUCKETS + (buckets_of(latency_us) - ZERO_BUCKET), return_counts=True)
    cell_group = cells // BUCKETS
    bounds = np.searchsorted(cell_group, np.arange(n + 1))
    return [LatencySketch(cells[bounds[g]:bounds[g + 1]] % BUCKETS + ZERO_BUCKET, counts[bounds[g]:bounds[g + 1]],
                          (int(high[g]) << 32) + int(low[g]), int(largest[g])) for g in range(n)]


def _metric_groups(events: EventColumns, valid: np.ndarray,
                   group: np.ndarray) -> dict[int, dict[str, tuple[int, float, float, float]]]:
    """Per slice group, each custom metric's (count, sum, min, max), over the valid events."""
    group_of_event = np.full(len(events.status), -1, dtype=np.int64)
    group_of_event[valid] = group
    kept = np.flatnonzero(group_of_event[events.metric_event] >= 0)
    if not kept.size:
        return {}
    known: dict[str, int] = {}
    name_code = np.fromiter((known.setdefault(name, len(known)) for name in events.metric_name[kept]),
                            dtype=np.int64, count=len(kept))
    names = list(known)
    keys, cell = np.unique(group_of_event[events.metric_event[kept]] * len(names) + name_code, return_inverse=True)
    values = events.metric_value[kept]
    count = np.bincount(cell)
    total = np.bincount(cell, weights=values)
    low = np.full(len(keys), np.inf)
    np.minimum.at(low, cell, values)
    high = np.full(len(keys), -np.inf)
    np.maximum.at(high, cell, values)
    result: dict[int, dict] = {}
    for c, key in enumerate(keys):
        g, name = divmod(int(key), len(names))
        result.setdefault(g, {})[names[name]] = (int(count[c]), float(total[c]), float(low[c]), float(high[c]))
    return result


