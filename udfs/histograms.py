"""Feature statistics and histograms on reference bins, computed over numpy batches.

A reference has N equal-width bins over the training min..max. Live values are counted in
those bins plus an underflow bin (index 0) and an overflow bin (index N+1), so values
outside the training range are counted, not dropped. NaN, infinite and non-numeric values
are counted as invalid per feature.

Summaries of disjoint sets of rows merge exactly (counts add, means and squared deviations
combine by Chan's formula), so a window's summary can be built from many partial ones.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import numpy as np

DEFAULT_BINS = 20


def bin_edges(minimum: float, maximum: float, bins: int) -> np.ndarray:
    """Equal-width edges over min..max, as ``numpy.histogram`` makes them.

    >>> bin_edges(0.0, 1.0, 4).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> bin_edges(3.0, 3.0, 2).tolist()  # a constant feature gets a unit-wide range
    [2.5, 3.0, 3.5]
    """
    return np.histogram_bin_edges([], bins=bins, range=(minimum, maximum)) if maximum > minimum \
        else np.linspace(minimum - 0.5, maximum + 0.5, bins + 1)


def bin_counts(ordered: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The counts of sorted values below the first edge, in each of the N bins (the last one
    closed) and above the last edge: two searches of the edges among the values, where a
    search per value took longer than sorting them.

    >>> bin_counts(np.array([-1.0, 0.0, 0.5, 1.0, 2.0]), np.array([0.0, 0.5, 1.0])).tolist()
    [1, 1, 2, 1]
    """
    bounds = np.empty(len(edges) + 2, dtype=np.int64)  # 0, how many values lie below each edge, all
    bounds[0], bounds[-1] = 0, len(ordered)
    bounds[1:-1] = np.searchsorted(ordered, edges, side="left")
    bounds[-2] = np.searchsorted(ordered, edges[-1], side="right")
    return bounds[1:] - bounds[:-1]


@dataclass(frozen=True)
class FeatureReference:
    """One feature of a training set; ``edges``/``counts`` are None for a non-numeric feature."""

    name: str
    edges: np.ndarray | None = None
    counts: np.ndarray | None = None  # the N inner bins

    def outer_counts(self) -> np.ndarray | None:
        return None if self.counts is None else on_live_bins(self.counts)


def on_live_bins(reference_counts: Sequence[int] | np.ndarray) -> np.ndarray:
    """A reference's N inner bin counts on the live bins: 0 in the underflow and overflow bins.

    >>> on_live_bins([3, 4]).tolist()
    [0, 3, 4, 0]
    """
    return np.concatenate([[0], reference_counts, [0]])


@dataclass(frozen=True)
class Reference:
    """The registered training-set profile of one endpoint."""

    reference_id: int  # registration time in epoch microseconds; names the bins live counts use
    features: tuple[FeatureReference, ...]
    possible_threshold: float
    detected_threshold: float

    @property
    def bins(self) -> int:
        """Live bins per feature: the reference's N plus underflow and overflow."""
        return max((len(f.counts) + 2 for f in self.features if f.counts is not None), default=0)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @cached_property
    def binned(self) -> list[int]:
        """The indices of the features with bins (numeric in the training set)."""
        return [j for j, f in enumerate(self.features) if f.counts is not None]

    @cached_property
    def binned_counts(self) -> np.ndarray:
        """(binned features, live bins): each binned feature's :meth:`FeatureReference.outer_counts`,
        kept once per reference since every drift computation reads them."""
        if not self.binned:
            return np.zeros((0, self.bins), dtype=np.int64)
        return np.stack([self.features[j].outer_counts() for j in self.binned])


def feature_names(reference: Reference | None, count: int) -> list[str]:
    """The reference's names, else ``f0..fK-1`` (DESIGN.md).

    >>> feature_names(None, 3)
    ['f0', 'f1', 'f2']
    """
    names = reference.feature_names if reference else []
    return [names[j] if j < len(names) else f"f{j}" for j in range(count)]


def as_number(value: object) -> float:
    """A JSON feature value as a float, NaN when it is not a number (JSON booleans included)."""
    if type(value) not in (int, float):  # bool, str, None, list, dict: not a feature value
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.nan


_HEADER = struct.Struct("<qii")


