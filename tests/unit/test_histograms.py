"""Feature summaries and histograms against numpy, what a batch summarizes, and reference profiles."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from modelmon.reference import profile_training_set
from modelmon.udfs.batches import BatchOutput, parse_batch
from modelmon.udfs.contract import EndpointCache
from modelmon.udfs.features import FeatureSettings
from modelmon.udfs.histograms import FeatureReference, FeatureSummary, Reference, bin_edges, summarize
from modelmon.udfs.lateness import LatenessTracker


def numpy_histogram(values: np.ndarray, edges: np.ndarray) -> list[int]:
    """Underflow, numpy's N bins, overflow."""
    inner, _ = np.histogram(values, bins=edges)
    return [int((values < edges[0]).sum())] + inner.tolist() + [int((values > edges[-1]).sum())]


def test_summaries_per_group_match_numpy_with_invalid_values_and_outer_bins():
    rng = np.random.default_rng(3)
    values = rng.normal(0, 2, (5000, 3))
    values[rng.random(values.shape) < 0.05] = np.nan
    values[rng.random(values.shape) < 0.01] = np.inf
    values[::97, 1] = 1.0  # exactly on the last edge: the last bin is closed
    groups = rng.integers(0, 4, len(values))
    edges = [bin_edges(-1.0, 1.0, 8), bin_edges(-3.0, 1.0, 8), None]
    reference = Reference(5, tuple(FeatureReference(f"x{j}", e, None if e is None else np.ones(len(e) - 1))
                                   for j, e in enumerate(edges)), 0.5, 0.7)
    summaries = summarize(values, groups, 4, reference, 5)
    for g, summary in enumerate(summaries):
        for j in range(3):
            column = values[groups == g, j]
            valid = column[np.isfinite(column)]
            assert summary.count[j] == len(valid)
            assert summary.invalid[j] == len(column) - len(valid)
            assert summary.mean[j] == pytest.approx(valid.mean(), rel=1e-12)
            assert summary.std()[j] == pytest.approx(valid.std(), rel=1e-9)
            assert (summary.minimum[j], summary.maximum[j]) == (valid.min(), valid.max())
            if edges[j] is None:
                assert summary.bins[j].sum() == 0
            else:
                assert summary.bins[j].tolist() == numpy_histogram(valid, edges[j])


def test_merged_partials_equal_the_summary_of_all_rows_and_survive_encoding():
    rng = np.random.default_rng(4)
    values = rng.normal(5, 1, (1000, 2))
    whole = summarize(values, np.zeros(1000, dtype=int), 1, None, 0)[0]
    parts = [FeatureSummary.from_bytes(s.to_bytes())
             for s in summarize(values, np.arange(1000) % 7, 7, None, 0)]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    assert merged.count.tolist() == whole.count.tolist()
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-12)
    np.testing.assert_allclose(merged.m2, whole.m2, rtol=1e-10)
    assert merged.minimum.tolist() == whole.minimum.tolist()


def exact_batch(lines: list[str], lateness_ms: int | None = None, sample_every: int = 0,
                reference: Reference | None = None) -> BatchOutput:
    """The lines as one batch, read by the exact parser."""
    return parse_batch([text.encode() for text in lines], LatenessTracker(lateness_ms),
                       FeatureSettings(300_000, lambda endpoint_id: reference, sample_every), EndpointCache(),
                       60_000, 65536)


def test_feature_values_that_are_not_numbers_are_invalid():
    rows = '[[1, 2.5, 3], [true, "4", null], [1e400, NaN, 7], [1, 2], "not a row", [1, 2, 3, 99]]'
    line = ('{"model": "m", "function_uri": "p/f", "when": "2026-01-01T00:00:00Z", "microsec": 5, '
            '"request": {"inputs": %s}, "resp": {"outputs": [1, 2, 3, 4, 5, 6]}}' % rows)
    reference = Reference(1, tuple(FeatureReference(f"f{j}", np.array([0.0, 10.0]), np.array([1])) for j in range(3)),
                          0.5, 0.7)
    (_, _, _, data), = exact_batch([line], reference=reference).partials
    summary = FeatureSummary.from_bytes(data)
    # per feature, the finite numbers: f0 1, 1, 1 (not true, not 1e400 = inf), f1 2.5, 2, 2, f2 3, 7, 3
    assert summary.count.tolist() == [3, 3, 3] and summary.invalid.tolist() == [3, 3, 3]
    assert summary.minimum.tolist() == [1, 2, 3] and summary.maximum.tolist() == [1, 2.5, 7]


