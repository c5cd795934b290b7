"""A batch of parsed lines -> what the job keeps of it, aggregated in Python with numpy.

The job's parse UDF turns each Arrow batch of raw lines into one :class:`BatchOutput`: per
endpoint and time slice the operational counts, latencies and custom metrics of its valid
events (:class:`Slice`), the feature partial summaries, the dead letters and the sampled
rows. One record per batch goes back to Flink instead of one per event, so no Java operator
works per event after parsing, and the windows (5 minutes, 1 hour, the slide) are merged
from slices in keyed state (:mod:`udfs.metric_windows`).

Slices are as long as the greatest common divisor of the slide and the 5-minute window, so
every HOP window (starts on multiples of the slide) and every slide-long activity window is
a whole number of slices.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from udfs.events import (STATUS_INVALID, STATUS_LATE, STATUS_OK, Endpoint, EndpointCache, LatenessTracker,
                         ParsedLines, parse_lines)
from udfs.block_events import BlockEvents, parse_blocks
from udfs.fast_parse import FastLines, parse_fast, ranges
from udfs.features import FeatureSettings
from udfs.histograms import MAX_FEATURES, feature_names, summarize

SLICE_KEY_BITS = 34  # time // slice_ms < 2**34 for every time the store keeps (slices of 1 s or more)


def slice_length_ms(slide_ms: int, window_sizes_ms: Sequence[int]) -> int:
    """The longest slice that tiles every window: gcd of the slide and the window sizes.

    >>> slice_length_ms(60_000, [300_000, 3_600_000]), slice_length_ms(45_000, [300_000, 3_600_000])
    (60000, 15000)
    """
    return math.gcd(slide_ms, *window_sizes_ms)


@dataclass
class Slice:
    """The valid events of one endpoint in one time slice [start, start + length).

    ``metrics`` maps a custom metric name to (count, sum, min, max) over the slice's
    successful events; ``endpoint`` is the endpoint as the slice's last event named it.
    """

    start: int
    project: str
    endpoint_id: str
    requests: int
    predictions: int
    errors: int
    latencies: np.ndarray  # int64 microseconds of the successful events
    first_ms: int
    last_ms: int
    endpoint: Endpoint
    metrics: dict[str, tuple[int, float, float, float]] = field(default_factory=dict)

    def merge(self, later: "Slice") -> "Slice":
        """Both slices' events, ``later`` having arrived after this one.

        >>> e = Endpoint("p", "e", "p/f", "m", "", "C", "{}")
        >>> a = Slice(0, "p", "e", 2, 3, 1, np.array([5]), 10, 20, e, {"c": (1, 0.5, 0.5, 0.5)})
        >>> b = Slice(0, "p", "e", 1, 1, 0, np.array([7]), 5, 15, e, {"c": (1, 1.5, 1.5, 1.5)})
        >>> m = a.merge(b)
        >>> m.requests, m.latencies.tolist(), (m.first_ms, m.last_ms), m.metrics
        (3, [5, 7], (5, 20), {'c': (2, 2.0, 0.5, 1.5)})
        """
        return Slice.combine([self, later])

    @staticmethod
    def combine(slices: Sequence["Slice"]) -> "Slice":
        """The events of ``slices`` (one project and endpoint, in arrival order) as one slice
        starting where the first does, in a single pass: merging an hour of one-minute slices
        pairwise copied its latencies 60 times."""
        metrics: dict[str, tuple[int, float, float, float]] = {}
        for s in slices:
            for name, (count, total, low, high) in s.metrics.items():
                c, t, lo, hi = metrics.get(name, (0, 0.0, math.inf, -math.inf))
                metrics[name] = (c + count, t + total, min(lo, low), max(hi, high))
        last = slices[-1]
        return Slice(slices[0].start, last.project, last.endpoint_id, sum(s.requests for s in slices),
                     sum(s.predictions for s in slices), sum(s.errors for s in slices),
                     np.concatenate([s.latencies for s in slices]), min(s.first_ms for s in slices),
                     max(s.last_ms for s in slices), last.endpoint, metrics)


@dataclass
class EventColumns:
    """The events of a batch in arrival order: one array entry per event."""

    line: np.ndarray  # index of the event's line in the batch
    ordinal: np.ndarray  # 1-based position of the event in its line
    endpoint: np.ndarray  # index into ``endpoints``; -1 where the line named no readable endpoint
    time_ms: np.ndarray  # int64; 0 where ``has_time`` is False
    has_time: np.ndarray
    predictions: np.ndarray
    latency_us: np.ndarray
    is_error: np.ndarray
    status: np.ndarray  # object array of STATUS_* strings
    reason: list
    endpoints: list[Endpoint]
    metric_event: np.ndarray  # index of the event each custom metric value belongs to
    metric_name: np.ndarray  # object array
    metric_value: np.ndarray


def event_columns(parsed: ParsedLines, codes: dict[Endpoint, int], line_index: np.ndarray) -> EventColumns:
    """Flatten :func:`udfs.events.parse_lines`'s per-line columns into per-event arrays;
    ``codes`` numbers the endpoints, ``line_index`` gives each parsed line's index in the batch."""
    line, ordinal, endpoint, metric_event = [], [], [], []
    first_event = 0
    for i, statuses in enumerate(parsed.status):
        n = len(statuses)
        code = -1
        if parsed.endpoint_id[i] is not None:
            code = codes.setdefault(Endpoint(parsed.project[i], parsed.endpoint_id[i], parsed.function_uri[i],
                                             parsed.model[i], parsed.version[i], parsed.model_class[i],
                                             parsed.labels[i]), len(codes))
        line.extend([int(line_index[i])] * n)
        ordinal.extend(range(1, n + 1))
        endpoint.extend([code] * n)
        metric_event.extend(first_event + k - 1 for k in parsed.metric_event[i])
        first_event += n
    times = [t for ts in parsed.time_ms for t in ts]
    has_time = np.array([t is not None for t in times], dtype=bool)
    return EventColumns(
        line=np.array(line, dtype=np.int64), ordinal=np.array(ordinal, dtype=np.int64),
        endpoint=np.array(endpoint, dtype=np.int64),
        time_ms=np.array([t if t is not None else 0 for t in times], dtype=np.int64), has_time=has_time,
        predictions=np.array([p for ps in parsed.predictions for p in ps], dtype=np.int64),
        latency_us=np.array([v for vs in parsed.latency_us for v in vs], dtype=np.int64),
        is_error=np.array([e for es in parsed.is_error for e in es], dtype=bool),
        status=np.array([s for ss in parsed.status for s in ss], dtype=object),
        reason=[r for rs in parsed.reason for r in rs], endpoints=list(codes),
        metric_event=np.array(metric_event, dtype=np.int64),
        metric_name=np.array([n for ns in parsed.metric_name for n in ns], dtype=object),
        metric_value=np.array([v for vs in parsed.metric_value for v in vs], dtype=np.float64))


