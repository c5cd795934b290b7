"""The shared traffic run: simulated traffic with hand-made bad lines, through one bounded job."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from modelmon.config import Config
from modelmon.pipelines.monitoring_job import run_monitoring_job
from modelmon.tracker import Tracker, format_when
from modelmon.udfs.contract import parse_endpoint

TRAFFIC_EVENTS = 100_000
TRAFFIC_ENDPOINTS = 10
GOOD_BASE = {"class": "Manual", "model": "manual", "version": "v1", "function_uri": "tests/serving:prod"}


def hand_made_lines(start: datetime) -> list[str]:
    """Bad lines of each kind, and a batch whose one bad row must not lose the good one."""
    at = [format_when(start + timedelta(seconds=s)) for s in range(3)]
    return [
        '{"model": "broken", "function_uri": "tests/serving"',  # truncated JSON: no endpoint
        json.dumps(dict(GOOD_BASE, request={"inputs": [[1.0]]}, resp={"outputs": [1]}, microsec=10)),  # no when
        json.dumps(dict(GOOD_BASE, when=at[0], request={"inputs": [[1.0], [2.0]]},
                        resp={"outputs": [1]}, microsec=10)),  # outputs do not match inputs
        json.dumps(dict(GOOD_BASE, headers=["when", "request", "resp", "microsec"], values=[
            [at[1], {"inputs": [[1.0]]}, {"outputs": [0]}, 1_500_000],  # valid, latency over one second
            [at[2], {"inputs": [[1.0]]}, {"outputs": [0]}, "fast"],  # bad row
        ])),
    ]


@dataclass(frozen=True)
class JobRun:
    spool: Path
    config: Config


def run_bounded(spool: Path, store_path: Path) -> JobRun:
    config = Config(store=f"chdb://{store_path}", source=str(spool))
    run_monitoring_job(config, bounded=True)
    return JobRun(spool, config)


def spool_lines(spool: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(spool.glob("*.jsonl")) for line in path.read_text().splitlines()]


def track(lines: list[dict], target: str) -> dict[str, int]:
    """Each line through its endpoint's tracker, as model servers send them; the lines per endpoint id."""
    trackers: dict[str, Tracker] = {}
    sent: dict[str, int] = {}
    try:
        for line in lines:
            key = parse_endpoint(line).endpoint_id
            if key not in trackers:
                trackers[key] = Tracker(target, function_uri=line["function_uri"],
                                        model=f"{line['model']}:{line.get('version', '')}", model_class=line["class"])
            trackers[key].send_line(line)
            sent[key] = sent.get(key, 0) + 1
    finally:
        for tracker in trackers.values():
            tracker.close()
    return sent
