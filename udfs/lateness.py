"""Lateness, judged on a batch's events in arrival order: the events Flink's watermark could
have passed are ``late`` (dead letters, never counted in a window), events too far ahead
of the clock are ``invalid``, so that they cannot move the watermark, and events older than
the store's retention are ``expired``: their windows' rows would be deleted by the tables' TTL."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from modelmon.udfs.contract import STATUS_EXPIRED, STATUS_INVALID, STATUS_LATE, STATUS_OK
from modelmon.udfs.event_columns import EventColumns


class LatenessTracker:
    """The latest event time one parser's watermark follows, across its batches.

    An event is late when its time is at or before that latest time minus the allowed
    lateness. Flink's watermark downstream never runs ahead of that bound, so an event not
    flagged is never dropped by a window. With no lateness (``None``: a bounded run, whose
    watermark only moves at the end) nothing is late.

    A source of partitions (Kafka) is judged per partition, as Flink's per-partition
    watermarks are: the latest time is the lowest of the partitions' own latest times, over the
    partitions that delivered a message within ``idle_ms`` of the wall clock, and it never goes
    back. So a partition whose backlog is minutes behind another's loses nothing to lateness,
    and one that falls silent stops holding the others back. For the first ``idle_ms`` after
    its first message, as Flink's do for a partition that has not emitted yet, the partitions
    not heard from yet hold it where it is.

    An event more than ``ahead_ms`` past the wall clock (continuous runs, ``ahead_ms`` > 0) is
    invalid: taken in, it would move the watermark so far that every later event were late.
    An event more than ``retention_days`` before the wall clock (bounded runs too; 0 for none)
    is expired.
    """

    def __init__(self, lateness_ms: int | None, ahead_ms: int = 0, clock_ms=lambda: time.time_ns() // 1_000_000,
                 idle_ms: int = 10_000, retention_days: int = 0):
        self.lateness_ms = lateness_ms
        self.ahead_ms = ahead_ms if lateness_ms is not None else 0
        self.clock_ms = clock_ms
        self.idle_ms = idle_ms
        self.retention_days = retention_days
        self.max_time_ms: int | None = None
        self.partition_max_ms: dict[int, int] = {}  # each partition's latest event time
        self.partition_seen_ms: dict[int, int] = {}  # wall-clock time of each partition's latest message
        self.first_message_ms: int | None = None

    @property
    def ahead_reason(self) -> str:
        return f"event time is more than {self.ahead_ms} ms ahead of the clock"

    @property
    def expired_reason(self) -> str:
        return (f"event time is more than {self.retention_days} days ago: the store keeps {self.retention_days} days "
                f"(retention_days; 0 keeps everything)")

    @property
    def late_reason(self) -> str:
        return f"event time is more than {self.lateness_ms} ms behind the latest event time"

    def partitioned_latest(self, line_partitions: np.ndarray, partitions: np.ndarray, times: np.ndarray,
                           latest: int) -> np.ndarray:
        """The latest time before each of ``times`` (events in arrival order, ``partitions``
        theirs; ``_FLOOR`` for one that must not count) and after the last, given the
        partitions of every line of the batch, which all count as delivering now."""
        now = self.clock_ms()
        if self.first_message_ms is None:
            self.first_message_ms = now
        for partition in np.unique(line_partitions).tolist():
            self.partition_seen_ms[partition] = now
        active = [p for p, seen in self.partition_seen_ms.items() if now - seen <= self.idle_ms]
        row = {p: i for i, p in enumerate(active)}
        unheard = 1 if now - self.first_message_ms < self.idle_ms else 0  # a row that holds
        grid = np.full((len(active) + unheard, len(times) + 1), _FLOOR, dtype=np.int64)
        grid[:len(active), 0] = [self.partition_max_ms.get(p, _FLOOR) for p in active]
        grid[[row[p] for p in partitions.tolist()], np.arange(1, len(times) + 1)] = times
        running = np.maximum.accumulate(grid, axis=1)
        for p, i in row.items():
            if running[i, -1] != _FLOOR:
                self.partition_max_ms[p] = int(running[i, -1])
        return np.maximum.accumulate(np.maximum(running.min(axis=0), latest))


_FLOOR = np.iinfo(np.int64).min
DAY_MS = 86_400_000


def judged(events: EventColumns, tracker: LatenessTracker, line_partitions: np.ndarray | None = None) -> EventColumns:
    """``events`` (in arrival order) with the ok ones that are too far ahead made invalid and the
    late ones made late; the tracker moves past the others. ``line_partitions``: the source
    partition of each line of the batch, for a partitioned source.

    >>> from modelmon.udfs.events import parse_lines
    >>> line = '{"model": "m", "function_uri": "p/f", "when": "2026-01-01 00:%s000+00:00", "microsec": 1, ' \\
    ...        '"request": {"inputs": [[1]]}, "resp": {"outputs": [0]}}'
    >>> events = parse_lines([(line % s).encode() for s in ("00:05.000", "00:04.500", "00:04.000", "00:06.000")])
    >>> judged(events, LatenessTracker(lateness_ms=1000)).status.tolist()
    ['ok', 'ok', 'late', 'ok']
    >>> judged(events, LatenessTracker(None)).status.tolist()
    ['ok', 'ok', 'ok', 'ok']

    Ninety days of retention, judged on 2026-04-01 (2026-01-01 is 90 days before it):

    >>> april = lambda: 1775001600000
    >>> judged(events, LatenessTracker(None, clock_ms=april, retention_days=90)).status.tolist()
    ['ok', 'ok', 'ok', 'ok']
    >>> judged(events, LatenessTracker(None, clock_ms=lambda: april() + 5500, retention_days=90)).status.tolist()
    ['expired', 'expired', 'expired', 'ok']

    Two partitions, the second ten minutes behind the first: only what is late within the
    slower partition is late, where one stream would make it all late.

    >>> behind = parse_lines([(line % s).encode() for s in ("10:00.000", "00:00.000", "10:01.000", "00:01.000",
    ...                                                      "00:02.000", "00:00.500", "10:02.000")])
    >>> judged(behind, LatenessTracker(lateness_ms=1000, idle_ms=0), np.array([0, 1, 0, 1, 1, 1, 0])).status.tolist()
    ['ok', 'ok', 'ok', 'ok', 'ok', 'late', 'ok']
    >>> judged(behind, LatenessTracker(lateness_ms=1000)).status.tolist()
    ['ok', 'late', 'ok', 'late', 'late', 'late', 'ok']
    """
    candidates = np.flatnonzero(events.status == STATUS_OK)
    if not len(candidates) or (tracker.lateness_ms is None and not tracker.retention_days):
        return events
    status, reason = events.status.copy(), list(events.reason)
    if tracker.retention_days and len(candidates):
        expired = events.time_ms[candidates] < tracker.clock_ms() - tracker.retention_days * DAY_MS
        for i in candidates[expired]:
            status[i], reason[i] = STATUS_EXPIRED, tracker.expired_reason
        candidates = candidates[~expired]
    if tracker.lateness_ms is None or not len(candidates):
        return replace(events, status=status, reason=reason)
    time_ms = events.time_ms[candidates]
    ahead = np.zeros(len(candidates), dtype=bool)
    if tracker.ahead_ms > 0:
        ahead = time_ms > tracker.clock_ms() + tracker.ahead_ms
        for i in candidates[ahead]:
            status[i], reason[i] = STATUS_INVALID, tracker.ahead_reason
    latest = _FLOOR if tracker.max_time_ms is None else tracker.max_time_ms
    counted = np.where(ahead, _FLOOR, time_ms)
    if line_partitions is None:
        before = np.maximum.accumulate(np.concatenate([[latest], counted]))
    else:
        before = tracker.partitioned_latest(line_partitions, line_partitions[events.line[candidates]], counted, latest)
    late = ~ahead & (before[:-1] != _FLOOR) & (time_ms <= before[:-1] - tracker.lateness_ms)
    for i in candidates[late]:
        status[i], reason[i] = STATUS_LATE, tracker.late_reason
    if before[-1] != _FLOOR:
        tracker.max_time_ms = int(before[-1])
    return replace(events, status=status, reason=reason)