def slices(events: EventColumns, slice_ms: int) -> list[Slice]:
    """The valid events grouped per (project, endpoint id, slice), with no Python loop per event.

    >>> e = Endpoint("p", "e1", "p/f", "m", "", "C", "{}")
    >>> events = EventColumns(np.array([0, 1, 2]), np.array([1, 1, 1]), np.array([0, 0, 0]),
    ...     np.array([1_000, 61_000, 2_000]), np.ones(3, bool), np.array([2, 1, 0]), np.array([30, 40, 0]),
    ...     np.array([False, False, True]), np.array(["ok", "ok", "ok"], dtype=object), [None] * 3, [e],
    ...     np.array([0]), np.array(["c"], dtype=object), np.array([0.5]))
    >>> [(s.start, s.requests, s.predictions, s.errors, s.latencies.tolist(), s.metrics)
    ...  for s in slices(events, 60_000)]
    [(0, 2, 2, 1, [30], {'c': (1, 0.5, 0.5, 0.5)}), (60000, 1, 1, 0, [40], {})]
    """
    valid = np.flatnonzero(events.status == STATUS_OK)
    if not valid.size:
        return []
    pairs: dict[tuple[str, str], int] = {}
    pair_of_endpoint = np.array([pairs.setdefault((e.project, e.endpoint_id), len(pairs))
                                 for e in events.endpoints], dtype=np.int64)
    slot = events.time_ms[valid] // slice_ms
    keys, group = np.unique((pair_of_endpoint[events.endpoint[valid]] << SLICE_KEY_BITS) + slot,
                            return_inverse=True)
    n = len(keys)
    requests = np.bincount(group, minlength=n)
    predictions = np.bincount(group, weights=events.predictions[valid], minlength=n)
    errors = np.bincount(group, weights=events.is_error[valid], minlength=n)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, group, events.time_ms[valid])
    last = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last, group, events.time_ms[valid])
    last_event = np.zeros(n, dtype=np.int64)
    np.maximum.at(last_event, group, valid)
    success = ~events.is_error[valid]
    order = np.argsort(group[success], kind="stable")
    latencies = np.split(events.latency_us[valid][success][order],
                         np.cumsum(np.bincount(group[success], minlength=n))[:-1])
    metrics = _metric_groups(events, valid, group)
    result = []
    for g, key in enumerate(keys):
        endpoint = events.endpoints[events.endpoint[last_event[g]]]
        result.append(Slice(int(key & ((1 << SLICE_KEY_BITS) - 1)) * slice_ms, endpoint.project,
                            endpoint.endpoint_id, int(requests[g]), int(predictions[g]), int(errors[g]),
                            latencies[g], int(first[g]), int(last[g]), endpoint, metrics.get(g, {})))
    return result


