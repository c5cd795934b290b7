"""The real job, bounded, on the real embedded ClickHouse: every number against tests/support/expected.py."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import clickhouse_connect
import numpy as np
import pytest

from tests.support.traffic import TRAFFIC_ENDPOINTS, run_bounded
from tests.support.expected import METRIC_COLUMNS, WINDOWS, custom_metric_windows, hop_windows, read_spool, stored_windows
from modelmon import store
from modelmon.api import create_app
from modelmon.config import Config
from modelmon.simulator import simulate
from modelmon.pipelines.monitoring_job import create_table_environment
from modelmon.pipelines.store_sink import TABLES
from modelmon.udfs.latency_sketch import RELATIVE_ACCURACY

@pytest.mark.parametrize("window_size", WINDOWS)
def test_every_window_matches_an_independent_computation(traffic_run, traffic_store, window_size):
    size_ms = WINDOWS[window_size]
    expected = {(endpoint, start): metrics
                for endpoint, events in read_spool(traffic_run.spool).items()
                for start, metrics in hop_windows(events, size_ms, 60_000).items()}
    stored = stored_windows(traffic_store, window_size)
    assert len({endpoint for endpoint, _ in expected}) == TRAFFIC_ENDPOINTS + 1  # + the hand-made endpoint
    assert stored.keys() == expected.keys()
    for key, want in expected.items():
        got = stored[key]
        assert got["window_end"] == key[1] + size_ms
        for name in ("requests_count", "predictions_count", "error_count"):
            assert got[name] == want[name], (key, name)
        assert got["predictions_per_second"] == pytest.approx(want["predictions_per_second"], rel=1e-12)
        if want["latency_avg"] is None:
            assert all(got[name] is None for name in METRIC_COLUMNS if name.startswith("latency")), key
            continue
        assert got["latency_avg"] == pytest.approx(want["latency_avg"], rel=1e-9), key
        assert got["latency_max"] == want["latency_max"], key
        for name in ("latency_p50", "latency_p95", "latency_p99"):  # from the latency sketch: within 1 %
            assert abs(got[name] / want[name] - 1) <= RELATIVE_ACCURACY + 1e-12, (key, name, got[name], want[name])


def test_custom_metrics_per_slide_match_an_independent_computation(traffic_run, traffic_store):
    expected = custom_metric_windows(traffic_run.spool, 60_000)
    result = traffic_store.query("SELECT endpoint_id, metric_name, toUnixTimestamp64Milli(window_start), values_count, "
                                 "sum, mean, min, max FROM custom_metrics FINAL")
    stored = {(r[0], r[1], r[2]): dict(zip(["values_count", "sum", "mean", "min", "max"], r[3:]))
              for r in result.result_rows}
    assert stored.keys() == expected.keys() and {k[1] for k in stored} == {"confidence", "input_rows"}
    for key, want in expected.items():
        assert stored[key] == {name: pytest.approx(value, rel=1e-12) for name, value in want.items()}, key


def test_latency_of_a_second_and_more_is_kept_whole(traffic_store):
    """The hand-made batch has one valid event of 1,500,000 us (MLRun wrapped these at 1 s)."""
    manual = hashlib.sha1(b"tests_serving_prod_manual_v1").hexdigest()
    rows = traffic_store.query("SELECT DISTINCT latency_max FROM endpoint_metrics FINAL WHERE endpoint_id = {e:String}",
                               parameters={"e": manual}).result_rows
    assert rows == [(1_500_000.0,)]


def test_endpoint_registry_spans_all_events(traffic_run, traffic_store):
    expected = read_spool(traffic_run.spool)
    result = traffic_store.query(
        "SELECT endpoint_id, toUnixTimestamp64Milli(first_request), toUnixTimestamp64Milli(last_request), "
        "requests_count, predictions_count, error_count, model_class, function_uri FROM endpoints")
    rows = {row[0]: row[1:] for row in result.result_rows}
    assert rows.keys() == expected.keys()
    for endpoint, events in expected.items():
        first, last, requests, predictions, errors, model_class, function_uri = rows[endpoint]
        assert (first, last) == (events["time_ms"].min(), events["time_ms"].max())
        assert requests == len(events["time_ms"])
        assert predictions == events["predictions"].sum()
        assert errors == events["is_error"].sum()
        assert model_class and function_uri


def test_invalid_events_are_kept_with_reasons_and_counted(traffic_store):
    manual = hashlib.sha1(b"tests_serving_prod_manual_v1").hexdigest()
    rows = traffic_store.query("SELECT endpoint_id, reason, raw FROM invalid_events FINAL WHERE kind = 'invalid' "
                               "ORDER BY reason").result_rows
    assert [(endpoint, reason) for endpoint, reason, _ in rows] == [
        (manual, "'microsec' must be a non-negative number, got 'fast'"),
        (manual, "'when' must be a string, got NoneType"),
        (manual, "1 outputs for 2 input rows"),
        ("", rows[3][1]),
    ]
    assert rows[3][1].startswith("bad JSON: ")
    assert all(raw.startswith('{"') for _, _, raw in rows)
    counts = traffic_store.query("SELECT invalid_count, late_count FROM endpoints WHERE endpoint_id = {e:String}",
                                 parameters={"e": manual}).result_rows
    assert counts == [(3, 0)]


def test_a_replayed_run_leaves_the_same_numbers(tmp_path):
    simulate(tmp_path / "spool", 3_000, endpoints=4, seed=5)
    first = run_bounded(tmp_path / "spool", tmp_path / "store")
    client = clickhouse_connect.get_client(dsn=first.config.store)
    try:
        before = {size: stored_windows(client, size) for size in WINDOWS}
        registry = client.query("SELECT * FROM endpoints ORDER BY endpoint_id").result_rows
        counts = store.row_counts(client, list(TABLES))
    finally:
        client.close()
    run_bounded(tmp_path / "spool", tmp_path / "store")
    client = clickhouse_connect.get_client(dsn=first.config.store)
    try:
        assert store.row_counts(client, list(TABLES)) == counts
        assert {size: stored_windows(client, size) for size in WINDOWS} == before
        assert client.query("SELECT * FROM endpoints ORDER BY endpoint_id").result_rows == registry
    finally:
        client.close()


@pytest.mark.parametrize("bounded, bundle_ms", [(True, "7000"), (False, "")])
def test_only_a_bounded_run_ends_its_python_bundles_less_often(tmp_path, bounded, bundle_ms):
    """A bounded run's bundles last ``bounded_bundle_seconds``; a continuous run keeps Flink's
    default (1 s), which bounds how long a quiet Python operator holds its results."""
    config = Config(bounded_bundle_seconds=7, checkpoint_dir=str(tmp_path))
    t_env = create_table_environment(config, bounded)
    assert t_env.get_config().get("python.fn-execution.bundle.time", "") == bundle_ms


def test_latency_over_any_range_from_the_proxy_matches_the_requests(traffic_run, traffic_store):
    """The /latency route sums the activity windows' sketches: count, average and maximum exact,
    percentiles within 1 % of numpy's over the successful requests of the range."""
    proxy = create_app({"MODELMON": traffic_run.config, "TESTING": True}).test_client()
    projects = dict(traffic_store.query("SELECT endpoint_id, project FROM endpoints").result_rows)
    minute = 60_000
    for endpoint, events in read_spool(traffic_run.spool).items():
        times = events["time_ms"]
        first, after_last = times[0] // minute * minute, (times[-1] // minute + 1) * minute
        for start_ms, end_ms in [(first, after_last), (first + 7 * minute, first + 24 * minute)]:
            inside = (times >= start_ms) & (times < end_ms)
            latency = events["latency"][inside][~np.isnan(events["latency"][inside])]
            answer = proxy.get(f"/api/projects/{projects[endpoint]}/model-endpoints/{endpoint}/latency",
                               query_string={"start": iso_ms(start_ms), "end": iso_ms(end_ms)}).get_json()
            assert answer["count"] == latency.size, (endpoint, start_ms)
            if not latency.size:
                assert answer["avg"] is answer["max"] is answer["p99"] is None
                continue
            assert answer["avg"] == pytest.approx(latency.mean(), rel=1e-12) and answer["max"] == latency.max()
            for q in (50, 95, 99):
                assert abs(answer[f"p{q}"] / np.percentile(latency, q) - 1) <= RELATIVE_ACCURACY + 1e-12, (endpoint, q)


def iso_ms(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, timezone.utc).isoformat()
