"""The parser's fast path: well-formed events read column-wise with ``pyarrow.json``.

Nearly every line a model server writes is one well-formed event, or a plain batch of them
(whose events are re-written as single-event lines first). They are parsed a block at a time
into Arrow columns (feature values straight into float64 arrays, no Python object per value)
and validated with vectorized checks. A line takes the fast path only when the answer is
certain to equal :func:`udfs.events.parse_lines`' for it; every other line -- anything
invalid, times not in MLRun's own format, a possibly null label, type conflicts inside a
block -- is left to that exact per-line parser. A block that pyarrow refuses is halved until
the lines it refuses are found.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from udfs.events import BATCH_HEADER_FIELDS, END_OF_TIME_MS, EARLIEST_TIME_MS, MAX_CUSTOM_METRICS, MAX_METRIC_NAME, \
    EndpointCache, EventError, Endpoint

_STRING_FIELDS = ("class", "model", "version", "function_uri", "project", "endpoint_id")
_SCHEMA = pa.schema([*((name, pa.string()) for name in _STRING_FIELDS),
                     ("when", pa.string()), ("microsec", pa.float64()), ("error", pa.string()),
                     ("request", pa.struct([("inputs", pa.list_(pa.list_(pa.float64())))])),
                     ("resp", pa.struct([])), ("labels", pa.struct([])), ("metrics", pa.struct([]))])
_BATCH_KEYS = ("headers", "values")  # a line with these keys is a batch, whatever their values
# MLRun's time format with a valid hour, minute and second; the date is checked by a round trip.
_WHEN = r"^\d{4}-\d{2}-\d{2} ([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{6})?\+00:00$"
SMALLEST_BLOCK = 64  # a refused block this small takes the exact parser whole
REFUSED_READS = 24  # per batch: past this many refused reads, what is left takes the exact parser


@dataclass
class FastLines:
    """The events the fast path took, in line order: one per single-event line, and every
    event of a batched line whose events it took all of."""

    line: np.ndarray  # index of the event's line in the batch
    ordinal: np.ndarray  # 1-based position of the event in its line
    endpoint: np.ndarray  # index into ``endpoints``
    time_ms: np.ndarray
    predictions: np.ndarray  # input rows
    latency_us: np.ndarray  # 0 for an error event
    is_error: np.ndarray
    row_offsets: np.ndarray  # the line's feature rows are rows[row_offsets[i]:row_offsets[i + 1]]
    value_offsets: np.ndarray  # row r's values are values[value_offsets[r]:value_offsets[r + 1]]
    values: np.ndarray  # float64 feature values
    metric_line: np.ndarray  # custom metrics of successful events: index of the event here
    metric_name: np.ndarray
    metric_value: np.ndarray
    endpoints: list[Endpoint]  # distinct
    line_crc: np.ndarray | None = None  # uint32 CRC-32 of each event's line (None only within parse_fast)

    def __len__(self) -> int:
        return len(self.line)

    def first_row(self) -> np.ndarray:
        """Each event's first input row numbered across its line's events (rows of errors
        count none), as the exact parser numbers sampled rows."""
        before = np.concatenate([[0], np.cumsum(self.predictions)[:-1]])
        line_start = np.searchsorted(self.line, self.line)  # index of the line's first event
        return before - before[line_start]

    def select(self, keep: np.ndarray) -> "FastLines":
        """The events where ``keep`` is True."""
        return self.take(np.flatnonzero(keep))

    def take(self, index: np.ndarray) -> "FastLines":
        """The events at ``index``, in that order."""
        rows = np.diff(self.row_offsets)
        values_per_row = np.diff(self.value_offsets)
        row_index = ranges(self.row_offsets[index], rows[index])
        position = np.full(len(self.line), -1, dtype=np.int64)
        position[index] = np.arange(len(index))
        metric_position = position[self.metric_line]
        metric = np.flatnonzero(metric_position >= 0)
        metric = metric[np.argsort(metric_position[metric], kind="stable")]  # in event order
        return FastLines(
            line=self.line[index], ordinal=self.ordinal[index], endpoint=self.endpoint[index],
            time_ms=self.time_ms[index], predictions=self.predictions[index], latency_us=self.latency_us[index],
            is_error=self.is_error[index], row_offsets=np.concatenate([[0], np.cumsum(rows[index])]),
            value_offsets=np.concatenate([[0], np.cumsum(values_per_row[row_index])]),
            values=self.values[ranges(self.value_offsets[row_index], values_per_row[row_index])],
            metric_line=metric_position[metric], metric_name=self.metric_name[metric],
            metric_value=self.metric_value[metric], endpoints=self.endpoints,
            line_crc=None if self.line_crc is None else self.line_crc[index])

    @staticmethod
    def empty() -> "FastLines":
        return FastLines(*(np.zeros(0, np.int64) for _ in range(6)), np.zeros(0, bool), np.zeros(1, np.int64),
                         np.zeros(1, np.int64), np.zeros(0), np.zeros(0, np.int64), np.zeros(0, object), np.zeros(0),
                         endpoints=[], line_crc=np.zeros(0, np.uint32))


def endpoint_codes(resolved: list[Endpoint | None], code: np.ndarray) -> tuple[np.ndarray, list[Endpoint]]:
    """``code`` (indices into ``resolved``) renumbered into the endpoints that resolved, and those.

    >>> endpoint_codes([None, "b", "c"], np.array([2, 1]))
    (array([1, 0]), ['b', 'c'])
    """
    renumbered = np.cumsum([e is not None for e in resolved], dtype=np.int64) - 1
    return renumbered[code], [e for e in resolved if e is not None]


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The indices start, start + 1, ... (count of them) of each range, one after another.

    >>> ranges(np.array([5, 0, 2]), np.array([2, 0, 3])).tolist()
    [5, 6, 2, 3, 4]
    """
    counts = np.asarray(counts, dtype=np.int64)
    return np.repeat(np.asarray(starts, dtype=np.int64) - np.cumsum(counts) + counts, counts) \
        + np.arange(int(counts.sum()))