def _metric_groups(events: EventColumns, valid: np.ndarray,
                   group: np.ndarray) -> dict[int, dict[str, tuple[int, float, float, float]]]:
    """Per slice group, each custom metric's (count, sum, min, max)."""
    if not events.metric_event.size:
        return {}
    group_of_event = np.full(len(events.status), -1, dtype=np.int64)
    group_of_event[valid] = group
    known: dict[str, int] = {}
    name_code = np.fromiter((known.setdefault(name, len(known)) for name in events.metric_name), dtype=np.int64,
                            count=len(events.metric_name))
    names = list(known)
    keys, cell = np.unique(group_of_event[events.metric_event] * len(names) + name_code, return_inverse=True)
    values = events.metric_value
    count = np.bincount(cell)
    total = np.bincount(cell, weights=values)
    low = np.full(len(keys), np.inf)
    np.minimum.at(low, cell, values)
    high = np.full(len(keys), -np.inf)
    np.maximum.at(high, cell, values)
    result: dict[int, dict] = {}
    for c, key in enumerate(keys):
        g, name = divmod(int(key), len(names))
        result.setdefault(g, {})[names[name]] = (int(count[c]), float(total[c]), float(low[c]), float(high[c]))
    return result


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


# incoming_features columns; a sampled batch travels to the writer as one Arrow table, since
# a row of dicts per sample cost about 100 µs each on its way into the store.
SAMPLE_SCHEMA = pa.schema([
    ("project", pa.string()), ("endpoint_id", pa.string()), ("event_time", pa.timestamp("ms", tz="UTC")),
    ("row_key", pa.string()), ("features", pa.map_(pa.string(), pa.float64())),
])


def sample_table(project: str, endpoint_id: str, names: list[str], times_ms: np.ndarray,
                 row_keys: list[str] | pa.Array, values: np.ndarray) -> pa.Table:
    """Sampled feature rows of one endpoint (``values``: one row each) as incoming_features
    columns, a value that is not finite being NULL. Built by Arrow, not from Python lists: a
    1M-line run samples some 275,000 rows of 20 features.

    >>> table = sample_table("p", "e", ["a", "b"], np.array([1767225600250]), ["k:0"], np.array([[1.5, np.nan]]))
    >>> row = table.to_pylist()[0]
    >>> row["event_time"].isoformat(), row["row_key"], row["features"]
    ('2026-01-01T00:00:00.250000+00:00', 'k:0', [('a', 1.5), ('b', None)])
    """
    count, width = values.shape
    flat = values.ravel()
    features = pa.MapArray.from_arrays(pa.array(np.arange(0, count * width + 1, width, dtype=np.int32)),
                                       pa.array(names, pa.string()).take(np.tile(np.arange(width), count)),
                                       pa.array(flat, pa.float64(), mask=~np.isfinite(flat)))
    return pa.Table.from_arrays([pa.repeat(project, count), pa.repeat(endpoint_id, count),
                                 pa.array(times_ms, pa.timestamp("ms", tz="UTC")), pa.array(row_keys, pa.string()),
                                 features], schema=SAMPLE_SCHEMA)


