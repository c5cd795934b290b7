"""``make bench``: throughput and memory of the monitoring job, measured end to end.

For each case (features per row, endpoints) it writes simulated traffic into a spool,
registers a training-set reference for every endpoint in a fresh embedded store, and runs
``modelmon run --bounded`` as a child process: wall time, and peak RSS of the whole process
tree (client, Flink JVM, Python workers) sampled from /proc. Start-up is the wall time of the
same command on a tiny input, so "excluding start-up" is events / (wall - start-up).

The main case (20 features, 10 endpoints) runs at parallelism 1 and 2; at 2, each parallel
instance's Python runs in a process of its own, so a second core does Python work. The
ceiling is :mod:`benchmarks.ceiling_job` over the main case's spool at the same parallelism:
Flink's ``json`` format and the 5-minute window in Java, nothing in Python. The main case's
job and ceiling run in turns, ``--rounds`` times (3 by default), and its rows give the
medians: single runs of either vary by several seconds on this machine.

The main case's job also reads the same lines from a Kafka topic of 3 partitions on a local
broker (Kafka 4.2 on loopback, started by the bench), in as many rounds: the source's cost.

The parse stage, the Python step each block goes through first, is also measured by itself:
in this process, over the main spool's first lines in the source's blocks and the event
columns Java reads from them, made beforehand. It says what that stage costs per event
without Flink, whose runs vary by some seconds from one to the next on this machine.

A fast wrong answer must not pass: after every run the store's totals (requests,
predictions, errors, feature values binned) are checked against totals counted from the
input files here, and a mismatch fails the benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import orjson

from benchmarks import report
from modelmon import store
from modelmon.config import DEFAULT_HOME, load_config
from modelmon.reference import Registration, load_references, register_references
from modelmon.simulator import default_endpoints, simulate, training_set
from modelmon.pipelines.operators import job_slice_ms
from modelmon.pipelines.reader_jar import ReaderProcess
from modelmon.udfs.batches import parse_batch
from modelmon.udfs.contract import EndpointCache
from modelmon.udfs.features import FeatureSettings
from modelmon.udfs.java_events import BlockLines, Descriptions, decode
from modelmon.udfs.lateness import LatenessTracker

STARTUP_LINES = 100
TRAINING_ROWS = 5_000
PARSE_STAGE_LINES = 100_000
PARSE_STAGE_RUNS = 5
MAIN_ROUNDS = 3  # the main case's job and ceiling each run this many times, in turns
CATEGORICAL_FEATURES = 10  # of the main case's 20, in the categorical comparison
STARTUP_SPREAD_S = 2.0  # start-up runs of the same command differ by about this much


@dataclass(frozen=True)
class Case:
    features: int
    endpoints: int
    lines: int
    parallelism: int = 1  # above 1, each parallel instance runs its Python in a process of its own
    categorical: int = 0  # how many of the features (the last ones) are categories, as strings


@dataclass(frozen=True)
class Totals:
    """What the store must hold after a run: counted from the spool without the job's code,
    and read back from the store; a run passes when the two are equal."""

    events: int
    predictions: int
    errors: int
    feature_rows: int  # input rows of successful predictions: values binned per feature


def input_totals(spool: Path) -> tuple[int, Totals]:
    """Count lines, and events, predictions, errors and feature rows, in a spool of simulated traffic.

    >>> import tempfile
    >>> spool = Path(tempfile.mkdtemp())
    >>> _ = (spool / "a.jsonl").write_text('{"request": {"inputs": [[1], [2]]}, "resp": {"outputs": [0, 1]}}\\n'
    ...     '{"headers": ["request", "resp", "error"], "values": [[{"inputs": [[1]]}, null, "boom"],'
    ...     ' [{"inputs": [[3]]}, {"outputs": [1]}, null]]}\\n')
    >>> input_totals(spool)
    (2, Totals(events=3, predictions=3, errors=1, feature_rows=3))
    """
    lines = events = predictions = errors = 0
    for segment in sorted(spool.glob("*.jsonl")):
        with open(segment, "rb") as handle:
            for raw in handle:
                lines += 1
                line = orjson.loads(raw)
                rows = ([dict(zip(line["headers"], values)) for values in line["values"]]
                        if "headers" in line else [line])
                for event in rows:
                    events += 1
                    if event.get("error") is not None:
                        errors += 1
                    else:
                        predictions += len(event["resp"]["outputs"])
    return lines, Totals(events, predictions, errors, predictions)


def stored_totals(dsn: str) -> Totals:
    """The same totals as the store has them after a run."""
    client = store.connect(dsn)
    try:
        events, predictions, errors = client.query(
            "SELECT sum(requests_count), sum(predictions_count), sum(error_count) FROM endpoint_activity FINAL"
        ).result_rows[0]
        invalid = client.query("SELECT count() FROM invalid_events FINAL").result_rows[0][0]
        binned = client.query("SELECT sum(count) + sum(invalid_count) FROM feature_histograms FINAL "
                              "WHERE feature_index = 0").result_rows[0][0]
    finally:
        client.close()
    return Totals(int(events) + int(invalid), int(predictions), int(errors), int(binned))


class TreeMemory(threading.Thread):
    """Samples the summed RSS of a process and all its descendants until it ends."""

    def __init__(self, pid: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_bytes = pid, interval, 0
        self.page = os.sysconf("SC_PAGE_SIZE")

    def _tree_rss(self) -> int:
        children: dict[int, list[int]] = {}
        rss: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))  # fields[1]: ppid
            rss[int(entry)] = int(fields[21]) * self.page  # fields[21]: rss in pages
        total, todo = 0, [self.pid]
        while todo:
            pid = todo.pop()
            total += rss.get(pid, 0)
            todo.extend(children.get(pid, []))
        return total

    def run(self) -> None:
        while os.path.exists(f"/proc/{self.pid}"):
            self.peak_bytes = max(self.peak_bytes, self._tree_rss())
            time.sleep(self.interval)


def measured_run(command: list[str], log: Path) -> tuple[float, int]:
    """Run ``command`` to the end: (wall seconds, peak RSS bytes of its process tree)."""
    started = time.perf_counter()
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        memory = TreeMemory(process.pid)
        memory.start()
        code = process.wait()
    wall = time.perf_counter() - started
    memory.join()
    if code != 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... failed with exit {code}; see {log}")
    return wall, memory.peak_bytes


def fresh_store_with_references(dsn: str, endpoints: int, features: int, workdir: Path, categorical: int = 0) -> None:
    """A fresh store with a reference for each simulated endpoint (drawn like unshifted traffic)."""
    training = workdir / f"training-{features}-{categorical}c.parquet"
    if not training.exists():
        training_set([f"x{j}" for j in range(features)], TRAINING_ROWS, seed=1, categorical=categorical
                     ).to_parquet(training)
    client = store.open_store(dsn)
    try:
        register_references(client, [Registration("demo", endpoint.function_uri, endpoint.model, str(training), "label")
                                     for endpoint in default_endpoints(endpoints)])
    finally:
        client.close()


def _job_command(source: str, dsn: str, parallelism: int) -> list[str]:
    return [sys.executable, "-m", "modelmon.cli", "run", "--bounded", "--source", source, "--store", dsn,
            "--parallelism", str(parallelism)]


def _ceiling_command(spool: Path, parallelism: int) -> list[str]:
    return [sys.executable, "-m", "benchmarks.ceiling_job", "--source", str(spool), "--parallelism", str(parallelism)]


def _spool(workdir: Path, case: Case) -> Path:
    spool = workdir / f"spool-{case.features}f{case.categorical or ''}{'c' if case.categorical else ''}-" \
                      f"{case.endpoints}e-{case.lines}"
    if not spool.exists():
        simulate(spool, case.lines, endpoints=case.endpoints, features=case.features, seed=7,
                 segment_lines=100_000, categorical=case.categorical)
    return spool


def _inputs(case: Case, workdir: Path) -> tuple[Path, Path, int, Totals]:
    """The case's spool, the start-up spool of the same shape, and the spool's lines and totals."""
    spool = _spool(workdir, case)
    tiny = _spool(workdir, Case(case.features, case.endpoints, STARTUP_LINES, categorical=case.categorical))
    lines, expected = input_totals(spool)
    (workdir / "logs").mkdir(exist_ok=True)
    return spool, tiny, lines, expected


def _rate(count: int, seconds: float) -> int | None:
    """Events per second; None (JSON null, printed --) for no time.

    >>> _rate(1000, 0.5), _rate(1000, 0.0)
    (2000, None)
    """
    return round(count / seconds) if seconds > 0 else None


def _rate_after_startup(count: int, wall: float, startup: float) -> int | None:
    """Events per second excluding start-up; None for a run less than STARTUP_SPREAD_S longer
    than the start-up measured apart, whose rate would be the start-ups' own spread.

    >>> _rate_after_startup(1000, 30.0, 20.0), _rate_after_startup(1000, 21.0, 20.0)
    (100, None)
    """
    return _rate(count, wall - startup) if wall - startup >= STARTUP_SPREAD_S else None


def _shown(value: int | float | None) -> int | float | str:
    return "--" if value is None else value


def _job_round(case: Case, source: str, tiny: str, name: str, workdir: Path, expected: Totals) -> dict:
    """The job's start-up run on ``tiny`` and its run on ``source``, each into a fresh store; totals checked."""
    logs = workdir / "logs"
    walls = {}
    for label, source in (("startup", tiny), ("run", source)):
        path = workdir / f"store-{name}-{label}"
        shutil.rmtree(path, ignore_errors=True)
        dsn = f"chdb://{path}"
        fresh_store_with_references(dsn, case.endpoints, case.features, workdir, case.categorical)
        walls[label], peak = measured_run(_job_command(source, dsn, case.parallelism), logs / f"{name}-{label}.log")
    got = stored_totals(dsn)
    return {"wall_s": walls["run"], "startup_s": walls["startup"], "peak_bytes": peak,
            "totals": "ok" if got == expected else f"MISMATCH: stored {got}, input {expected}"}


