"""Latency percentiles from a mergeable log-bucket sketch (DDSketch's buckets).

A latency of ``x`` µs falls in bucket ``ceil(log_γ x)``, γ = (1 + α) / (1 − α), whose value
2γᵏ / (γ + 1) is within α = 1 % of every latency in it (0 µs has a bucket of its own). A
sketch is its bucket counts: sketches merge by adding them, so a window's sketch is the sum of
its slices' and a time range's the sum of its rows', and what an endpoint holds per slice is
bounded by the number of buckets (about 116 per factor of ten) whatever its traffic.

Percentiles interpolate linearly between the two order statistics around the rank, as
``numpy.percentile`` does, each estimated by its bucket's value: the result is within α of
numpy's on the same latencies.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import Mapping, Sequence

import numpy as np

from modelmon.udfs.contract import MAX_LATENCY_US

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
ZERO_BUCKET = -1  # the bucket of 0 µs
MAX_BUCKET = math.ceil(math.log(MAX_LATENCY_US) / _LOG_GAMMA)  # of the largest valid latency
BUCKETS = MAX_BUCKET - ZERO_BUCKET + 1  # a dense array of counts, index = bucket - ZERO_BUCKET


def buckets_of(latencies_us: np.ndarray) -> np.ndarray:
    """Each latency's bucket.

    >>> buckets_of(np.array([0, 1, 2, 1000, 1001])).tolist()
    [-1, 0, 35, 346, 346]
    """
    latencies = np.asarray(latencies_us, dtype=np.float64)
    keys = np.ceil(np.log(np.maximum(latencies, 1.0)) / _LOG_GAMMA).astype(np.int64)
    keys[latencies == 0] = ZERO_BUCKET
    return keys


def bucket_value(key: int) -> float:
    """The latency a bucket stands for, within α of every latency in it.

    >>> latencies = [0, 1, 2, 1000, 10**12]
    >>> values = [bucket_value(key) for key in buckets_of(np.array(latencies)).tolist()]
    >>> values[0], all(abs(value / latency - 1) <= RELATIVE_ACCURACY
    ...                    for value, latency in zip(values[1:], latencies[1:]))
    (0.0, True)
    """
    return 0.0 if key == ZERO_BUCKET else 2 * GAMMA ** key / (GAMMA + 1)


@dataclass
class LatencySketch:
    """Counts per bucket (``keys`` ascending, without zeros), plus the exact count, sum and
    maximum, which averages and maxima need and a sketch can keep exactly."""

    keys: np.ndarray  # int64
    counts: np.ndarray  # int64
    total_us: int
    max_us: int

    @staticmethod
    def of(latencies_us: np.ndarray) -> "LatencySketch":
        """The sketch of some latencies.

        >>> s = LatencySketch.of(np.array([5, 7, 7]))
        >>> s.keys.tolist(), s.counts.tolist(), s.total_us, s.max_us, s.count
        ([81, 98], [1, 2], 19, 7, 3)
        """
        keys, counts = np.unique(buckets_of(latencies_us), return_counts=True)
        latencies = np.asarray(latencies_us, dtype=np.int64)
        return LatencySketch(keys, counts.astype(np.int64), sum(latencies.tolist()),
                             int(latencies.max()) if latencies.size else 0)

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    @staticmethod
    def combine(sketches: Sequence["LatencySketch"]) -> "LatencySketch":
        """All of ``sketches`` as one.

        >>> LatencySketch.combine([LatencySketch.of(np.array([5, 7])), LatencySketch.of(np.array([7, 900]))]).counts
        array([1, 2, 1])
        """
        keys = np.concatenate([s.keys for s in sketches])
        unique, where = np.unique(keys, return_inverse=True)
        counts = np.bincount(where, weights=np.concatenate([s.counts for s in sketches]), minlength=len(unique))
        return LatencySketch(unique, counts.astype(np.int64), sum(s.total_us for s in sketches),
                             max((s.max_us for s in sketches), default=0))

    def dense(self) -> np.ndarray:
        return dense_counts(self.keys, self.counts)


def dense_counts(keys: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Counts of distinct buckets as a dense array over every bucket (index = bucket − ``ZERO_BUCKET``)."""
    dense = np.zeros(BUCKETS, dtype=np.int64)
    dense[np.asarray(keys, dtype=np.int64) - ZERO_BUCKET] = counts
    return dense


def dense_percentiles(counts: np.ndarray, percentiles: Sequence[float]) -> list[float]:
    """``numpy.percentile``'s linear percentiles estimated from dense bucket counts (non-empty).

    >>> rng = np.random.default_rng(1)
    >>> latencies = rng.lognormal(9, 1.5, 10_000).astype(np.int64)
    >>> estimated = dense_percentiles(LatencySketch.of(latencies).dense(), [50, 95, 99])
    >>> exact = np.percentile(latencies, [50, 95, 99])
    >>> bool(np.all(np.abs(np.array(estimated) / exact - 1) <= RELATIVE_ACCURACY))
    True
    >>> dense_percentiles(LatencySketch.of(np.array([100])).dense(), [50, 99]) == [bucket_value(231)] * 2
    True
    """
    occupied = np.flatnonzero(counts)
    return sketch_percentiles((occupied + ZERO_BUCKET).tolist(), counts[occupied].tolist(), percentiles)


def sketch_percentiles(keys: Sequence[int], counts: Sequence[int], percentiles: Sequence[float]) -> list[float]:
    """The percentiles of a sketch given as its occupied buckets (``keys`` ascending) and their
    counts, not empty: each order statistic's bucket is found among the cumulative counts.

    Plain Python over the occupied buckets, not numpy over all of them: a window holds a few
    of the 2,186, and numpy's per-call costs were most of the time (24 µs against 9 for 20
    latencies, a 10,000-endpoint run writes 1.7 M such windows).

    >>> sketch_percentiles([0, 35], [1, 3], [0, 50, 100]) == [bucket_value(0), bucket_value(35), bucket_value(35)]
    True
    """
    cumulative = list(accumulate(counts))
    n = cumulative[-1]

    def value(rank: int) -> float:
        return bucket_value(keys[bisect_right(cumulative, rank)])

    result = []
    for percentile in percentiles:
        position = (n - 1) * (percentile / 100)
        below = math.floor(position)
        low, high = value(below), value(min(below + 1, n - 1))
        weight, difference = position - below, high - low
        result.append(high - difference * (1 - weight) if weight >= 0.5 else low + difference * weight)
    return result


def bucket_percentiles(buckets: Mapping[int, int], percentiles: Sequence[float]) -> list[float]:
    """:func:`dense_percentiles` of a sketch given as bucket -> count (a time range's
    ``sumMap(latency_buckets)`` in the store), not empty.

    >>> bucket_percentiles({81: 1, 98: 2}, [50]) == [bucket_value(98)]
    True
    """
    keys = sorted(buckets)
    return sketch_percentiles(keys, [buckets[key] for key in keys], percentiles)
