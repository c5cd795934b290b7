"""Each kind of hostile line (tests/support/hostile.py) read by the exact parser gets its
documented outcome; the Java reader's agreement is tests/unit/test_reader_differential.py's."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from modelmon.udfs.lateness import LatenessTracker
from tests.support.hostile import BAD_JSON, corpus
from tests.support.reader_lines import parsed

WHEN = (datetime.now(timezone.utc) - timedelta(hours=2)).replace(second=10, microsecond=0)
CORPUS = corpus(WHEN)


def matches(reason: str | None, expected: str | None) -> bool:
    return reason == expected or (expected == BAD_JSON and reason is not None and reason.startswith(BAD_JSON))


@pytest.mark.parametrize("hostile", CORPUS, ids=[h.kind for h in CORPUS])
def test_the_parser_gives_each_hostile_kind_its_documented_outcome(hostile):
    out = parsed([hostile.line])
    got = list(zip(out.status[0], out.reason[0]))
    assert [status for status, _ in got] == [status for status, _ in hostile.events]
    assert all(matches(reason, want) for (_, reason), (_, want) in zip(got, hostile.events)), got
    assert (out.endpoint_id[0] is not None) == (hostile.endpoint or bool(hostile.other_endpoint))


def test_an_event_far_ahead_of_the_clock_is_invalid_in_a_continuous_run_and_moves_no_watermark():
    line = corpus(datetime.now(timezone.utc) + timedelta(days=2))[-1].line
    in_time = CORPUS[-1].line
    out = parsed([line, in_time], LatenessTracker(5000, ahead_ms=86_400_000))
    assert out.status == [["invalid"], ["ok"]]  # the second would be late had the first moved the watermark
    assert out.reason[0] == ["event time is more than 86400000 ms ahead of the clock"]
    bounded = parsed([line], LatenessTracker(None, ahead_ms=86_400_000))  # a replay: any time goes
    assert bounded.status == [["ok"]]
