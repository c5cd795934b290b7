"""The one container of events: what both readers of the contract give for a batch of lines,
and what everything after reading (lateness, slices, features, dead letters) works on."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from modelmon.udfs.contract import Endpoint


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The indices start, start + 1, ... (count of them) of each range, one after another.

    >>> ranges(np.array([5, 0, 2]), np.array([2, 0, 3])).tolist()
    [5, 6, 2, 3, 4]
    """
    counts = np.asarray(counts, dtype=np.int64)
    return np.repeat(np.asarray(starts, dtype=np.int64) - np.cumsum(counts) + counts, counts) \
        + np.arange(int(counts.sum()))


def _recoded(value_code: np.ndarray, text_codes: np.ndarray) -> np.ndarray:
    """Value codes whose text indices (>= 0) are replaced by ``text_codes[index]``.

    >>> _recoded(np.array([-1, 0, 1, -2], dtype=np.int32), np.array([5, 3], dtype=np.int32)).tolist()
    [-1, 5, 3, -2]
    """
    if not len(text_codes):
        return value_code
    return np.where(value_code >= 0, text_codes[np.maximum(value_code, 0)], value_code).astype(np.int32)


@dataclass
class EventColumns:
    """The events of a batch of lines, one array entry per event, ordered by line and by position
    in the line. ``status`` says what the reader found (ok, or invalid with a ``reason``);
    lateness is judged afterwards (:func:`modelmon.udfs.lateness.judged`).

    A valid success event has its feature rows (``row_offsets``) and custom metrics; an error
    or invalid event has neither, and counts no predictions and no latency.
    """

    line: np.ndarray  # int64: index of the event's line in the batch
    ordinal: np.ndarray  # int64: 1-based position of the event in its line
    endpoint: np.ndarray  # int64: index into ``endpoints``; -1 where the line named no valid endpoint
    time_ms: np.ndarray  # int64; 0 where ``has_time`` is False
    has_time: np.ndarray  # bool
    predictions: np.ndarray  # int64: input rows of a valid success event, else 0
    latency_us: np.ndarray  # int64: microsec of a valid success event, else 0
    is_error: np.ndarray  # bool: a valid error event
    status: np.ndarray  # object: STATUS_* strings
    reason: list  # per event, why it is not ok (None when it is)
    line_crc: np.ndarray  # uint32: zlib's CRC-32 of the event's line, which sampling starts from
    row_offsets: np.ndarray  # int64 (events + 1): event i's feature rows are rows[row_offsets[i]:row_offsets[i + 1]]
    value_offsets: np.ndarray  # int64 (rows + 1): row r's values are values[value_offsets[r]:value_offsets[r + 1]]
    values: np.ndarray  # float64, NaN for a value that is not a number
    value_code: np.ndarray  # int32 per value: what it is (contract.VALUE_*), or its text's index in ``value_texts``
    value_texts: list[str]  # the strings among the values
    metric_event: np.ndarray  # int64: index of the event each custom metric value belongs to (in event order)
    metric_name: np.ndarray  # object
    metric_value: np.ndarray  # float64, finite
    endpoints: list[Endpoint]  # distinct

    def __len__(self) -> int:
        return len(self.line)

    def first_rows(self) -> np.ndarray:
        """Each event's first input row numbered across its line's events: what sampled rows are
        keyed and chosen by.

        >>> events = EventColumns.empty()
        >>> replace(events, line=np.array([0, 0, 1]), predictions=np.array([2, 3, 1])).first_rows().tolist()
        [0, 2, 0]
        """
        before = np.cumsum(self.predictions) - self.predictions
        return before - before[np.searchsorted(self.line, self.line)]

    def take(self, index: np.ndarray) -> "EventColumns":
        """The events at ``index``, in that order, with their rows and metrics."""
        rows = np.diff(self.row_offsets)
        values_per_row = np.diff(self.value_offsets)
        row_index = ranges(self.row_offsets[index], rows[index])
        position = np.full(len(self), -1, dtype=np.int64)
        position[index] = np.arange(len(index))
        metric_position = position[self.metric_event]
        metric = np.flatnonzero(metric_position >= 0)
        metric = metric[np.argsort(metric_position[metric], kind="stable")]
        return replace(
            self, line=self.line[index], ordinal=self.ordinal[index], endpoint=self.endpoint[index],
            time_ms=self.time_ms[index], has_time=self.has_time[index], predictions=self.predictions[index],
            latency_us=self.latency_us[index], is_error=self.is_error[index], status=self.status[index],
            reason=[self.reason[i] for i in index.tolist()], line_crc=self.line_crc[index],
            row_offsets=np.concatenate([[0], np.cumsum(rows[index])]),
            value_offsets=np.concatenate([[0], np.cumsum(values_per_row[row_index])]),
            values=self.values[value_index := ranges(self.value_offsets[row_index], values_per_row[row_index])],
            value_code=self.value_code[value_index],
            metric_event=metric_position[metric], metric_name=self.metric_name[metric],
            metric_value=self.metric_value[metric])

    @staticmethod
    def concat(parts: Sequence["EventColumns"]) -> "EventColumns":
        """The events of ``parts`` one after another (their endpoints merged)."""
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return EventColumns.empty()
        merged: dict[Endpoint, int] = {}
        codes = [np.array([merged.setdefault(e, len(merged)) for e in p.endpoints] + [-1], dtype=np.int64)
                 for p in parts]  # [-1]: index -1, no endpoint, stays -1
        event_base = np.cumsum([0] + [len(p) for p in parts])
        row_base = np.cumsum([0] + [p.row_offsets[-1] for p in parts])
        value_base = np.cumsum([0] + [p.value_offsets[-1] for p in parts])
        texts: dict[str, int] = {}
        text_codes = [np.array([texts.setdefault(t, len(texts)) for t in p.value_texts], dtype=np.int32)
                      for p in parts]

        def joined(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts])

        return EventColumns(
            line=joined("line"), ordinal=joined("ordinal"),
            endpoint=np.concatenate([code[p.endpoint] for p, code in zip(parts, codes)]),
            time_ms=joined("time_ms"), has_time=joined("has_time"), predictions=joined("predictions"),
            latency_us=joined("latency_us"), is_error=joined("is_error"), status=joined("status"),
            reason=[r for p in parts for r in p.reason], line_crc=joined("line_crc"),
            row_offsets=np.concatenate([[0]] + [p.row_offsets[1:] + row_base[k] for k, p in enumerate(parts)]),
            value_offsets=np.concatenate([[0]] + [p.value_offsets[1:] + value_base[k] for k, p in enumerate(parts)]),
            values=joined("values"),
            value_code=np.concatenate([_recoded(p.value_code, codes) for p, codes in zip(parts, text_codes)]),
            value_texts=list(texts),
            metric_event=np.concatenate([p.metric_event + event_base[k] for k, p in enumerate(parts)]),
            metric_name=joined("metric_name"), metric_value=joined("metric_value"), endpoints=list(merged))

    def in_line_order(self) -> "EventColumns":
        """The same events ordered by line and position in the line (a stable no-op when they are)."""
        order = np.lexsort((self.ordinal, self.line))
        return self if (order == np.arange(len(order))).all() else self.take(order)

    @staticmethod
    def empty() -> "EventColumns":
        none = np.zeros(0, dtype=np.int64)
        return EventColumns(none, none, none, none, np.zeros(0, bool), none, none, np.zeros(0, bool),
                            np.zeros(0, object), [], np.zeros(0, np.uint32), np.zeros(1, np.int64),
                            np.zeros(1, np.int64), np.zeros(0), np.zeros(0, np.int32), [], none,
                            np.zeros(0, object), np.zeros(0), [])
