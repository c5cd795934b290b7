"""The sliding metric windows (udfs/metric_windows.py) give, for every window end a timer
passes at once, the rows that merging each window's slices afresh gives: counts, the mean and
maximum of the latencies (checked against numpy over the window's latencies), percentiles
(equal to those of the slices' sketches merged afresh, and within 1 % of numpy's), the
slide-long activity and custom metrics, over gaps, several projects, windows of errors only
and repeated latencies."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelmon.udfs.latency_sketch import RELATIVE_ACCURACY, LatencySketch, dense_percentiles
from modelmon.udfs.slices import Slice
from modelmon.udfs.contract import Endpoint
from modelmon.udfs.metric_windows import PERCENTILES, window_ends, windows_ending

SLICE_MS = 60_000
WINDOWS = {"5m": 300_000, "1h": 3_600_000}
RETENTION_MS = 3_600_000
T0 = 1_767_225_600_000


LATENCIES: dict[tuple[int, str], np.ndarray] = {}  # (slice start, project) -> its raw latencies


def random_state(seed: int) -> dict[int, list[Slice]]:
    """Three hours of one-minute slices with gaps, two projects, some slices of errors only and
    latencies drawn from few values (so windows hold many equal ones)."""
    rng = np.random.default_rng(seed)
    state: dict[int, list[Slice]] = {}
    LATENCIES.clear()
    for k in range(180):
        if rng.random() < 0.3 or 60 <= k < 130:  # gaps, one longer than the hour
            continue
        start = T0 + k * SLICE_MS
        for project in ("p", "q"):
            if project == "q" and rng.random() < 0.5:
                continue
            successes = 0 if rng.random() < 0.1 else int(rng.integers(1, 50))
            errors = int(rng.integers(0, 3)) if successes else 1
            endpoint = Endpoint(project, "e", f"{project}/f", "m", str(k), "C", "{}")
            metrics = {"accuracy": (successes, float(rng.random()) * successes, 0.1, 0.9)} if successes else {}
            LATENCIES[start, project] = rng.integers(1, 20, successes) * 1000
            state.setdefault(start, []).append(Slice(
                start, project, "e", successes + errors, 2 * successes, errors,
                LatencySketch.of(LATENCIES[start, project]), start + 1, start + SLICE_MS - 1, endpoint, metrics))
    return state


def expected_rows(state: dict[int, list[Slice]], ends: list[int], slide_ms: int) -> list[tuple[str, dict]]:
    """Every window merged from its slices, as the job's contract defines it."""
    rows = []
    for end in ends:
        for window_size, size_ms in WINDOWS.items():
            start = end - size_ms
            if start % slide_ms:
                continue
            for project in ("p", "q"):
                held = [s for t in sorted(state) if start <= t < end for s in state[t] if s.project == project]
                if not held:
                    continue
                latencies = np.concatenate([LATENCIES[s.start, project] for s in held]).astype(np.float64)
                row = {"project": project, "endpoint_id": "e", "window_size": window_size, "window_start": start,
                       "window_end": end, "requests_count": sum(s.requests for s in held),
                       "predictions_count": sum(s.predictions for s in held),
                       "predictions_per_second": sum(s.predictions for s in held) / (size_ms / 1000),
                       "error_count": sum(s.errors for s in held), "latency_avg": None, "latency_p50": None,
                       "latency_p95": None, "latency_p99": None, "latency_max": None}
                if latencies.size:
                    p50, p95, p99 = dense_percentiles(LatencySketch.combine([s.latency for s in held]).dense(),
                                                      PERCENTILES)
                    exact = np.percentile(latencies, PERCENTILES)
                    assert np.all(np.abs(np.array([p50, p95, p99]) / exact - 1) <= RELATIVE_ACCURACY)
                    row.update(latency_avg=float(np.mean(latencies)), latency_p50=p50, latency_p95=p95,
                               latency_p99=p99, latency_max=float(latencies.max()))
                rows.append(("endpoint_metrics", row))
        if end % slide_ms == 0:
            for project in ("p", "q"):
                held = [s for t in sorted(state) if end - slide_ms <= t < end for s in state[t] if s.project == project]
                if held:
                    rows.append(("endpoint_activity", {"project": project, "window_start": end - slide_ms,
                                                       "requests_count": sum(s.requests for s in held),
                                                       "version": held[-1].endpoint.version}))
                    values = [s.metrics["accuracy"] for s in held if s.metrics]
                    if values:
                        rows.append(("custom_metrics", {"project": project, "window_start": end - slide_ms,
                                                        "values_count": sum(v[0] for v in values),
                                                        "sum": sum(v[1] for v in values)}))
    return rows


def comparable(table: str, row: dict, keys: dict) -> tuple:
    return (table, row["project"], row.get("window_size", ""), row["window_start"], *(row[k] for k in keys))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("slide_ms", [60_000, 180_000])
def test_windows_over_many_ends_equal_each_window_merged_afresh(seed, slide_ms):
    state = random_state(seed)
    ends = list(window_ends(sorted(state), min(state) + SLICE_MS, SLICE_MS, RETENTION_MS))
    got = list(windows_ending(state, ends, slide_ms, WINDOWS))
    expected = expected_rows(state, ends, slide_ms)
    assert len(got) == len(expected)
    got_by_key = {comparable(table, row, {}): row for table, row in got}
    for table, row in expected:
        actual = got_by_key[comparable(table, row, {})]
        for name, value in row.items():
            if isinstance(value, float):
                assert math.isclose(actual[name], value, rel_tol=1e-12), (table, name, actual[name], value)
            else:
                assert actual[name] == value, (table, name)


def test_window_ends_are_those_with_a_slice_within_the_retention():
    state = random_state(0)
    starts = sorted(state)
    first_end = starts[0] + SLICE_MS
    ends = list(window_ends(starts, first_end, SLICE_MS, RETENTION_MS))
    candidates = range(first_end, starts[-1] + RETENTION_MS + 2 * SLICE_MS, SLICE_MS)
    assert ends == [end for end in candidates if any(end - RETENTION_MS <= s < end for s in starts)]
    assert len(ends) < len(candidates)  # the long gap is skipped
    assert list(window_ends([0, 120], 60, 60, 60)) == [60, 180]  # a gap of exactly the retention


def test_windows_from_a_later_end_on_equal_those_of_all_ends_from_there():
    """A timer that passes a few ends at a time (the continuous job) gives the same rows."""
    state = random_state(1)
    ends = list(window_ends(sorted(state), min(state) + SLICE_MS, SLICE_MS, RETENTION_MS))
    whole = list(windows_ending(state, ends, SLICE_MS, WINDOWS))
    in_steps = [row for k in range(0, len(ends), 7) for row in windows_ending(state, ends[k:k + 7], SLICE_MS, WINDOWS)]
    assert in_steps == whole
