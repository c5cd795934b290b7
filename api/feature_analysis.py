"""Expected (reference) against actual (live) features of one endpoint over a time range:
the live histograms of the windows in the range are summed and compared with the same
drift functions the job uses, so any range gets the job's formulas."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from clickhouse_connect.driver.client import Client

from modelmon.api import queries
from modelmon.udfs.drift import MEASURE_NAMES, EndpointDrift, FeatureDrift, endpoint_drift, feature_drift
from modelmon.udfs.histograms import MISSING_BIN, OTHER_BIN, on_live_bins

# The data-quality counts of a feature over a range, each a sum of its windows' (DESIGN.md);
# values_count is every value, the rates' denominator.
QUALITY_COUNTS = ("values_count", "invalid_count", "missing_count", "type_mismatch_count", "nonfinite_count",
                  "out_of_range_count", "unseen_count")


@dataclass(frozen=True)
class FeatureAnalysis:
    features: list[dict[str, Any]]  # per feature: name, actual and expected stats, measures
    overall: EndpointDrift | None  # None without a reference


def analyze_features(client: Client, endpoint_id: str, start: datetime, end: datetime) -> FeatureAnalysis:
    reference = queries.current_reference(client, endpoint_id)
    reference_id = reference[0]["reference_id"] if reference else 0
    actual = {row["feature_index"]: row for row in queries.feature_actuals(client, endpoint_id, start, end,
                                                                            reference_id)}
    indexes = [r["feature_index"] for r in reference] or sorted(actual)
    expected = {r["feature_index"]: r for r in reference}
    features, drifts = [], []
    for index in indexes:
        live, ref = actual.get(index, {}), expected.get(index, {})
        drift = None
        categorical = bool(ref.get("categories"))
        if ref.get("bin_counts"):
            expected_bins = np.asarray(ref["bin_counts"]) if categorical else on_live_bins(ref["bin_counts"])
            live_counts = np.asarray(live.get("live_bins") or np.zeros(len(expected_bins)), dtype=np.int64)
            drift = feature_drift(live_counts, expected_bins, categorical)
            drifts.append(drift)
        features.append({
            "feature_name": ref.get("feature_name") or live.get("name"),
            "actual_count": live.get("value_count", 0), "actual_min": live.get("value_min"),
            "actual_mean": live.get("value_mean"), "actual_std": live.get("value_std"),
            "actual_max": live.get("value_max"),
            "expected_count": ref.get("count"), "expected_min": ref.get("min"),
            "expected_mean": ref.get("mean"), "expected_std": ref.get("std"), "expected_max": ref.get("max"),
            "expected_bins": ref.get("bin_counts") or [], "bin_edges": ref.get("bin_edges") or [],
            "actual_bins": list(live.get("live_bins") or []), "feature_kind": ref.get("feature_kind") or None,
            "bin_labels": [*ref["categories"], OTHER_BIN, MISSING_BIN] if categorical else [],
            **{name: live.get(name, 0) for name in QUALITY_COUNTS}, **_measures(drift)})
    overall = None
    if reference:
        overall = endpoint_drift(drifts, reference[0]["possible_threshold"], reference[0]["detected_threshold"])
    return FeatureAnalysis(features, overall)


def _measures(drift: FeatureDrift | None) -> dict[str, float | None]:
    values = drift.values if drift else {}
    return {name: values.get(name) for name in MEASURE_NAMES}
