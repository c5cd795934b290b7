"""The benchmark's ceiling: the same spool source, Flink's own ``json`` format and the 5-minute
operational window in Java only, into a ``blackhole`` sink. No Python runs in this job, so
its throughput is what Flink itself does with these events on this machine.

It reads each line as one event (a batched line's rows are not expanded: such a line has no
``when`` and lands in the epoch's window) and computes no feature histograms: it is a bound
on parsing and windowing, not a monitoring job.
"""

from __future__ import annotations

import argparse
import sys

from pyflink.table import EnvironmentSettings, TableEnvironment

from modelmon.config import load_config
from modelmon.pipelines.local_runtime import BASE_HEAP_MB, limit_malloc_arenas, set_local_jvm_options

EVENT_COLUMNS = """
    `function_uri` STRING, `model` STRING, `version` STRING, `when` STRING, `microsec` BIGINT,
    `error` STRING, `request` ROW<`inputs` ARRAY<ARRAY<DOUBLE>>>, `resp` ROW<`outputs` ARRAY<INT>>,
    `event_time` AS TO_TIMESTAMP_LTZ(COALESCE(UNIX_TIMESTAMP(SUBSTRING(`when` FROM 1 FOR 19)), 0) * 1000, 3),
    WATERMARK FOR `event_time` AS TO_TIMESTAMP_LTZ(0, 3)"""


def run_ceiling_job(source: str, parallelism: int = 1) -> None:
    """Read every segment under ``source`` once (bounded) and window it; returns when done."""
    limit_malloc_arenas()
    set_local_jvm_options(load_config().local_jvm_heap_mb or BASE_HEAP_MB)  # the monitoring job's JVM without state
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    settings = t_env.get_config()
    settings.set("parallelism.default", str(parallelism))
    settings.set("table.local-time-zone", "UTC")
    settings.set("pipeline.name", "modelmon ceiling")
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE prediction_events ({EVENT_COLUMNS}) WITH (
            'connector' = 'filesystem', 'path' = '{source.replace("'", "''")}', 'format' = 'json',
            'json.ignore-parse-errors' = 'true')""")
    t_env.execute_sql("""
        CREATE TEMPORARY TABLE window_metrics (
            function_uri STRING, model STRING, version STRING, window_start TIMESTAMP(3),
            requests BIGINT, predictions BIGINT, errors BIGINT, latency_avg DOUBLE, latency_max BIGINT,
            feature_sum DOUBLE
        ) WITH ('connector' = 'blackhole')""")
    t_env.execute_sql("""
        INSERT INTO window_metrics
        SELECT function_uri, model, version, window_start, COUNT(*), SUM(CAST(CARDINALITY(`resp`.`outputs`) AS BIGINT)),
               SUM(CASE WHEN `error` IS NULL THEN 0 ELSE 1 END), AVG(CAST(`microsec` AS DOUBLE)),
               MAX(`microsec`), SUM(`request`.`inputs`[1][1])
        FROM TABLE(HOP(TABLE prediction_events, DESCRIPTOR(event_time), INTERVAL '1' MINUTE, INTERVAL '5' MINUTE))
        GROUP BY function_uri, model, version, window_start, window_end""").wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="spool directory of JSON-lines segments")
    parser.add_argument("--parallelism", type=int, default=1)
    args, _flink_args = parser.parse_known_args(argv)
    run_ceiling_job(args.source, args.parallelism)
    return 0


if __name__ == "__main__":
    sys.exit(main())
