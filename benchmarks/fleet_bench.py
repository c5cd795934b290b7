"""``make bench-fleet``: the monitoring job over a fleet of endpoints, with its default settings.

Per fleet size (``--endpoints``, 1,000 and 10,000 by default): 20 features and a registered
reference per endpoint, one hour of event time of simulated traffic (``--events`` lines: 20
per endpoint by default), ``modelmon run --bounded`` as a child process. It prints wall time,
wall past start-up (start-up being the same command on 100 lines), the real-time factor (one
event-hour over the wall past start-up) and the peak RSS of the process tree; the store's
totals are checked against the spool's, and a mismatch fails the bench. (The state at the last
checkpoint is not measured: Flink discards a finished job's checkpoints.) Results go to benchmarks/fleet_results.json
and docs/benchmark.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

from benchmarks import report
from benchmarks.job_bench import fresh_store_with_references, input_totals, machine, measured_run, stored_totals
from modelmon.config import DEFAULT_HOME
from modelmon.simulator import simulate

FEATURES = 20
EVENT_SECONDS = 3600
STARTUP_LINES = 100


def fleet_run(endpoints: int, events: int, workdir: Path) -> dict:
    """One fleet size: its spools and store made fresh, the start-up and the main run measured."""
    case = workdir / f"fleet-{endpoints}e-{events}"
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir(parents=True)
    simulate(case / "spool", events, endpoints=endpoints, features=FEATURES, seed=7,
             events_per_second=events / EVENT_SECONDS, segment_lines=100_000)
    simulate(case / "tiny", STARTUP_LINES, endpoints=endpoints, features=FEATURES, seed=8)
    walls = {}
    for name in ("tiny", "spool"):
        dsn = f"chdb://{case / f'store-{name}'}"
        fresh_store_with_references(dsn, endpoints, FEATURES, workdir)
        command = [sys.executable, "-m", "modelmon.cli", "run", "--bounded", "--source", str(case / name), "--store", dsn]
        walls[name], peak = measured_run(command, case / f"{name}.log")
    lines, expected = input_totals(case / "spool")
    stored = stored_totals(f"chdb://{case / 'store-spool'}")
    if stored != expected:
        raise RuntimeError(f"{endpoints} endpoints: the store holds {stored}, the spool {expected}")
    past_startup = walls["spool"] - walls["tiny"]
    return {"endpoints": endpoints, "features": FEATURES, "lines": lines, "events": expected.events,
            "event_seconds": EVENT_SECONDS, "wall_s": round(walls["spool"], 1), "startup_s": round(walls["tiny"], 1),
            "wall_past_startup_s": round(past_startup, 1),
            "real_time_factor": round(EVENT_SECONDS / past_startup, 1) if past_startup > 0 else None,
            "peak_rss_mb": round(peak / 2**20)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench-fleet", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--events", type=int, default=0, help="lines per fleet (default: 20 per endpoint)")
    parser.add_argument("--workdir", default=str(DEFAULT_HOME / "bench"), help="spools, stores and logs")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir).resolve()  # a chdb DSN needs an absolute path
    rows = [fleet_run(endpoints, args.events or 20 * endpoints, workdir) for endpoints in args.endpoints]
    print(f"{'endpoints':>10}{'events':>9}{'wall s':>8}{'start-up s':>11}{'past it s':>10}{'x real time':>12}"
          f"{'peak RSS MB':>12}")
    for row in rows:
        print(f"{row['endpoints']:>10,}{row['events']:>9,}{row['wall_s']:>8}{row['startup_s']:>11}"
              f"{row['wall_past_startup_s']:>10}{row['real_time_factor']!s:>12}{row['peak_rss_mb']:>12,}")
    report.FLEET_RESULTS.write_text(json.dumps({"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                                "machine": machine(), "fleets": rows}, indent=2))
    report.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
