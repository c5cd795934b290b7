"""The Java reader (BlockEvents.java, read by udfs/java_events.py) must not change a single
number: a batch parsed over what it read gives what the exact parser alone gives, for simulated
traffic, the hostile corpus, lines on each edge of either reader, and fuzzed lines, read from a
spool's blocks and as Kafka messages alike. The Java code runs for real, in JVMs of its own fed
through pipes (one for blocks, one for messages)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelmon.pipelines.reader_jar import ReaderProcess
from modelmon.udfs.batches import block_lines
from modelmon.udfs.contract import EndpointCache
from modelmon.udfs.java_events import BlockLines, Descriptions, JavaEvents, decode
from tests.support.fuzz import FUZZ, lines as fuzzed_lines
from tests.support.hostile import corpus
from tests.support.reader_lines import WHEN, assert_same, batch, batch_line, both_ways, edge_lines, event, line


@pytest.fixture(scope="module")
def java():
    process = ReaderProcess()
    yield process
    process.close()


@pytest.fixture(scope="module")
def java_messages():
    process = ReaderProcess(messages=True)
    yield process
    process.close()


def as_block(raw: list[bytes]) -> bytes:
    block = b"".join(text + b"\n" for text in raw)
    assert block_lines([block]) == raw
    return block


def read_block(java, raw: list[bytes]) -> JavaEvents:
    """What Java reads of the lines as one block, whose lines it must cut as block_lines does."""
    block = as_block(raw)
    read = decode([java(block)], Descriptions(EndpointCache()))
    assert list(BlockLines.of(block, read)) == raw
    return read


def read_messages(java_messages, raw: list[bytes]) -> JavaEvents:
    """What Java reads of the lines as Kafka messages, one each."""
    return decode([java_messages(text) for text in raw], Descriptions(EndpointCache()))


def taken(read: JavaEvents) -> set[int]:
    return set(read.events.line.tolist())


def test_java_reads_every_line_of_simulated_traffic(java, java_messages, traffic):
    for read, lines in ((read_block(java, traffic), traffic), (read_messages(java_messages, traffic[:500]), traffic[:500])):
        events = sum(len(json.loads(text).get("values", [None])) for text in lines)
        assert read.lines == len(lines) and len(read.events) == events > len(lines)
        assert taken(read) == set(range(len(lines)))


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
        # UTF-8: read where it is well-formed, left where it is not, or where an escape comes with it
        line(event(labels={"équipe": "données", "emoji": "\U0001f600"}), ascii=False),
        line(event(metrics={"é" * 200: 1.0, "ü" * 201: 2.0}), ascii=False),  # 200 characters, more bytes
        good.replace(b'"C"', b'"\xff"'), good.replace(b'"C"', b'"\xc0\xaf"'), good.replace(b'"C"', b'"\xed\xa0\x80"'),
        good.replace(b'"C"', b'"\xf4\x90\x80\x80"'), good.replace(b'"C"', b'"\xe2\x80\xa8"'),
        good.replace(b'"C"', "\"é\\u00e9\"".encode()), good.replace(b', "model"', "\u00a0, \"model\"".encode()),
        good.replace(b'"C"', b'"\xe9"'),  # Latin-1, not UTF-8: the exact parser reads U+FFFD
        # feature values that are not numbers: strings (escaped, too), booleans, null; a list is Python's
        good.replace(b"[[1.0, 2.0, 3.0]]", b'[[1.0, "a\\"b", "\\ud83d\\ude00"], [false, null, "\\u00e9"]]')
        .replace(b'"outputs": [1]', b'"outputs": [1, 2]'),
        good.replace(b"[[1.0, 2.0, 3.0]]", b"[[1.0, tru, 3]]"), good.replace(b"[[1.0, 2.0, 3.0]]", b"[[1.0, [2], 3]]"),
        good.replace(b"[[1.0, 2.0, 3.0]]", b'[[1.0, "\\udfff", 3]]'),
        good.replace(b"[[1.0, 2.0, 3.0]]", "[[1.0, \"\u00e9\u20ac\", 3]]".encode()),
    ]


# The edge lines Java reads, of each list: every other one sits on the far side of one of its checks.
EDGES = {0, 2, 8, 9, 13, 15, 17, 18, 19, 30, 31, 33, 34, 37, 41, 43, 49, 50, 51, 52, 53}
JAVA_EDGES = {0, 3, 5, 6, 11, 12, 13, 14, 15, 18, 24, 27, 31, 32, 34, 36, 39, 49, 50, 51, 52, 58, 61, 62, 63, 68,
              76}


@pytest.mark.parametrize("lateness_ms", [None, 60_000])
@pytest.mark.parametrize("edges, expected", [(edge_lines, EDGES), (java_edge_lines, JAVA_EDGES)])
def test_each_edge_line_gives_what_the_exact_parser_gives(java, java_messages, lateness_ms, edges, expected):
    good = line(event())
    read_lines = set()
    for i, edge in enumerate(edges()):
        raw = block_lines([as_block([good, edge, good])])  # an edge line may hold '\r'
        block = read_block(java, raw)
        assert_same(*both_ways(raw, lateness_ms, block, sample_every=1))  # every value compared
        if len(raw) == 3:
            messages = read_messages(java_messages, raw)
            assert_same(*both_ways(raw, lateness_ms, messages, sample_every=1))
            assert taken(messages) == taken(block)
            if 1 in taken(block):
                read_lines.add(i)
    assert read_lines == expected


@pytest.mark.parametrize("lateness_ms", [None, 60_000])
def test_traffic_mixed_with_every_edge_and_hostile_line_gives_what_the_exact_parser_gives(java, java_messages, traffic,
                                                                                        lateness_ms):
    raw = block_lines([as_block(traffic[:1000] + edge_lines() + java_edge_lines() + traffic[1000:2000]
                                + [h.line for h in corpus(WHEN)] + traffic[2000:])])
    assert_same(*both_ways(raw, lateness_ms, read_block(java, raw)))
    assert_same(*both_ways(raw, lateness_ms, read_messages(java_messages, raw)))


def test_lines_are_numbered_across_blocks(java, traffic):
    pieces = [traffic[:700], java_edge_lines(), traffic[700:]]
    raw = [text for piece in pieces for text in piece]
    read = decode([java(as_block(piece)) for piece in pieces], Descriptions(EndpointCache()))
    assert_same(*both_ways(raw, 60_000, read))
    with pytest.raises(ValueError, match="count"):
        both_ways(raw[:-1], 60_000, read)


def test_a_message_is_one_line_whatever_it_holds(java_messages):
    """A Kafka message may hold newlines (pretty-printed JSON) and carriage returns."""
    raw = [json.dumps(event(), indent=2).encode(), line(event()) + b"\r\n", line(event()) + b"\n" + line(event())]
    read = read_messages(java_messages, raw)
    assert taken(read) == {0}
    assert_same(*both_ways(raw, None, read))


@FUZZ
@given(st.lists(fuzzed_lines, min_size=1, max_size=12), st.sampled_from([None, 0, 60_000]))
def test_fuzzed_lines_give_what_the_exact_parser_gives(java, java_messages, batch, lateness_ms):
    raw = block_lines([b"\n".join(text.encode("utf-8", errors="surrogatepass") for text in batch)
                       + b"\n" + line(event()) + b"\n"])
    assert_same(*both_ways(raw, lateness_ms, read_block(java, raw), sample_every=1))
    assert_same(*both_ways(raw, lateness_ms, read_messages(java_messages, raw), sample_every=1))
