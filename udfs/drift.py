"""Drift between a live histogram and its reference, the way DESIGN.md defines it.

Both histograms use the same bins: the reference's N bins plus an underflow and an overflow
bin, or a categorical feature's categories plus other and missing. Each is normalized by its
total (p = live, q = reference). The measures live in one registry, :data:`MEASURES`, each with
its name, default threshold and direction. A measure takes one histogram per row (bins on the
last axis), so all of an endpoint's features are measured in one numpy call per measure rather
than one per feature; ``chi2_pvalue`` is measured for categorical features only, on counts.

>>> result = feature_drift(np.array([0, 5, 5, 0]), np.array([0, 10, 0, 0]))
>>> result.values["tvd"], round(result.values["hellinger"], 6)
(0.5, 0.541196)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import special

EPSILON = 1e-4  # replaces a 0 in a denominator of KLD and PSI

NO_DRIFT = "NO_DRIFT"
POSSIBLE_DRIFT = "POSSIBLE_DRIFT"
DRIFT_DETECTED = "DRIFT_DETECTED"
NO_REFERENCE = "NO_REFERENCE"  # the endpoint has no registered training set
NO_DATA = "NO_DATA"  # no valid live value in the range for any binned feature
DRIFT_STATUSES = (NO_DRIFT, POSSIBLE_DRIFT, DRIFT_DETECTED, NO_REFERENCE, NO_DATA)

DEFAULT_POSSIBLE_THRESHOLD = 0.5
DEFAULT_DETECTED_THRESHOLD = 0.7


def total_variation_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """TVD = ½·Σ|p−q|, in [0, 1].

    >>> total_variation_distance(np.array([[1.0, 0.0], [0.5, 0.5]]), np.array([[0.0, 1.0], [0.5, 0.5]])).tolist()
    [1.0, 0.0]
    """
    return 0.5 * np.abs(p - q).sum(axis=-1)


def hellinger_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hellinger = sqrt(½·Σ(√p−√q)²), in [0, 1].

    >>> hellinger_distance(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])).tolist()
    [1.0]
    """
    return np.sqrt(0.5 * ((np.sqrt(p) - np.sqrt(q)) ** 2).sum(axis=-1))


def _relative_entropy(weights: np.ndarray, denominators: np.ndarray) -> np.ndarray:
    """Σ w·ln(w/d): a term with w = 0 contributes 0; a 0 in d becomes EPSILON."""
    used = weights > 0
    ratio = np.divide(weights, np.where(denominators > 0, denominators, EPSILON), out=np.ones_like(weights),
                      where=used)
    return (weights * np.log(ratio)).sum(axis=-1)


