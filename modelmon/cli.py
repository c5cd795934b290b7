"""``modelmon``: run the job, simulate traffic, serve the proxy, or all of it as a demo."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from modelmon.config import load_config
from modelmon.logs import configure_logging


def _run(args: argparse.Namespace) -> int:
    from pipelines.monitoring_job import config_from_arguments, run_monitoring_job

    written = run_monitoring_job(config_from_arguments(args), bounded=args.bounded)
    print(f"rows written: {written}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from modelmon.simulator import simulate

    segments = simulate(Path(args.spool), args.events, endpoints=args.endpoints, features=args.features,
                        seed=args.seed, error_rate=args.error_rate, events_per_second=args.events_per_second,
                        segment_lines=args.segment_lines)
    print(f"wrote {args.events} lines in {segments} segments to {args.spool}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from api import create_app

    config = load_config(args.config, store=args.store, proxy_host=args.host, proxy_port=args.port)
    app = create_app({"MODELMON": config})
    app.run(host=config.proxy_host, port=config.proxy_port, threaded=True)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from modelmon.demo import run_demo

    config = load_config(args.config, proxy_port=args.port)
    return run_demo(config, Path(args.home), duration=args.duration)


def build_parser() -> argparse.ArgumentParser:
    from pipelines.monitoring_job import add_job_arguments

    parser = argparse.ArgumentParser(prog="modelmon", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the monitoring job (PyFlink local mode)")
    add_job_arguments(run)
    run.set_defaults(handler=_run)

    simulate = commands.add_parser("simulate", help="write MLRun-format traffic into a spool directory")
    simulate.add_argument("--spool", required=True)
    simulate.add_argument("--events", type=int, required=True, help="lines to write")
    simulate.add_argument("--endpoints", type=int, default=3)
    simulate.add_argument("--features", type=int, default=4)
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--error-rate", type=float, default=0.02)
    simulate.add_argument("--events-per-second", type=float, default=50.0,
                          help="event-time rate: how fast event times advance (default 50/s)")
    simulate.add_argument("--segment-lines", type=int, default=10_000)
    simulate.set_defaults(handler=_simulate)

    serve = commands.add_parser("serve", help="serve the Grafana proxy over a store")
    serve.add_argument("--store")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--config")
    serve.set_defaults(handler=_serve)

    demo = commands.add_parser("demo", help="simulator + job + proxy on a fresh embedded store")
    demo.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    demo.add_argument("--home", default=".modelmon/demo", help="directory for the demo's spool and store")
    demo.add_argument("--port", type=int, help="proxy port (default 8080)")
    demo.add_argument("--config")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.INFO if args.verbose or args.command == "run" else logging.WARNING
    configure_logging(level)
    try:
        return args.handler(args)
    except (ValueError, OSError) as error:
        print(f"modelmon {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
