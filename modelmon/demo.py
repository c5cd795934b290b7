"""``modelmon demo``: simulated traffic -> monitoring job -> embedded store -> proxy, in one process.

The embedded store is opened by one process at a time, so the job's sink, the proxy and
the live summary all share this one. Traffic starts 30 minutes in the past and is replayed
at 60x until it catches up with the clock, so windows close within seconds of starting.

Each endpoint gets a reference registered from a training set drawn like its traffic;
ten minutes (event time) into the traffic, one endpoint's features shift, and with the
demo's 15-minute drift range its status climbs to DRIFT_DETECTED during the replay.

The file source reads the segments it finds in one scan in no particular order. The
simulator starts once the job runs, and during the replay each segment spans a minute of
event time, so the demo allows 150 s of lateness (instead of the default 5 s) to cover the
two or three segments a scan can find together.
"""

from __future__ import annotations

import shutil
import json
import signal
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from werkzeug.serving import make_server

from modelmon.api import create_app, queries
from modelmon.api.auth import listen_host
from modelmon import alert_rules, store
from modelmon.config import Config
from modelmon.reference import register_reference
from modelmon.simulator import IRIS_FEATURES, TrafficGenerator, default_endpoints, training_set
from modelmon.tracker import write_segment
from modelmon.udfs.alerts import make_rule
from modelmon.pipelines.monitoring_job import run_monitoring_job
from modelmon.pipelines.store_sink import TABLES

BACKFILL = timedelta(minutes=30)
CATCH_UP_SPEED = 60
EVENTS_PER_SECOND = 20.0
LATENESS_SECONDS = 150
DRIFT_RANGE_SECONDS = 900
DRIFTING_MODEL, DRIFT_AFTER, DRIFT_SHIFT = "ada-boost", timedelta(minutes=10), 2.5  # in feature stds
ENDPOINTS = default_endpoints(3)


def _prepare_store(config: Config, home: Path, alert_url: str) -> None:
    """A reference per endpoint, and one alert rule: the drifting endpoint's drift_detected,
    delivered to ``alert_url``."""
    client = store.open_store(config.store, config.retention_days)
    try:
        for seed, endpoint in enumerate(ENDPOINTS):
            path = home / "training" / f"{endpoint.model}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            training_set(IRIS_FEATURES, 10_000, seed).to_parquet(path)
            project = endpoint.function_uri.split("/")[0]
            endpoint_id, _ = register_reference(client, project, endpoint.function_uri, endpoint.model, path,
                                                label_column="label")
            if endpoint.model == DRIFTING_MODEL:
                alert_rules.save_rule(client, make_rule({
                    "name": f"{DRIFTING_MODEL}-drift", "project": project, "kind": "drift_detected",
                    "endpoint": endpoint_id, "severity": "high", "notify": [f"webhook:{alert_url}"]}))
    finally:
        client.close()