def sample_rows_table(rows: list[dict]) -> pa.Table:
    """The exact parser's sampled rows (dicts of incoming_features columns) as one table."""
    return pa.Table.from_pylist([dict(row, features=list(row["features"].items())) for row in rows],
                                schema=SAMPLE_SCHEMA)


@dataclass
class BatchOutput:
    """What one batch of lines adds: see the module docstring."""

    time_ms: int  # latest valid event time in the batch (0 when none): the watermark's input
    slices: list[Slice]
    partials: list[tuple[str, str, int, bytes]]  # project, endpoint id, window start, FeatureSummary bytes
    dead_letters: list[dict]  # invalid_events rows
    samples: pa.Table  # incoming_features rows (SAMPLE_SCHEMA)


def _in_line_order(fast: EventColumns, slow: EventColumns | None, endpoints: list[Endpoint]) -> EventColumns:
    """Both sets of events as one, ordered by line and position in the line (arrival order)."""
    parts = [fast] if slow is None else [fast, slow]
    arrays = {name: np.concatenate([getattr(p, name) for p in parts])
              for name in ("line", "ordinal", "endpoint", "time_ms", "has_time", "predictions", "latency_us",
                           "is_error", "status", "metric_name", "metric_value")}
    reason = [r for p in parts for r in p.reason]
    metric_event = np.concatenate([fast.metric_event] + ([] if slow is None else [slow.metric_event + len(fast.line)]))
    order = np.lexsort((arrays["ordinal"], arrays["line"]))
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    metric_event = position[metric_event]
    metric_order = np.argsort(metric_event, kind="stable")
    return EventColumns(**{name: (values[metric_order] if name.startswith("metric_") else values[order])
                           for name, values in arrays.items()},
                        reason=[reason[i] for i in order], endpoints=endpoints, metric_event=metric_event[metric_order])


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


def parse_batch(raw_lines: Sequence[bytes], tracker: LatenessTracker, features: FeatureSettings | None,
                endpoints: EndpointCache, slice_ms: int, dead_letter_max_chars: int,
                columns: Sequence[BlockEvents] = ()) -> BatchOutput:
    """A batch of raw lines -> its :class:`BatchOutput`, never raising for bad input.

    ``columns``, when the lines come from blocks, are the blocks' events as Java read them
    (:mod:`udfs.block_events`), one per block.

    The lines the fast path takes (:mod:`udfs.fast_parse`) and the others, which
    :func:`udfs.events.parse_lines` reads, share the lateness tracker in line order: the fast
    lines before each exact-parsed line are judged (vectorized) just before it is parsed, so
    an event is late exactly when it is behind the events before it in the batch.
    """
    fast = parse_blocks(raw_lines, columns, endpoints) if columns else parse_fast(raw_lines, endpoints)
    judged = FastJudgement(fast, tracker)
    slow_index = np.setdiff1d(np.arange(len(raw_lines)), fast.line)

    def slow_lines():
        for j in slow_index:
            judged.through(j)
            yield raw_lines[j].decode("utf-8", errors="replace")

    codes: dict[Endpoint, int] = {}
    slow, partials, samples = None, [], [SAMPLE_SCHEMA.empty_table()]
    if len(slow_index):
        parsed = parse_lines(slow_lines(), tracker, features, endpoints)
        slow = event_columns(parsed, codes, slow_index)
        partials = [(p, e, w, d) for ps, es, ws, ds in zip(parsed.partial_project, parsed.partial_endpoint_id,
                                                           parsed.partial_window_start, parsed.partial_data)
                    for p, e, w, d in zip(ps, es, ws, ds)]
        samples.append(sample_rows_table([row for rows in parsed.samples if rows is not None
                                          for row in json.loads(rows)]))
    judged.through(len(raw_lines))
    events = _in_line_order(judged.events(codes), slow, list(codes))
    if features is not None and len(fast):
        fast_partials, fast_samples = fast_features(fast, judged.predicting(), raw_lines, features)
        partials += fast_partials
        samples += fast_samples
    valid = events.status == STATUS_OK
    letters = dead_letters(events, raw_lines, dead_letter_max_chars)
    return BatchOutput(time_ms=int(events.time_ms[valid].max()) if valid.any() else 0,
                       slices=slices(events, slice_ms), partials=partials,
                       dead_letters=letters, samples=pa.concat_tables(samples))


