"""The benchmark: its parse-stage row parses every event of its input (its rate is of real work),
and a case run in rounds reports medians of the rounds."""

from __future__ import annotations

from benchmarks.job_bench import Case, _spool, _summary, input_totals, parse_stage


def test_the_parse_stage_parses_every_event_of_the_spools_first_lines(tmp_path):
    case = Case(4, 3, 500)
    lines, totals = input_totals(_spool(tmp_path, case))
    stage = parse_stage(case, tmp_path)
    assert stage["lines"] == lines == 500
    assert stage["events"] == totals.events > lines  # some lines are batches of events
    assert stage["events_per_s"] > 0


def test_a_case_run_in_rounds_reports_the_median_of_each_rounds_own_rate():
    events = 1_200
    rounds = [{"wall_s": 40.0, "startup_s": 20.0, "peak_bytes": 3 << 20},   # 60 events/s
              {"wall_s": 31.0, "startup_s": 19.0, "peak_bytes": 5 << 20},   # 100
              {"wall_s": 50.0, "startup_s": 18.0, "peak_bytes": 4 << 20}]   # 37.5 -> 38
    summary = _summary(rounds, events)
    assert summary["rounds_events_per_s"] == [60, 100, 38]
    assert summary["events_per_s"] == 60  # not 1,200 / (median wall 40 - median start-up 19) = 57
    assert (summary["wall_s"], summary["startup_s"], summary["peak_rss_mb"]) == (40.0, 19.0, 5)
    assert summary["events_per_s_with_startup"] == 30  # the median of 30, 38.7 and 24


def test_a_round_whose_run_was_not_clearly_longer_than_its_start_up_has_no_rate():
    rounds = [{"wall_s": 40.0, "startup_s": 20.0, "peak_bytes": 0}, {"wall_s": 18.0, "startup_s": 19.0, "peak_bytes": 0},
              {"wall_s": 18.3, "startup_s": 18.2, "peak_bytes": 0}]  # 0.1 s longer: within the start-ups' own spread
    summary = _summary(rounds, 1_000)
    assert summary["rounds_events_per_s"] == [50, None, None]
    assert summary["events_per_s"] is None
