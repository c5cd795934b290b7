"""The spool source's ``modelmon-line-blocks`` format, read by real Flink jobs: its blocks,
split by :func:`modelmon.udfs.batches.block_lines`, are exactly the lines Flink's own ``raw`` format
reads from the same file, blocks are cut where the options say, and a second column holds
each block's event columns (tests/unit/test_reader_differential.py checks what they hold) and, for a
local file, where the block is instead of the block."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

from modelmon.pipelines.reader_jar import LINE_BLOCKS_FORMAT as FORMAT_IDENTIFIER, ReaderProcess, reader_jar
from modelmon.simulator import simulate
from modelmon.udfs.batches import block_lines
from modelmon.udfs.contract import EndpointCache
from modelmon.udfs.java_events import BlockLines, Descriptions, JavaEvents
from modelmon.udfs.java_events import decode as decode_many


def decode(blob: bytes) -> JavaEvents:
    return decode_many([blob], Descriptions(EndpointCache()))


AWKWARD_LINES = [
    b'{"a": 1}', b"", b'{"b": 2}\r', b"\r", b"\r\r", b"caf\xc3\xa9", b"\xff\xfe not UTF-8", b"x" * (3 * 2**20),
    b'  {"c": 3}  ', b"\t", b"the last line, without a newline",
]


@pytest.fixture(scope="module")
def t_env():
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    env.add_jars(reader_jar().as_uri())
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("collect-sink.batch-size.max", "64mb")  # a 3 MB line comes back whole
    return t_env


def read(t_env: StreamTableEnvironment, path: Path, options: dict[str, str],
         columns: tuple[str, ...] = ("payload",)) -> list:
    """The ``payload`` column of every row a bounded Flink job reads from ``path`` (or tuples of
    ``columns``, all BYTES)."""
    table = f"t_{abs(hash((str(path), tuple(options.items()), columns)))}"
    with_clause = ", ".join(f"'{k}' = '{v}'" for k, v in {"connector": "filesystem", "path": str(path),
                                                          **options}.items())
    t_env.execute_sql(f"CREATE TEMPORARY TABLE {table} ({', '.join(c + ' BYTES' for c in columns)}) "
                      f"WITH ({with_clause})")
    with t_env.execute_sql(f"SELECT * FROM {table}").collect() as rows:
        rows = [tuple(None if value is None else bytes(value) for value in row) for row in rows]
    return [row[0] for row in rows] if len(columns) == 1 else rows


def blocks(t_env: StreamTableEnvironment, path: Path, **options: str) -> list[bytes]:
    return read(t_env, path, {"format": FORMAT_IDENTIFIER,
                              **{f"{FORMAT_IDENTIFIER}.{k.replace('_', '-')}": v for k, v in options.items()}})


def test_blocks_split_into_exactly_the_lines_of_flinks_raw_format(t_env, tmp_path):
    path = tmp_path / "awkward.jsonl"
    path.write_bytes(b"\n".join(AWKWARD_LINES))
    raw = read(t_env, path, {"format": "raw"})
    # Flink's line formats drop one '\r' before each '\n' and keep empty lines.
    assert raw == [line[:-1] if line.endswith(b"\r") else line for line in AWKWARD_LINES]
    for max_lines, max_bytes in (("2", "16mb"), ("10000", "16mb"), ("10000", "8b"), ("1", "1b")):
        assert block_lines(blocks(t_env, path, max_lines=max_lines, max_bytes=max_bytes)) == raw


def test_a_compressed_file_is_read_decompressed_as_flinks_formats_read_it(t_env, tmp_path):
    lines = [b'{"a": %d}' % i for i in range(1000)]
    path = tmp_path / "segment.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    assert read(t_env, path, {"format": "raw"}) == lines
    assert block_lines(blocks(t_env, path, max_lines="7")) == lines


def test_a_block_ends_after_max_lines_or_the_line_that_reaches_max_bytes(t_env, tmp_path):
    path = tmp_path / "five.jsonl"
    path.write_bytes(b"a\nbb\nccc\ndddd\ne")
    assert blocks(t_env, path, max_lines="2") == [b"a\nbb\n", b"ccc\ndddd\n", b"e"]
    assert blocks(t_env, path, max_bytes="4b") == [b"a\nbb\n", b"ccc\n", b"dddd\n", b"e"]


def test_an_empty_file_gives_no_blocks(t_env, tmp_path):
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool" / "empty.jsonl").write_bytes(b"")
    (tmp_path / "spool" / "one.jsonl").write_bytes(b'{"a": 1}\n')
    assert blocks(t_env, tmp_path / "spool") == [b'{"a": 1}\n']


def test_a_second_column_holds_each_blocks_event_columns_and_where_its_lines_are(t_env, tmp_path):
    """A local file's blocks stay in the file: the block column is NULL, and the events say
    where the block is; its lines, read from there, are exactly those of Flink's raw format."""
    spool = tmp_path / "spool"
    simulate(spool, 200, endpoints=2, features=3, seed=5)
    path = next(spool.glob("*.jsonl"))
    path.write_bytes(path.read_bytes() + b"\n".join(AWKWARD_LINES))
    rows = read(t_env, path, {"format": FORMAT_IDENTIFIER, f"{FORMAT_IDENTIFIER}.max-lines": "7"},
                columns=("payload", "events"))
    assert len(rows) > 20 and all(payload is None for payload, _ in rows)
    columns = [decode(events) for _, events in rows]
    assert {c.file for c in columns} == {str(path)}
    assert [c.file_offset for c in columns] == list(np.cumsum([0] + [c.block_length for c in columns[:-1]]))
    assert [line for c in columns for line in BlockLines.of(None, c)] == read(t_env, path, {"format": "raw"})
    java = ReaderProcess()
    written = path.read_bytes()
    try:
        for c in columns:
            from_block = decode(java(written[c.file_offset:c.file_offset + c.block_length]))
            assert from_block.file is None and len(from_block.events) == len(c.events)
            np.testing.assert_array_equal(from_block.events.values, c.events.values)
    finally:
        java.close()
    assert sum(len(c.events) for c in columns) >= 200


def test_a_compressed_files_blocks_travel_beside_their_event_columns(t_env, tmp_path):
    lines = [json.dumps({"i": i}).encode() for i in range(30)]
    path = tmp_path / "segment.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    rows = read(t_env, path, {"format": FORMAT_IDENTIFIER, f"{FORMAT_IDENTIFIER}.max-lines": "7"},
                columns=("payload", "events"))
    columns = [decode(events) for _, events in rows]
    assert all(c.file is None for c in columns)
    assert [line for (payload, _), c in zip(rows, columns) for line in BlockLines.of(payload, c)] == lines
