"""Lines on every edge of the readers, and the differential check: a batch read over what the
Java reader read of it gives what the exact parser alone gives."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Sequence

import numpy as np

from modelmon.udfs.batches import BatchOutput, parse_batch
from modelmon.udfs.contract import EndpointCache, endpoint_id
from modelmon.udfs.events import parse_lines
from modelmon.udfs.features import FeatureSettings
from modelmon.udfs.histograms import FeatureSummary
from modelmon.udfs.java_events import JavaEvents
from modelmon.udfs.lateness import LatenessTracker, judged
from tests.support.fuzz import REFERENCE

WHEN = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
BASE = {"class": "C", "model": "edge", "version": "v1", "function_uri": "tests/edge:prod", "labels": {"team": "a"}}
REFERENCED = endpoint_id("tests", "edge", "prod", "", "edge", "v1")
# An endpoint without a reference is summarized as wide as its widest row among the rows
# summarized together, which differ between the two parsers: the endpoint whose rows are
# ragged on purpose (the hostile corpus's) gets a reference, as in tests/job/test_hostile_input.py.
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
        good.replace(b"[[1.0, 2.0, 3.0]]", b'[[null, false, 1.5], ["2", "\\u00e9", null], [1, "y"], [2, true, "3"]]')
        .replace(b'"outputs": [1]', b'"outputs": [1, 2, 3, 4]'),  # every kind of value in every kind of feature
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


def line(obj: dict, ascii: bool = True) -> bytes:
    return json.dumps(obj, ensure_ascii=ascii).encode()


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
                          s.endpoint, s.latency.keys.tolist(), s.latency.counts.tolist(), s.latency.total_us, s.latency.max_us,
                          sorted(s.metrics.items())) for s in output.slices),
        "partials": {key: (s.count.tolist(), s.invalid.tolist(), s.missing.tolist(), s.mismatched.tolist(),
                           s.nonfinite.tolist(), s.bins.tolist(), s.minimum.tolist(), s.maximum.tolist(), s.mean, s.m2)
                     for key, s in partials.items()},
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


def both_ways(raw: Sequence[bytes], lateness_ms: int | None, java: JavaEvents | None, sample_every: int = 2,
              ahead_ms: int = 86_400_000) -> tuple[dict, dict]:
    """The batch parsed over what Java read of it (the exact parser taking the lines Java left),
    and with the exact parser alone."""
    clock = lambda: int(WHEN.timestamp() * 1000)  # noqa: E731
    features = FeatureSettings(300_000, {REFERENCED: REFERENCE, HOSTILE: REFERENCE}.get, sample_every)

    def run(java: JavaEvents | None) -> dict:
        tracker = LatenessTracker(lateness_ms, ahead_ms, clock_ms=clock)
        return normalized(parse_batch(raw, tracker, features, EndpointCache(), 60_000, 65536, java))

    return run(java), run(None)


@dataclass
class PerLine:
    """The events of a batch grouped per line, as the tests read them: per line its endpoint's
    id and labels (None where it named no valid endpoint) and one list entry per event."""

    endpoint_id: list
    labels: list
    status: list[list]
    reason: list[list]
    time_ms: list[list]
    predictions: list[list]
    latency_us: list[list]
    is_error: list[list]


def parsed(lines: Sequence[str | bytes], tracker: LatenessTracker | None = None) -> PerLine:
    """The lines read by the exact parser alone and judged by ``tracker`` (default: no lateness)."""
    raw = [text.encode("utf-8", errors="surrogatepass") if isinstance(text, str) else text for text in lines]
    events = judged(parse_lines(raw), tracker or LatenessTracker(None))
    out = PerLine([], [], [], [], [], [], [], [])
    for index in range(len(raw)):
        mine = np.flatnonzero(events.line == index)
        endpoint = events.endpoints[events.endpoint[mine[0]]] if events.endpoint[mine[0]] >= 0 else None
        out.endpoint_id.append(endpoint.endpoint_id if endpoint else None)
        out.labels.append(endpoint.labels if endpoint else None)
        out.status.append(events.status[mine].tolist())
        out.reason.append([events.reason[i] for i in mine])
        out.time_ms.append([int(events.time_ms[i]) if events.has_time[i] else None for i in mine])
        out.predictions.append(events.predictions[mine].tolist())
        out.latency_us.append(events.latency_us[mine].tolist())
        out.is_error.append(events.is_error[mine].tolist())
    return out