def _event(when_ms: int, model: str = "m") -> str:
    when = pd.Timestamp(when_ms, unit="ms", tz="UTC").isoformat()
    return ('{"model": "%s", "function_uri": "p/f", "when": "%s", "microsec": 5, '
            '"request": {"inputs": [[1.0]]}, "resp": {"outputs": [1]}}' % (model, when))


def test_a_late_event_adds_nothing_to_its_windows_summary():
    # lateness 1 s: after 301.0 s, an event at 299.9 s is late; its window [0, 300 s) keeps 299.5 s only.
    output = exact_batch([_event(299_500), _event(300_500), _event(301_000), _event(299_900)], lateness_ms=1000)
    assert [row["kind"] for row in output.dead_letters] == ["late"]
    counts = {start: FeatureSummary.from_bytes(data).count.tolist() for _, _, start, data in output.partials}
    assert counts == {0: [1], 300_000: [2]}


def test_every_line_is_sampled_the_same_way_on_a_replay():
    lines = [_event(1000 + i) for i in range(200)]
    first = exact_batch(lines, sample_every=10).samples.column("row_key").to_pylist()
    again = exact_batch(list(reversed(lines)), sample_every=10).samples.column("row_key").to_pylist()
    assert sorted(first) == sorted(again)
    assert 5 <= len(first) <= 40  # about 1 in 10 of 200 distinct lines


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_reference_profile_matches_numpy_over_a_file_read_in_batches(tmp_path, suffix):
    rng = np.random.default_rng(9)
    n = 200_000  # several record batches either way
    frame = pd.DataFrame({"a": rng.normal(3, 2, n), "label": rng.integers(0, 2, n), "kind": "x",
                          "b": rng.exponential(1.0, n)})
    frame.loc[::1000, "a"] = np.nan
    path = tmp_path / f"train{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    profile = profile_training_set(path, label_column="label", bins=20)
    assert profile.feature_names == ["a", "kind", "b"] and profile.numeric == [True, False, True]
    assert profile.rows == n
    for j, name in enumerate(["a", "b"]):
        column = frame[name].to_numpy()
        if suffix == ".csv":
            column = pd.read_csv(path)[name].to_numpy()  # the values as the CSV text gives them
        valid = column[np.isfinite(column)]
        assert profile.stats.count[j] == len(valid)
        assert profile.stats.invalid[j] == n - len(valid)
        assert profile.stats.mean[j] == pytest.approx(valid.mean(), rel=1e-12)
        assert profile.stats.std()[j] == pytest.approx(valid.std(), rel=1e-9)
        counts, edges = np.histogram(valid, bins=20)
        np.testing.assert_allclose(profile.edges[j], edges, rtol=0, atol=0)
        assert profile.counts[j].tolist() == counts.tolist()


def test_reference_profile_refuses_what_it_cannot_use(tmp_path):
    path = tmp_path / "train.csv"
    pd.DataFrame({"a": [1.0, 2.0], "label": [0, 1]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="no column"):
        profile_training_set(path, features=["a", "missing"])
    with pytest.raises(ValueError, match="label column"):
        profile_training_set(path, features=["a", "label"], label_column="label")
    with pytest.raises(ValueError, match="csv or .parquet"):
        profile_training_set(tmp_path / "train.json")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_column_of_ten_thousand_categories_keeps_its_top_fifty_and_says_so(tmp_path, suffix, caplog):
    rng = np.random.default_rng(4)
    n = 150_000  # several record batches
    city = np.array([f"city-{k}" for k in rng.zipf(1.3, n) % 10_000], dtype=object)
    city[rng.random(n) < 0.01] = None
    frame = pd.DataFrame({"city": city, "member": rng.random(n) < 0.2, "amount": rng.normal(0, 1, n)})
    path = tmp_path / f"train{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    profile = profile_training_set(path)
    counted = Counter(v for v in city if v is not None)
    ranked = sorted(counted.items(), key=lambda item: (-item[1], item[0]))
    kept = profile.categories["city"]
    assert kept.distinct == len(counted) > 1_000 and kept.kind == "categorical"
    assert list(kept.categories) == [c for c, _ in ranked[:50]]
    assert kept.counts.tolist() == [n for _, n in ranked[:50]] + [sum(n for _, n in ranked[50:]),
                                                                  int(pd.isna(frame["city"]).sum())]
    assert f"feature 'city' has {len(counted)} distinct categories: kept the 50 most frequent" in caplog.text
    member = profile.categories["member"]
    assert sorted(member.categories) == ["false", "true"] and member.counts[-2:].tolist() == [0, 0]
    assert profile.numeric == [False, False, True]