def _alert_receiver() -> ThreadingHTTPServer:
    """The demo's own webhook: prints each alert it receives."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            print(f"\n[{datetime.now(timezone.utc):%H:%M:%S}] alert received by the demo's webhook: "
                  f"{body.get('summary')}", flush=True)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.serve_forever, name="alert-receiver", daemon=True).start()
    return receiver


def _simulate_until_stopped(spool: Path, stop: threading.Event, job_submitted: threading.Event) -> None:
    while not job_submitted.wait(0.5):
        if stop.is_set():
            return
    started = datetime.now(timezone.utc)
    generator = TrafficGenerator(ENDPOINTS, features=len(IRIS_FEATURES), seed=7,
                                 events_per_second=EVENTS_PER_SECOND, start=started - BACKFILL)
    lines = generator.lines()
    sequence = 0
    while not stop.is_set():
        now = datetime.now(timezone.utc)
        target = min(now, started - BACKFILL + (now - started) * CATCH_UP_SPEED)
        segment = []
        while generator.clock < target:
            if generator.clock >= started - BACKFILL + DRIFT_AFTER:
                generator.shift[DRIFTING_MODEL] = DRIFT_SHIFT
            segment.append(next(lines))
        if segment:
            write_segment(spool, segment, sequence)
            sequence += 1
        stop.wait(1.0)


def _summary(config: Config) -> str:
    client = store.connect(config.store)
    try:
        rows = queries.latest_metrics(client, "5m")
    finally:
        client.close()
    if not rows:
        return "waiting for the first 5-minute window to close..."
    lines = [f"{'endpoint':<22}{'window end (UTC)':<22}{'pred/s':>8}{'latency avg':>14}{'p95':>10}{'errors':>8}"
             f"  drift"]
    for row in rows:
        avg = f"{row['latency_avg'] / 1000:.1f} ms" if row["latency_avg"] is not None else "-"
        p95 = f"{row['latency_p95'] / 1000:.1f} ms" if row["latency_p95"] is not None else "-"
        lines.append(f"{row['model']:<22}{row['window_end']:%Y-%m-%d %H:%M}{'':<6}"
                     f"{row['predictions_per_second']:>8.2f}{avg:>14}{p95:>10}{row['error_count']:>8}"
                     f"  {row['drift_status'] or '-'}")
    return "\n".join(lines)


def run_demo(config: Config, home: Path, duration: float | None) -> int:
    shutil.rmtree(home, ignore_errors=True)
    config = config.replace(store=f"chdb://{(home / 'store').resolve()}", source=str((home / "spool").resolve()),
                            checkpoint_dir=str((home / "checkpoints").resolve()),
                            lateness_seconds=LATENESS_SECONDS, drift_range_seconds=DRIFT_RANGE_SECONDS)
    Path(config.source).mkdir(parents=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    receiver = _alert_receiver()
    alert_url = f"http://127.0.0.1:{receiver.server_port}/demo-alerts"
    _prepare_store(config, home, alert_url)
    host, warning = listen_host(config)
    if warning:
        print(f"modelmon demo: {warning}", flush=True)
    server = make_server(host, config.proxy_port, create_app({"MODELMON": config}), threaded=True)
    threading.Thread(target=server.serve_forever, name="proxy", daemon=True).start()
    job_submitted = threading.Event()
    simulator = threading.Thread(target=_simulate_until_stopped, args=(Path(config.source), stop, job_submitted),
                                 name="simulator")
    simulator.start()
    job_error: list[BaseException] = []
    savepoint: list[str | None] = []

    def job() -> None:
        try:
            savepoint.append(run_monitoring_job(config, bounded=False, stop=stop, submitted=job_submitted))
        except BaseException as error:  # reported by the main thread
            job_error.append(error)
            stop.set()

    job_thread = threading.Thread(target=job, name="monitoring-job")
    job_thread.start()
    proxy = f"http://{host}:{server.port}/api/grafana-proxy/model-endpoints"
    print(f"modelmon demo: 3 endpoints, traffic replayed from {BACKFILL} ago at {CATCH_UP_SPEED}x, then live;\n"
          f"  {DRIFTING_MODEL} drifts {DRIFT_AFTER.seconds // 60} min into the traffic "
          f"(drift range {DRIFT_RANGE_SECONDS // 60} min)\n"
          f"  alert:  {DRIFTING_MODEL}-drift (drift_detected) -> webhook {alert_url}\n"
          f"  spool:  {config.source}\n  store:  {config.store}\n  proxy:  {proxy}  (Grafana SimpleJson)\n"
          f"  try:    curl -s -X POST {proxy}/query -H 'Content-Type: application/json' "
          f"-d '{{\"targets\": [{{\"target\": \"target_endpoint=list_endpoints;project=demo\"}}]}}'\n"
          f"Stop with Ctrl-C{f' (or after {duration:g} s)' if duration else ''}.", flush=True)
    deadline = time.monotonic() + duration if duration else None
    next_summary = time.monotonic() + 5
    while not stop.is_set():
        stop.wait(0.5)
        if deadline and time.monotonic() >= deadline:
            stop.set()
        elif time.monotonic() >= next_summary:
            print(f"\n[{datetime.now(timezone.utc):%H:%M:%S}] latest 5-minute windows\n{_summary(config)}", flush=True)
            next_summary = time.monotonic() + 5
    job_thread.join()
    simulator.join()
    print(f"\nfinal summary\n{_summary(config)}", flush=True)
    server.shutdown()
    receiver.shutdown()
    if job_error:
        print(f"modelmon demo: the monitoring job failed: {job_error[0]}")
        return 1
    client = store.connect(config.store)
    try:
        written = store.row_counts(client, list(TABLES))
    finally:
        client.close()
    print(f"modelmon demo: stopped cleanly; rows in the store: {written}")
    if savepoint and savepoint[0]:
        print(f"  savepoint: {savepoint[0]}")
    return 0
