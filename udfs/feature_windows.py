"""What the job stores when a feature window closes: the window's histograms and the drift
of the trailing range against the reference. Plain functions over :class:`FeatureSummary`;
the Flink adapter (pipelines/monitoring_job.py) keeps the summaries in keyed state.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from modelmon.udfs.drift import MEASURES, NO_REFERENCE, FeatureDrift, drift_status, endpoint_drift, features_drift
from modelmon.udfs.histograms import FeatureSummary, Reference, feature_names, summary_rows

ReferenceLookup = Callable[[int], Reference | None]  # reference id -> that version of the reference


def histogram_rows(project: str, endpoint_id: str, window_start: int, window_ms: int,
                   summaries: Sequence[FeatureSummary], reference_version: ReferenceLookup) -> list[dict]:
    """``feature_histograms`` rows of one window: one per feature and reference version."""
    rows = []
    for summary in summaries:
        reference = reference_version(summary.reference_id) if summary.reference_id else None
        for row in summary_rows(summary, feature_names(reference, summary.features), reference):
            rows.append(dict(row, project=project, endpoint_id=endpoint_id, reference_id=summary.reference_id,
                             window_start=window_start, window_end=window_start + window_ms))
    return rows


def drift_rows(project: str, endpoint_id: str, ends: Sequence[int], range_ms: int,
               windows: Mapping[int, Sequence[FeatureSummary]],
               reference: Reference | None) -> list[tuple[list[dict], dict]]:
    """Per end in ``ends``: the ``drift_measures`` rows (one per binned feature) and the
    ``drift_status`` row for the range [end - range_ms, end). Only live counts on the current
    reference's bins count. The measures of all ends are computed in one call: a timer at the
    end of a bounded input passes every end at once, and per end the measures' numpy calls on
    a few small arrays cost more than their arithmetic."""
    if reference is None:
        return [_no_reference_rows(project, endpoint_id, end, range_ms, windows) for end in ends]
    if not ends:
        return []
    starts = sorted(windows)
    features, bins = len(reference.binned), reference.bins
    window_bins = np.zeros((len(starts) + 1, features, bins), dtype=np.int64)  # row k + 1: starts[k]'s window
    for k, window_start in enumerate(starts):
        for summary in windows[window_start]:
            if summary.reference_id == reference.reference_id:
                window_bins[k + 1] += summary.bins[reference.binned]
    trailing = np.cumsum(window_bins, axis=0)  # exact: integer counts
    ends_array = np.asarray(ends, dtype=np.int64)
    live = (trailing[np.searchsorted(starts, ends_array)]
            - trailing[np.searchsorted(starts, ends_array - range_ms)])  # (end, feature, bin)
    reference_counts = np.tile(reference.binned_counts, (len(ends), 1))
    categorical_bins = np.tile([reference.features[j].live_bins if reference.features[j].categories is not None else 0
                                for j in reference.binned], len(ends))
    drifts = features_drift(live.reshape(len(ends) * features, bins), reference_counts, categorical_bins)
    return [_reference_rows(project, endpoint_id, end, range_ms, reference, drifts[k * features:(k + 1) * features])
            for k, end in enumerate(ends)]


def _reference_rows(project: str, endpoint_id: str, end: int, range_ms: int, reference: Reference,
                    drifts: Sequence[FeatureDrift]) -> tuple[list[dict], dict]:
    base = {"project": project, "endpoint_id": endpoint_id, "window_start": end - range_ms, "window_end": end}
    measure_rows = []
    for j, drift in zip(reference.binned, drifts):
        measure_rows.append(dict(
            base, feature_name=reference.features[j].name, feature_index=j, reference_id=reference.reference_id,
            live_count=drift.live_count, **{m.name: drift.values.get(m.name) for m in MEASURES},
            drift_measure=drift.drift_measure,
            drift_status=drift_status(drift.drift_measure, reference.possible_threshold, reference.detected_threshold),
            exceeded=[m.name for m in MEASURES if m.name in drift.values and m.exceeds(drift.values[m.name])]))
    summary = endpoint_drift(drifts, reference.possible_threshold, reference.detected_threshold)
    status = dict(base, reference_id=reference.reference_id, feature_names=reference.feature_names,
                  features_count=summary.features_count, drift_measure=summary.drift_measure,
                  drift_status=summary.status, possible_threshold=reference.possible_threshold,
                  detected_threshold=reference.detected_threshold, **_aggregates(summary))
    return measure_rows, status


def _no_reference_rows(project: str, endpoint_id: str, end: int, range_ms: int,
                       windows: Mapping[int, Sequence[FeatureSummary]]) -> tuple[list[dict], dict]:
    """The status row of a range without a reference, naming as many features as its widest
    row had (a merged summary is as wide as its widest part).

    >>> from modelmon.udfs.histograms import summarize
    >>> narrow, wide = (summarize(np.ones((1, k)), np.zeros(1, int), 1, None, 0)[0] for k in (1, 3))
    >>> [_no_reference_rows("p", "e", end, 600, {0: [narrow], 600: [wide]})[1]["feature_names"] for end in (600, 900)]
    [['f0'], ['f0', 'f1', 'f2']]
    """
    width = max((summary.features for start, held in windows.items() if end - range_ms <= start < end
                 for summary in held if summary.reference_id == 0), default=0)
    return [], dict(project=project, endpoint_id=endpoint_id, window_start=end - range_ms, window_end=end,
                    reference_id=0, feature_names=feature_names(None, width), features_count=0, drift_measure=None,
                    drift_status=NO_REFERENCE, possible_threshold=None, detected_threshold=None, **_aggregates(None))


def _aggregates(summary) -> dict:
    if summary is None:
        return {"tvd_sum": None, "tvd_mean": None, "hellinger_sum": None, "hellinger_mean": None,
                "kld_sum": None, "kld_mean": None, "psi_mean": None, "jsd_mean": None}
    return {"tvd_sum": summary.sums["tvd"], "tvd_mean": summary.means["tvd"],
            "hellinger_sum": summary.sums["hellinger"], "hellinger_mean": summary.means["hellinger"],
            "kld_sum": summary.sums["kld"], "kld_mean": summary.means["kld"],
            "psi_mean": summary.means["psi"], "jsd_mean": summary.means["jsd"]}
