"""The benchmark's parse-stage row parses every event of its input: its rate is of real work."""

from __future__ import annotations

from modelmon.bench import Case, _spool, input_totals, parse_stage


def test_the_parse_stage_parses_every_event_of_the_spools_first_lines(tmp_path):
    case = Case(4, 3, 500)
    lines, totals = input_totals(_spool(tmp_path, case))
    stage = parse_stage(case, tmp_path)
    assert stage["lines"] == lines == 500
    assert stage["events"] == totals.events > lines  # some lines are batches of events
    assert stage["events_per_s"] > 0
