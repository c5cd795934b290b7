"""The plain lines the spool's block reader already read in Java, as :class:`FastLines`.

``pipelines/java/modelmon/flink/BlockEvents.java`` reads each block's lines of one plain shape
(single events and batches) into columns (its docstring gives the layout) on Flink's source
thread, so Python skips its own JSON reading for them. Python makes the checks that need no
second look at the line (the endpoint, the time range, the latency, the outputs), as
:mod:`udfs.fast_parse` does; a line that fails one, like every line Java left out, is read
from the raw block as before.

Java also says where each line is in its block, and, for a block of a local file, where the
block is in that file instead of sending it (:class:`BlockLines`): Python reads a line's bytes
only when it needs them.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Sequence, overload

import numpy as np

from udfs.events import END_OF_TIME_MS, EARLIEST_TIME_MS, MAX_METRIC_NAME, Endpoint, EndpointCache, EventError
from udfs.fast_parse import FastLines, concatenate, endpoint_codes, parse_fast, ranges

MAGIC = 0x4D4D4533
ENDPOINT_FIELDS = ("class", "model", "version", "function_uri", "project", "endpoint_id")
_HEADER = struct.Struct("<10i")


@dataclass
class BlockEvents:
    """One block's columns as Java wrote them: one entry per event (= line) it read."""

    lines: int  # in the block, as :func:`udfs.batches.block_lines` splits it
    line: np.ndarray
    ordinal: np.ndarray  # 1-based position of the event in its line
    endpoint: np.ndarray  # index into ``endpoints``
    time_ms: np.ndarray
    microsec: np.ndarray  # float64, NaN when absent
    is_error: np.ndarray
    rows: np.ndarray  # input rows of the event
    outputs: np.ndarray  # length of resp.outputs, -1 when absent
    line_crc: np.ndarray  # uint32 CRC-32 of the event's line (zlib.crc32)
    row_length: np.ndarray
    values: np.ndarray
    metric_event: np.ndarray
    metric_name: np.ndarray  # index into ``metric_names``
    metric_value: np.ndarray
    metric_names: list[str]
    endpoints: list[dict]  # the endpoint fields and labels of a line, as the parser reads them
    line_start: np.ndarray  # each line's bytes in the block: [line_start, line_stop)
    line_stop: np.ndarray
    file: str | None = None  # the local file holding the block, when the block did not travel
    file_offset: int = 0
    block_length: int = 0


def decode(blob: bytes) -> BlockEvents:
    """Java's columns of a block.

    >>> empty = _HEADER.pack(MAGIC, 2, *[0] * 8) + struct.pack("<4i", 0, 3, 1, 5)
    >>> decode(empty).line_start.tolist(), decode(empty).line_stop.tolist(), decode(empty).file
    ([0, 3], [1, 5], None)
    """
    magic, lines, events, rows, values, metrics, names, endpoints, _string_bytes, file_bytes = _HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise ValueError("not the block reader's event columns (a jar from another version?)")
    at = _HEADER.size

    def take(dtype: str, count: int) -> np.ndarray:
        nonlocal at
        array = np.frombuffer(blob, dtype=dtype, count=count, offset=at)
        at += array.nbytes
        return array

    time_ms, microsec, value_array, metric_value = (take("<i8", events), take("<f8", events), take("<f8", values),
                                                    take("<f8", metrics))
    line, ordinal, endpoint, row_count, outputs, is_error, line_crc = (take("<i4", events) for _ in range(7))
    row_length, metric_event, metric_name = take("<i4", rows), take("<i4", metrics), take("<i4", metrics)
    line_start, line_stop = take("<i4", lines), take("<i4", lines)

    def integer() -> int:
        nonlocal at
        at += 4
        return int.from_bytes(blob[at - 4:at], "little", signed=True)

    def text() -> str:
        nonlocal at
        length = integer()
        at += length
        return blob[at - length:at].decode("utf-8")

    metric_names = [text() for _ in range(names)]
    described = []
    for _ in range(endpoints):
        present = integer()
        obj = {name: text() for bit, name in enumerate(ENDPOINT_FIELDS) if present & (1 << bit)}
        obj["labels"] = {text(): text() for _ in range(integer())}
        described.append(obj)
    file, file_offset, block_length = None, 0, 0
    if file_bytes:
        file = blob[at:at + file_bytes].decode("utf-8")
        file_offset, block_length = struct.unpack_from("<qq", blob, at + file_bytes)
    return BlockEvents(lines, line.astype(np.int64), ordinal.astype(np.int64), endpoint.astype(np.int64), time_ms,
                       microsec, is_error.astype(bool), row_count.astype(np.int64), outputs, line_crc.view(np.uint32),
                       row_length.astype(np.int64), value_array, metric_event.astype(np.int64),
                       metric_name.astype(np.int64), metric_value, metric_names, described, line_start, line_stop,
                       file, file_offset, block_length)


