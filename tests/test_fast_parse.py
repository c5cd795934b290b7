"""The fast path (udfs/fast_parse.py) must not change a single number: a batch parsed with it
gives what the exact per-line parser alone gives, for simulated traffic, for the hostile
corpus, for lines made to sit on every edge the fast path checks, and for fuzzed lines."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import udfs.batches
from modelmon.simulator import simulate
from tests.hostile import corpus
from tests.test_parser_fuzz import FUZZ, REFERENCE, lines as fuzzed_lines
from udfs.batches import BatchOutput, parse_batch
from udfs.block_events import BlockEvents
from udfs.events import EndpointCache, LatenessTracker, endpoint_id
from udfs.fast_parse import parse_fast
from udfs.features import FeatureSettings
from udfs.histograms import FeatureSummary

WHEN = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
BASE = {"class": "C", "model": "edge", "version": "v1", "function_uri": "tests/edge:prod", "labels": {"team": "a"}}
REFERENCED = endpoint_id("tests", "edge", "prod", "", "edge", "v1")
# An endpoint without a reference is summarized as wide as its widest row among the rows
# summarized together, which differ between the two parsers: the endpoint whose rows are
# ragged on purpose (the hostile corpus's) gets a reference, as in tests/test_hostile_input.py.
HOSTILE = endpoint_id("tests", "hostile", "prod", "", "hostile", "v1")


def event(**changes) -> dict:
    at = WHEN.strftime("%Y-%m-%d %H:%M:%S.%f+00:00")
    base = dict(BASE, request={"id": "r", "inputs": [[1.0, 2.0, 3.0]]}, resp={"outputs": [1]}, when=at,
                microsec=1500, metrics={"confidence": 0.5})
    return {k: v for k, v in dict(base, **changes).items() if v is not ...}


def edge_lines() -> list[bytes]:
    """One line per check the fast path makes, on each side of it."""
    good = line(event())
    return [
        good,
        line(event(labels={"team": "a", "tier": None})),  # a null label: the text 'None'
        line(event(labels={"team": "b", "tier": "gold"})),  # other label keys than the line before
        line(event(labels={"team": 1})),  # a label that is not a string
        line(event(labels="team")),
        line(event(metrics={"confidence": "high", "n": 3, "ok": True, "deep": {"x": 1}})),
        good.replace(b'"confidence": 0.5', b'"confidence": NaN'),
        line(event(metrics={f"m{i}": i for i in range(101)})),  # past the metrics kept per event
        line(event(metrics={"x" * 201: 1.0, "short": 2})),
        line(event(microsec=1500.7)), line(event(microsec=2**60)), line(event(microsec=-1)),
        line(event(microsec=...)), good.replace(b'"microsec": 1500', b'"microsec": -0'),
        line(event(request={"inputs": [[1.0], [1.0, 2.0, 3.0, 4.0], [], None, [None, 2.0, 3.0]]},
                    resp={"outputs": [0, 1, 2, 3, 4]})),
        line(event(model="raggy", request={"inputs": [[1.0], [1.0, 2.0, 3.0, 4.0]]}, resp={"outputs": [0, 1]})),
        good.replace(b"[[1.0, 2.0, 3.0]]", b"[[1e999, 123456789012345678901234567890, -0]]"),
        good.replace(b"[[1.0, 2.0, 3.0]]", b'[[true, "x", 3]]'),
        line(event(when=WHEN.strftime("%Y-%m-%d %H:%M:%S+00:00"))),
        line(event(when=WHEN.strftime("%Y-%m-%dT%H:%M:%SZ"))),
        line(event(when="2026-02-30 10:00:00+00:00")), line(event(when="2026-11-26 23:59:60+00:00")),
        line(event(when=WHEN.strftime("%Y-%m-%d %H:%M:%S.%f+01:00"))), line(event(when=17)),
        b"\xef\xbb\xbf" + good, good + b" " + good, good[:-1] + b', "values": null}',
        good[:-1] + b', "headers": null}', good[:-1] + b', "model": "twice"}',
        line(event(error="boom", resp=..., microsec=...)), line(event(error="boom")), line(event(error=5)),
        line(event(endpoint_id="override", project="other")), line(event(version=...)), line(event(model="")),
        line(event(**{"class": 5})), line(event(resp={"outputs": ["cat"]})), line(event(resp={"outputs": {"a": 1}})),
        line(event(request={"inputs": []}, resp={"outputs": []})), line(event(request={"inputs": [1.0, 2.0]})),
        good.replace(b'"edge"', b'"\\u00e9dge"'), good.replace(b'"edge"', b'"\\ud800"'),
        good.replace(b'"C"', "\"\u00e7\"".encode()), b"", b"   ", b"{}", b"[1]", b"null",
        line(event(when=(WHEN - timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M:%S.%f+00:00"))),  # late
        line(event(when=(WHEN + timedelta(days=400)).strftime("%Y-%m-%d %H:%M:%S.%f+00:00"))),  # ahead
        line(dict(BASE, headers=["when", "request", "resp", "microsec"],
                   values=[[event()["when"], {"inputs": [[1.0, 2.0, 3.0]]}, {"outputs": [0]}, 10]])),
        good,
        batch_line(batch([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], 10, None), batch([[7.0, 8.0, 9.0]], None, "boom"),
              batch([[1.0, 2.0, 3.0]] * 3, 30, None)),  # rows numbered across the events, errors holding none
        batch_line(batch([[1.0, 2.0, 3.0]], 10, None), batch([[1.0, 2.0, 3.0]], "slow", None)),  # one bad row
        batch_line(batch([[1.0, 2.0, 3.0]], 10, None), labels={"team": None}),
        batch_line(batch([[1.0, 2.0, 3.0]], 10, None), headers=["when", "request", "resp", "microsec", "error", "when"]),
        line(dict(BASE, headers=["when", "request", "resp", "microsec", "error"], values=[])),
        line(event(microsec=-0.5)),  # negative, though it truncates to 0
    ]


def batch(inputs: list, microsec, error) -> list:
    """A batch row in the order of :func:`batch_line`'s headers."""
    return [event()["when"], {"inputs": inputs}, {"outputs": [0] * len(inputs)}, microsec, error]