def _ceiling_round(case: Case, spool: Path, tiny: Path, name: str, workdir: Path) -> dict:
    """The ceiling job's start-up run and its run on ``spool``."""
    logs = workdir / "logs"
    startup, _ = measured_run(_ceiling_command(tiny, case.parallelism), logs / f"{name}-ceiling-startup.log")
    wall, peak = measured_run(_ceiling_command(spool, case.parallelism), logs / f"{name}-ceiling.log")
    return {"wall_s": wall, "startup_s": startup, "peak_bytes": peak}


def _summary(rounds: list[dict], events: int) -> dict:
    """Median walls and rates of the rounds (a rate from each round's own start-up), the
    highest peak, and each round's rate excluding start-up."""
    rates = [_rate_after_startup(events, r["wall_s"], r["startup_s"]) for r in rounds]
    known = [rate for rate in rates if rate is not None]
    return {"wall_s": round(statistics.median([r["wall_s"] for r in rounds]), 1),
            "startup_s": round(statistics.median([r["startup_s"] for r in rounds]), 1),
            "events_per_s": round(statistics.median(known)) if len(known) == len(rates) else None,
            "events_per_s_with_startup": round(statistics.median([events / r["wall_s"] for r in rounds])),
            "peak_rss_mb": max(r["peak_bytes"] for r in rounds) // 2**20, "rounds_events_per_s": rates}


def run_case(case: Case, workdir: Path, ceiling: bool, rounds: int = 1) -> dict:
    """One scaling row: the job on ``case`` (and the ceiling on the same spool), totals checked.

    With several rounds, the job and the ceiling run in turns, and the row gives the medians:
    single runs of either vary by a few seconds on this machine. The ratio to the ceiling is
    the median of each round's ratio, the two having run one after the other.
    """
    spool, tiny, lines, expected = _inputs(case, workdir)
    name = f"{case.features}f{case.categorical}c-{case.endpoints}e-{case.lines}-p{case.parallelism}"
    job_rounds, ceiling_rounds = [], []
    for _ in range(rounds):
        job_rounds.append(_job_round(case, str(spool), str(tiny), name, workdir, expected))
        if ceiling:
            ceiling_rounds.append(_ceiling_round(case, spool, tiny, name, workdir))
    mismatches = [r["totals"] for r in job_rounds if r["totals"] != "ok"]
    row = {"features": case.features, "categorical": case.categorical, "endpoints": case.endpoints,
           "parallelism": case.parallelism, "lines": lines,
           "events": expected.events, "rounds": rounds, **_summary(job_rounds, expected.events),
           "totals": mismatches[0] if mismatches else "ok"}
    if ceiling:
        row["ceiling"] = _summary(ceiling_rounds, expected.events)
        ratios = [None if None in pair else pair[0] / pair[1]
                  for pair in zip(row["rounds_events_per_s"], row["ceiling"]["rounds_events_per_s"])]
        row["rounds_ratio_to_ceiling"] = [None if r is None else round(r, 3) for r in ratios]
        row["ratio_to_ceiling"] = None if None in ratios else round(statistics.median(ratios), 3)
    return row


def categorical_case(main_case: Case, categorical: int, workdir: Path, rounds: int) -> dict:
    """The main case with ``categorical`` of its features categories, and the all-numeric main
    case, in turns (``rounds`` of each): the cost of categories, as the ratio of the medians."""
    numeric_rounds, categorical_rounds = [], []
    cases = (main_case, Case(main_case.features, main_case.endpoints, main_case.lines, categorical=categorical))
    inputs = [_inputs(case, workdir) for case in cases]
    for _ in range(rounds):
        for case, (spool, tiny, _, expected), held in zip(cases, inputs, (numeric_rounds, categorical_rounds)):
            name = f"{case.features}f{case.categorical}c-{case.endpoints}e-{case.lines}-turns"
            held.append(_job_round(case, str(spool), str(tiny), name, workdir, expected))
    rows = []
    for case, (_, _, lines, expected), held in zip(cases, inputs, (numeric_rounds, categorical_rounds)):
        mismatches = [r["totals"] for r in held if r["totals"] != "ok"]
        rows.append({"features": case.features, "categorical": case.categorical, "endpoints": case.endpoints,
                     "parallelism": 1, "lines": lines, "events": expected.events, "rounds": rounds,
                     **_summary(held, expected.events), "totals": mismatches[0] if mismatches else "ok"})
    numeric, mixed = rows
    ratio = None if None in (numeric["events_per_s"], mixed["events_per_s"]) else \
        round(mixed["events_per_s"] / numeric["events_per_s"], 3)
    return {"numeric": numeric, "categorical": mixed, "ratio": ratio}


def _fill_topic(broker, topic: str, spool: Path, partitions: int = 3) -> str:
    """A topic of ``partitions`` holding the spool's lines, one message each, dealt round the
    partitions; the bounded job's source reading it from the start."""
    from kafka import KafkaProducer

    broker.create_topic(topic, partitions)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20, batch_size=1 << 20)
    try:
        sent = 0
        for segment in sorted(spool.glob("*.jsonl")):
            with open(segment, "rb") as handle:
                for raw in handle:
                    producer.send(topic, value=raw.rstrip(b"\n"), partition=sent % partitions)
                    sent += 1
        producer.flush()
    finally:
        producer.close()
    return f"kafka://{broker.bootstrap}/{topic}?startup=earliest"


