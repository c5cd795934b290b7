"""Feature statistics, histograms on reference bins and data-quality counts, computed over
numpy batches.

A numeric feature's reference has N equal-width bins over the training min..max. Live values
are counted in those bins plus an underflow bin (index 0) and an overflow bin (index N+1), so
values outside the training range are counted, not dropped. A categorical feature's reference
has its top training categories; live values are counted per category, then in ``__other__``
(a category outside that list) and ``__missing__`` (null or absent). A value that is neither
(NaN or infinite, a string for a numeric feature, a number for a categorical one, ...) is
invalid, counted by why.

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

from modelmon.udfs.contract import VALUE_FALSE, VALUE_NONFINITE, VALUE_NULL, VALUE_NUMBER, VALUE_TRUE

DEFAULT_BINS = 20
DEFAULT_MAX_CATEGORIES = 50  # categories a categorical feature's reference keeps, the most frequent
OTHER_BIN, MISSING_BIN = "__other__", "__missing__"
NUMERIC, CATEGORICAL, CATEGORICAL_NUMBER = "numeric", "categorical", "categorical_number"  # feature kinds


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
    """One feature of a training set: numeric (``edges``, ``counts`` of the N inner bins),
    categorical (``categories``, ``counts`` per category then other then missing), or neither
    (a position only: a non-numeric feature of a reference registered before categories)."""

    name: str
    edges: np.ndarray | None = None
    counts: np.ndarray | None = None
    categories: tuple[str, ...] | None = None
    kind: str = NUMERIC  # CATEGORICAL_NUMBER: category codes, matched by their numbers

    @property
    def live_bins(self) -> int:
        """How many bins its live counts have: N + 2, categories + 2, or 0 when it has none."""
        if self.categories is not None:
            return len(self.categories) + 2
        return 0 if self.edges is None else len(self.edges) + 1

    def outer_counts(self) -> np.ndarray | None:
        """The reference counts on the live bins."""
        if self.categories is not None or self.counts is None:
            return self.counts
        return on_live_bins(self.counts)

    def bin_labels(self) -> list[str]:
        """What a categorical feature's live bins are; numeric bins are named by their edges.

        >>> FeatureReference("c", None, np.array([3, 1, 0, 0]), ("a", "b"), CATEGORICAL).bin_labels()
        ['a', 'b', '__other__', '__missing__']
        """
        return [] if self.categories is None else [*self.categories, OTHER_BIN, MISSING_BIN]

    @cached_property
    def category_numbers(self) -> tuple[np.ndarray, np.ndarray]:
        """The categories of category codes as sorted numbers, and the bin of each."""
        numbers = np.array([float(c) for c in self.categories or ()], dtype=np.float64)
        order = np.argsort(numbers, kind="stable")
        return numbers[order], order

    def category_bins(self, values: np.ndarray, codes: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """Each value's live bin, -1 for a value the feature cannot take (a type mismatch, or
        not finite).

        >>> ref = FeatureReference("c", None, np.array([3, 1, 0, 0]), ("a", "true"), CATEGORICAL)
        >>> ref.category_bins(np.full(5, np.nan), np.array([1, 0, -3, -2, -1]), ["zz", "a"]).tolist()
        [0, 2, 1, 3, -1]
        """
        others = len(self.categories)
        bins = np.full(len(codes), -1, dtype=np.int64)
        bins[codes == VALUE_NULL] = others + 1
        if self.kind == CATEGORICAL_NUMBER:
            number = np.flatnonzero(codes == VALUE_NUMBER)
            known, bin_of = self.category_numbers
            if not len(known):
                bins[number] = others
                return bins
            at = np.minimum(np.searchsorted(known, values[number]), len(known) - 1)
            bins[number] = np.where(known[at] == values[number], bin_of[at], others)
            return bins
        position = {c: k for k, c in enumerate(self.categories)}
        text = codes >= 0
        if text.any():
            bins[text] = np.array([position.get(t, others) for t in texts], dtype=np.int64)[codes[text]]
        bins[codes == VALUE_TRUE] = position.get("true", others)
        bins[codes == VALUE_FALSE] = position.get("false", others)
        return bins


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

    @cached_property
    def bins(self) -> int:
        """Live bins per feature in a summary: the most any feature has (the others' end in zeros)."""
        return max((f.live_bins for f in self.features), default=0)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @cached_property
    def binned(self) -> list[int]:
        """The indices of the features with bins (numeric or categorical)."""
        return [j for j, f in enumerate(self.features) if f.live_bins]

    @cached_property
    def binned_counts(self) -> np.ndarray:
        """(binned features, live bins): each binned feature's :meth:`FeatureReference.outer_counts`
        (ending in zeros up to ``bins``), kept once per reference since every drift computation
        reads them."""
        counts = np.zeros((len(self.binned), self.bins), dtype=np.int64)
        for row, j in enumerate(self.binned):
            own = self.features[j].outer_counts()
            counts[row, :len(own)] = own
        return counts

    @cached_property
    def numeric(self) -> list[int]:
        """The indices of the numeric features (with bin edges)."""
        return [j for j, f in enumerate(self.features) if f.edges is not None]

    @cached_property
    def categorical(self) -> list[int]:
        """The indices of the categorical features."""
        return [j for j, f in enumerate(self.features) if f.categories is not None]


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
    Empty features have count 0, mean and m2 0, minimum +inf and maximum -inf. ``count`` is the
    values counted in bins (for a categorical feature, its missing values too) or, without
    bins, the numbers; ``invalid`` the others, of which ``missing``, ``mismatched`` (a type the
    feature does not take) and ``nonfinite`` say why. Statistics cover numeric features only.
    """

    reference_id: int
    count: np.ndarray
    invalid: np.ndarray
    missing: np.ndarray
    mismatched: np.ndarray
    nonfinite: np.ndarray
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

        return FeatureSummary(self.reference_id, pad(self.count, 0), pad(self.invalid, 0), pad(self.missing, 0),
                              pad(self.mismatched, 0), pad(self.nonfinite, 0), pad(self.mean, 0.0),
                              pad(self.m2, 0.0), pad(self.minimum, np.inf), pad(self.maximum, -np.inf),
                              pad(self.bins, 0))

    def __setstate__(self, state: dict) -> None:
        """A summary pickled in the keyed state of a job from before the data-quality counts."""
        for name in ("missing", "mismatched", "nonfinite"):
            state.setdefault(name, np.zeros_like(state["count"]))
        self.__dict__.update(state)

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
            self.reference_id, count, a.invalid + b.invalid, a.missing + b.missing, a.mismatched + b.mismatched,
            a.nonfinite + b.nonfinite, a.mean + delta * share,
            a.m2 + b.m2 + delta ** 2 * a.count * share, np.minimum(a.minimum, b.minimum),
            np.maximum(a.maximum, b.maximum), a.bins + b.bins)

    def to_bytes(self) -> bytes:
        """A compact encoding for the job's partial-summary records."""
        head = _HEADER.pack(self.reference_id, self.features, self.bins.shape[1])
        counts = (self.count, self.invalid, self.missing, self.mismatched, self.nonfinite)
        stats = np.stack(counts).astype("<i8").tobytes()
        floats = np.stack([self.mean, self.m2, self.minimum, self.maximum]).astype("<f8").tobytes()
        return head + stats + floats + self.bins.astype("<i8").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> "FeatureSummary":
        reference_id, k, b = _HEADER.unpack_from(data)
        offset = _HEADER.size
        stats = np.frombuffer(data, "<i8", 5 * k, offset).reshape(5, k)
        offset += 40 * k
        floats = np.frombuffer(data, "<f8", 4 * k, offset).reshape(4, k)
        offset += 32 * k
        bins = np.frombuffer(data, "<i8", k * b, offset).reshape(k, b)
        return cls(reference_id, *stats.copy(), floats[0].copy(), floats[1].copy(),
                   floats[2].copy(), floats[3].copy(), bins.copy())


def summarize(values: np.ndarray, groups: np.ndarray, group_count: int, reference: Reference | None,
              reference_id: int, codes: np.ndarray | None = None, texts: Sequence[str] = ()) -> list[FeatureSummary]:
    """One summary per group of rows, with no Python loop over values.

    ``values`` is (n, K) with NaN for a value that is not a number; ``codes`` (n, K) says what
    each value is (``contract.VALUE_*`` or the index of its text in ``texts``; default: a number
    where finite, else not finite); ``groups`` gives each row's group in 0..group_count-1. With
    a reference, K must be its feature count.

    >>> edges = np.array([0.0, 1.0, 2.0])
    >>> ref = Reference(1, (FeatureReference("x", edges, np.array([5, 5])),), 0.5, 0.7)
    >>> s = summarize(np.array([[0.5], [1.5], [9.0], [np.nan]]), np.array([0, 0, 0, 1]), 2, ref, 1)
    >>> s[0].bins.tolist(), s[0].count.tolist(), s[1].invalid.tolist(), s[1].nonfinite.tolist()
    ([[0, 1, 1, 1]], [3], [1], [1])
    >>> colour = Reference(1, (FeatureReference("c", None, np.array([3, 1, 0, 0]), ("red", "blue"), CATEGORICAL),), 0.5, 0.7)
    >>> s = summarize(np.array([[np.nan], [np.nan], [np.nan], [5.0]]), np.zeros(4, int), 1, colour, 1,
    ...               np.array([[0], [1], [-2], [-1]]), ["blue", "teal"])
    >>> s[0].bins.tolist(), s[0].count.tolist(), s[0].missing.tolist(), s[0].mismatched.tolist()
    ([[0, 1, 1, 1]], [3], [1], [1])
    """
    n, k = values.shape
    if codes is None:
        codes = np.where(np.isfinite(values), VALUE_NUMBER, VALUE_NONFINITE)
    valid = codes == VALUE_NUMBER
    size = group_count * k
    cells = groups[:, None] * k + np.arange(k)  # (group, feature) of each value

    def per_cell(where: np.ndarray) -> np.ndarray:
        if not where.any():  # all numbers: the common case
            return np.zeros((group_count, k), dtype=np.int64)
        return np.bincount(cells[where], minlength=size).reshape(group_count, k)

    cell = cells[valid]
    valid_values = values[valid]
    count = np.bincount(cell, minlength=size)
    rows = np.bincount(groups, minlength=group_count)
    sums = np.bincount(cell, weights=valid_values, minlength=size)
    mean = np.divide(sums, count, out=np.zeros(size), where=count > 0)
    with np.errstate(over="ignore"):  # values near the float limits: m2 is inf, as their spread is
        m2 = np.bincount(cell, weights=(valid_values - mean[cell]) ** 2, minlength=size)
    minimum = np.full(size, np.inf)
    np.minimum.at(minimum, cell, valid_values)
    maximum = np.full(size, -np.inf)
    np.maximum.at(maximum, cell, valid_values)
    count = count.reshape(group_count, k)
    missing, nonfinite = per_cell(codes == VALUE_NULL), per_cell(codes == VALUE_NONFINITE)
    mismatched = np.zeros((group_count, k), dtype=np.int64)
    width = reference.bins if reference else 0
    bins = np.zeros((group_count, k, width), dtype=np.int64)
    if reference is not None:
        columns = np.ascontiguousarray(np.where(valid, values, np.nan).T)
        numeric = reference.numeric
        for g in range(group_count):
            ordered = np.sort(columns if group_count == 1 else columns[:, groups == g], axis=1)  # NaN last
            for j in numeric:
                bins[g, j, :reference.features[j].live_bins] = bin_counts(ordered[j, :count[g, j]],
                                                                         reference.features[j].edges)
        mismatched[:, numeric] = rows[:, None] - count[:, numeric] - missing[:, numeric] - nonfinite[:, numeric]
        for j in reference.categorical:
            feature = reference.features[j]
            live = feature.category_bins(values[:, j], codes[:, j], texts)
            taken = live >= 0
            bins[:, j, :feature.live_bins] = np.bincount(groups[taken] * feature.live_bins + live[taken],
                                                         minlength=group_count * feature.live_bins
                                                         ).reshape(group_count, feature.live_bins)
            count[:, j] = bins[:, j].sum(axis=1)
            mismatched[:, j] = rows - count[:, j] - nonfinite[:, j]
            mean.reshape(group_count, k)[:, j], m2.reshape(group_count, k)[:, j] = 0.0, 0.0
            minimum.reshape(group_count, k)[:, j], maximum.reshape(group_count, k)[:, j] = np.inf, -np.inf
    invalid = rows[:, None] - count
    shape = (group_count, k)
    return [FeatureSummary(reference_id, count[g], invalid[g], missing[g], mismatched[g], nonfinite[g],
                           mean.reshape(shape)[g], m2.reshape(shape)[g], minimum.reshape(shape)[g],
                           maximum.reshape(shape)[g], bins[g]) for g in range(group_count)]


def summary_rows(summary: FeatureSummary, names: Sequence[str], reference: Reference | None = None) -> list[dict]:
    """Per-feature values for storage: NULL (None) where a feature had no number; its bins as
    many as it has (on the reference the summary was counted on); the data-quality counts."""
    std = summary.std()
    rows = []
    for j in range(summary.features):
        feature = reference.features[j] if reference is not None and j < len(reference.features) else None
        own = summary.bins[j, :feature.live_bins] if feature is not None else summary.bins[j]
        categorical = feature is not None and feature.categories is not None
        numbers = summary.count[j] > 0 and not categorical
        rows.append({
            "feature_index": j, "feature_name": names[j], "count": int(summary.count[j]),
            "invalid_count": int(summary.invalid[j]),
            "mean": float(summary.mean[j]) if numbers else None, "std": float(std[j]) if numbers else None,
            "min": float(summary.minimum[j]) if numbers else None, "max": float(summary.maximum[j]) if numbers else None,
            "bin_counts": own.tolist(), "bin_labels": feature.bin_labels() if feature is not None else [],
            "missing_count": int(summary.missing[j]), "type_mismatch_count": int(summary.mismatched[j]),
            "nonfinite_count": int(summary.nonfinite[j]),
            "out_of_range_count": int(own[0] + own[-1]) if feature is not None and feature.edges is not None else 0,
            "unseen_count": int(own[-2]) if categorical else 0,
        })
    return rows
