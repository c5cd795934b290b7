"""The events the Java reader read (``pipelines/java/modelmon/flink/BlockEvents.java``), as
:class:`~modelmon.udfs.event_columns.EventColumns`.

Java reads every line of one plain shape (single events and batches) into columns on Flink's
source thread, for a spool's blocks and for Kafka messages alike, and makes every check of the
contract but the endpoint's, which needs :func:`modelmon.udfs.contract.parse_endpoint`: a line
whose endpoint does not hold, like every line Java left out, is read by the exact parser.

Java also says where each line is in its block, and, for a block of a local file, where the
block is in that file instead of sending it (:class:`BlockLines`): Python reads a line's bytes
only when it needs them. Its layout (little-endian):

    int32 MAGIC, lines, events, rows, values, metrics, metric names, endpoints, name bytes,
          endpoint bytes, file bytes (0 when the block travels beside its columns), coded values,
          value texts, value text bytes
    int64 time_ms[events]; float64 microsec[events]; float64 values[values]; float64 metric_value[metrics]
    int32 line[events], ordinal[events] (1-based in its line), endpoint[events],
          rows[events] (0 for an error), is_error[events], line_crc[events] (zlib.crc32 of the line)
    int32 row_length[rows], metric_event[metrics], metric_name[metrics], line_start[lines], line_stop[lines],
          coded_value[coded] (the values that are not numbers), value_code[coded] (VALUE_* or a text's index)
    names: per metric name, int32 length and UTF-8
    endpoints: per endpoint, int32 bit set of the ENDPOINT_FIELDS present, each one's text, int32
          label count, and each label's key and value text
    value texts: per text, int32 length and UTF-8
    with file bytes: the file's local path (UTF-8), int64 offset and length of the block in it
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Sequence, overload

import numpy as np

from modelmon.udfs.contract import ENDPOINT_FIELDS, STATUS_OK, VALUE_NUMBER, Endpoint, EndpointCache, EventError
from modelmon.udfs.event_columns import EventColumns, ranges

MAGIC = 0x4D4D4535
_HEADER = struct.Struct("<14i")
_EVENT_INT32 = ("line", "ordinal", "endpoint", "rows", "is_error", "line_crc")


class Descriptions:
    """The endpoints and metric names Java describes, read and resolved once per distinct
    description: Kafka messages each describe their own, which repeat from message to message.

    >>> descriptions = Descriptions(EndpointCache())
    >>> section = struct.pack("<i", 0b1010) + b"".join(struct.pack("<i", len(t)) + t for t in (b"m", b"p/f")) \\
    ...     + struct.pack("<i", 0)
    >>> [e.endpoint_id[:8] for e in descriptions.endpoints(section, 1)], descriptions.endpoints(section, 1) is \\
    ...     descriptions.endpoints(section, 1)
    (['5e96a59a'], True)
    """

    def __init__(self, endpoints: EndpointCache, limit: int = 100_000):
        self.cache = endpoints
        self.limit = limit
        self.known: dict[tuple[bytes, bool], tuple] = {}

    def endpoints(self, section: bytes, count: int) -> tuple[Endpoint | None, ...]:
        """The endpoints of an endpoint section; None for one that breaks the contract."""
        return self._read((section, True), lambda: tuple(self._endpoint(obj) for obj in _endpoint_objects(section, count)))

    def names(self, section: bytes, count: int) -> tuple[str, ...]:
        return self._read((section, False), lambda: tuple(_texts(section, count)))

    def _read(self, key: tuple[bytes, bool], read) -> tuple:
        found = self.known.get(key)
        if found is None:
            if len(self.known) >= self.limit:
                self.known.clear()
            found = self.known[key] = read()
        return found

    def _endpoint(self, obj: dict) -> Endpoint | None:
        try:
            return self.cache.parse(obj)
        except EventError:
            return None


def _texts(section: bytes, count: int, at: int = 0) -> list[str]:
    texts = []
    for _ in range(count):
        (length,) = struct.unpack_from("<i", section, at)
        texts.append(section[at + 4:at + 4 + length].decode("utf-8"))
        at += 4 + length
    return texts


def _endpoint_objects(section: bytes, count: int) -> list[dict]:
    """Each endpoint's fields and labels, as the exact parser would read them from the line."""
    objects, at = [], 0

    def text() -> str:
        nonlocal at
        (length,) = struct.unpack_from("<i", section, at)
        at += 4 + length
        return section[at - length:at].decode("utf-8")

    for _ in range(count):
        (present,) = struct.unpack_from("<i", section, at)
        at += 4
        obj = {name: text() for bit, name in enumerate(ENDPOINT_FIELDS) if present & (1 << bit)}
        (labels,) = struct.unpack_from("<i", section, at)
        at += 4
        obj["labels"] = {text(): text() for _ in range(labels)}
        objects.append(obj)
    return objects