def kafka_case(case: Case, workdir: Path, rounds: int) -> dict:
    """The main case's job reading its spool's lines from a Kafka topic of 3 partitions on a
    local broker (``tests/support/kafka_broker.py``, Kafka 4.2 on loopback), bounded, from the
    earliest offsets: the Kafka source beside the spool's, the rest of the job the same."""
    from tests.support.kafka_broker import KafkaBroker

    spool, tiny, lines, expected = _inputs(case, workdir)
    shutil.rmtree(workdir / "kafka", ignore_errors=True)
    broker = KafkaBroker(workdir / "kafka")
    broker.start()
    try:
        started = time.perf_counter()
        source = _fill_topic(broker, "bench", spool)
        filled_s = time.perf_counter() - started
        tiny_source = _fill_topic(broker, "bench-startup", tiny)
        name = f"{case.features}f-{case.endpoints}e-{case.lines}-kafka"
        job_rounds = [_job_round(case, source, tiny_source, name, workdir, expected) for _ in range(rounds)]
    finally:
        broker.stop()
    mismatches = [r["totals"] for r in job_rounds if r["totals"] != "ok"]
    return {"features": case.features, "endpoints": case.endpoints, "parallelism": case.parallelism, "lines": lines,
            "events": expected.events, "rounds": rounds, "partitions": 3, "topic_filled_s": round(filled_s, 1),
            **_summary(job_rounds, expected.events), "totals": mismatches[0] if mismatches else "ok"}