class BlockLines(Sequence[bytes]):
    """The lines of one block, cut where Java found them; a line's bytes are sliced from the
    block only when asked for.

    >>> lines = BlockLines(b'{"a": 1}\\r\\n\\nxy', np.array([0, 10, 11]), np.array([8, 10, 13]))
    >>> len(lines), lines[0], lines[-1], list(lines[1:])
    (3, b'{"a": 1}', b'xy', [b'', b'xy'])
    """

    def __init__(self, block: bytes, start: np.ndarray, stop: np.ndarray):
        self.block = block
        self.start, self.stop = start.tolist(), stop.tolist()

    def __len__(self) -> int:
        return len(self.start)

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self.block[self.start[index]:self.stop[index]]

    @classmethod
    def of(cls, block: bytes | None, events: BlockEvents) -> "BlockLines":
        """The lines of a block: ``block`` when it travelled, else read from its file."""
        if block is None:
            if events.file is None:
                raise ValueError("a block with neither its bytes nor its file")
            block = read_range(events.file, events.file_offset, events.block_length)
        return cls(block, events.line_start, events.line_stop)


def read_range(path: str, offset: int, length: int) -> bytes:
    """``length`` bytes of the file at ``offset``: a block Flink read from it moments ago.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"0123456789"); f.flush()
    ...     read_range(f.name, 2, 5)
    b'23456'
    """
    descriptor = os.open(path, os.O_RDONLY)
    try:
        pieces, got = [], 0
        while got < length:
            piece = os.pread(descriptor, length - got, offset + got)
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
    finally:
        os.close(descriptor)
    if got != length:
        raise ValueError(f"{path} is shorter than when Flink read it: {got} of {length} bytes at {offset} "
                         "(a spool file must not be truncated or replaced while the job reads it)")
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def parse_blocks(raw_lines: Sequence[bytes], columns: Sequence[BlockEvents], endpoints: EndpointCache) -> FastLines:
    """The events the fast path takes from the lines of blocks: those of Java's ``columns`` (one
    per block, decoded) that pass the checks, and :func:`udfs.fast_parse.parse_fast`'s of the other lines."""
    parts, base = [], 0
    for block in columns:
        part = _checked(block, endpoints)
        part.line += base
        parts.append(part)
        base += block.lines
    if base != len(raw_lines):
        raise ValueError(f"the blocks' columns count {base} lines, the blocks {len(raw_lines)}")
    java = concatenate(parts)
    rest = np.setdiff1d(np.arange(len(raw_lines)), java.line)
    python = parse_fast([raw_lines[i] for i in rest], endpoints)
    python.line = rest[python.line]
    both = concatenate([java, python])
    return both.take(np.lexsort((both.ordinal, both.line)))


def _checked(block: BlockEvents, endpoints: EndpointCache) -> FastLines:
    resolved: list[Endpoint | None] = []
    for obj in block.endpoints:
        try:
            resolved.append(endpoints.parse(obj))
        except EventError:
            resolved.append(None)
    n = len(block.line)
    has_endpoint = np.array([e is not None for e in resolved], dtype=bool)
    ok = has_endpoint[block.endpoint]
    ok &= (block.time_ms >= EARLIEST_TIME_MS) & (block.time_ms < END_OF_TIME_MS)
    latency = block.microsec
    success = ~block.is_error
    with np.errstate(invalid="ignore"):  # NaN: no latency given
        ok &= block.is_error | ((latency >= 0) & (latency < 2.0 ** 53))
    ok &= block.is_error | (block.outputs == block.rows)
    ok &= ~np.isin(block.line, block.line[~ok])  # a batch is taken whole or not at all
    taken = np.flatnonzero(ok)
    position = np.full(n, -1, dtype=np.int64)
    position[taken] = np.arange(len(taken))
    row_offsets = np.concatenate([[0], np.cumsum(block.rows)])
    value_offsets = np.concatenate([[0], np.cumsum(block.row_length)])
    row_index = ranges(row_offsets[taken], block.rows[taken])
    metric_names = np.array(block.metric_names, dtype=object)
    name_ok = np.array([len(name) <= MAX_METRIC_NAME for name in block.metric_names], dtype=bool)
    metric = (ok & success)[block.metric_event] & np.isfinite(block.metric_value) & name_ok[block.metric_name]
    line_rows = block.rows[taken]
    latency_us = np.trunc(np.clip(np.nan_to_num(latency[taken]), 0, 2.0 ** 53)).astype(np.int64)
    endpoint, distinct = endpoint_codes(resolved, block.endpoint[taken])
    return FastLines(
        line=block.line[taken], ordinal=block.ordinal[taken],
        endpoint=endpoint, endpoints=distinct, time_ms=block.time_ms[taken],
        predictions=np.where(block.is_error[taken], 0, line_rows),
        latency_us=np.where(block.is_error[taken], 0, latency_us), is_error=block.is_error[taken],
        row_offsets=np.concatenate([[0], np.cumsum(line_rows)]),
        value_offsets=np.concatenate([[0], np.cumsum(block.row_length[row_index])]),
        values=block.values[ranges(value_offsets[row_index], block.row_length[row_index])],
        metric_line=position[block.metric_event[metric]], metric_name=metric_names[block.metric_name[metric]],
        metric_value=block.metric_value[metric], line_crc=block.line_crc[taken])
