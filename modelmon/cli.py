"""``modelmon``: run the job, simulate traffic, serve the proxy, or all of it as a demo."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from modelmon.config import load_config
from modelmon.logs import configure_logging
from modelmon.udfs.alerts import KINDS, RESETS, SEVERITIES
from modelmon.udfs.drift import DEFAULT_DETECTED_THRESHOLD, DEFAULT_POSSIBLE_THRESHOLD
from modelmon.udfs.histograms import DEFAULT_BINS, DEFAULT_MAX_CATEGORIES


def _run(args: argparse.Namespace) -> int:
    from modelmon import store
    from modelmon.pipelines.monitoring_job import config_from_arguments, run_monitoring_job
    from modelmon.pipelines.store_sink import TABLES
    from modelmon.udfs.contract import STATUS_EXPIRED

    config = config_from_arguments(args)
    stop = None
    if not args.bounded:  # Ctrl-C or a TERM signal stops it with a savepoint
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    savepoint = run_monitoring_job(config, bounded=args.bounded, stop=stop, restore=args.restore)
    if savepoint:
        print(f"stopped with a savepoint: {savepoint} (go on from it with --restore {savepoint})")
    client = store.connect(config.store)
    try:
        print(f"rows in the store: {store.row_counts(client, list(TABLES))}")
        dead_letters = store.dead_letter_counts(client)
    finally:
        client.close()
    if dead_letters:
        print(f"dead letters in the store (invalid_events), events per kind: {dead_letters}")
    if dead_letters.get(STATUS_EXPIRED):
        print(f"{dead_letters[STATUS_EXPIRED]} events are older than the store keeps them "
              f"(retention_days = {config.retention_days}): they are in no window; retention_days = 0 keeps every row")
    return 0


def _submit(args: argparse.Namespace, job_arguments: list[str]) -> int:
    from modelmon.submit import submit

    return submit(args.jobmanager, job_arguments, args.bounded, args.parallelism, args.worker_python)


def _simulate(args: argparse.Namespace) -> int:
    from modelmon.simulator import simulate_into

    target = args.sink or args.spool
    if target is None:
        raise ValueError("give --sink (kafka://host:9092/topic or a spool directory) or --spool")
    sent = simulate_into(target, args.events, endpoints=args.endpoints, features=args.features, seed=args.seed,
                         error_rate=args.error_rate, events_per_second=args.events_per_second, live=args.live,
                         segment_lines=args.segment_lines, categorical=args.categorical)
    print(f"sent {sent} lines to {target}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from modelmon.api import create_app
    from modelmon.api.auth import listen_host
    from modelmon.api.db import IDLE_CLIENTS

    config = load_config(args.config, store=args.store, proxy_host=args.host, proxy_port=args.port)
    host, warning = listen_host(config)
    if warning:
        print(f"modelmon serve: {warning}", file=sys.stderr)
    app = create_app({"MODELMON": config, "MODELMON_IDLE_CLIENTS": IDLE_CLIENTS})  # this process serves one store
    app.run(host=host, port=config.proxy_port, threaded=True)
    return 0


def _register_many(args: argparse.Namespace) -> int:
    from modelmon import store
    from modelmon.reference import read_manifest, register_references

    config = load_config(args.config, store=args.store)
    registrations = read_manifest(args.manifest)
    client = store.open_store(config.store, config.retention_days)
    try:
        registered = register_references(client, registrations, args.bins, args.possible_threshold,
                                         args.detected_threshold, args.max_categories)
    finally:
        client.close()
    print(f"registered {len(registered)} reference(s) from {args.manifest}")
    return 0


def _register_reference(args: argparse.Namespace) -> int:
    from modelmon import store
    from modelmon.reference import register_reference

    config = load_config(args.config, store=args.store)
    client = store.open_store(config.store, config.retention_days)
    try:
        endpoint, reference_id = register_reference(
            client, args.project, args.function_uri, args.model, args.training_set,
            features=args.features.split(",") if args.features else None, label_column=args.label_column,
            bins=args.bins, possible_threshold=args.possible_threshold, detected_threshold=args.detected_threshold,
            categorical=args.categorical.split(",") if args.categorical else (), max_categories=args.max_categories)
    finally:
        client.close()
    print(f"registered reference {reference_id} for endpoint {endpoint}")
    return 0


def _alert(args: argparse.Namespace) -> int:
    from modelmon import alert_rules, store
    from modelmon.udfs.alerts import make_rule

    config = load_config(args.config, store=args.store)
    client = store.open_store(config.store, config.retention_days)
    try:
        if args.alert_command == "add":
            rule = make_rule({"name": args.name, "project": args.project, "kind": args.kind, "endpoint": args.endpoint,
                              "threshold": args.threshold, "count": args.count, "period_seconds": args.period,
                              "cooldown_seconds": args.cooldown, "reset": args.reset, "severity": args.severity,
                              "notify": args.notify})
            alert_rules.save_rule(client, rule)
            print(f"saved rule {rule.summary}")
        elif args.alert_command == "list":
            for rule in alert_rules.list_rules(client, args.project):
                print(rule.summary)
            for activation in alert_rules.list_activations(client, args.project, open_only=True):
                print(f"open: {activation['activation_id']} rule {activation['rule']} endpoint "
                      f"{activation['endpoint_id']} since {activation['opened_at']} value {activation['value']}")
        elif args.alert_command == "remove":
            if not alert_rules.remove_rule(client, args.project, args.name):
                raise ValueError(f"project {args.project!r} has no rule {args.name!r}")
            print(f"removed rule {args.name} of project {args.project}")
        else:
            activation = alert_rules.resolve_activation(client, args.id)
            if activation is None:
                raise ValueError(f"no activation {args.id!r}")
            print(f"activation {args.id} {'resolved' if activation['closed_at'] is None else 'was closed already'}")
    finally:
        client.close()
    return 0


def _notify(args: argparse.Namespace) -> int:
    from modelmon import store
    from modelmon.notifier import Notifier

    config = load_config(args.config, store=args.store)
    store.open_store(config.store, config.retention_days).close()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"delivering alert activations from {store.redact(config.store)} until stopped (Ctrl-C)")
    Notifier(config.store).run(stop)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from modelmon.demo import run_demo

    config = load_config(args.config, proxy_port=args.port)
    return run_demo(config, Path(args.home), duration=args.duration)


def build_parser() -> argparse.ArgumentParser:
    from modelmon.pipelines.monitoring_job import add_job_arguments

    parser = argparse.ArgumentParser(prog="modelmon", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the monitoring job (PyFlink local mode)")
    add_job_arguments(run)
    run.set_defaults(handler=_run)

    submit = commands.add_parser(
        "submit", help="run the job on a Flink session cluster with 'flink run -py' (bounded: wait for it)",
        description="Every option not listed here goes to the job unchanged (see 'modelmon run --help').")
    submit.add_argument("--jobmanager", required=True, help="host:port of the cluster's REST endpoint")
    submit.add_argument("--parallelism", type=int)
    submit.add_argument("--bounded", action="store_true", help="read what is there and wait for the job to end")
    submit.add_argument("--worker-python", help="Python interpreter on the TaskManagers (default: this one)")
    submit.set_defaults(handler=_submit)

    simulate = commands.add_parser("simulate", help="write MLRun-format traffic into a spool directory")
    simulate.add_argument("--spool", help="spool directory to write segments into")
    simulate.add_argument("--sink", help="kafka://host:9092/topic (needs modelmon[kafka]) or a spool directory")
    simulate.add_argument("--events", type=int, required=True, help="lines to write (0 with --live: no end)")
    simulate.add_argument("--live", action="store_true",
                          help="event times from now, sent at --events-per-second of wall-clock time")
    simulate.add_argument("--endpoints", type=int, default=3)
    simulate.add_argument("--features", type=int, default=4)
    simulate.add_argument("--categorical", type=int, default=0,
                          help="how many of the features (the last ones) are categories, as strings (default 0)")
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

    reference = commands.add_parser("reference", help="training-set references for drift")
    reference_commands = reference.add_subparsers(dest="reference_command", required=True)
    register = reference_commands.add_parser(
        "register", help="profile a training set (CSV or Parquet) as an endpoint's reference; "
                         "a running job picks it up without a restart")
    register.add_argument("--store")
    register.add_argument("--config")
    register.add_argument("--project", required=True)
    register.add_argument("--function-uri", required=True, help="[project/]function[:tag][@hash], as in the events")
    register.add_argument("--model", required=True, help="model name[:version], as in the events")
    register.add_argument("--training-set", required=True, help=".csv or .parquet file, read in batches")
    register.add_argument("--label-column", help="excluded from the features")
    register.add_argument("--features", help="comma-separated feature columns, in the order of the model's inputs "
                                             "(default: every column but the label)")
    register.add_argument("--categorical", help="comma-separated features to treat as categories whatever their "
                                                "type (strings and booleans always are), e.g. integer codes")
    register.set_defaults(handler=_register_reference)
    register_many = reference_commands.add_parser(
        "register-many", help="register a fleet's references from a CSV manifest in one process")
    register_many.add_argument("--store")
    register_many.add_argument("--config")
    register_many.add_argument("--manifest", required=True,
                               help="CSV with columns project,function_uri,model,training_set[,label_column]"
                                    "[,categorical]; a relative training_set is relative to the manifest")
    register_many.set_defaults(handler=_register_many)
    for command in (register, register_many):
        command.add_argument("--bins", type=int, default=DEFAULT_BINS, help=f"histogram bins (default {DEFAULT_BINS})")
        command.add_argument("--max-categories", type=int, default=DEFAULT_MAX_CATEGORIES,
                             help=f"categories kept per categorical feature, the most frequent in training; the "
                                  f"others count as __other__ (default {DEFAULT_MAX_CATEGORIES})")
        command.add_argument("--possible-threshold", type=float, default=DEFAULT_POSSIBLE_THRESHOLD,
                             help=f"drift_measure for POSSIBLE_DRIFT (default {DEFAULT_POSSIBLE_THRESHOLD})")
        command.add_argument("--detected-threshold", type=float, default=DEFAULT_DETECTED_THRESHOLD,
                             help=f"drift_measure for DRIFT_DETECTED (default {DEFAULT_DETECTED_THRESHOLD})")

    alert = commands.add_parser("alert", help="alert rules and their activations (DESIGN.md \"Alerts\")")
    alert_commands = alert.add_subparsers(dest="alert_command", required=True)
    add = alert_commands.add_parser("add", help="add a rule, or replace the project's rule of that name")
    add.add_argument("--project", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--kind", required=True, help=", ".join(KINDS))
    add.add_argument("--endpoint", default="*", help="an endpoint id, or * (default) for every endpoint of the project")
    add.add_argument("--threshold", help="the value the kind compares with (not for the drift status kinds)")
    add.add_argument("--count", help="fire when the condition held in COUNT evaluations ... (default 1)")
    add.add_argument("--period", help="... within PERIOD seconds of event time (default 0: at once)")
    add.add_argument("--cooldown", help="seconds before the rule may open another activation for an endpoint "
                                        "(default 3600)")
    add.add_argument("--reset", choices=RESETS, help="auto (default): closes when the condition clears; "
                                                     "manual: modelmon alert resolve")
    add.add_argument("--severity", choices=SEVERITIES)
    add.add_argument("--notify", action="append", help="webhook:https://..., slack:https://..., "
                                                       "kafka://host:port/topic, smtp://host:port?from=a@b&to=c@d "
                                                       "(repeatable)")
    listing = alert_commands.add_parser("list", help="the rules in force and the open activations")
    listing.add_argument("--project")
    remove = alert_commands.add_parser("remove", help="remove a rule (its open activations stay until resolved)")
    remove.add_argument("--project", required=True)
    remove.add_argument("--name", required=True)
    resolve = alert_commands.add_parser("resolve", help="close an open activation")
    resolve.add_argument("--id", required=True, help="the activation id")
    for command in (add, listing, remove, resolve):
        command.add_argument("--store")
        command.add_argument("--config")
        command.set_defaults(handler=_alert)

    notify = commands.add_parser("notify", help="deliver alert activations (a local run does it itself; a job "
                                                "submitted to a cluster needs this beside it)")
    notify.add_argument("--store")
    notify.add_argument("--config")
    notify.set_defaults(handler=_notify)

    demo = commands.add_parser("demo", help="simulator + job + proxy on a fresh embedded store")
    demo.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    demo.add_argument("--home", default=".modelmon/demo", help="directory for the demo's spool and store")
    demo.add_argument("--port", type=int, help="proxy port (default 8080)")
    demo.add_argument("--config")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args, job_arguments = build_parser().parse_known_args(argv)
    if args.command != "submit" and job_arguments:
        build_parser().parse_args(argv)  # reports the unknown arguments the usual way
    level = logging.INFO if args.verbose or args.command == "run" else logging.WARNING
    configure_logging(level)
    try:
        return args.handler(args, job_arguments) if args.command == "submit" else args.handler(args)
    except (ValueError, OSError) as error:
        print(f"modelmon {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