class FastJudgement:
    """The fast path's events judged against the lateness tracker (too far ahead, late), the
    events of a run of lines at a time."""

    def __init__(self, fast: FastLines, tracker: LatenessTracker):
        self.fast = fast
        self.tracker = tracker
        self.judged = 0  # events judged so far
        n = len(fast)
        self.status = np.full(n, STATUS_OK, dtype=object)
        self.reason: list[str | None] = [None] * n
        self.ahead = np.zeros(n, dtype=bool)

    def through(self, line: int) -> None:
        """Judge the events of the lines before batch line ``line``, in order."""
        first, last = self.judged, int(np.searchsorted(self.fast.line, line))
        if last <= first:
            return
        self.judged = last
        tracker, time_ms = self.tracker, self.fast.time_ms[first:last]
        ahead = np.zeros(last - first, dtype=bool)
        if tracker.ahead_ms > 0:
            ahead = time_ms > tracker.clock_ms() + tracker.ahead_ms
            self.ahead[first:last] = ahead
            for i in np.flatnonzero(ahead):
                self.status[first + i] = STATUS_INVALID
                self.reason[first + i] = tracker.ahead_reason
        if tracker.lateness_ms is not None:
            floor = np.iinfo(np.int64).min
            latest = floor if tracker.max_time_ms is None else tracker.max_time_ms
            before = np.maximum.accumulate(np.concatenate([[latest], np.where(ahead, floor, time_ms)]))
            late = ~ahead & (before[:-1] != floor) & (time_ms <= before[:-1] - tracker.lateness_ms)
            for i in np.flatnonzero(late):
                self.status[first + i] = STATUS_LATE
                self.reason[first + i] = tracker.late_reason
            if before[-1] != floor:
                tracker.max_time_ms = int(before[-1])

    def predicting(self) -> np.ndarray:
        """The events whose feature rows count: valid, in time, successful."""
        return np.flatnonzero((self.status == STATUS_OK) & ~self.fast.is_error)

    def events(self, codes: dict[Endpoint, int]) -> EventColumns:
        fast, n = self.fast, len(self.fast)
        keep = ~self.ahead  # an event too far ahead is invalid: it counts nothing
        predicting = (self.status == STATUS_OK) & ~fast.is_error
        metric = predicting[fast.metric_line]
        return EventColumns(
            line=fast.line, ordinal=fast.ordinal,
            endpoint=np.array([codes.setdefault(e, len(codes)) for e in fast.endpoints], dtype=np.int64)[fast.endpoint],
            time_ms=fast.time_ms, has_time=np.ones(n, dtype=bool), predictions=np.where(keep, fast.predictions, 0),
            latency_us=np.where(keep, fast.latency_us, 0), is_error=fast.is_error & keep, status=self.status,
            reason=self.reason, endpoints=[], metric_event=fast.metric_line[metric],
            metric_name=fast.metric_name[metric], metric_value=fast.metric_value[metric])


