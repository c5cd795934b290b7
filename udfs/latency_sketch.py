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
from dataclasses import dataclass
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


def bucket_values(keys: np.ndarray) -> np.ndarray:
    """The latency each bucket stands for, within α of every latency in it.

    >>> values = bucket_values(buckets_of(np.array([0, 1, 2, 1000, 10**12])))
    >>> float(values[0]), bool(np.all(np.abs(values[1:] / [1, 2, 1000, 10**12] - 1) <= RELATIVE_ACCURACY))
    (0.0, True)
    """
    keys = np.asarray(keys, dtype=np.int64)
    return np.where(keys == ZERO_BUCKET, 0.0, 2 * GAMMA ** keys.astype(np.float64) / (GAMMA + 1))


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
    >>> dense_percentiles(LatencySketch.of(np.array([100])).dense(), [50, 99]) == [bucket_values([231])[0]] * 2
    True
    """
    cumulative = np.cumsum(counts)
    n = int(cumulative[-1])
    positions = (n - 1) * (np.asarray(percentiles, dtype=np.float64) / 100)
    below = np.floor(positions)
    ranks = np.concatenate([below, np.minimum(below + 1, n - 1)]).astype(np.int64)  # all in one search
    low, high = bucket_values(np.searchsorted(cumulative, ranks, side="right") + ZERO_BUCKET).reshape(2, -1)
    weight = positions - below
    difference = high - low
    return np.where(weight >= 0.5, high - difference * (1 - weight), low + difference * weight).tolist()


def bucket_percentiles(buckets: Mapping[int, int], percentiles: Sequence[float]) -> list[float]:
    """:func:`dense_percentiles` of a sketch given as bucket -> count (a time range's
    ``sumMap(latency_buckets)`` in the store), not empty.

    >>> bucket_percentiles({81: 1, 98: 2}, [50]) == [float(bucket_values([98])[0])]
    True
    """
    return dense_percentiles(dense_counts(list(buckets), list(buckets.values())), percentiles)