def parse_stage(case: Case, workdir: Path) -> dict:
    """The parse stage alone (see the module docstring): the least CPU time of
    PARSE_STAGE_RUNS parses of the case's first PARSE_STAGE_LINES lines, with its references
    and the job's settings, as a bounded run parses them."""
    config = load_config()
    raw: list[bytes] = []
    for segment in sorted(_spool(workdir, case).glob("*.jsonl")):
        raw += segment.read_bytes().splitlines()[:PARSE_STAGE_LINES - len(raw)]
        if len(raw) == PARSE_STAGE_LINES:
            break
    size = config.parse_batch_lines
    blocks = [b"".join(line + b"\n" for line in raw[i:i + size]) for i in range(0, len(raw), size)]
    java = ReaderProcess()
    try:
        columns = [java(block) for block in blocks]
    finally:
        java.close()
    path = workdir / "store-parse-stage"
    shutil.rmtree(path, ignore_errors=True)
    fresh_store_with_references(f"chdb://{path}", case.endpoints, case.features, workdir, case.categorical)
    client = store.connect(f"chdb://{path}")
    try:
        references = load_references(client)
    finally:
        client.close()

    slice_ms = job_slice_ms(config)

    def parse_all() -> tuple[float, int]:
        tracker, endpoints = LatenessTracker(None), EndpointCache()
        descriptions = Descriptions(endpoints)
        features = FeatureSettings(config.feature_window_seconds * 1000, references.get, config.feature_sample_every)
        events, start = 0, time.process_time()
        for block, blob in zip(blocks, columns):
            read = decode([blob], descriptions)
            output = parse_batch(BlockLines.of(block, read), tracker, features, endpoints,
                                 slice_ms, config.dead_letter_max_chars, read)
            events += sum(s.requests for s in output.slices) + len(output.dead_letters)
        return time.process_time() - start, events

    seconds, events = min(parse_all() for _ in range(PARSE_STAGE_RUNS))
    return {"lines": len(raw), "events": events, "cpu_s": round(seconds, 3), "events_per_s": _rate(events, seconds)}


