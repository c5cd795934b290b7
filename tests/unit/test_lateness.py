"""Lateness per source partition (Kafka): a slow partition is judged against the partitions'
lowest latest time, a silent one stops holding the others back after the idle time, and the
latest time never goes back."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np

from modelmon.tracker import format_when
from modelmon.udfs.events import parse_lines
from modelmon.udfs.lateness import LatenessTracker, judged

BASE = datetime(2026, 12, 1, tzinfo=timezone.utc)
BASE_MS = int(BASE.timestamp() * 1000)


def lines_at(*seconds: float) -> list[bytes]:
    return [json.dumps({"model": "m", "function_uri": "p/f", "when": format_when(BASE + timedelta(seconds=s)),
                        "microsec": 1, "request": {"inputs": [[1]]}, "resp": {"outputs": [0]}}).encode()
            for s in seconds]


class Clock:
    def __init__(self):
        self.now_ms = 0

    def __call__(self) -> int:
        return self.now_ms


def statuses(tracker: LatenessTracker, seconds: list[float], partitions: list[int]) -> list[str]:
    return judged(parse_lines(lines_at(*seconds)), tracker, np.array(partitions)).status.tolist()


def test_a_partition_ten_minutes_behind_another_loses_nothing_to_lateness():
    clock = Clock()
    tracker = LatenessTracker(lateness_ms=5_000, clock_ms=clock, idle_ms=10_000)
    ahead, behind = [600 + s for s in range(0, 300, 2)], list(range(0, 300, 2))
    # Interleaved in blocks of 50 messages, as a consumer's polls mix partitions, 5 s apart.
    seconds = []
    for start in range(0, len(ahead), 50):
        clock.now_ms += 5_000
        assert statuses(tracker, ahead[start:start + 50], [0] * 50) == ["ok"] * 50
        assert statuses(tracker, behind[start:start + 50], [1] * 50) == ["ok"] * 50
        seconds += ahead[start:start + 50] + behind[start:start + 50]
    assert tracker.max_time_ms == BASE_MS + behind[-1] * 1000  # the slower partition's latest
    # As one stream, every event of the slower partition would be late.
    one_stream = judged(parse_lines(lines_at(*seconds)), LatenessTracker(lateness_ms=5_000))
    assert one_stream.status.tolist().count("late") == len(behind)


def test_partitions_not_heard_from_yet_hold_the_watermark_for_the_idle_time():
    clock = Clock()
    tracker = LatenessTracker(lateness_ms=5_000, clock_ms=clock, idle_ms=10_000)
    assert statuses(tracker, [600, 601], [0, 0]) == ["ok", "ok"]
    assert tracker.max_time_ms is None  # partition 1 may not have delivered yet
    clock.now_ms = 9_000
    assert statuses(tracker, [0, 1], [1, 1]) == ["ok", "ok"]  # ten minutes behind, in time
    assert tracker.max_time_ms is None
    clock.now_ms = 10_000  # from now on the partitions heard from are all there are
    assert statuses(tracker, [2], [1]) == ["ok"]
    assert tracker.max_time_ms == BASE_MS + 2_000


def test_a_silent_partition_stops_holding_the_others_back_after_the_idle_time():
    clock = Clock()
    clock.now_ms = 10_000  # the first message's idle time has passed: partitions 0 and 1 are all there are
    tracker = LatenessTracker(lateness_ms=5_000, clock_ms=clock, idle_ms=10_000)
    tracker.first_message_ms = 0
    assert statuses(tracker, [0, 100], [0, 1]) == ["ok", "ok"]
    clock.now_ms = 20_000  # partition 0 last delivered 10 s ago: still active
    assert statuses(tracker, [110], [1]) == ["ok"]
    assert tracker.max_time_ms == BASE_MS  # held by partition 0
    assert statuses(tracker, [1], [0]) == ["ok"]  # so its next event is in time
    clock.now_ms = 30_001  # now silent for longer than the idle time
    assert statuses(tracker, [120], [1]) == ["ok"]
    assert tracker.max_time_ms == BASE_MS + 120_000
    # Back from silence with old events: late (dead letters), since the watermark never goes back.
    assert statuses(tracker, [2, 121], [0, 1]) == ["late", "ok"]
    assert tracker.max_time_ms == BASE_MS + 120_000


def test_the_events_of_a_line_without_a_valid_event_still_mark_its_partition_as_delivering():
    clock = Clock()
    clock.now_ms = 10_000
    tracker = LatenessTracker(lateness_ms=5_000, clock_ms=clock, idle_ms=10_000)
    tracker.first_message_ms = 0
    assert statuses(tracker, [0, 100], [0, 1]) == ["ok", "ok"]
    clock.now_ms = 25_000
    events = parse_lines([b"not json", *lines_at(110)])  # partition 0 sends a bad line only
    assert judged(events, tracker, np.array([0, 1])).status.tolist() == ["invalid", "ok"]
    assert tracker.max_time_ms == BASE_MS  # partition 0 delivered just now: it still holds
