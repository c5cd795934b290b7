"""One configuration object for the job, the proxy and the CLI.

Precedence, lowest first: defaults, a TOML file (``--config`` or ``MODELMON_CONFIG``),
environment variables ``MODELMON_<FIELD>`` (upper case), command-line flags.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

DEFAULT_HOME = Path(".modelmon")


@dataclass(frozen=True)
class Config:
    store: str = f"chdb://{(DEFAULT_HOME / 'store').resolve()}"
    source: str = str((DEFAULT_HOME / "spool").resolve())
    slide_seconds: int = 60
    lateness_seconds: int = 5
    future_tolerance_seconds: int = 86400  # continuous runs: events further ahead of the clock are invalid (0: off)
    parallelism: int = 0  # 0: 1 in local mode; on a cluster, flink run -p or its parallelism.default
    source_idle_seconds: float = 10.0  # a parallel instance this long without events stops holding the watermark
    monitor_interval_seconds: float = 1.0
    sink_batch_rows: int = 20_000  # rows: a table's waiting rows are inserted at this many (or after sink_flush_seconds)
    local_jvm_heap_mb: int = 0  # -Xmx of the JVM a local run starts, 0: sized from the registered endpoints; a cluster sizes its own
    parse_batch_lines: int = 10_000  # lines per vectorized Python call (Arrow batch); a bundle ends within 1 s anyway
    bounded_bundle_seconds: float = 60.0  # a bounded run's Python bundles end after this long (continuous: Flink's 1 s)
    state_cache_entries: int = 0  # keyed states a Python worker keeps unserialized; 0: 8 per registered endpoint, >= 50,000
    sink_flush_seconds: float = 1.0
    sink_retry_max_seconds: float = 30.0  # longest wait between attempts at an unavailable store
    sink_max_waiting_payloads: int = 100_000  # per table: past this the writer holds the input until stored
    store_wait_seconds: float = 120.0  # how long start-up waits for an unavailable store before failing
    dead_letter_max_chars: int = 65536
    feature_window_seconds: int = 300  # base window of the feature histograms
    drift_range_seconds: int = 3600  # drift compares this trailing range with the reference
    feature_sample_every: int = 10  # keep 1 in N feature rows in incoming_features (0: none)
    sample_insert_rows: int = 1_000  # a batch with this many sampled rows inserts them itself (0: the writer does)
    reference_refresh_seconds: float = 10.0  # how often the job looks for new references
    alert_refresh_seconds: float = 10.0  # how often the job looks for new or changed alert rules
    retention_days: int = 90
    checkpoint_dir: str = ""  # default: .modelmon/checkpoints for continuous runs, none for bounded ones
    checkpoint_interval_seconds: float = 30.0
    state_backend: str = "hashmap"  # or rocksdb, for state larger than the TaskManager's memory
    restart_strategy: str = "fixed-delay"  # none, fixed-delay or exponential-delay
    restart_attempts: int = 3  # fixed-delay only
    restart_delay_seconds: float = 10.0
    jars: str = ""  # comma-separated connector jars, such as the Kafka SQL connector
    proxy_host: str = "127.0.0.1"
    proxy_port: int = 8080
    proxy_cache_seconds: float = 5.0  # overview answers (endpoint list, latest values) are reused this long
    api_tokens: str = ""  # comma-separated; when set, every proxy route but the health check needs one

    def tokens(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.api_tokens.split(",") if t.strip())

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _coerce(name: str, kind: type, value: Any) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"configuration {name}={value!r} is not a valid {kind.__name__}") from None


def load_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None,
                **flags: Any) -> Config:
    """Build the configuration from file, environment and flags (``None`` flags are unset).

    >>> load_config(env={"MODELMON_SLIDE_SECONDS": "30"}, proxy_port=9000).slide_seconds
    30
    """
    env = os.environ if env is None else env
    kinds = {f.name: type(f.default) for f in fields(Config)}
    values: dict[str, Any] = {}
    path = path or env.get("MODELMON_CONFIG")
    if path:
        with open(path, "rb") as handle:
            from_file = tomllib.load(handle)
        unknown = set(from_file) - set(kinds)
        if unknown:
            raise ValueError(f"unknown configuration keys in {path}: {sorted(unknown)}")
        values.update(from_file)
    for name in kinds:
        if f"MODELMON_{name.upper()}" in env:
            values[name] = env[f"MODELMON_{name.upper()}"]
    values.update({k: v for k, v in flags.items() if v is not None})
    return Config(**{k: _coerce(k, kinds[k], v) for k, v in values.items()})