@dataclass
class FeatureSummary:
    """Statistics and bin counts of K features over a set of rows (one window, or part of one).

    ``bins`` is (K, N+2) on the reference's bins, or (K, 0) when there is no reference.
    Empty features have count 0, mean and m2 0, minimum +inf and maximum -inf.
    """

    reference_id: int
    count: np.ndarray
    invalid: np.ndarray
    mean: np.ndarray
    m2: np.ndarray  # sum of squared deviations from the mean
    minimum: np.ndarray
    maximum: np.ndarray
    bins: np.ndarray

    @property
    def features(self) -> int:
        return len(self.count)

    def std(self) -> np.ndarray:
        """Population standard deviation (ddof 0), NaN where count is 0."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(self.m2 / self.count)

    def widened(self, features: int) -> "FeatureSummary":
        """The same summary over more features (no-reference endpoints whose rows grew)."""
        extra = features - self.features
        if extra <= 0:
            return self

        def pad(array: np.ndarray, value: float) -> np.ndarray:
            return np.concatenate([array, np.full((extra,) + array.shape[1:], value, dtype=array.dtype)])

        return FeatureSummary(self.reference_id, pad(self.count, 0), pad(self.invalid, 0), pad(self.mean, 0.0),
                              pad(self.m2, 0.0), pad(self.minimum, np.inf), pad(self.maximum, -np.inf),
                              pad(self.bins, 0))

    def merge(self, other: "FeatureSummary") -> "FeatureSummary":
        """The summary of both sets of rows (same reference). Exact up to rounding.

        >>> a = summarize(np.array([[1.0], [2.0]]), np.zeros(2, int), 1, None, 0)[0]
        >>> b = summarize(np.array([[4.0], [np.nan]]), np.zeros(2, int), 1, None, 0)[0]
        >>> m = a.merge(b)
        >>> m.count.tolist(), m.invalid.tolist(), m.mean.round(9).tolist(), m.std().round(6).tolist()
        ([3], [1], [2.333333333], [1.247219])
        """
        if other.reference_id != self.reference_id:
            raise ValueError("summaries on different reference bins do not merge")
        width = max(self.features, other.features)
        a, b = self.widened(width), other.widened(width)
        count = a.count + b.count
        delta = b.mean - a.mean
        share = np.divide(b.count, count, out=np.zeros(width), where=count > 0)
        return FeatureSummary(
            self.reference_id, count, a.invalid + b.invalid, a.mean + delta * share,
            a.m2 + b.m2 + delta ** 2 * a.count * share, np.minimum(a.minimum, b.minimum),
            np.maximum(a.maximum, b.maximum), a.bins + b.bins)

    def to_bytes(self) -> bytes:
        """A compact encoding for the job's partial-summary records."""
        head = _HEADER.pack(self.reference_id, self.features, self.bins.shape[1])
        stats = np.stack([self.count, self.invalid]).astype("<i8").tobytes()
        floats = np.stack([self.mean, self.m2, self.minimum, self.maximum]).astype("<f8").tobytes()
        return head + stats + floats + self.bins.astype("<i8").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> "FeatureSummary":
        reference_id, k, b = _HEADER.unpack_from(data)
        offset = _HEADER.size
        stats = np.frombuffer(data, "<i8", 2 * k, offset).reshape(2, k)
        offset += 16 * k
        floats = np.frombuffer(data, "<f8", 4 * k, offset).reshape(4, k)
        offset += 32 * k
        bins = np.frombuffer(data, "<i8", k * b, offset).reshape(k, b)
        return cls(reference_id, stats[0].copy(), stats[1].copy(), floats[0].copy(), floats[1].copy(),
                   floats[2].copy(), floats[3].copy(), bins.copy())


def summarize(values: np.ndarray, groups: np.ndarray, group_count: int,
              reference: Reference | None, reference_id: int) -> list[FeatureSummary]:
    """One summary per group of rows, with no Python loop over values.

    ``values`` is (n, K) with NaN for invalid values; ``groups`` gives each row's group in
    0..group_count-1. With a reference, K must be its feature count.

    >>> edges = np.array([0.0, 1.0, 2.0])
    >>> ref = Reference(1, (FeatureReference("x", edges, np.array([5, 5])),), 0.5, 0.7)
    >>> s = summarize(np.array([[0.5], [1.5], [9.0], [np.nan]]), np.array([0, 0, 0, 1]), 2, ref, 1)
    >>> s[0].bins.tolist(), s[0].count.tolist(), s[1].invalid.tolist()
    ([[0, 1, 1, 1]], [3], [1])
    """
    n, k = values.shape
    valid = np.isfinite(values)
    cell = (groups[:, None] * k + np.arange(k))[valid]  # (group, feature) of each valid value
    valid_values = values[valid]
    size = group_count * k
    count = np.bincount(cell, minlength=size)
    rows = np.bincount(groups, minlength=group_count)
    sums = np.bincount(cell, weights=valid_values, minlength=size)
    mean = np.divide(sums, count, out=np.zeros(size), where=count > 0)
    m2 = np.bincount(cell, weights=(valid_values - mean[cell]) ** 2, minlength=size)
    minimum = np.full(size, np.inf)
    np.minimum.at(minimum, cell, valid_values)
    maximum = np.full(size, -np.inf)
    np.maximum.at(maximum, cell, valid_values)
    count = count.reshape(group_count, k)
    width = reference.bins if reference else 0
    bins = np.zeros((group_count, k, width), dtype=np.int64)
    if reference is not None:
        columns = np.ascontiguousarray(np.where(valid, values, np.nan).T)
        for g in range(group_count):
            ordered = np.sort(columns if group_count == 1 else columns[:, groups == g], axis=1)  # NaN last
            for j, feature in enumerate(reference.features):
                if feature.edges is not None:
                    bins[g, j, :len(feature.edges) + 1] = bin_counts(ordered[j, :count[g, j]], feature.edges)
    invalid = rows[:, None] - count
    shape = (group_count, k)
    return [FeatureSummary(reference_id, count[g], invalid[g], mean.reshape(shape)[g], m2.reshape(shape)[g],
                           minimum.reshape(shape)[g], maximum.reshape(shape)[g],
                           bins[g]) for g in range(group_count)]


def summary_rows(summary: FeatureSummary, names: Sequence[str]) -> list[dict]:
    """Per-feature values for storage: NULL (None) where a feature had no valid value."""
    std = summary.std()
    rows = []
    for j in range(summary.features):
        empty = summary.count[j] == 0
        rows.append({
            "feature_index": j, "feature_name": names[j], "count": int(summary.count[j]),
            "invalid_count": int(summary.invalid[j]),
            "mean": None if empty else float(summary.mean[j]), "std": None if empty else float(std[j]),
            "min": None if empty else float(summary.minimum[j]), "max": None if empty else float(summary.maximum[j]),
            "bin_counts": summary.bins[j].tolist(),
        })
    return rows