def kl_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Symmetric KLD (MLRun's form): Σ p·ln(p/q) + Σ q·ln(q/p), uncapped.

    Half the live values in a bin the reference never saw: the ε term dominates.

    >>> kl_divergence(np.array([[0.5, 0.5]]), np.array([[1.0, 0.0]])).round(6).tolist()
    [4.60517]
    """
    return _relative_entropy(p, q) + _relative_entropy(q, p)


def population_stability_index(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """PSI = Σ (p−q)·ln(p/q), with a 0 on either side replaced by EPSILON.

    Algebraically the same sum as the symmetric KLD (they differ only where both bins
    are empty); it is kept for users who read it against the usual PSI scale (0.1, 0.25).

    >>> population_stability_index(np.array([[0.5, 0.5]]), np.array([[1.0, 0.0]])).round(6).tolist()
    [4.60517]
    """
    return ((p - q) * np.log(np.where(p > 0, p, EPSILON) / np.where(q > 0, q, EPSILON))).sum(axis=-1)


def jensen_shannon_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """sqrt of the Jensen-Shannon divergence (natural log), in [0, sqrt(ln 2)].

    >>> (jensen_shannon_distance(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])) ** 2).round(6).tolist()
    [0.693147]
    """
    m = (p + q) / 2
    return np.sqrt(np.maximum(0.0, (_relative_entropy(p, m) + _relative_entropy(q, m)) / 2))


def chi2_pvalue(live_counts: np.ndarray, reference_counts: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """The p-value of ``scipy.stats.chisquare(f_obs=live, f_exp=expected)`` over each row's first
    ``bins`` bins, expected = (ref + 0.5) / Σ(ref + 0.5) × Σ live (Jeffreys smoothing: a category
    unseen in training expects a little, not nothing).

    >>> chi2_pvalue(np.array([[10, 10, 0, 0], [19, 1, 0, 0]]), np.array([[50, 50, 0, 0], [50, 50, 0, 0]]),
    ...             np.array([4, 4])).round(6).tolist()
    [0.977908, 0.000871]
    """
    own = np.arange(live_counts.shape[-1]) < np.asarray(bins)[:, None]
    smoothed = np.where(own, reference_counts + 0.5, 0.0)
    expected = smoothed / smoothed.sum(axis=-1, keepdims=True) * live_counts.sum(axis=-1, keepdims=True)
    terms = np.divide((live_counts - expected) ** 2, expected, out=np.zeros_like(expected), where=own)
    return special.chdtrc(np.asarray(bins) - 1, terms.sum(axis=-1))


@dataclass(frozen=True)
class Measure:
    """A drift measure: values at or above ``threshold`` mean drift when ``higher_is_worse``
    (at or below it otherwise). A ``categorical_only`` measure takes the counts and each row's
    own bins, ``(live, reference, bins)``; the others take normalized rows ``(p, q)``."""

    name: str
    function: Callable[..., np.ndarray]  # one value per row
    threshold: float
    higher_is_worse: bool = True
    categorical_only: bool = False

    def exceeds(self, value: float) -> bool:
        return value >= self.threshold if self.higher_is_worse else value <= self.threshold


# tvd and hellinger default to the endpoint's "possible drift" level; psi to the usual
# "significant shift" level. kld and jsd have no agreed scale (MLRun sets none): their
# defaults are this project's choice, to be tuned per model.
MEASURES: tuple[Measure, ...] = (
    Measure("tvd", total_variation_distance, DEFAULT_POSSIBLE_THRESHOLD),
    Measure("hellinger", hellinger_distance, DEFAULT_POSSIBLE_THRESHOLD),
    Measure("kld", kl_divergence, 1.0),
    Measure("psi", population_stability_index, 0.25),
    Measure("jsd", jensen_shannon_distance, 0.3),
    Measure("chi2_pvalue", chi2_pvalue, 0.05, higher_is_worse=False, categorical_only=True),
)
MEASURE_NAMES = tuple(m.name for m in MEASURES)
DISTANCES = tuple(m for m in MEASURES if not m.categorical_only)  # every feature has these; endpoints sum them
DISTANCE_NAMES = tuple(m.name for m in DISTANCES)


def drift_status(drift_measure: float | None, possible: float, detected: float) -> str:
    """NO_DRIFT < possible <= POSSIBLE_DRIFT < detected <= DRIFT_DETECTED.

    >>> [drift_status(v, 0.5, 0.7) for v in (0.49, 0.5, 0.69, 0.7, None)]
    ['NO_DRIFT', 'POSSIBLE_DRIFT', 'POSSIBLE_DRIFT', 'DRIFT_DETECTED', 'NO_DATA']
    """
    if drift_measure is None:
        return NO_DATA
    if drift_measure >= detected:
        return DRIFT_DETECTED
    if drift_measure >= possible:
        return POSSIBLE_DRIFT
    return NO_DRIFT


@dataclass(frozen=True)
class FeatureDrift:
    """Every measure for one feature; ``values`` is empty when the live histogram is empty."""

    live_count: int
    values: dict[str, float]

    @property
    def drift_measure(self) -> float | None:
        """(tvd + hellinger) / 2, the feature's counterpart of the endpoint's drift_measure."""
        return (self.values["tvd"] + self.values["hellinger"]) / 2 if self.values else None


def features_drift(live_counts: np.ndarray, reference_counts: np.ndarray,
                   categorical_bins: np.ndarray | None = None) -> list[FeatureDrift]:
    """All measures between the histograms of each row (one feature per row, counts on the same
    bins, not yet normalized); ``categorical_bins`` gives a categorical feature's row its number of
    bins (0 for a numeric one), for the measures only they have.

    >>> [d.values.get("tvd") for d in features_drift(np.array([[0, 5, 5, 0], [0, 0, 0, 0]]),
    ...                                              np.array([[0, 10, 0, 0], [0, 1, 1, 0]]))]
    [0.5, None]
    """
    live_totals = live_counts.sum(axis=-1)
    reference_totals = reference_counts.sum(axis=-1)
    measured = (live_totals > 0) & (reference_totals > 0)
    p = live_counts[measured] / live_totals[measured, None]
    q = reference_counts[measured] / reference_totals[measured, None]
    values = iter(zip(*(m.function(p, q).tolist() for m in DISTANCES)))
    drifts = [FeatureDrift(int(total), dict(zip(DISTANCE_NAMES, next(values))) if both else {})
              for total, both in zip(live_totals.tolist(), measured.tolist())]
    if categorical_bins is not None:
        categorical = np.flatnonzero(measured & (np.asarray(categorical_bins) > 0))
        for measure in (m for m in MEASURES if m.categorical_only):
            found = measure.function(live_counts[categorical], reference_counts[categorical],
                                     np.asarray(categorical_bins)[categorical])
            for row, value in zip(categorical.tolist(), found.tolist()):
                drifts[row].values[measure.name] = value
    return drifts


def feature_drift(live_counts: np.ndarray, reference_counts: np.ndarray, categorical: bool = False) -> FeatureDrift:
    """All measures between two histograms on the same bins (counts, not yet normalized)."""
    bins = np.array([len(live_counts) if categorical else 0])
    return features_drift(live_counts[None], reference_counts[None], bins)[0]


@dataclass(frozen=True)
class EndpointDrift:
    """Per-endpoint sums and means over the features that have live data."""

    features_count: int
    sums: dict[str, float | None]
    means: dict[str, float | None]
    drift_measure: float | None
    status: str


def endpoint_drift(features: Sequence[FeatureDrift], possible: float, detected: float) -> EndpointDrift:
    """Aggregate feature drifts; the status follows ``drift_measure = (tvd_mean + hellinger_mean) / 2``.

    >>> d = endpoint_drift([FeatureDrift(10, {n: 0.8 for n in MEASURE_NAMES}),
    ...                     FeatureDrift(10, {n: 0.4 for n in MEASURE_NAMES}), FeatureDrift(0, {})], 0.5, 0.7)
    >>> d.features_count, round(d.sums["tvd"], 6), round(d.means["tvd"], 6), d.status
    (2, 1.2, 0.6, 'POSSIBLE_DRIFT')
    """
    measured = [f for f in features if f.values]
    if not measured:
        empty = dict.fromkeys(DISTANCE_NAMES)
        return EndpointDrift(0, empty, dict(empty), None, NO_DATA)
    sums = {name: float(sum(f.values[name] for f in measured)) for name in DISTANCE_NAMES}
    means = {name: total / len(measured) for name, total in sums.items()}
    measure = (means["tvd"] + means["hellinger"]) / 2
    return EndpointDrift(len(measured), sums, means, measure, drift_status(measure, possible, detected))