def line(obj: dict) -> bytes:
    return json.dumps(obj).encode()


def batch_line(*rows: list, **changes) -> bytes:
    """A batched line of ``rows``, with ``changes`` to its fields."""
    batched = dict(BASE, headers=["when", "request", "resp", "microsec", "error"], values=list(rows))
    return json.dumps(dict(batched, **changes)).encode()


def normalized(output: BatchOutput) -> dict:
    """A batch output with partials merged per (endpoint, window) and rows in a fixed order."""
    partials = {}
    for _, endpoint, window_start, data in output.partials:
        summary = FeatureSummary.from_bytes(data)
        key = (endpoint, window_start, summary.reference_id)
        partials[key] = partials[key].merge(summary) if key in partials else summary
    return {
        "time_ms": output.time_ms,
        "slices": sorted((s.project, s.endpoint_id, s.start, s.requests, s.predictions, s.errors, s.first_ms, s.last_ms,
                          s.endpoint, s.latencies.tolist(), sorted(s.metrics.items())) for s in output.slices),
        "partials": {key: (s.count.tolist(), s.invalid.tolist(), s.bins.tolist(), s.minimum.tolist(),
                           s.maximum.tolist(), s.mean, s.m2) for key, s in partials.items()},
        "dead_letters": Counter(json.dumps(row, sort_keys=True) for row in output.dead_letters),
        "samples": {row["row_key"]: row for row in output.samples.to_pylist()},
    }


def assert_same(fast: dict, exact: dict) -> None:
    assert fast.keys() == exact.keys()
    for name in ("time_ms", "slices", "dead_letters", "samples"):
        assert fast[name] == exact[name], name
    assert fast["partials"].keys() == exact["partials"].keys()
    for key, (*counts, mean, m2) in fast["partials"].items():
        *want_counts, want_mean, want_m2 = exact["partials"][key]
        assert counts == want_counts, key
        np.testing.assert_allclose(mean, want_mean, rtol=1e-12)
        np.testing.assert_allclose(m2, want_m2, rtol=1e-9, atol=1e-12)


