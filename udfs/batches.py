"""A batch of lines -> what the job keeps of it: the job's parse UDF turns each block of spool
lines (or Arrow batch of Kafka messages) into one :class:`BatchOutput`.

The events come from the Java reader (:mod:`modelmon.udfs.java_events`) and, for the lines it
leaves, from the exact parser (:mod:`modelmon.udfs.events`); lateness is judged over all of them
in line order. One record per batch goes back to Flink instead of one per event: per endpoint
and time slice the counts, latencies and custom metrics of its valid events
(:class:`~modelmon.udfs.slices.Slice`), the feature partial summaries, the dead letters and the
sampled rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa

from modelmon.udfs.contract import STATUS_OK, EndpointCache
from modelmon.udfs.event_columns import EventColumns
from modelmon.udfs.events import parse_lines
from modelmon.udfs.features import SAMPLE_SCHEMA, FeatureSettings, summarize_features
from modelmon.udfs.java_events import JavaEvents
from modelmon.udfs.lateness import LatenessTracker, judged
from modelmon.udfs.slices import Slice, slices


def dead_letters(events: EventColumns, raw_lines: Sequence[bytes], max_chars: int) -> list[dict]:
    """``invalid_events`` rows of the invalid and late events: event_key = sha1(raw line) ':'
    the event's position in the line, so a replayed line lands on the same key."""
    rows, hashes = [], {}
    for i in np.flatnonzero(events.status != STATUS_OK):
        line = int(events.line[i])
        if line not in hashes:
            hashes[line] = hashlib.sha1(raw_lines[line]).hexdigest()
        endpoint = events.endpoints[events.endpoint[i]] if events.endpoint[i] >= 0 else None
        rows.append({"kind": events.status[i], "project": endpoint.project if endpoint else "",
                     "endpoint_id": endpoint.endpoint_id if endpoint else "",
                     "event_key": f"{hashes[line]}:{events.ordinal[i]}",
                     "event_time": int(events.time_ms[i]) if events.has_time[i] else None,
                     "reason": events.reason[i],
                     "raw": raw_lines[line].decode("utf-8", errors="replace")[:max_chars]})
    return rows


@dataclass
class BatchOutput:
    """What one batch of lines adds: see the module docstring."""

    time_ms: int  # latest valid event time in the batch, or of its partitions (0 when none): the watermark's input
    slices: list[Slice]
    partials: list[tuple[str, str, int, bytes]]  # project, endpoint id, window start, FeatureSummary bytes
    dead_letters: list[dict]  # invalid_events rows
    samples: pa.Table  # incoming_features rows (SAMPLE_SCHEMA)


def block_lines(blocks: Sequence[bytes]) -> list[bytes]:
    """The lines of blocks of whole lines, split the way Flink's line formats split a file: at
    each '\\n', dropping a '\\r' just before it; a block's final '\\n' ends its last line.

    >>> block_lines([b'{"a": 1}\\r\\n\\n{"b": 2}\\n', b'{"c": 3}'])
    [b'{"a": 1}', b'', b'{"b": 2}', b'{"c": 3}']
    """
    lines: list[bytes] = []
    for block in blocks:
        pieces = block.split(b"\n")
        if block.endswith(b"\n"):
            pieces.pop()
        if b"\r" in block:
            pieces = [piece[:-1] if piece.endswith(b"\r") else piece for piece in pieces]
        lines.extend(pieces)
    return lines


def read_events(raw_lines: Sequence[bytes], java: JavaEvents | None, endpoints: EndpointCache) -> EventColumns:
    """The batch's events in line order: those Java read, and the exact parser's of every other line."""
    taken = java.events if java is not None else EventColumns.empty()
    if java is not None and java.lines != len(raw_lines):
        raise ValueError(f"Java's columns count {java.lines} lines, the batch {len(raw_lines)}")
    left = np.ones(len(raw_lines), dtype=bool)
    left[taken.line] = False
    rest = np.flatnonzero(left)
    if not len(rest):
        return taken
    exact = parse_lines([raw_lines[i] for i in rest.tolist()], endpoints, rest.tolist())
    return EventColumns.concat([taken, exact]).in_line_order()


def parse_batch(raw_lines: Sequence[bytes], tracker: LatenessTracker, features: FeatureSettings,
                endpoints: EndpointCache, slice_ms: int, dead_letter_max_chars: int,
                java: JavaEvents | None = None, line_partitions: np.ndarray | None = None) -> BatchOutput:
    """A batch of raw lines -> its :class:`BatchOutput`, never raising for bad input. ``java`` is
    what the Java reader read of them; without it, the exact parser reads every line.
    ``line_partitions``: each line's source partition, for a partitioned source (Kafka)."""
    events = judged(read_events(raw_lines, java, endpoints), tracker, line_partitions)
    valid = events.status == STATUS_OK
    partials, samples = summarize_features(events, np.flatnonzero(valid & ~events.is_error), raw_lines, features)
    time_ms = int(events.time_ms[valid].max()) if valid.any() else 0
    if line_partitions is not None and tracker.lateness_ms is not None:
        time_ms = tracker.max_time_ms or 0  # the partitions' lowest latest time: the watermark must not pass it
    return BatchOutput(time_ms=time_ms,
                       slices=slices(events, slice_ms), partials=partials,
                       dead_letters=dead_letters(events, raw_lines, dead_letter_max_chars),
                       samples=pa.concat_tables([SAMPLE_SCHEMA.empty_table(), *samples]))
