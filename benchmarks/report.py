"""docs/benchmark.md from benchmarks/results.json: the latest bench's table, nothing older (git
keeps the history). ``make bench`` writes both; ``python -m benchmarks.report`` rewrites the page."""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results.json"
PROXY_RESULTS = Path(__file__).parent / "proxy_results.json"
FLEET_RESULTS = Path(__file__).parent / "fleet_results.json"
PAGE = Path(__file__).parent.parent / "docs" / "benchmark.md"


def _number(value) -> str:
    return "--" if value is None else f"{value:,}"


def _row(case: str, row: dict, features: int = 20, endpoints: int = 10) -> str:
    rates = row["rounds_events_per_s"]
    rounds = ", ".join(_number(rate) for rate in rates) if len(rates) > 1 else ""
    return (f"| {case} | {row.get('features', features)} | {_number(row.get('endpoints', endpoints))} | "
            f"{_number(row['events_per_s'])} | {rounds} | {_number(row['events_per_s_with_startup'])} | "
            f"{row['wall_s']} s | {row['startup_s']} s | {_number(row['peak_rss_mb'])} MB |")


MIX_NAMES = {"grafana": "Grafana SimpleJson queries",
             "pages": "status page requests (the index and an endpoint page, the last 24 h, 20 features)"}


def proxy_markdown(runs: list[dict]) -> list[str]:
    """The proxy bench's section (``make bench-proxy``): one table per run kept."""
    lines = ["## The proxy under load", ""]
    for results in runs:
        rows = results["rows"]
        lines += [
            f"`make bench-proxy`, {results['date']}: {results['machine']}; a store of {results['endpoints']:,} endpoints "
            f"and {results['hours']} h of 1-minute windows ({', '.join(f'{n:,} {t}' for t, n in rows.items())} rows), "
            f"{results['clients']} concurrent streams of "
            f"{MIX_NAMES[results.get('mix', 'grafana')]} for {results['seconds']:g} s on "
            f"loopback, the proxy's answer cache {results.get('cache_seconds', 5.0):g} s (0: every request asks the "
            "store); the server, its embedded ClickHouse and the load share the machine.", "",
            "| query | req/s | p50 ms | p95 ms | p99 ms | max ms | errors |", "|---|---|---|---|---|---|---|",
            *(f"| {q['query']} | {q['requests_per_second']} | {q['p50_ms']} | {q.get('p95_ms', '-')} | {q['p99_ms']} | "
              f"{q['max_ms']} | {q['errors']} |" for q in results["queries"]), ""]
    return lines


def fleet_markdown(results: dict) -> list[str]:
    """The fleet bench's section (``make bench-fleet``)."""
    machine = results["machine"]
    return [
        "## Fleets of endpoints", "",
        f"`make bench-fleet`, {results['date']}: {machine['cpus']} cores, {machine['memory_gib']} GiB; per fleet, 20 "
        "features and a reference per endpoint, one hour of event time, `modelmon run --bounded` with its default "
        "settings. Totals checked against the input: ok.", "",
        "| endpoints | events | wall s | start-up s | past start-up s | x real time | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
        *(f"| {f['endpoints']:,} | {f['events']:,} | {f['wall_s']} | {f['startup_s']} | {f['wall_past_startup_s']} | "
          f"{f['real_time_factor']} | {f['peak_rss_mb']:,} |" for f in results["fleets"]), ""]


def categorical_markdown(found: dict) -> list[str]:
    """The categorical comparison's section (``make bench CATEGORICAL=1``, or a whole ``make bench``)."""
    numeric, mixed = found["numeric"], found["categorical"]
    return [
        "## Categorical features", "",
        f"{found['date']}: the main case's traffic ({numeric['lines']:,} lines, {numeric['endpoints']} endpoints, 20 "
        f"features with references) all numeric, and with {mixed['categorical']} of its 20 features categorical "
        "(strings of 8 categories); the two jobs in turns, "
        f"{numeric['rounds']} rounds, medians shown. Totals checked: {numeric['totals']} / {mixed['totals']}.", "",
        "| case | features | endpoints | events/s excl. start-up | rounds | incl. | wall | start-up | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|",
        _row("all numeric", numeric), _row(f"{mixed['categorical']} categorical", mixed), "",
        f"Categorical / numeric events/s: **{found['ratio']}**. Parse stage alone (as above): "
        f"{numeric['parse_stage']['events_per_s']:,} events/s all numeric, "
        f"{mixed['parse_stage']['events_per_s']:,} with categories.", ""]


