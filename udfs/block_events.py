"""The plain lines the spool's block reader already read in Java, as :class:`FastLines`.

``pipelines/java/modelmon/flink/BlockEvents.java`` reads each block's lines of one plain shape
(single events and batches) into columns (its docstring gives the layout) on Flink's source
thread, so Python skips its own JSON reading for them. Python makes the checks that need no
second look at the line (the endpoint, the time range, the latency, the outputs), as
:mod:`udfs.fast_parse` does; a line that fails one, like every line Java left out, is read
from the raw block as before.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from udfs.events import END_OF_TIME_MS, EARLIEST_TIME_MS, MAX_METRIC_NAME, Endpoint, EndpointCache, EventError
from udfs.fast_parse import FastLines, concatenate, endpoint_codes, parse_fast, ranges

MAGIC = 0x4D4D4532
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


def decode(blob: bytes) -> BlockEvents:
    """Java's columns of a block.

    >>> empty = _HEADER.pack(MAGIC, 3, *[0] * 8)
    >>> len(decode(empty).line), decode(empty).endpoints
    (0, [])
    """
    magic, lines, events, rows, values, metrics, names, endpoints, _string_bytes, _ = _HEADER.unpack_from(blob)
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
    return BlockEvents(lines, line.astype(np.int64), ordinal.astype(np.int64), endpoint.astype(np.int64), time_ms,
                       microsec, is_error.astype(bool), row_count.astype(np.int64), outputs, line_crc.view(np.uint32),
                       row_length.astype(np.int64), value_array, metric_event.astype(np.int64),
                       metric_name.astype(np.int64), metric_value, metric_names, described)


def parse_blocks(raw_lines: Sequence[bytes], columns: Sequence[bytes], endpoints: EndpointCache) -> FastLines:
    """The events the fast path takes from the lines of blocks: those of Java's ``columns`` (one
    per block) that pass the checks, and :func:`udfs.fast_parse.parse_fast`'s of the other lines."""
    parts, base = [], 0
    for blob in columns:
        block = decode(blob)
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
