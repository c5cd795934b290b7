"""The block reader's Java event columns (BlockEvents.java, read by udfs/block_events.py) must
not change a single number either: a batch parsed over them gives what the exact per-line
parser alone gives, for simulated traffic, the hostile corpus, the fast path's edge lines,
lines on the Java reader's own edges, and fuzzed lines. The Java code runs for real, in one
JVM per module, fed blocks through a pipe."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.line_blocks import BlockEventsProcess
from tests.hostile import corpus
from tests.test_fast_parse import (WHEN, assert_same, batch, batch_line, both_ways, edge_lines, event, line,
                                   traffic)  # noqa: F401 (traffic is a fixture)
from tests.test_parser_fuzz import FUZZ, lines as fuzzed_lines
from udfs.batches import block_lines
from udfs.block_events import BlockLines, decode, parse_blocks
from udfs.events import EndpointCache


@pytest.fixture(scope="module")
def java():
    process = BlockEventsProcess()
    yield process
    process.close()


def as_block(raw: list[bytes]) -> bytes:
    block = b"".join(text + b"\n" for text in raw)
    assert block_lines([block]) == raw
    return block


def java_ways(java, raw: list[bytes], lateness_ms: int | None, monkeypatch, **options) -> tuple[dict, dict]:
    """Both ways over the lines as Java cut them, which must be the lines block_lines gives."""
    block = as_block(raw)
    columns = decode(java(block))
    lines = BlockLines.of(block, columns)
    assert list(lines) == raw
    return both_ways(lines, lateness_ms, monkeypatch, columns=[columns], **options)


def taken_lines(java, raw: list[bytes]) -> set[int]:
    """The lines whose events Java read and the fast path kept (a line failing the checks made on
    Java's columns is not kept by the pyarrow path either: it makes the same checks)."""
    columns = decode(java(as_block(raw)))
    return set(parse_blocks(raw, [columns], EndpointCache()).line.tolist()) & set(columns.line.tolist())


def test_java_reads_every_line_of_simulated_traffic(java, traffic):
    events = sum(len(json.loads(text).get("values", [None])) for text in traffic)
    columns = decode(java(as_block(traffic)))
    assert columns.lines == len(traffic)
    assert len(columns.line) == events > len(traffic) and set(columns.line.tolist()) == set(range(len(traffic)))
    fast = parse_blocks(traffic, [columns], EndpointCache())
    assert len(fast) == events


def java_edge_lines() -> list[bytes]:
    """Lines on the Java reader's own edges, each a small change to a good line."""
    good = line(event())
    rows = batch_line(batch([[1.0, 2.0, 3.0]], 10, None), batch([[4.0, 5.0, 6.0]], None, "boom"))
    return [
        good,
        good[:-1] + b', "labels": {"team": "a", "team": "b"}}',  # a key twice, nested
        good.replace(b'"confidence": 0.5', b'"confidence": 0.5, "confidence": 0.7'),
        line(event(error=None)), line(event(error=None, microsec=None)), line(event(error="boom", microsec=None)),
        line(event(metrics=None)), line(event(metrics={"n": 2**70})), line(event(microsec=2**70)),
        line(event(microsec=1e999)), line(event(request={"inputs": [[1.0, 1e999, 3.0]]})),
        line(event(request={"inputs": [[1.0, -0.0, 123456789012345678]]})),
        line(event(request={"inputs": [[0.1, 2.5e-308, 1.7976931348623157e308]], "other": [None, {"x": []}]})),
        line(event(resp={"outputs": [[1, 2]], "extra": None})), line(event(op={"deep": [[[]]]})),
        line(event(metrics={f"m{i}": i for i in range(100)})),
        line(event(when="1969-12-31 23:59:59.999999+00:00")), line(event(when="2149-06-07 00:00:00+00:00")),
        line(event(when="2024-02-29 12:00:00+00:00")), line(event(when="2023-02-29 12:00:00+00:00")),
        line(event(when="2026-11-26 10:00:00.5+00:00")), line(event(when="2026-11-26 10:00:00.123456+0000")),
        line(event(when="2026-11-26 24:00:00+00:00")), line(event(when="２０２６-11-26 10:00:00+00:00")),
        good.replace(b'"edge"', b'"\\u00e9dge"'), good.replace(b'"a"', b'"\\udfff"'),
        good.replace(b'"confidence"', b'"\\ud800"'), good.replace(b'"C"', b'"\\"quoted\\" \\\\ \\t"'),
        good + b" ", b" " + good, good[:-1] + b"}}", good.replace(b": ", b":"), good.replace(b", ", b" , "),
        good.replace(b"1500", b"01500"), good.replace(b"1500", b"1500.0e0"), good.replace(b"1.0", b"1."),
        rows,
        rows.replace(b'"headers"', b'"headers_"'),  # values without headers
        line(dict(json.loads(rows), when=event()["when"])),  # an event field outside the batch
        line(dict(json.loads(rows), op="infer")),
        line({"values": json.loads(rows)["values"], **json.loads(rows)}),  # values before headers
        line(dict(json.loads(rows), headers=["when", "request", "resp", "microsec", "microsec"])),
        line(dict(json.loads(rows), headers=["when", "request", "resp", "microsec", "error", "labels"])),
        line(dict(json.loads(rows), values=[row[:-1] for row in json.loads(rows)["values"]])),
        line(dict(json.loads(rows), values=[*json.loads(rows)["values"], None])),
        line(dict(json.loads(rows), values=[])), line(dict(json.loads(rows), headers=[])),
        batch_line(batch([[1.0, 2.0, 3.0]], 10, None), batch([[1.0, 2.0, 3.0]], -5, None)),  # one bad event
        batch_line(batch([[1.0, 2.0, 3.0]], 10, None), batch([[1.0, 2.0, 3.0]], 10, 7)),
        line(event(model="m" * 5000)), line(event(labels={f"k{i}": "v" for i in range(300)})),
        good.replace(b"[[1.0, 2.0, 3.0]]", b"[[2.2250738585072011e-308, 9007199254740993, 1e23], "
                                            b"[4.9e-324, 0.1e1, 0.30000000000000004440892098500626161694526672363281], "
                                            b"[8.98846567431158e307, 123456789012345678e-5, "
                                            b"1.00000000000000011102230246251565]]")
        .replace(b'"outputs": [1]', b'"outputs": [1, 2, 3]'),  # numbers hard to round
        good.replace(b'"id": "r"', b'"id": "r", "id": "s"'),  # a skipped key twice: Python ignores both
        good.replace(b'"outputs": [1]', b'"outputs": [1], "outputs": [1, 2]'),
        good.replace(b'"request"', b'"request": {}, "request"'),
        good.replace(b'"id": "r"', b'"id": NaN'), good.replace(b'"id": "r"', b'"id": "\x01"'),
        good.replace(b'"id": "r"', b'"id": "\\x"'), good.replace(b'"id": "r"', b'"\\u0069d": [1E5, -0, true]'),
        good.replace(b'"resp"', b'"op": ' + b"[" * 100 + b"]" * 100 + b', "resp"'),  # deeper than Java follows
        good.replace(b"[[1.0, 2.0, 3.0]]", b"[[1E2, -0, 1234567890123456789]]"),
        good.replace(b"[[1.0, 2.0, 3.0]]", b"[[1e2, -0, 123456789012345678, 1.5e-7, 0.000123, 12345.678e-3]]"),
    ]


# The Java edge lines Java reads and Python's checks keep: the rest are read by Python.
JAVA_EDGES = {0, 3, 5, 6, 11, 12, 13, 14, 15, 18, 24, 27, 31, 32, 34, 36, 39, 49, 50, 51, 52, 58, 61}


@pytest.mark.parametrize("lateness_ms", [None, 60_000])
def test_each_java_edge_line_gives_what_the_exact_parser_gives(java, lateness_ms, monkeypatch):
    good = line(event())
    taken = set()
    for i, edge in enumerate(java_edge_lines()):
        raw = [good, edge, good]
        assert_same(*java_ways(java, raw, lateness_ms, monkeypatch, sample_every=1))  # every value compared
        if 1 in taken_lines(java, raw):
            taken.add(i)
    assert taken == JAVA_EDGES


@pytest.mark.parametrize("lateness_ms", [None, 60_000])
def test_each_fast_path_edge_line_gives_what_the_exact_parser_gives(java, lateness_ms, monkeypatch):
    good = line(event())
    for edge in edge_lines():
        raw = block_lines([as_block([good, edge, good])])  # an edge line may hold '\r'
        assert_same(*java_ways(java, raw, lateness_ms, monkeypatch))


@pytest.mark.parametrize("lateness_ms", [None, 60_000])
def test_traffic_mixed_with_every_edge_and_hostile_line_gives_what_the_exact_parser_gives(java, traffic,
                                                                                        lateness_ms, monkeypatch):
    raw = block_lines([as_block(traffic[:1000] + edge_lines() + java_edge_lines() + traffic[1000:2000]
                                + [h.line for h in corpus(WHEN)] + traffic[2000:])])
    assert_same(*java_ways(java, raw, lateness_ms, monkeypatch))


def test_lines_are_numbered_across_blocks(java, traffic, monkeypatch):
    pieces = [traffic[:700], java_edge_lines(), traffic[700:]]
    raw = [text for piece in pieces for text in piece]
    columns = [decode(java(as_block(piece))) for piece in pieces]
    fast, exact = both_ways(raw, 60_000, monkeypatch, columns=columns)
    assert_same(fast, exact)
    with pytest.raises(ValueError, match="count"):
        parse_blocks(raw[:-1], columns, EndpointCache())


@FUZZ
@given(st.lists(fuzzed_lines, min_size=1, max_size=12), st.sampled_from([None, 0, 60_000]))
def test_fuzzed_lines_give_what_the_exact_parser_gives(java, batch, lateness_ms):
    raw = block_lines([b"\n".join(text.encode("utf-8", errors="surrogatepass") for text in batch)
                       + b"\n" + line(event()) + b"\n"])
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert_same(*java_ways(java, raw, lateness_ms, monkeypatch, sample_every=1))

