"""Traffic whose feature distribution shifts halfway for some endpoints and features, with
references registered from generated training sets: the input of the drift tests."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from modelmon import store
from modelmon.cli import main as cli_main
from modelmon.config import Config
from modelmon.tracker import format_when, write_segment
from modelmon.pipelines.monitoring_job import run_monitoring_job
from modelmon.udfs.contract import endpoint_id

FEATURES = [f"x{j}" for j in range(5)]
WINDOW_MS = 300_000
RANGE_MS = 3_600_000
BINS = 20
SHIFTS = {"stable": {}, "partly": {1: 4.0, 3: -4.0}, "fully": {j: 4.0 for j in range(5)}, "unregistered": {}}
FUNCTION_URI = "drift/serving:v1"
SHIFT_AFTER = timedelta(hours=1)


def training_set(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(j, 1.0, 20_000) for j, name in enumerate(FEATURES)})
    return frame.assign(label=rng.integers(0, 2, len(frame)))


def traffic(start: datetime, shift_at: datetime, hours: float) -> list[str]:
    """A line every 2 s per endpoint, 1-3 rows each; some invalid values, short rows, error
    events, and a few invalid events (a string latency)."""
    rng = np.random.default_rng(21)
    lines = []
    for step in range(int(hours * 1800)):
        for model, shifts in SHIFTS.items():
            when = start + timedelta(seconds=2 * step, milliseconds=int(rng.integers(0, 2000)))
            rows = rng.normal(np.arange(5.0), 1.0, (int(rng.integers(1, 4)), 5))
            if when >= shift_at:
                for j, delta in shifts.items():
                    rows[:, j] += delta
            rows = np.round(rows, 4).tolist()
            if step % 50 == 0:
                rows[0][2] = ["text", None, True, float("nan")][step // 50 % 4]
            if step % 97 == 0:
                rows[-1] = rows[-1][:3]  # a row with fewer values than the reference has features
            event = {"model": model, "function_uri": FUNCTION_URI, "class": "Test", "when": format_when(when),
                     "request": {"inputs": rows}}
            if step % 41 == 0:
                event["error"] = "boom"  # no prediction: its inputs are not counted
            else:
                event.update(resp={"outputs": [0] * len(rows)}, microsec=1000 if step % 500 != 7 else "slow",
                             metrics={"confidence": round(1 - step / 10_000, 4)})
            lines.append(json.dumps(event))
    return lines


def write_drift_input(root: Path, start: datetime) -> tuple[str, dict[str, pd.DataFrame]]:
    """The spool under ``root`` and a store with references for three of the endpoints (one
    from CSV); returns the store's DSN and the training sets by endpoint id."""
    lines = traffic(start, start + SHIFT_AFTER, hours=2)
    for segment in range(4):
        write_segment(root / "spool", lines[segment::4], segment)
    dsn = f"chdb://{root / 'store'}"
    store.open_store(dsn).close()
    references = {}
    for seed, model in enumerate(["stable", "partly", "fully"]):
        frame = training_set(seed)
        path = root / (f"{model}.csv" if model == "partly" else f"{model}.parquet")
        frame.to_csv(path, index=False) if path.suffix == ".csv" else frame.to_parquet(path)
        assert cli_main(["reference", "register", "--store", dsn, "--project", "drift", "--function-uri",
                         "serving:v1", "--model", model, "--training-set", str(path),
                         "--label-column", "label"]) == 0
        references[endpoint_id("drift", "serving", "v1", "", model, "")] = frame
    return dsn, references


def run_drift_job(root: Path) -> dict:
    """The drift input, run through the job bounded in local mode."""
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=4)
    dsn, references = write_drift_input(root, start)
    config = Config(store=dsn, source=str(root / "spool"))
    run_monitoring_job(config, bounded=True)
    return {"config": config, "spool": root / "spool", "references": references,
            "shift_ms": int((start + SHIFT_AFTER).timestamp() * 1000), "start": start}
