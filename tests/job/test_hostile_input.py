"""Hostile input (tests/support/hostile.py) mixed into valid traffic through a real bounded job:
each kind gets its documented outcome, and the valid events' numbers stay exact (the parser
alone: tests/unit/test_hostile_lines.py)."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime, timedelta, timezone

import clickhouse_connect
import pytest

from modelmon import store
from modelmon.config import Config
from modelmon.reference import register_reference
from modelmon.simulator import simulate
from modelmon.pipelines.monitoring_job import run_monitoring_job
from tests.support.expected import WINDOWS, hop_windows, read_spool, stored_windows
from tests.support.hostile import BAD_JSON, BASE, DEAD_LETTER_CHARS, FEATURES, STRANGER, TEN_MB, corpus
from modelmon.udfs.contract import parse_endpoint

WHEN = (datetime.now(timezone.utc) - timedelta(hours=2)).replace(second=10, microsecond=0)
CORPUS = corpus(WHEN)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    simulate(root / "valid", 2_000, endpoints=2, seed=41, start=WHEN - timedelta(minutes=20))
    (root / "spool").mkdir()
    for segment in (root / "valid").glob("*.jsonl"):
        (root / "spool" / segment.name).write_bytes(segment.read_bytes())
    (root / "spool" / "segment-hostile.jsonl").write_bytes(b"\n".join(h.line for h in CORPUS) + b"\n")
    training = root / "training.csv"
    with open(training, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"f{j}" for j in range(FEATURES)])
        writer.writerows([[i % 7, i % 5, i % 3] for i in range(100)])
    config = Config(store=f"chdb://{root / 'store'}", source=str(root / "spool"))
    client = store.open_store(config.store)
    try:
        register_reference(client, "tests", BASE["function_uri"], f"{BASE['model']}:{BASE['version']}", training)
    finally:
        client.close()
    run_monitoring_job(config, bounded=True)
    client = clickhouse_connect.get_client(dsn=config.store)
    yield root, client
    client.close()


def test_valid_traffic_mixed_with_the_corpus_keeps_exact_numbers(hostile_run):
    root, client = hostile_run
    expected_events = read_spool(root / "valid")
    for size, size_ms in WINDOWS.items():
        stored = stored_windows(client, size)
        for endpoint, events in expected_events.items():
            expected = hop_windows(events, size_ms, 60_000)
            got = {start: value for (key, start), value in stored.items() if key == endpoint}
            assert got.keys() == expected.keys(), (size, endpoint)
            for start, want in expected.items():
                for name in ("requests_count", "predictions_count", "error_count"):
                    assert got[start][name] == want[name], (size, endpoint, start, name)


def test_each_kind_is_counted_for_its_endpoint_as_documented(hostile_run):
    _, client = hostile_run
    rows = client.query("SELECT endpoint_id, requests_count, predictions_count, error_count, invalid_count "
                        "FROM endpoints WHERE project = 'tests'").result_rows
    got = {row[0]: row[1:] for row in rows}
    hostile = parse_endpoint(BASE).endpoint_id
    invalid_with_endpoint = sum(status == "invalid" for h in CORPUS if h.endpoint for status, _ in h.events)
    assert got[hostile] == (sum(h.requests for h in CORPUS), sum(h.predictions for h in CORPUS),
                            sum(h.errors for h in CORPUS), invalid_with_endpoint)
    stranger = [h.other_endpoint for h in CORPUS if h.other_endpoint]
    assert got[parse_endpoint(STRANGER).endpoint_id][:2] == (sum(s["requests"] for s in stranger),
                                                            sum(s["predictions"] for s in stranger))


def test_every_invalid_event_is_kept_with_its_reason(hostile_run):
    _, client = hostile_run
    rows = client.query("SELECT reason, length(raw) FROM invalid_events FINAL WHERE kind = 'invalid'").result_rows
    expected = Counter(reason for h in CORPUS for status, reason in h.events if status == "invalid")
    got = Counter(BAD_JSON if reason.startswith(BAD_JSON) else reason for reason, _ in rows)
    assert got == expected
    # The 10 MB broken line is kept, cut to the dead-letter limit.
    assert max(length for _, length in rows) == DEAD_LETTER_CHARS
    assert len(CORPUS[-2].line) > TEN_MB


def test_feature_values_are_binned_or_counted_invalid_as_documented(hostile_run):
    _, client = hostile_run
    rows = client.query("SELECT feature_index, sum(count), sum(invalid_count) FROM feature_histograms FINAL "
                        "WHERE endpoint_id = {endpoint:String} GROUP BY feature_index ORDER BY feature_index",
                        parameters={"endpoint": parse_endpoint(BASE).endpoint_id}).result_rows
    valid = tuple(sum(h.valid_values[j] for h in CORPUS) for j in range(FEATURES))
    invalid = tuple(sum(h.invalid_values[j] for h in CORPUS) for j in range(FEATURES))
    assert rows == [(j, valid[j], invalid[j]) for j in range(FEATURES)]
    # +-1e308 among small values: min, max and mean hold, the squared deviations pass float64's
    # range, so std is +inf (the documented limit), not a crash and not a made-up number.
    stats = client.query("SELECT feature_index, min, max, std FROM feature_histograms FINAL "
                         "WHERE endpoint_id = {endpoint:String} ORDER BY feature_index",
                         parameters={"endpoint": parse_endpoint(BASE).endpoint_id}).result_rows
    assert [(row[1], row[2], row[3]) for row in stats[:2]] == [(0.5, 1e308, float("inf")), (-1e308, 5.0, float("inf"))]