def both_ways(raw: Sequence[bytes], lateness_ms: int | None, monkeypatch, sample_every: int = 2,
              ahead_ms: int = 86_400_000, columns: list[BlockEvents] = ()) -> tuple[dict, dict]:
    """The batch parsed with the fast path (over Java's ``columns`` of the lines when given), and
    with the exact parser alone."""
    clock = lambda: int(WHEN.timestamp() * 1000)  # noqa: E731
    features = FeatureSettings(300_000, {REFERENCED: REFERENCE, HOSTILE: REFERENCE}.get, sample_every)

    def run(columns: list[BlockEvents] = ()) -> dict:
        tracker = LatenessTracker(lateness_ms, ahead_ms, clock_ms=clock)
        return normalized(parse_batch(raw, tracker, features, EndpointCache(), 60_000, 65536, columns))

    fast = run(columns)
    with monkeypatch.context() as patch:
        patch.setattr(udfs.batches, "parse_fast", lambda lines, endpoints: parse_fast([], endpoints))
        exact = run()
    return fast, exact


@pytest.fixture(scope="module")
def traffic(tmp_path_factory) -> list[bytes]:
    spool = tmp_path_factory.mktemp("fast") / "spool"
    simulate(spool, 3_000, endpoints=4, features=3, seed=3, start=WHEN - timedelta(minutes=10))
    return [line for path in sorted(Path(spool).glob("*.jsonl")) for line in path.read_bytes().splitlines()]


def test_the_fast_path_takes_every_event_of_simulated_traffic(traffic):
    events = sum(len(json.loads(line).get("values", [None])) for line in traffic)
    fast = parse_fast(traffic, EndpointCache())
    assert len(fast) == events > len(traffic) and set(fast.line) == set(range(len(traffic)))


# The edge lines the fast path takes: the rest sit on the far side of one of its checks.
FAST_EDGES = {0, 2, 6, 8, 9, 13, 14, 15, 18, 29, 30, 32, 33, 40, 42, 48, 49, 50, 51, 52}


@pytest.mark.parametrize("lateness_ms", [None, 60_000])
def test_each_edge_line_gives_what_the_exact_parser_gives(lateness_ms, monkeypatch):
    good = json.dumps(event()).encode()
    taken = set()
    for i, edge in enumerate(edge_lines()):
        raw = [good, edge, good]
        assert_same(*both_ways(raw, lateness_ms, monkeypatch))
        if 1 in parse_fast(raw, EndpointCache()).line:
            taken.add(i)
    assert taken == FAST_EDGES


@pytest.mark.parametrize("lateness_ms", [None, 60_000])
def test_traffic_mixed_with_edges_and_hostile_lines_gives_what_the_exact_parser_gives(traffic, lateness_ms,
                                                                                     monkeypatch):
    raw = traffic[:1000] + edge_lines() + traffic[1000:2000] + [h.line for h in corpus(WHEN)] + traffic[2000:]
    fast, exact = both_ways(raw, lateness_ms, monkeypatch)
    assert_same(fast, exact)
    assert len(parse_fast(raw, EndpointCache())) > 2_000  # refused lines are found without giving up the rest
    if lateness_ms is not None:
        assert sum(n for row, n in exact["dead_letters"].items() if '"late"' in row) >= 1


@FUZZ
@given(st.lists(fuzzed_lines, min_size=1, max_size=12), st.sampled_from([None, 0, 60_000]))
def test_fuzzed_lines_give_what_the_exact_parser_gives(batch, lateness_ms):
    raw = [text.encode("utf-8", errors="surrogatepass") for text in batch] + [json.dumps(event()).encode()]
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast, exact = both_ways(raw, lateness_ms, monkeypatch, sample_every=1)
    assert_same(fast, exact)
