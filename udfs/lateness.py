"""Lateness, judged on a batch's events in arrival order: the events Flink's watermark could
have passed are ``late`` (dead letters, never counted in a window), and events too far ahead
of the clock are ``invalid``, so that they cannot move the watermark."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from modelmon.udfs.contract import STATUS_INVALID, STATUS_LATE, STATUS_OK
from modelmon.udfs.event_columns import EventColumns


class LatenessTracker:
    """The highest event time seen so far by one parser, across its batches.

    An event is late when its time is at or before that highest time minus the allowed
    lateness. Flink's watermark downstream never runs ahead of that bound, so an event not
    flagged is never dropped by a window. With no lateness (``None``: a bounded run, whose
    watermark only moves at the end) nothing is late.

    An event more than ``ahead_ms`` past the wall clock (continuous runs, ``ahead_ms`` > 0) is
    invalid: taken in, it would move the watermark so far that every later event were late.
    """

    def __init__(self, lateness_ms: int | None, ahead_ms: int = 0, clock_ms=lambda: time.time_ns() // 1_000_000):
        self.lateness_ms = lateness_ms
        self.ahead_ms = ahead_ms if lateness_ms is not None else 0
        self.clock_ms = clock_ms
        self.max_time_ms: int | None = None

    @property
    def ahead_reason(self) -> str:
        return f"event time is more than {self.ahead_ms} ms ahead of the clock"

    @property
    def late_reason(self) -> str:
        return f"event time is more than {self.lateness_ms} ms behind the latest event time"


def judged(events: EventColumns, tracker: LatenessTracker) -> EventColumns:
    """``events`` (in arrival order) with the ok ones that are too far ahead made invalid and the
    late ones made late; the tracker moves past the others.

    >>> from modelmon.udfs.events import parse_lines
    >>> line = '{"model": "m", "function_uri": "p/f", "when": "2026-01-01 00:00:%s000+00:00", "microsec": 1, ' \\
    ...        '"request": {"inputs": [[1]]}, "resp": {"outputs": [0]}}'
    >>> events = parse_lines([(line % s).encode() for s in ("05.000", "04.500", "04.000", "06.000")])
    >>> judged(events, LatenessTracker(lateness_ms=1000)).status.tolist()
    ['ok', 'ok', 'late', 'ok']
    >>> judged(events, LatenessTracker(None)).status.tolist()
    ['ok', 'ok', 'ok', 'ok']
    """
    candidates = np.flatnonzero(events.status == STATUS_OK)
    if tracker.lateness_ms is None or not len(candidates):
        return events
    status, reason = events.status.copy(), list(events.reason)
    time_ms = events.time_ms[candidates]
    ahead = np.zeros(len(candidates), dtype=bool)
    if tracker.ahead_ms > 0:
        ahead = time_ms > tracker.clock_ms() + tracker.ahead_ms
        for i in candidates[ahead]:
            status[i], reason[i] = STATUS_INVALID, tracker.ahead_reason
    floor = np.iinfo(np.int64).min
    latest = floor if tracker.max_time_ms is None else tracker.max_time_ms
    before = np.maximum.accumulate(np.concatenate([[latest], np.where(ahead, floor, time_ms)]))
    late = ~ahead & (before[:-1] != floor) & (time_ms <= before[:-1] - tracker.lateness_ms)
    for i in candidates[late]:
        status[i], reason[i] = STATUS_LATE, tracker.late_reason
    if before[-1] != floor:
        tracker.max_time_ms = int(before[-1])
    return replace(events, status=status, reason=reason)
