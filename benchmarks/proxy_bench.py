"""``make bench-proxy``: the proxy under load on loopback, with Grafana-shaped queries.

It fills a fresh embedded store with what the job writes for ``--endpoints`` endpoints over
``--hours`` of 1-minute data (activity windows, 5 m and 1 h metric windows every minute, a
drift status every 5 minutes, and the registry's row per endpoint; with ``--mix pages`` also
20 features' references, histograms and drift measures every 5 minutes and a sampled row a
minute), serves it with ``modelmon serve`` in its own process, with its answer cache for
``--cache-seconds`` (0: every request asks the store), and sends ``--clients`` concurrent
streams of requests for ``--seconds``: Grafana's SimpleJson queries (``--mix grafana``) or the
status page's index and endpoint page over the last 24 h (``--mix pages``). It prints, per
kind of request, requests/s, p50/p95/p99/max latency and errors, and writes them to a JSON file.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from benchmarks import report
from modelmon import store
from modelmon.sql import ddl_files

PROXY = "/api/grafana-proxy/model-endpoints"
FEATURES, BINS = 20, 20


def fill_store(dsn: str, endpoints: int, hours: int, end: datetime) -> dict[str, int]:
    """The job's tables for ``endpoints`` endpoints and ``hours`` of 1-minute windows up to ``end``,
    generated in ClickHouse (INSERT ... SELECT FROM numbers)."""
    client = store.open_store(dsn)
    minutes = hours * 60
    start = end - timedelta(minutes=minutes)
    parameters = {"start": start, "minutes": minutes, "endpoints": endpoints}
    endpoint = "lower(hex(SHA1(toString(number % {endpoints:UInt32}))))"
    minute = "{start:DateTime64(3, 'UTC')} + toIntervalMinute(intDiv(number, {endpoints:UInt32}))"
    rows = "numbers({endpoints:UInt32} * {minutes:UInt32})"
    try:
        client.command(f"""
            INSERT INTO endpoint_activity (project, endpoint_id, window_start, first_request, last_request,
                requests_count, predictions_count, error_count, function_uri, model, version, model_class, labels)
            SELECT 'bench', {endpoint}, {minute}, {minute}, {minute} + toIntervalSecond(59),
                   60, 120, number % 7 = 0, 'bench/serving:prod',
                   concat('model-', toString(number % {{endpoints:UInt32}})), 'v1', 'sklearn.RF', map('team', 'bench')
            FROM {rows}""", parameters=parameters)
        for size, minutes_long in (("5m", 5), ("1h", 60)):
            client.command(f"""
                INSERT INTO endpoint_metrics (project, endpoint_id, window_size, window_start, window_end,
                    requests_count, predictions_count, predictions_per_second, error_count, latency_avg,
                    latency_p50, latency_p95, latency_p99, latency_max)
                SELECT 'bench', {endpoint}, '{size}', {minute} - toIntervalMinute({minutes_long - 1}),
                       {minute} + toIntervalMinute(1), {60 * minutes_long}, {120 * minutes_long},
                       {120 * minutes_long} / {60 * minutes_long}, number % 5, 1000 + number % 300,
                       900 + number % 200, 1500 + number % 400, 2000 + number % 500, 3000 + number % 900
                FROM {rows}""", parameters=parameters)
        client.command(f"""
            INSERT INTO drift_status (project, endpoint_id, reference_id, window_start, window_end, feature_names,
                features_count, tvd_mean, hellinger_mean, drift_measure, drift_status)
            SELECT 'bench', {endpoint}, 1, {minute} - toIntervalMinute(60), {minute},
                   ['f0', 'f1', 'f2'], 3, 0.1, 0.1, 0.1, 'NO_DRIFT'
            FROM {rows} WHERE intDiv(number, {{endpoints:UInt32}}) % 5 = 0""", parameters=parameters)
        # What the job's writer keeps per endpoint: the totals of its windows (sql/019's query).
        client.command(next(text for version, text in ddl_files() if version.endswith("endpoint_registry_backfill")))
        return store.row_counts(client, ["endpoint_activity", "endpoint_metrics", "drift_status", "endpoint_registry"])
    finally:
        client.close()


def fill_feature_tables(dsn: str, endpoints: int, hours: int, end: datetime) -> dict[str, int]:
    """What the endpoint page also reads: a reference of ``FEATURES`` features per endpoint,
    their histograms and drift measures every 5 minutes, and one sampled row a minute."""
    client = store.open_store(dsn)
    start = end - timedelta(hours=hours)
    parameters = {"start": start, "endpoints": endpoints, "features": FEATURES, "slots": hours * 12,
                  "minutes": hours * 60}
    endpoint = "lower(hex(SHA1(toString(number % {endpoints:UInt32}))))"
    feature = "intDiv(number, {endpoints:UInt32}) % {features:UInt32}"
    slot = "intDiv(number, {endpoints:UInt32} * {features:UInt32})"
    window_end = f"{{start:DateTime64(3, 'UTC')}} + toIntervalMinute(5 * ({slot} + 1))"
    edges = f"arrayMap(i -> toFloat64(i) / 2 - 5, range({BINS + 1}))"
    try:
        client.command(f"""
            INSERT INTO reference_endpoints (project, endpoint_id, reference_id, registered_at, function_uri, model,
                version, feature_names, training_set, training_rows, bins, possible_threshold, detected_threshold)
            SELECT 'bench', {endpoint}, 1, {{start:DateTime64(3, 'UTC')}}, 'bench/serving:prod',
                   concat('model-', toString(number)), 'v1', arrayMap(i -> concat('f', toString(i)),
                   range({FEATURES})), 'bench.parquet', 10000, {BINS}, 0.5, 0.7
            FROM numbers({{endpoints:UInt32}})""", parameters=parameters)
        client.command(f"""
            INSERT INTO reference_features (project, endpoint_id, reference_id, feature_index, feature_name, count,
                invalid_count, mean, std, min, max, bin_edges, bin_counts)
            SELECT 'bench', {endpoint}, 1, {feature}, concat('f', toString({feature})), 10000, 0, 0, 1, -5, 5,
                   {edges}, arrayMap(i -> toUInt64(500), range({BINS}))
            FROM numbers({{endpoints:UInt32}} * {{features:UInt32}})""", parameters=parameters)
        rows = "numbers({endpoints:UInt32} * {features:UInt32} * {slots:UInt32})"
        client.command(f"""
            INSERT INTO feature_histograms (project, endpoint_id, feature_name, feature_index, reference_id,
                window_start, window_end, count, invalid_count, mean, std, min, max, bin_counts)
            SELECT 'bench', {endpoint}, concat('f', toString({feature})), {feature}, 1,
                   {window_end} - toIntervalMinute(5), {window_end}, 600, 0, 0.1, 1, -4.5, 4.5,
                   arrayMap(i -> toUInt64(if(i in (0, {BINS + 1}), 0, 30)), range({BINS + 2}))
            FROM {rows}""", parameters=parameters)
        client.command(f"""
            INSERT INTO drift_measures (project, endpoint_id, feature_name, feature_index, reference_id,
                window_start, window_end, live_count, tvd, hellinger, kld, psi, jsd, drift_measure, drift_status)
            SELECT 'bench', {endpoint}, concat('f', toString({feature})), {feature}, 1,
                   {window_end} - toIntervalMinute(60), {window_end}, 7200, 0.1, 0.1, 0.05, 0.04, 0.01, 0.1,
                   'NO_DRIFT'
            FROM {rows}""", parameters=parameters)
        client.command(f"""
            INSERT INTO incoming_features (project, endpoint_id, event_time, row_key, features)
            SELECT 'bench', {endpoint}, {{start:DateTime64(3, 'UTC')}} + toIntervalMinute(intDiv(number,
                   {{endpoints:UInt32}})), toString(number), CAST((arrayMap(i -> concat('f', toString(i)),
                   range({FEATURES})), arrayMap(i -> toNullable(toFloat64(i) / 10), range({FEATURES}))),
                   'Map(String, Nullable(Float64))')
            FROM numbers({{endpoints:UInt32}} * {{minutes:UInt32}})""", parameters=parameters)
        return store.row_counts(client, ["feature_histograms", "drift_measures",
                                         "incoming_features"])
    finally:
        client.close()


@dataclass(frozen=True)
class QueryKind:
    name: str
    target_ms: float | None  # the latency this kind is held to, at the mix's quantile
    weight: int


# Overview queries are held to p99 < 250 ms (issue 27), the status pages to p95 < 300 ms (issue 31).
MIXES = {
    "grafana": (99, [QueryKind("list_projects", 250, 1), QueryKind("list_endpoints", 250, 3),
                     QueryKind("list_endpoints+metrics", 250, 2), QueryKind("metrics (1 endpoint, 24 h)", None, 4)]),
    "pages": (95, [QueryKind("status index (24 h)", 300, 1), QueryKind("status endpoint (24 h)", 300, 1)]),
}


def request_for(kind: QueryKind, endpoint_ids: list[str], end: datetime, rng: random.Random
                ) -> tuple[str, str, dict | None]:
    """The method, path and JSON body of this kind: what Grafana's SimpleJson datasource sends
    for its panel, or a browser for a status page."""
    if kind.name == "status index (24 h)":
        return "GET", "/?from=now-24h", None
    if kind.name == "status endpoint (24 h)":
        return "GET", f"/endpoints/{rng.choice(endpoint_ids)}?from=now-24h", None
    span = {"from": (end - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "to": end.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
    if kind.name == "list_projects":
        return "POST", f"{PROXY}/search", {"target": "target_endpoint=list_projects"}
    if kind.name == "list_endpoints":
        target = "target_endpoint=list_endpoints;project=bench"
    elif kind.name == "list_endpoints+metrics":
        target = "target_endpoint=list_endpoints;project=bench;metrics=predictions_per_second,latency_avg_5m"
    else:
        target = (f"target_endpoint=metrics;endpoint_id={rng.choice(endpoint_ids)};"
                  "metrics=predictions_per_second,latency_avg_5m,latency_p99_5m,error_count_5m")
    return "POST", f"{PROXY}/query", {"range": span, "maxDataPoints": 500, "interval": "1m",
                                      "targets": [{"target": target, "refId": "A", "type": "table"}]}


def client_loop(port: int, deadline: float, kinds: list[QueryKind], endpoint_ids: list[str], end: datetime,
                seed: int, results: list[tuple[str, float, bool]]) -> None:
    rng = random.Random(seed)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    weights = [k.weight for k in kinds]
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        method, path, body = request_for(kind, endpoint_ids, end, rng)
        started = time.perf_counter()
        try:
            connection.request(method, path, json.dumps(body) if body is not None else None,
                               {"Content-Type": "application/json"} if body is not None else {})
            response = connection.getresponse()
            payload = response.read()
            ok = response.status == 200 and len(payload) > 2
        except (OSError, http.client.HTTPException):
            ok = False
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        results.append((kind.name, (time.perf_counter() - started) * 1000, ok))
    connection.close()


def wait_healthy(port: int, server: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"modelmon serve exited with {server.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", f"{PROXY}/")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("the proxy did not become healthy")


def summarize(results: list[tuple[str, float, bool]], seconds: float, kinds: list[QueryKind]) -> list[dict]:
    rows = []
    for kind in kinds + [QueryKind("all", None, 0)]:
        latencies = np.array([ms for name, ms, _ in results if kind.name in (name, "all")])
        errors = sum(not ok for name, _, ok in results if kind.name in (name, "all"))
        if not len(latencies):
            continue
        rows.append({"query": kind.name, "target_ms": kind.target_ms, "requests": len(latencies),
                     "requests_per_second": round(len(latencies) / seconds, 1),
                     "p50_ms": round(float(np.percentile(latencies, 50)), 1),
                     "p95_ms": round(float(np.percentile(latencies, 95)), 1),
                     "p99_ms": round(float(np.percentile(latencies, 99)), 1),
                     "max_ms": round(float(latencies.max()), 1), "errors": errors})
    return rows


def run(endpoints: int, hours: int, seconds: float, clients: int, port: int, workdir: Path,
        cache_seconds: float, mix: str) -> dict:
    dsn = f"chdb://{(workdir / 'store').resolve()}"
    filled = workdir / "store" / "modelmon-bench.json"  # a store of the same shape is filled once
    before = json.loads(filled.read_text()) if filled.exists() else {}
    features = mix == "pages"
    if before.get("shape") == [endpoints, hours, features]:
        counts, end = before["rows"], datetime.fromisoformat(before["end"])
        print(f"store: {counts}, filled before", flush=True)
    else:
        shutil.rmtree(workdir / "store", ignore_errors=True)
        end = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        started = time.perf_counter()
        counts = fill_store(dsn, endpoints, hours, end)
        if features:
            counts.update(fill_feature_tables(dsn, endpoints, hours, end))
        print(f"store: {counts} in {time.perf_counter() - started:.1f} s", flush=True)
        filled.write_text(json.dumps({"shape": [endpoints, hours, features], "rows": counts,
                                      "end": end.isoformat()}))
    endpoint_ids = [hashlib.sha1(str(i).encode()).hexdigest() for i in range(endpoints)]
    log = open(workdir / "proxy.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "modelmon.cli", "serve", "--store", dsn, "--port", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, MODELMON_API_TOKENS="",
                                       MODELMON_PROXY_CACHE_SECONDS=str(cache_seconds)))
    try:
        wait_healthy(port, server)
        results: list[tuple[str, float, bool]] = []
        deadline = time.monotonic() + seconds
        kinds = MIXES[mix][1]
        threads = [threading.Thread(target=client_loop, args=(port, deadline, kinds, endpoint_ids, end, i, results))
                   for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}",
            "endpoints": endpoints, "hours": hours, "rows": counts, "seconds": seconds, "clients": clients,
            "cache_seconds": cache_seconds, "mix": mix, "quantile": MIXES[mix][0],
            "queries": summarize(results, seconds, MIXES[mix][1])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cache-seconds", type=float, default=5.0,
                        help="the proxy's answer cache (proxy_cache_seconds); 0 asks the store at every request")
    parser.add_argument("--mix", choices=sorted(MIXES), default="grafana",
                        help="Grafana's SimpleJson queries, or the status page's index and endpoint page")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--workdir", type=Path, default=Path(".modelmon/proxy-bench"))
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    result = run(args.endpoints, args.hours, args.seconds, args.clients, args.port, args.workdir, args.cache_seconds,
                 args.mix)
    print(f"{result['machine']}; {args.endpoints} endpoints, {args.hours} h of 1-minute windows, "
          f"{args.clients} concurrent clients for {args.seconds:g} s on loopback, answer cache {args.cache_seconds:g} s")
    quantile = MIXES[args.mix][0]
    print(f"{'query':<28}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}")
    for row in result["queries"]:
        print(f"{row['query']:<28}{row['requests_per_second']:>8}{row['p50_ms']:>9}{row['p95_ms']:>9}"
              f"{row['p99_ms']:>9}{row['max_ms']:>9}{row['errors']:>8}")
    for row in result["queries"]:
        if row["target_ms"] is not None:
            measured = row[f"p{quantile}_ms"]
            print(f"{row['query']}: p{quantile} {measured} ms (target < {row['target_ms']:g} ms): "
                  f"{'met' if measured < row['target_ms'] else 'NOT met'}")
    # One run kept per shape (store, clients, cache): a run replaces the last of its shape.
    shape = ("endpoints", "hours", "clients", "cache_seconds", "mix")
    runs = json.loads(report.PROXY_RESULTS.read_text()) if report.PROXY_RESULTS.exists() else []
    runs = [run for run in runs if any(run.get(key) != result[key] for key in shape)] + [result]
    report.PROXY_RESULTS.write_text(json.dumps(runs, indent=2))
    report.main()
    return 0 if not any(row["errors"] for row in result["queries"]) else 1


if __name__ == "__main__":
    sys.exit(main())
