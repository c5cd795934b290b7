"""An independent reading of a spool: the numbers the job must produce, computed with plain
json, hashlib and numpy, sharing no code with the job's parser."""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import clickhouse_connect
import numpy as np
import pandas as pd
from scipy.spatial import distance
from scipy.special import rel_entr

from modelmon.pipelines.store_sink import TABLES
from modelmon.udfs.drift import EPSILON
from tests.support.drift_traffic import BINS, FEATURES


def _epoch_ms(when: str) -> int:
    """Epoch milliseconds, floored, in integer arithmetic."""
    delta = datetime.fromisoformat(when).astimezone(timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _events_of(line: str):
    try:
        obj = json.loads(line)
    except ValueError:
        return
    if not isinstance(obj, dict):
        return
    if "values" in obj:
        rows = [dict(obj, **dict(zip(obj["headers"], row))) for row in obj["values"]]
    else:
        rows = [obj]
    project, rest = obj["function_uri"].split("/", 1)
    function, _, tag = rest.partition(":")
    version = obj.get("version") or "latest"
    endpoint = hashlib.sha1(f"{project}_{function}_{tag or 'N/A'}_{obj['model']}_{version}".encode()).hexdigest()
    for row in rows:
        if "when" not in row:
            continue
        time_ms = _epoch_ms(row["when"])
        n = len(row["request"]["inputs"])
        if "error" in row and row["error"] is not None:
            yield endpoint, time_ms, 0, None, True, {}
        elif isinstance(row.get("microsec"), (int, float)) and len(row["resp"]["outputs"]) == n:
            yield endpoint, time_ms, n, float(row["microsec"]), False, row.get("metrics") or {}


def read_spool(spool: Path) -> dict[str, dict[str, np.ndarray]]:
    """Valid events per endpoint id, as arrays sorted by time."""
    columns = defaultdict(lambda: defaultdict(list))
    for path in sorted(spool.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            for endpoint, time_ms, n, latency, is_error, _ in _events_of(line):
                e = columns[endpoint]
                e["time_ms"].append(time_ms)
                e["predictions"].append(n)
                e["latency"].append(np.nan if latency is None else latency)
                e["is_error"].append(is_error)
    result = {}
    for endpoint, e in columns.items():
        order = np.argsort(e["time_ms"], kind="stable")
        result[endpoint] = {k: np.asarray(v)[order] for k, v in e.items()}
    return result


def custom_metric_windows(spool: Path, window_ms: int) -> dict[tuple[str, str, int], dict]:
    """(endpoint, metric, tumbling window start) -> count, sum, mean, min, max of the numeric
    custom metrics of valid successful events."""
    values = defaultdict(list)
    for path in sorted(spool.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            for endpoint, time_ms, _, _, is_error, metrics in _events_of(line):
                for name, value in metrics.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        values[(endpoint, name, time_ms - time_ms % window_ms)].append(float(value))
    return {key: {"values_count": len(v), "sum": float(np.sum(v)), "mean": float(np.mean(v)),
                  "min": min(v), "max": max(v)} for key, v in values.items()}


def hop_windows(events: dict[str, np.ndarray], size_ms: int, slide_ms: int) -> dict[int, dict]:
    """Every HOP window with at least one event: start -> its metrics."""
    times = events["time_ms"]
    first = (times[0] // slide_ms) * slide_ms - size_ms + slide_ms
    windows = {}
    for start in range(int(first), int(times[-1]) + 1, slide_ms):
        lo, hi = np.searchsorted(times, [start, start + size_ms], side="left")
        if lo == hi:
            continue
        latency = events["latency"][lo:hi]
        latency = latency[~np.isnan(latency)]
        predictions = int(events["predictions"][lo:hi].sum())
        windows[start] = {
            "requests_count": hi - lo,
            "predictions_count": predictions,
            "predictions_per_second": predictions / (size_ms / 1000),
            "error_count": int(events["is_error"][lo:hi].sum()),
            "latency_avg": float(latency.mean()) if latency.size else None,
            "latency_p50": float(np.percentile(latency, 50)) if latency.size else None,
            "latency_p95": float(np.percentile(latency, 95)) if latency.size else None,
            "latency_p99": float(np.percentile(latency, 99)) if latency.size else None,
            "latency_max": float(latency.max()) if latency.size else None,
        }
    return windows


def _feature_value(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return np.nan
    return float(value) if np.isfinite(value) else np.nan


def read_feature_rows(spool: Path, width: int) -> dict[str, dict]:
    """Per endpoint id, the input rows of successful events: ``time_ms`` per row, ``values``
    (n, width) with NaN for what is not a finite number, and ``row_key`` (sha1 of the line,
    row number across the line's events)."""
    rows = defaultdict(lambda: {"time_ms": [], "values": [], "row_key": []})
    for path in sorted(spool.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            obj = json.loads(line)
            events = [dict(obj, **dict(zip(obj["headers"], r))) for r in obj["values"]] if "values" in obj else [obj]
            project, rest = obj["function_uri"].split("/", 1)
            function, _, tag = rest.partition(":")
            key = f"{project}_{function}_{tag or 'N/A'}_{obj['model']}_{obj.get('version') or 'latest'}"
            endpoint = hashlib.sha1(key.encode()).hexdigest()
            line_hash = hashlib.sha1(line.encode()).hexdigest()
            ordinal = 0
            for event in events:
                if event.get("error") is not None or not isinstance(event.get("microsec"), (int, float)):
                    continue  # no prediction, or an invalid event
                when = _epoch_ms(event["when"])
                for row in event["request"]["inputs"]:
                    cells = row if isinstance(row, list) else []
                    rows[endpoint]["values"].append([_feature_value(cells[j]) if j < len(cells) else np.nan
                                                     for j in range(width)])
                    rows[endpoint]["time_ms"].append(when)
                    rows[endpoint]["row_key"].append(f"{line_hash}:{ordinal}")
                    ordinal += 1
    return {endpoint: {"time_ms": np.array(r["time_ms"]), "values": np.array(r["values"], dtype=float),
                       "row_key": r["row_key"]} for endpoint, r in rows.items()}


WINDOWS = {"5m": 300_000, "1h": 3_600_000}
METRIC_COLUMNS = ["requests_count", "predictions_count", "predictions_per_second", "error_count",
                  "latency_avg", "latency_p50", "latency_p95", "latency_p99", "latency_max"]


def stored_windows(client, window_size: str) -> dict[tuple[str, int], dict]:
    result = client.query(
        f"SELECT endpoint_id, toUnixTimestamp64Milli(window_start), toUnixTimestamp64Milli(window_end), "
        f"{', '.join(METRIC_COLUMNS)} FROM endpoint_metrics FINAL WHERE window_size = {{size:String}}",
        parameters={"size": window_size})
    return {(row[0], row[1]): dict(zip(["window_end"] + METRIC_COLUMNS, row[2:])) for row in result.result_rows}


# Columns that differ between two runs whatever they computed: insert times, and reference
# ids, which are registration timestamps (checked separately).
_RUN_COLUMNS = ("written_at", "received_at", "reference_id")


def stored_rows(dsn: str) -> dict[str, list[tuple]]:
    """Every output table's rows after replacement by key, in a stable order."""
    client = clickhouse_connect.get_client(dsn=dsn)
    try:
        rows = {}
        for table in TABLES:
            columns = [name for name in client.query(f"SELECT * FROM {table} LIMIT 0").column_names
                       if name not in _RUN_COLUMNS]
            rows[table] = client.query(f"SELECT {', '.join(columns)} FROM {table} FINAL "
                                       f"ORDER BY {', '.join(columns)}").result_rows
        return rows
    finally:
        client.close()


def same_values(a, b) -> bool:
    """Equal, floats to 1e-9 relative: parallel subtasks may merge partial sums in another order."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_values(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_values(a[k], b[k]) for k in a)
    return a == b


def different_rows(expected: dict[str, list[tuple]], got: dict[str, list[tuple]]) -> dict[str, list]:
    """Per table, the first few rows that differ (``same_values``), or a count mismatch."""
    differences = {}
    for table, rows in expected.items():
        if len(got[table]) != len(rows):
            differences[table] = [f"{len(got[table])} rows, expected {len(rows)}"]
            continue
        pairs = [(a, b) for a, b in zip(rows, got[table]) if not same_values(a, b)]
        if pairs:
            differences[table] = pairs[:3]
    return differences


def scipy_measures(live: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    p, q = live / live.sum(), reference / reference.sum()
    q_eps, p_eps = np.where(q > 0, q, EPSILON), np.where(p > 0, p, EPSILON)
    symmetric_kl = rel_entr(p, q_eps).sum() + rel_entr(q, p_eps).sum()
    return {
        "tvd": distance.cityblock(p, q) / 2,
        "hellinger": distance.euclidean(np.sqrt(p), np.sqrt(q)) / math.sqrt(2),
        "kld": symmetric_kl,
        "jsd": distance.jensenshannon(p, q),
        "psi": symmetric_kl,  # Σ(p−q)ln(p/q) is the same sum, term by term, under the ε rule
    }


def reference_histograms(frame: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray]]:
    """(edges, counts with the two empty outer bins) per feature, straight from numpy."""
    result = []
    for name in FEATURES:
        counts, edges = np.histogram(frame[name].to_numpy(), bins=BINS)
        result.append((edges, np.concatenate([[0], counts, [0]])))
    return result


def live_histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    inner, _ = np.histogram(values, bins=edges)
    return np.concatenate([[(values < edges[0]).sum()], inner, [(values > edges[-1]).sum()]])
