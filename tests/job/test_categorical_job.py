"""Numeric and categorical features through the real job: a reference registered from a
training set with strings, booleans and integer codes (--categorical), traffic whose category
mix shifts halfway for one endpoint, with missing, mistyped, non-finite, out-of-range and
unseen values in it. Every stored count is checked against a plain-Python count of the lines
(tests/support/categorical_traffic.py), every drift number against scipy."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from scipy import stats

from modelmon import alert_rules
from modelmon.api import create_app
from modelmon.udfs.contract import endpoint_id
from tests.support.categorical_traffic import (FEATURES, KINDS, MODELS, QUALITY_RULES, RANGE_MS, SHIFTED, WINDOW_MS,
                                               training_set)
from tests.support.dashboards import expand, panels
from tests.support.expected import scipy_measures


def ms(moment) -> int:
    return round(moment.timestamp() * 1000)


def rows(client, sql: str) -> list[dict]:
    result = client.query(sql)
    return [dict(zip(result.column_names, row)) for row in result.result_rows]


def test_the_reference_keeps_each_categorical_feature_s_categories_and_counts(categorical_run, categorical_store):
    stored = rows(categorical_store, "SELECT * FROM reference_features ORDER BY endpoint_id, feature_index")
    for row in stored:
        reference = categorical_run["references"][row["endpoint_id"]]
        name = row["feature_name"]
        assert row["feature_kind"] == KINDS[name]
        if KINDS[name] == "numeric":
            assert row["categories"] == [] and row["bin_edges"] == pytest.approx(reference["edges"][name].tolist())
        else:
            assert row["categories"] == reference["categories"][name]
            assert row["bin_counts"] == reference["counts"][name]
    plan = next(r for r in stored if r["feature_name"] == "plan")
    member = next(r for r in stored if r["feature_name"] == "member")
    assert sorted(plan["categories"]) == ["1", "2", "3", "7"] and sorted(member["categories"]) == ["false", "true"]


def test_every_histogram_window_counts_categories_and_data_quality_exactly(categorical_run, categorical_store):
    expected = categorical_run["expected"]
    stored = rows(categorical_store, "SELECT * FROM feature_histograms FINAL")
    assert {(r["endpoint_id"], r["feature_index"], ms(r["window_start"])) for r in stored} == set(expected)
    totals = dict.fromkeys(("missing", "mismatched", "nonfinite", "out_of_range", "unseen"), 0)
    for row in stored:
        want = expected[(row["endpoint_id"], row["feature_index"], ms(row["window_start"]))]
        name = FEATURES[row["feature_index"]]
        reference = categorical_run["references"][row["endpoint_id"]]
        assert row["bin_counts"] == want.bins, (name, row["window_start"])
        assert (row["count"], row["invalid_count"]) == (want.count, want.invalid)
        assert (row["missing_count"], row["type_mismatch_count"], row["nonfinite_count"]) == \
            (want.missing, want.mismatched, want.nonfinite), (name, row["window_start"])
        if KINDS[name] == "numeric":
            assert row["out_of_range_count"] == want.bins[0] + want.bins[-1] and row["unseen_count"] == 0
            assert row["bin_labels"] == []
            numbers = np.array(want.numbers)
            assert row["mean"] == pytest.approx(numbers.mean(), rel=1e-9)
            assert row["std"] == pytest.approx(numbers.std(), rel=1e-9)
            totals["out_of_range"] += row["out_of_range_count"]
        else:
            assert row["unseen_count"] == want.bins[-2] and row["out_of_range_count"] == 0
            assert row["bin_labels"] == [*reference["categories"][name], "__other__", "__missing__"]
            assert row["mean"] is row["std"] is row["min"] is row["max"] is None
            totals["unseen"] += row["unseen_count"]
        totals["missing"] += row["missing_count"]
        totals["mismatched"] += row["type_mismatch_count"]
        totals["nonfinite"] += row["nonfinite_count"]
    assert all(totals.values()), totals  # the traffic has every kind of bad value


def _live(expected, endpoint: str, j: int, end: int) -> np.ndarray:
    windows = [cell.bins for (e, f, start), cell in expected.items() if e == endpoint and f == j
               and end - RANGE_MS <= start < end]
    return np.sum(windows, axis=0) if windows else None


def test_every_drift_measure_of_every_feature_matches_scipy(categorical_run, categorical_store):
    expected, references = categorical_run["expected"], categorical_run["references"]
    measured = rows(categorical_store, "SELECT * FROM drift_measures FINAL")
    assert len(measured) > 100
    for row in measured:
        name = row["feature_name"]
        live = _live(expected, row["endpoint_id"], row["feature_index"], ms(row["window_end"]))
        reference = references[row["endpoint_id"]]
        if KINDS[name] == "numeric":
            counts, _ = np.histogram(training_set()[name], bins=reference["edges"][name])
            reference_bins = np.concatenate([[0], counts, [0]])
        else:
            reference_bins = np.array(reference["counts"][name])
        assert row["live_count"] == live.sum()
        for measure, value in scipy_measures(live, reference_bins).items():
            assert row[measure] == pytest.approx(value, rel=1e-9, abs=1e-12), (name, measure)
        if KINDS[name] == "numeric":
            assert row["chi2_pvalue"] is None
        else:
            smoothed = reference_bins + 0.5
            want = stats.chisquare(f_obs=live, f_exp=smoothed / smoothed.sum() * live.sum()).pvalue
            assert row["chi2_pvalue"] == pytest.approx(want, rel=1e-9, abs=1e-15), name
            assert ("chi2_pvalue" in row["exceeded"]) == (row["chi2_pvalue"] <= 0.05)


def test_the_shifted_categorical_features_drift_and_the_others_do_not(categorical_run, categorical_store):
    last = rows(categorical_store, """
        SELECT endpoint_id, feature_name, argMax(drift_status, window_end) AS status,
               argMax(chi2_pvalue, window_end) AS pvalue
        FROM drift_measures FINAL GROUP BY endpoint_id, feature_name""")
    shifting = endpoint_id("shop", "serving", "v1", "", "shifting", "")
    for row in last:
        drifts = row["endpoint_id"] == shifting and row["feature_name"] in SHIFTED
        assert row["status"] == (SHIFTED[row["feature_name"]] if drifts else "NO_DRIFT"), row
        if drifts:  # (the others' p-values are small too: a few unseen values in a bin training never
            assert row["pvalue"] < 1e-6, row  # saw expect only Jeffreys' half count)
    assert len(last) == len(MODELS) * len(FEATURES)


def test_the_feature_route_sums_data_quality_counts_and_names_the_bins(categorical_run, categorical_store):
    app = create_app({"MODELMON": categorical_run["config"], "TESTING": True})
    expected = categorical_run["expected"]
    shifting = endpoint_id("shop", "serving", "v1", "", "shifting", "")
    starts = sorted({start for (e, _, start) in expected if e == shifting})
    start, end = starts[0], starts[-1] + WINDOW_MS
    answer = app.test_client().get(f"/api/projects/shop/model-endpoints/{shifting}/features?start={start}&end={end}")
    assert answer.status_code == 200, answer.get_json()
    for j, feature in enumerate(answer.get_json()):
        cells = [cell for (e, f, _), cell in expected.items() if e == shifting and f == j]
        assert feature["feature_name"] == FEATURES[j] and feature["feature_kind"] == KINDS[FEATURES[j]]
        assert feature["values_count"] == sum(c.count + c.invalid for c in cells)
        assert feature["missing_count"] == sum(c.missing for c in cells)
        assert feature["type_mismatch_count"] == sum(c.mismatched for c in cells)
        assert feature["nonfinite_count"] == sum(c.nonfinite for c in cells)
        assert feature["actual_bins"] == np.sum([c.bins for c in cells], axis=0).tolist()
        if KINDS[FEATURES[j]] != "numeric":
            assert feature["bin_labels"][-2:] == ["__other__", "__missing__"] and feature["chi2_pvalue"] is not None


def _quality_rate(kind: str, cell, numeric: bool) -> float:
    values = cell.count + cell.invalid
    part = {"invalid_rate_above": cell.invalid, "missing_rate_above": cell.missing,
            "out_of_range_rate_above": cell.bins[0] + cell.bins[-1] if numeric else 0}[kind]
    return part / values


@pytest.mark.parametrize("kind", sorted(QUALITY_RULES))
def test_each_data_quality_rule_opens_and_closes_with_the_windows_that_break_it(categorical_run, categorical_store,
                                                                                kind):
    """Expected from the independent counts: per endpoint and base window, the largest rate
    among the features; an activation opens at each window end above the threshold after one
    that was not, and closes at the next that is not (cooldown 0)."""
    expected = []
    for endpoint in categorical_run["references"]:
        worst: dict[int, float] = {}
        for (e, j, start), cell in categorical_run["expected"].items():
            if e == endpoint:
                rate = _quality_rate(kind, cell, KINDS[FEATURES[j]] == "numeric")
                worst[start + WINDOW_MS] = max(worst.get(start + WINDOW_MS, 0.0), rate)
        opened = None
        for end in sorted(worst):
            breached = worst[end] > QUALITY_RULES[kind]
            if breached and opened is None:
                opened = end
            elif not breached and opened is not None:
                expected.append((endpoint, opened, end))
                opened = None
        if opened is not None:
            expected.append((endpoint, opened, None))
    found = sorted((a["endpoint_id"], ms(a["opened_at"].replace(tzinfo=timezone.utc)),
                    None if a["closed_at"] is None else ms(a["closed_at"].replace(tzinfo=timezone.utc)))
                   for a in alert_rules.list_activations(categorical_store, "shop") if a["rule"] == kind)
    assert len(expected) >= 4 and found == sorted(expected, key=lambda t: (t[0], t[1], t[2] or 0))


def test_the_details_dashboard_s_data_quality_and_category_panels_give_the_independent_shares(categorical_run,
                                                                                            categorical_store):
    expected = categorical_run["expected"]
    shifting = endpoint_id("shop", "serving", "v1", "", "shifting", "")
    starts = sorted({start for (e, _, start) in expected if e == shifting})
    span = [datetime.fromtimestamp(t / 1000, timezone.utc) for t in (starts[0], starts[-1])]
    drawn = {panel["title"]: rows(categorical_store, expand(panel["targets"][0]["rawSql"], *span, "shop", shifting))
             for dashboard, panel in panels() if dashboard == "details" and panel["id"] in (13, 14)}
    quality, shares = drawn.values()
    assert [row["feature"] for row in quality] == FEATURES
    for j, row in enumerate(quality):
        cells = [cell for (e, f, _), cell in expected.items() if e == shifting and f == j]
        values = sum(c.count + c.invalid for c in cells)
        assert row["values_count"] == values
        assert row["missing_rate"] == pytest.approx(sum(c.missing for c in cells) / values, rel=1e-12)
        assert row["type_mismatch_rate"] == pytest.approx(sum(c.mismatched for c in cells) / values, rel=1e-12)
        assert row["nonfinite_rate"] == pytest.approx(sum(c.nonfinite for c in cells) / values, rel=1e-12)
    want = []
    for j, name in enumerate(FEATURES):
        if KINDS[name] == "numeric":
            continue
        reference = categorical_run["references"][shifting]
        actual = np.sum([cell.bins for (e, f, _), cell in expected.items() if e == shifting and f == j], axis=0)
        counts = np.array(reference["counts"][name])
        labels = [*reference["categories"][name], "__other__", "__missing__"]
        want += [(f"{name}: {label}", pytest.approx(counts[k] / counts.sum(), rel=1e-12),
                  pytest.approx(actual[k] / actual.sum(), rel=1e-12)) for k, label in enumerate(labels)]
    assert [(r["category"], r["expected_share"], r["actual_share"]) for r in shares] == want