def machine() -> dict:
    cpus = os.cpu_count()
    with open("/proc/meminfo") as handle:
        memory_kb = int(handle.readline().split()[1])
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    return {"cpus": cpus, "memory_gib": round(memory_kb / 2**20, 1), "python": platform.python_version(),
            "java": java[0] if java else "", "kernel": platform.release()}


def print_row(label: str, row: dict) -> None:
    print(f"{label:<28} {row['features']:>4} {row['endpoints']:>6} {row['events']:>9} "
          f"{_shown(row['events_per_s']):>10} {_shown(row['events_per_s_with_startup']):>10} {row['wall_s']:>7} "
          f"{row['startup_s']:>6} {row['peak_rss_mb']:>7}  {row['totals']}")


def run_benchmark(lines: int, scaling_lines: int, workdir: Path, output: Path, rounds: int = MAIN_ROUNDS) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "main": None, "scaling": []}
    print(f"machine: {result['machine']}")
    print(f"{'case':<28} {'feat':>4} {'endpts':>6} {'events':>9} {'ev/s excl':>10} {'ev/s incl':>10} "
          f"{'wall s':>7} {'start':>6} {'RSS MB':>7}  totals")
    main_case = Case(20, 10, lines)
    main = run_case(main_case, workdir, ceiling=True, rounds=rounds)
    parallel = run_case(Case(20, 10, lines, parallelism=2), workdir, ceiling=True, rounds=rounds)
    result["main"], result["main_parallel"] = main, parallel
    for label, row in (("full pipeline", main), ("full pipeline, parallelism 2", parallel)):
        print_row(label, row)
        ceiling = row["ceiling"]
        print(f"{'  ceiling (Flink json, Java)':<28} {20:>4} {10:>6} {row['events']:>9} "
              f"{_shown(ceiling['events_per_s']):>10} {_shown(ceiling['events_per_s_with_startup']):>10} "
              f"{ceiling['wall_s']:>7} {ceiling['startup_s']:>6} {ceiling['peak_rss_mb']:>7}")
        print(f"  full pipeline / ceiling at parallelism {row['parallelism']}: {_shown(row['ratio_to_ceiling'])} "
              f"(median of {rounds} rounds in turns; per round: job {row['rounds_events_per_s']} events/s, "
              f"ceiling {ceiling['rounds_events_per_s']}, ratio {row['rounds_ratio_to_ceiling']})")
    kafka = result["kafka"] = kafka_case(main_case, workdir, rounds)
    print_row("Kafka source, 3 partitions", kafka)
    print(f"  the topic filled by kafka-python in {kafka['topic_filled_s']} s (not counted)")
    stage = result["parse_stage"] = parse_stage(main_case, workdir)
    print(f"parse stage alone, one process, {stage['lines']:,} lines ({stage['events']:,} events): "
          f"{stage['events_per_s']:,} events/s ({stage['cpu_s']} s of CPU)")
    result["categorical"] = run_categorical(main_case, workdir, rounds)
    for features, endpoints in ((4, 10), (20, 10), (100, 10), (20, 1000)):
        row = main if (features, endpoints, lines) == (20, 10, scaling_lines) else \
            run_case(Case(features, endpoints, scaling_lines), workdir, ceiling=False)
        result["scaling"].append(row)
        print_row(f"scaling {features} x {endpoints}", row)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2))
    print(f"figures written to {output}")
    if output.resolve() == report.RESULTS.resolve():
        report.main()
    rows = [main, parallel, kafka] + result["scaling"]
    return 0 if all(row["totals"] == "ok" for row in rows) else 1