def line_crcs(raw_lines: Sequence[bytes], line: np.ndarray) -> np.ndarray:
    """zlib's CRC-32 of the lines at ``line``, as uint32: what feature rows are sampled by.

    >>> line_crcs([b'{}', b'abc'], np.array([1, 1])).tolist() == [zlib.crc32(b'abc')] * 2
    True
    """
    return np.fromiter((zlib.crc32(raw_lines[i]) for i in line.tolist()), dtype=np.uint32, count=len(line))


def _lines_holding(raw_lines: Sequence[bytes], indices: np.ndarray, mark: bytes) -> np.ndarray:
    """Which of the given lines hold ``mark``: one scan of the joined lines."""
    blob = b"\n".join(raw_lines[i] for i in indices)
    positions, at = [], blob.find(mark)
    while at >= 0:
        positions.append(at)
        at = blob.find(mark, at + len(mark))
    holding = np.zeros(len(indices), dtype=bool)
    if positions:
        ends = np.cumsum([len(raw_lines[i]) + 1 for i in indices])
        holding[np.searchsorted(ends, positions, side="right")] = True
    return holding


def candidates(raw_lines: Sequence[bytes]) -> np.ndarray:
    """Indices of the lines the fast path may try (the rest go straight to the exact parser):
    one object from the first byte to the last, UTF-8, and not a batch of events.

    >>> candidates([b'{"a": 1}', b'{"headers": [], "values": []}', b'null', b'\\xef\\xbb\\xbf{}', b'{"x": "\\xff"}']).tolist()
    [0]
    """
    # An object on its own: pyarrow's reader crashes (not raises) on a line holding just "null".
    objects = [line[:1] == b"{" and line[-1:] == b"}" for line in raw_lines]
    result = np.flatnonzero(np.array(objects, dtype=bool)) if raw_lines else np.zeros(0, np.int64)
    result = result[~_lines_holding(raw_lines, result, b'"headers"')]
    try:
        b"\n".join(raw_lines[i] for i in result).decode("utf-8")
    except UnicodeDecodeError:
        result = np.array([i for i in result if _is_utf8(raw_lines[i])], dtype=np.int64)
    return result


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _read(lines: list[bytes]) -> pa.Table | None:
    blob = b"\n".join(lines)
    try:
        table = pj.read_json(io.BytesIO(blob),
                             read_options=pj.ReadOptions(use_threads=False, block_size=len(blob) + 1),
                             parse_options=pj.ParseOptions(explicit_schema=_SCHEMA, unexpected_field_behavior="infer"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return table.combine_chunks() if table.num_rows == len(lines) else None  # two objects on one line


def _blocks(raw_lines: Sequence[bytes], indices: np.ndarray) -> list[tuple[np.ndarray, pa.Table]]:
    """(line indices, table) for the blocks pyarrow reads. A refused block is halved until the
    lines it refuses are found, within a budget of refused reads: a few refused lines cost a
    few extra reads of ever smaller blocks; where refusals are everywhere, the rest of the
    block takes the exact parser without more tries."""
    budget = [REFUSED_READS]

    def read(indices: np.ndarray) -> list[tuple[np.ndarray, pa.Table]]:
        table = _read([raw_lines[i] for i in indices])
        if table is not None:
            return [(indices, table)]
        budget[0] -= 1
        if len(indices) <= SMALLEST_BLOCK or budget[0] <= 0:
            return []
        half = len(indices) // 2
        return read(indices[:half]) + read(indices[half:])

    return read(indices) if len(indices) else []


def _column(table: pa.Table, name: str) -> pa.Array:
    column = table.column(name)
    return column.chunk(0) if column.num_chunks == 1 else pa.concat_arrays(column.chunks)


def _child(struct: pa.Array, name: str) -> pa.Array | None:
    if not pa.types.is_struct(struct.type) or struct.type.get_field_index(name) < 0:
        return None
    return struct.field(name)


def _valid(array: pa.Array | None) -> np.ndarray:
    return np.zeros(0, bool) if array is None else array.is_valid().to_numpy(zero_copy_only=False)


def _times(when: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(epoch ms, ok) per line; ok only for MLRun's format with a real date in the store's range."""
    ok = pc.fill_null(pc.match_substring_regex(when, _WHEN), False)
    head = pc.utf8_slice_codeunits(when, 0, 19)
    seconds = pc.strptime(head, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
    ok = pc.and_(ok, pc.fill_null(pc.equal(pc.strftime(seconds, format="%Y-%m-%d %H:%M:%S"), head), False))
    has_fraction = pc.equal(pc.utf8_length(when), 32)
    millis = pc.if_else(has_fraction, pc.utf8_slice_codeunits(when, 20, 23), "0")
    ok = ok.to_numpy(zero_copy_only=False)
    time_ms = np.zeros(len(when), dtype=np.int64)
    if ok.any():
        sec = pc.fill_null(seconds.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
        ms = pc.cast(pc.if_else(pa.array(ok), millis, "0"), pa.int64()).to_numpy(zero_copy_only=False)
        time_ms = np.where(ok, sec * 1000 + ms, 0)
    ok &= (time_ms >= EARLIEST_TIME_MS) & (time_ms < END_OF_TIME_MS)
    return time_ms, ok


def _endpoints(table: pa.Table, endpoints: EndpointCache) -> tuple[list[Endpoint | None], np.ndarray, np.ndarray]:
    """The endpoints of the lines' distinct combinations of base fields and labels (None for
    an invalid one), each line's index into them, and which lines the fast path may take."""
    n = table.num_rows
    columns = [_column(table, name) for name in _STRING_FIELDS]
    labels = _column(table, "labels")
    ok = np.ones(n, dtype=bool)
    label_columns = []
    if pa.types.is_struct(labels.type):
        for j, label in enumerate(labels.type):
            child = labels.field(j)
            if pa.types.is_string(label.type):
                label_columns.append((label.name, child))
            elif not pa.types.is_null(label.type):
                ok &= ~_valid(child)  # a label that is not a string: the exact parser decides
    else:
        ok &= ~_valid(labels)
    encoded = [pc.dictionary_encode(c) for c in columns + [c for _, c in label_columns]]
    codes = np.stack([pc.fill_null(e.indices, -1).to_numpy(zero_copy_only=False) for e in encoded], axis=1)
    _, first, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    resolved: list[Endpoint | None] = []
    for row in first:
        obj = {name: c[row].as_py() for name, c in zip(_STRING_FIELDS, columns) if c[row].is_valid}
        obj["labels"] = {name: c[row].as_py() for name, c in label_columns if c[row].is_valid}
        try:
            resolved.append(endpoints.parse(obj))
        except EventError:
            resolved.append(None)
    code = inverse.reshape(-1)
    ok &= np.array([e is not None for e in resolved], dtype=bool)[code]
    return resolved, code, ok


def _metrics(table: pa.Table, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(line, name, value) of the numeric custom metrics of ``rows``; also the lines whose
    metrics the fast path cannot read exactly (more fields than are kept)."""
    metrics = _column(table, "metrics")
    unreadable = np.zeros(table.num_rows, dtype=bool)
    if not pa.types.is_struct(metrics.type):
        return np.zeros(0, np.int64), np.zeros(0, object), np.zeros(0), unreadable
    if metrics.type.num_fields > MAX_CUSTOM_METRICS:
        return np.zeros(0, np.int64), np.zeros(0, object), np.zeros(0), _valid(metrics)
    lines, names, values = [], [], []
    for j, field in enumerate(metrics.type):
        if len(field.name) > MAX_METRIC_NAME or not (pa.types.is_integer(field.type) or pa.types.is_floating(field.type)):
            continue
        child = metrics.field(j).take(pa.array(rows))
        value = pc.fill_null(child.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False)
        kept = np.isfinite(value)  # null, NaN and infinite values are not kept, as the exact parser does
        if kept.any():
            lines.append(rows[kept])
            names.append(np.full(int(kept.sum()), field.name, dtype=object))
            values.append(value[kept])
    if not lines:
        return np.zeros(0, np.int64), np.zeros(0, object), np.zeros(0), unreadable
    line = np.concatenate(lines)
    order = np.argsort(line, kind="stable")  # in event order, as the exact parser lists them
    return line[order], np.concatenate(names)[order], np.concatenate(values)[order], unreadable


def _null_sensitive(table: pa.Table, raw_lines: Sequence[bytes], indices: np.ndarray) -> np.ndarray:
    """Lines whose reading depends on a key being absent or null, which Arrow reads alike: a
    batch key (any value makes a batch), and a label that may be null (the exact parser keeps
    a null label as the text 'None')."""
    unsure = np.zeros(table.num_rows, dtype=bool)
    for key in _BATCH_KEYS:
        if key in table.column_names:
            unsure |= _lines_holding(raw_lines, indices, f'"{key}"'.encode())
    labels = _column(table, "labels")
    if pa.types.is_struct(labels.type) and labels.type.num_fields:
        some_null = np.zeros(table.num_rows, dtype=bool)
        for j in range(labels.type.num_fields):
            some_null |= ~_valid(labels.field(j))
        some_null &= _valid(labels)
        for i in np.flatnonzero(some_null):
            unsure[i] |= b"null" in raw_lines[indices[i]]
    return unsure


def _block(table: pa.Table, indices: np.ndarray, raw_lines: Sequence[bytes], endpoints: EndpointCache) -> FastLines:
    n = table.num_rows
    resolved, endpoint, ok = _endpoints(table, endpoints)
    ok &= ~_null_sensitive(table, raw_lines, indices)
    time_ms, when_ok = _times(_column(table, "when"))
    ok &= when_ok
    request = _column(table, "request")
    inputs = request.field("inputs")
    predictions = pc.fill_null(pc.list_value_length(inputs), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    ok &= _valid(request) & _valid(inputs) & (predictions > 0)
    is_error = _valid(_column(table, "error"))
    outputs = _child(_column(table, "resp"), "outputs")
    microsec = _column(table, "microsec")
    # float64 reads integer and fractional latencies alike; exact as integers below 2**53.
    # Checked before truncating, which would make -0.5 a valid 0 (NaN fails both checks).
    latency = pc.fill_null(microsec, -1.0).to_numpy(zero_copy_only=False)
    ok &= is_error | ((latency >= 0) & (latency < 2.0 ** 53))
    latency = np.trunc(np.clip(latency, 0, 2.0 ** 53)).astype(np.int64)
    if outputs is not None and pa.types.is_list(outputs.type):
        outputs_count = pc.fill_null(pc.list_value_length(outputs), -1).to_numpy(zero_copy_only=False)
    else:
        outputs_count = np.full(n, -1)
    ok &= is_error | (outputs_count == predictions)
    rows = inputs.flatten()  # a null row or value reads as NaN values, as the exact parser reads it
    success = np.flatnonzero(ok & ~is_error)
    metric_line, metric_name, metric_value, unreadable = _metrics(table, success)
    if unreadable.any():
        ok &= ~unreadable
        keep = ok[metric_line]
        metric_line, metric_name, metric_value = metric_line[keep], metric_name[keep], metric_value[keep]
    taken = np.flatnonzero(ok)
    position = np.full(n, -1, dtype=np.int64)
    position[taken] = np.arange(len(taken))
    # the feature rows and values of the lines taken, in order
    row_lengths_all = np.diff(rows.offsets.to_numpy())
    row_taken = ok[np.repeat(np.arange(n), np.diff(inputs.offsets.to_numpy()))]
    value_taken = np.repeat(row_taken, row_lengths_all)
    row_lengths = row_lengths_all[row_taken]
    values = rows.flatten().to_numpy(zero_copy_only=False)[value_taken]
    line_rows = predictions[taken]
    endpoint, distinct = endpoint_codes(resolved, endpoint[taken])
    return FastLines(
        line=indices[taken], ordinal=np.ones(len(taken), dtype=np.int64), endpoint=endpoint, endpoints=distinct,
        time_ms=time_ms[taken],
        predictions=np.where(is_error[taken], 0, line_rows), latency_us=np.where(is_error[taken], 0, latency[taken]),
        is_error=is_error[taken], row_offsets=np.concatenate([[0], np.cumsum(line_rows)]),
        value_offsets=np.concatenate([[0], np.cumsum(row_lengths)]), values=values,
        metric_line=position[metric_line], metric_name=metric_name, metric_value=metric_value)


def batch_events(raw: bytes) -> list[bytes] | None:
    """A batched line's events as single-event lines (orjson text), when its shape is plain:
    an object whose ``headers`` are distinct known field names and whose ``values`` are rows
    of as many values. None for anything else, which the exact parser reads.

    >>> batch_events(b'{"model": "m", "headers": ["when", "microsec"], "values": [["t1", 5], ["t2", 6]]}')
    [b'{"model":"m","when":"t1","microsec":5}', b'{"model":"m","when":"t2","microsec":6}']
    >>> batch_events(b'{"model": "m", "headers": ["when"], "values": [["t1", 5]]}') is None
    True
    """
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    headers, values = obj.get("headers"), obj.get("values")
    if not (isinstance(headers, list) and headers and len(set(map(str, headers))) == len(headers)
            and all(type(h) is str and h in BATCH_HEADER_FIELDS for h in headers)):
        return None
    if not (isinstance(values, list) and values and all(type(r) is list and len(r) == len(headers) for r in values)):
        return None
    base = {k: v for k, v in obj.items() if k not in ("headers", "values")}
    return [orjson.dumps(dict(base, **dict(zip(headers, row)))) for row in values]


def parse_fast(raw_lines: Sequence[bytes], endpoints: EndpointCache) -> FastLines:
    """The events of ``raw_lines`` the fast path takes, in line order. A batched line is
    taken whole or not at all: its events are read as single-event lines."""
    lines, origin, ordinal = [], [], []
    batched = _lines_holding(raw_lines, np.arange(len(raw_lines)), b'"headers"')
    for i, raw in enumerate(raw_lines):
        events = batch_events(raw) if batched[i] else None
        if events is None:
            lines.append(raw)
            origin.append(i)
            ordinal.append(1)
        else:
            lines += events
            origin += [i] * len(events)
            ordinal += range(1, len(events) + 1)
    blocks = [_block(table, indices, lines, endpoints) for indices, table in _blocks(lines, candidates(lines))]
    blocks = [b for b in blocks if len(b)]
    if not blocks:
        return FastLines.empty()
    fast = concatenate(blocks)
    origin, ordinal = np.array(origin, dtype=np.int64), np.array(ordinal, dtype=np.int64)
    taken_events = np.bincount(origin[fast.line], minlength=len(raw_lines))
    events_of_line = np.bincount(origin, minlength=len(raw_lines))
    fast.ordinal = ordinal[fast.line]
    fast.line = origin[fast.line]
    whole = taken_events[fast.line] == events_of_line[fast.line]
    fast = fast if whole.all() else fast.select(whole)
    fast.line_crc = line_crcs(raw_lines, fast.line)
    return fast


def concatenate(blocks: list[FastLines]) -> FastLines:
    """The events of ``blocks``, one after another."""
    if len(blocks) <= 1:
        return blocks[0] if blocks else FastLines.empty()
    line_base = np.cumsum([0] + [len(b) for b in blocks])
    row_base = np.cumsum([0] + [b.row_offsets[-1] for b in blocks])
    value_base = np.cumsum([0] + [b.value_offsets[-1] for b in blocks])
    merged: dict[Endpoint, int] = {}
    codes_of_blocks = [np.array([merged.setdefault(e, len(merged)) for e in b.endpoints], dtype=np.int64)
                       for b in blocks]
    return FastLines(
        line=np.concatenate([b.line for b in blocks]), ordinal=np.concatenate([b.ordinal for b in blocks]),
        endpoint=np.concatenate([codes[b.endpoint] for b, codes in zip(blocks, codes_of_blocks)]),
        endpoints=list(merged),
        time_ms=np.concatenate([b.time_ms for b in blocks]), predictions=np.concatenate([b.predictions for b in blocks]),
        latency_us=np.concatenate([b.latency_us for b in blocks]), is_error=np.concatenate([b.is_error for b in blocks]),
        row_offsets=np.concatenate([[0]] + [b.row_offsets[1:] + row_base[k] for k, b in enumerate(blocks)]),
        value_offsets=np.concatenate([[0]] + [b.value_offsets[1:] + value_base[k] for k, b in enumerate(blocks)]),
        values=np.concatenate([b.values for b in blocks]),
        metric_line=np.concatenate([b.metric_line + line_base[k] for k, b in enumerate(blocks)]),
        metric_name=np.concatenate([b.metric_name for b in blocks]),
        metric_value=np.concatenate([b.metric_value for b in blocks]),
        line_crc=None if any(b.line_crc is None for b in blocks) else np.concatenate([b.line_crc for b in blocks]))