def fast_features(fast: FastLines, predicting: np.ndarray, raw_lines: Sequence[bytes],
                  features: FeatureSettings) -> tuple[list[tuple[str, str, int, bytes]], list[pa.Table]]:
    """Partial summaries per (endpoint, window) and sampled rows of the given fast events, as
    :class:`udfs.features.FeatureCollector` makes them."""
    partials, samples = [], []
    line_rows = fast.first_row()
    id_codes: dict[str, int] = {}
    id_code = np.array([id_codes.setdefault(e.endpoint_id, len(id_codes)) for e in fast.endpoints], dtype=np.int64)
    group = id_code[fast.endpoint[predicting]]
    _, first, group_size = np.unique(group, return_index=True, return_counts=True)
    grouped, group_start = predicting[np.argsort(group, kind="stable")], np.cumsum(group_size) - group_size
    for g in np.argsort(first):  # endpoints in the order of their first event, as the exact parser has them
        members = grouped[group_start[g]:group_start[g] + group_size[g]]
        endpoint = fast.endpoints[fast.endpoint[members[0]]]
        endpoint_id, project = endpoint.endpoint_id, endpoint.project
        reference = features.reference_of(endpoint_id)
        row_counts = fast.row_offsets[members + 1] - fast.row_offsets[members]
        rows = ranges(fast.row_offsets[members], row_counts)
        lengths = fast.value_offsets[rows + 1] - fast.value_offsets[rows]
        width = len(reference.features) if reference else min(MAX_FEATURES, int(lengths.max(initial=0)))
        values = _matrix(fast, rows, lengths, width)
        windows = fast.time_ms[members] - fast.time_ms[members] % features.window_ms
        starts, group_of_line = np.unique(windows, return_inverse=True)
        group_of_row = np.repeat(group_of_line, row_counts)
        summaries = summarize(values, group_of_row, len(starts), reference,
                              reference.reference_id if reference else 0)
        partials += [(project, endpoint_id, int(start), summary.to_bytes())
                     for start, summary in zip(starts, summaries)]
        if features.sample_every:
            samples += _sampled_rows(fast, members, row_counts, line_rows[members], fast.line_crc[members], raw_lines,
                                     features.sample_every, project, endpoint_id, feature_names(reference, width),
                                     values)
    return partials, samples


def _sampled_rows(fast: FastLines, members: np.ndarray, row_counts: np.ndarray, line_row: np.ndarray,
                  line_crc: np.ndarray, raw_lines: Sequence[bytes], every: int, project: str, endpoint_id: str,
                  names: list[str], values: np.ndarray) -> list[pa.Table]:
    """The sampled feature rows of one endpoint's events (``values`` holds their rows in
    order), chosen as :class:`udfs.features.FeatureCollector` chooses them: 1 in ``every`` rows
    of a line, counted from an offset its CRC-32 gives."""
    offset = -(line_crc.astype(np.int64) + line_row) % every
    chosen = np.flatnonzero(offset < row_counts)  # the events with a sampled row
    if not len(chosen):
        return []
    per_event = (row_counts[chosen] - offset[chosen] + every - 1) // every
    event = np.repeat(np.arange(len(chosen)), per_event)
    row = offset[chosen][event] + ranges(np.zeros(len(chosen), dtype=np.int64), per_event) * every
    first_row = (np.cumsum(row_counts) - row_counts)[chosen]
    hashes = pa.array([hashlib.sha1(raw_lines[line]).hexdigest() for line in fast.line[members[chosen]].tolist()])
    keys = pc.binary_join_element_wise(hashes.take(event), pc.cast(pa.array(line_row[chosen][event] + row), pa.string()),
                                       ":")
    return [sample_table(project, endpoint_id, names, fast.time_ms[members[chosen]][event], keys,
                         values[first_row[event] + row])]


def _matrix(fast: FastLines, rows: np.ndarray, lengths: np.ndarray, width: int) -> np.ndarray:
    """The given feature rows as an (n, width) array: cut to ``width``, NaN-padded."""
    starts = fast.value_offsets[rows]
    if (lengths == width).all():  # the common case: one gather, not a scatter of every value
        if len(rows) and (np.diff(starts) == width).all():
            return fast.values[starts[0]:starts[0] + len(rows) * width].reshape(len(rows), width)
        return fast.values[starts[:, None] + np.arange(width)]
    matrix = np.full((len(rows), width), np.nan)
    row_of_value = np.repeat(np.arange(len(rows)), lengths)
    column = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    source = np.repeat(starts, lengths) + column
    inside = column < width
    matrix[row_of_value[inside], column[inside]] = fast.values[source[inside]]
    return matrix