@dataclass
class JavaEvents:
    """What Java read of a batch: one block of lines, or Kafka messages (one line each)."""

    lines: int
    events: EventColumns  # of the lines Java read whose endpoints hold
    line_start: np.ndarray  # a block's lines are block[line_start:line_stop]
    line_stop: np.ndarray
    file: str | None = None  # the local file holding the block, when the block did not travel
    file_offset: int = 0
    block_length: int = 0


def decode(blobs: Sequence[bytes], descriptions: Descriptions) -> JavaEvents:
    """Java's columns of one block, or of many messages (their lines numbered one after another).

    >>> empty = _HEADER.pack(MAGIC, 2, *[0] * 12) + struct.pack("<4i", 0, 3, 1, 5)
    >>> read = decode([empty], Descriptions(EndpointCache()))
    >>> read.lines, read.line_start.tolist(), read.line_stop.tolist(), len(read.events), read.file
    (2, [0, 3], [1, 5], 0, None)
    """
    headers = np.array([_HEADER.unpack_from(blob) for blob in blobs], dtype=np.int64).reshape(-1, _HEADER.size // 4)
    if (headers[:, 0] != MAGIC).any():
        raise ValueError("not the Java reader's event columns (a jar from another version?)")
    (lines, events, rows, values, metrics, names, endpoints, name_bytes, endpoint_bytes, file_bytes, coded, texts,
     text_bytes) = headers[:, 1:].T
    sections = Sections(blobs)
    time_ms, microsec = sections.take("<i8", events), sections.take("<f8", events)
    value_array, metric_value = sections.take("<f8", values), sections.take("<f8", metrics)
    ints = {name: sections.take("<i4", events) for name in _EVENT_INT32}
    row_length, metric_event, metric_name = (sections.take("<i4", count) for count in (rows, metrics, metrics))
    line_start, line_stop = sections.take("<i4", lines), sections.take("<i4", lines)
    coded_value, value_code = sections.take("<i4", coded), sections.take("<i4", coded)
    name_sections, endpoint_sections = sections.raw(name_bytes), sections.raw(endpoint_bytes)
    value_texts = [t for section, count in zip(sections.raw(text_bytes), texts.tolist()) for t in _texts(section, count)]
    resolved = [e for section, count in zip(endpoint_sections, endpoints.tolist())
                for e in descriptions.endpoints(section, count)]
    metric_names = np.array([n for section, count in zip(name_sections, names.tolist())
                             for n in descriptions.names(section, count)], dtype=object)

    def based(array: np.ndarray, counts: np.ndarray, bases: np.ndarray) -> np.ndarray:
        """Per blob indices made indices into the whole batch."""
        if len(blobs) == 1:
            return array.astype(np.int64)
        return array + np.repeat(np.cumsum(bases) - bases, counts)

    endpoint, distinct = _endpoint_codes(resolved, based(ints["endpoint"], events, endpoints))
    codes = np.full(len(value_array), VALUE_NUMBER, dtype=np.int32)
    if len(coded_value):
        codes[based(coded_value, coded, values)] = np.where(value_code >= 0, based(value_code, coded, texts), value_code)
    is_error = ints["is_error"].astype(bool)
    predictions = ints["rows"].astype(np.int64)
    java = EventColumns(
        line=based(ints["line"], events, lines), ordinal=ints["ordinal"].astype(np.int64), endpoint=endpoint,
        time_ms=time_ms, has_time=np.ones(len(time_ms), dtype=bool), predictions=predictions,
        latency_us=np.where(is_error, 0, np.trunc(np.nan_to_num(microsec))).astype(np.int64), is_error=is_error,
        status=np.full(len(time_ms), STATUS_OK, dtype=object), reason=[None] * len(time_ms),
        line_crc=ints["line_crc"].view(np.uint32), row_offsets=np.concatenate([[0], np.cumsum(predictions)]),
        value_offsets=np.concatenate([[0], np.cumsum(row_length, dtype=np.int64)]), values=value_array,
        value_code=codes, value_texts=value_texts,
        metric_event=based(metric_event, metrics, events), metric_name=metric_names[based(metric_name, metrics, names)],
        metric_value=metric_value, endpoints=distinct)
    if (endpoint < 0).any():  # a line whose endpoint does not hold is the exact parser's
        java = java.take(np.flatnonzero(~np.isin(java.line, java.line[endpoint < 0])))
    read = JavaEvents(int(lines.sum()), java, line_start, line_stop)
    if len(blobs) == 1 and file_bytes[0]:
        at = len(blobs[0]) - file_bytes[0] - 16
        read.file = blobs[0][at:at + file_bytes[0]].decode("utf-8")
        read.file_offset, read.block_length = struct.unpack_from("<qq", blobs[0], at + file_bytes[0])
    return read


class Sections:
    """The blobs' sections, read in layout order: one blob's straight from its bytes, many
    blobs' gathered into one array each."""

    def __init__(self, blobs: Sequence[bytes]):
        self.blobs = blobs
        self.at = np.full(len(blobs), _HEADER.size, dtype=np.int64)
        self.joined = None if len(blobs) == 1 else np.frombuffer(b"".join(blobs), dtype=np.uint8)
        self.starts = np.cumsum([0] + [len(b) for b in blobs])[:-1]

    def take(self, dtype: str, counts: np.ndarray) -> np.ndarray:
        size = np.dtype(dtype).itemsize
        if self.joined is None:
            array = np.frombuffer(self.blobs[0], dtype=dtype, count=int(counts[0]), offset=int(self.at[0]))
        else:
            array = self.joined[ranges(self.starts + self.at, counts * size)].view(dtype)
        self.at += counts * size
        return array

    def raw(self, byte_counts: np.ndarray) -> list[bytes]:
        pieces = [blob[at:at + n] for blob, at, n in zip(self.blobs, self.at.tolist(), byte_counts.tolist())]
        self.at += byte_counts
        return pieces


def _endpoint_codes(resolved: list[Endpoint | None], code: np.ndarray) -> tuple[np.ndarray, list[Endpoint]]:
    """``code`` (indices into ``resolved``) as indices into its distinct endpoints that hold
    (-1 for one that does not), and those.

    >>> e = Endpoint("p", "e", "p/f", "m", "", "", "{}")
    >>> _endpoint_codes([None, e, e], np.array([2, 0, 1]))
    (array([ 0, -1,  0]), [Endpoint(project='p', endpoint_id='e', function_uri='p/f', model='m', version='', model_class='', labels='{}')])
    """
    distinct: dict[Endpoint, int] = {}
    renumbered = np.array([-1 if e is None else distinct.setdefault(e, len(distinct)) for e in resolved] + [-1],
                          dtype=np.int64)
    return renumbered[code], list(distinct)


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
    def of(cls, block: bytes | None, read: JavaEvents) -> "BlockLines":
        """The lines of a block: ``block`` when it travelled, else read from its file."""
        if block is None:
            if read.file is None:
                raise ValueError("a block with neither its bytes nor its file")
            block = read_range(read.file, read.file_offset, read.block_length)
        return cls(block, read.line_start, read.line_stop)


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