def run_categorical(main_case: Case, workdir: Path, rounds: int) -> dict:
    """The categorical comparison and the parse stage of each of its two cases, printed."""
    found = categorical_case(main_case, CATEGORICAL_FEATURES, workdir, rounds)
    found["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    print_row("all numeric (in turns)", found["numeric"])
    print_row(f"{CATEGORICAL_FEATURES} of them categorical", found["categorical"])
    print(f"  categorical / numeric events/s: {_shown(found['ratio'])} (medians of {rounds} rounds in turns)")
    mixed = Case(main_case.features, main_case.endpoints, main_case.lines, categorical=CATEGORICAL_FEATURES)
    for key, case in (("numeric", main_case), ("categorical", mixed)):
        stage = found[key]["parse_stage"] = parse_stage(case, workdir)
        print(f"  parse stage alone, {key}: {stage['events_per_s']:,} events/s ({stage['cpu_s']} s of CPU)")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000, help="input lines of the main case (default 200000)")
    parser.add_argument("--full", action="store_true", help="the main case on 1,000,000 lines")
    parser.add_argument("--rounds", type=int, default=MAIN_ROUNDS,
                        help=f"runs of the main case's job and ceiling, in turns (default {MAIN_ROUNDS}): medians shown")
    parser.add_argument("--scaling-lines", type=int, default=20_000, help="input lines per scaling row")
    parser.add_argument("--workdir", default=str(DEFAULT_HOME / "bench"), help="spools, stores and logs")
    parser.add_argument("--categorical-only", action="store_true",
                        help="only the categorical comparison, stored into the output's 'categorical' entry")
    parser.add_argument("--output", default=str(report.RESULTS),
                        help="the figures (default benchmarks/results.json, which docs/benchmark.md is made from)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.categorical_only:
        lines = 1_000_000 if args.full else args.lines
        workdir = Path(args.workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        found = run_categorical(Case(20, 10, lines), workdir, args.rounds)
        output = Path(args.output)
        result = json.loads(output.read_text()) if output.exists() else {}
        output.write_text(json.dumps(dict(result, categorical=found), indent=2))
        if output.resolve() == report.RESULTS.resolve():
            report.main()
        return 0 if found["numeric"]["totals"] == found["categorical"]["totals"] == "ok" else 1
    return run_benchmark(1_000_000 if args.full else args.lines, args.scaling_lines, Path(args.workdir).resolve(),
                         Path(args.output), args.rounds)


if __name__ == "__main__":
    sys.exit(main())