def benchmark_markdown(results: dict, proxy: list[dict] | None = None, fleet: dict | None = None) -> str:
    """The page for one bench's results (and the proxy's and fleet benches', when there are some)."""
    machine = results["machine"]
    main, parallel, stage = results["main"], results["main_parallel"], results["parse_stage"]
    kafka = [results["kafka"]] if "kafka" in results else []
    checked = [main, parallel, *kafka, *results["scaling"]]
    lines = [
        "# Benchmark", "",
        "The latest `make bench` figures, rendered from `benchmarks/results.json` by `python -m benchmarks.report`",
        "(`make bench` does both). What the bench does: `benchmarks/job_bench.py`'s docstring.", "",
        f"- **When and where:** {results['date']}; {machine['cpus']} cores, {machine['memory_gib']} GiB, "
        f"Python {machine['python']}, {machine['java']}, PyFlink local mode, embedded chdb.",
        f"- **Input of the main case:** {main['lines']:,} lines = {main['events']:,} events, {main['features']} "
        f"features, {main['endpoints']} endpoints with references; the job's and the ceiling's runs in turns, "
        f"{main['rounds']} rounds, medians shown. Totals checked against the input after every run: "
        f"{'ok' if all(r['totals'] == 'ok' for r in checked) else 'MISMATCH'}.",
        "- **Ceiling:** the same spool read by Flink's own `json` format, the 5-minute window in Java, a "
        "`blackhole` sink, no Python.",
        *(["- **Kafka source:** the main case's lines, one message each, in a topic of 3 partitions on a local "
           "broker (Kafka 4.2, loopback), read from the earliest offsets by a bounded run."] if kafka else []), "",
        "| case | features | endpoints | events/s excl. start-up | rounds | incl. | wall | start-up | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|",
        _row("full pipeline, parallelism 1", main), _row("ceiling, parallelism 1", main["ceiling"]),
        _row("full pipeline, parallelism 2", parallel), _row("ceiling, parallelism 2", parallel["ceiling"]),
        *(_row("full pipeline, Kafka source, parallelism 1", row) for row in kafka),
        *(_row(f"scaling, {row['lines']:,} lines", row) for row in results["scaling"]), "",
        f"Full pipeline / ceiling, the median of the rounds' ratios: **{main['ratio_to_ceiling']}** at parallelism 1 "
        f"(rounds {', '.join(map(str, main['rounds_ratio_to_ceiling']))}) and **{parallel['ratio_to_ceiling']}** at 2 "
        f"(rounds {', '.join(map(str, parallel['rounds_ratio_to_ceiling']))}).", "",
        f"Parse stage alone (the bench's own process, {stage['lines']:,} lines = {stage['events']:,} events in the "
        f"source's blocks, the least CPU time of 5 runs): {stage['events_per_s']:,} events/s ({stage['cpu_s']} s).",
        "",
        "Events/s excluding start-up is events / (wall - start-up), start-up being the same command's wall time",
        "on 100 lines; `--` where a run is less than 2 s longer than its start-up, which is within start-ups' own",
        "spread. Peak RSS is the whole process tree's (client, Flink JVM, Python workers).", ""]
    categorical = categorical_markdown(results["categorical"]) if "categorical" in results else []
    return "\n".join(lines + categorical + (fleet_markdown(fleet) if fleet else [])
                     + (proxy_markdown(proxy) if proxy else []))


def current_page() -> str:
    """The page as the committed figures give it."""
    proxy = json.loads(PROXY_RESULTS.read_text()) if PROXY_RESULTS.exists() else None
    fleet = json.loads(FLEET_RESULTS.read_text()) if FLEET_RESULTS.exists() else None
    return benchmark_markdown(json.loads(RESULTS.read_text()), proxy, fleet)


def main() -> int:
    PAGE.write_text(current_page())
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
