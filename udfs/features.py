"""Feature rows of a batch of lines -> partial window summaries and sampled rows.

The job's parser hands every valid prediction's input rows to a :class:`FeatureCollector`.
Rows are grouped by (endpoint, event-time window) and summarized with numpy when the batch
ends, so what leaves Python is one partial summary per endpoint and window per batch, not
one record per event or value. The job merges partials per window in Flink keyed state.

Partials form their own event-time stream: a partial's time is the latest event time in
it, and the job's watermark over partials is that time minus the allowed lateness. A group
whose window that watermark could close is flushed *before* the event that would move the
watermark there, so a partial never arrives after its window has fired (the same guarantee
:class:`udfs.events.LatenessTracker` gives single events).
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from udfs.histograms import Reference, as_number, feature_matrix, feature_names, summarize


@dataclass
class FeatureColumns:
    """Per-line arrays the parser returns: partial summaries and sampled rows."""

    partial_project: list[list[str]] = field(default_factory=list)
    partial_endpoint_id: list[list[str]] = field(default_factory=list)
    partial_window_start: list[list[int]] = field(default_factory=list)
    partial_time_ms: list[list[int]] = field(default_factory=list)
    partial_data: list[list[bytes]] = field(default_factory=list)
    # The batch's sampled rows as one JSON array of incoming_features records, on its last
    # line (None on the others): one output row per batch instead of one per sampled row.
    samples: list[str | None] = field(default_factory=list)

    def add_line(self) -> None:
        self.partial_project.append([])
        self.partial_endpoint_id.append([])
        self.partial_window_start.append([])
        self.partial_time_ms.append([])
        self.partial_data.append([])
        self.samples.append(None)


@dataclass(frozen=True)
class FeatureSettings:
    """What the parser needs to summarize features."""

    window_ms: int  # the base window of the histograms
    reference_of: Callable[[str], Reference | None]  # endpoint id -> its current reference
    sample_every: int  # keep 1 in N rows for incoming_features; 0 keeps none


@dataclass
class _Group:
    """The rows of one endpoint in one window, collected since the group was opened."""

    project: str
    window_start: int
    rows: list = field(default_factory=list)
    latest_ms: int = 0
    samples: list[tuple[str, int, int, int]] = field(default_factory=list)  # line, ordinal, time, row


def _may_hold_booleans(line: str) -> bool:
    return "true" in line or "false" in line


def _numbers(row: object) -> object:
    """A list row with JSON booleans (and anything else not a number) made NaN."""
    return [as_number(v) for v in row] if isinstance(row, list) else row


class FeatureCollector:
    """Groups one batch's feature rows; see the module docstring for the flush rule.

    >>> from udfs.histograms import FeatureSummary
    >>> columns = FeatureColumns()
    >>> collector = FeatureCollector(FeatureSettings(300_000, lambda endpoint_id: None, 0), columns)
    >>> columns.add_line()
    >>> collector.add('{"line"}', 0, "p", "e1", 1_000, [[1.0, 2.0], [3.0, 4.0]])
    >>> collector.finish(0)
    >>> columns.partial_window_start, columns.partial_time_ms
    ([[0]], [[1000]])
    >>> FeatureSummary.from_bytes(columns.partial_data[0][0]).mean.tolist()
    [2.0, 3.0]
    """

    def __init__(self, settings: FeatureSettings, out: FeatureColumns):
        self.window_ms = settings.window_ms
        self.reference_of = settings.reference_of
        self.sample_every = settings.sample_every
        self.out = out
        self.groups: dict[tuple[str, int], _Group] = {}
        self.earliest_end: int | None = None  # smallest window end among open groups
        self.samples: list[dict] = []

    def add(self, line: str, first_ordinal: int, project: str, endpoint_id: str, time_ms: int,
            inputs: list) -> None:
        """The input rows of one valid prediction; ``first_ordinal`` numbers rows within the line."""
        window_start = time_ms - time_ms % self.window_ms
        group = self.groups.get((endpoint_id, window_start))
        if group is None:
            group = self.groups[(endpoint_id, window_start)] = _Group(project, window_start)
            end = window_start + self.window_ms
            self.earliest_end = end if self.earliest_end is None else min(self.earliest_end, end)
        if self.sample_every:
            offset = -(zlib.crc32(line.encode()) + first_ordinal) % self.sample_every
            group.samples.extend((line, first_ordinal + i, time_ms, len(group.rows) + i)
                                 for i in range(offset, len(inputs), self.sample_every))
        group.rows.extend(map(_numbers, inputs) if _may_hold_booleans(line) else inputs)
        group.latest_ms = max(group.latest_ms, time_ms)

    def close_through(self, watermark_bound: int, line_index: int) -> None:
        """Flush the groups whose window a watermark of ``watermark_bound`` would close."""
        if self.earliest_end is None or self.earliest_end - 1 > watermark_bound:
            return
        closing = [key for key, g in self.groups.items() if g.window_start + self.window_ms - 1 <= watermark_bound]
        self._flush(closing, line_index)

    def finish(self, line_index: int) -> None:
        """Flush every open group at the batch's last line (no state is kept between batches)."""
        self._flush(list(self.groups), line_index)
        if self.samples:
            self.out.samples[line_index] = json.dumps(self.samples)

    def _flush(self, keys: list[tuple[str, int]], line_index: int) -> None:
        by_endpoint: dict[str, list[_Group]] = defaultdict(list)
        for key in keys:
            by_endpoint[key[0]].append(self.groups.pop(key))
        partials = [p for endpoint_id, groups in by_endpoint.items() for p in self._summarize(endpoint_id, groups)]
        # In time order, so that within one flush no partial's time can carry the watermark
        # (which Flink may emit between any two records) past the window of one after it.
        for time_ms, project, endpoint_id, window_start, data in sorted(partials, key=lambda p: p[0]):
            self.out.partial_project[line_index].append(project)
            self.out.partial_endpoint_id[line_index].append(endpoint_id)
            self.out.partial_window_start[line_index].append(window_start)
            self.out.partial_time_ms[line_index].append(time_ms)
            self.out.partial_data[line_index].append(data)
        ends = [g.window_start + self.window_ms for g in self.groups.values()]
        self.earliest_end = min(ends) if ends else None

    def _summarize(self, endpoint_id: str, groups: list[_Group]) -> list[tuple[int, str, str, int, bytes]]:
        """(time, project, endpoint, window start, encoded summary) per group; samples aside."""
        reference = self.reference_of(endpoint_id)
        rows = [row for g in groups for row in g.rows]
        values = feature_matrix(rows, len(reference.features) if reference else None)
        group_of_row = np.repeat(np.arange(len(groups)), [len(g.rows) for g in groups])
        summaries = summarize(values, group_of_row, len(groups), reference,
                              reference.reference_id if reference else 0)
        names = feature_names(reference, values.shape[1])
        partials, first_row = [], 0
        for group, summary in zip(groups, summaries):
            partials.append((group.latest_ms, group.project, endpoint_id, group.window_start, summary.to_bytes()))
            for line, ordinal, time_ms, row in group.samples:
                sampled = values[first_row + row].tolist()
                self.samples.append({
                    "project": group.project, "endpoint_id": endpoint_id, "event_time": time_ms,
                    "row_key": f"{hashlib.sha1(line.encode()).hexdigest()}:{ordinal}",
                    "features": {name: (v if math.isfinite(v) else None) for name, v in zip(names, sampled)}})
            first_row += len(group.rows)
        return partials
