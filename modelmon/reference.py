"""Reference (training-set) profiles: registration from CSV or Parquet, and loading for the job.

Registration reads the file twice in record batches (pyarrow's streaming CSV reader or
Parquet row-group iterator), so files larger than memory work: the first pass finds each
feature's count, mean, std, min and max, the second counts the histogram on the edges the
first pass fixed. Re-registering adds a newer version; the job uses the newest.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv
import pyarrow.parquet as pq
from clickhouse_connect.driver.client import Client

from modelmon import store
from udfs.drift import DEFAULT_DETECTED_THRESHOLD, DEFAULT_POSSIBLE_THRESHOLD
from udfs.events import endpoint_id as compute_endpoint_id, parse_function_uri
from udfs.histograms import (DEFAULT_BINS, FeatureReference, FeatureSummary, Reference, bin_edges,
                             summarize)

log = logging.getLogger(__name__)

_BATCH_ROWS = 65_536


def _batches(path: Path, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
    if path.suffix.lower() in (".parquet", ".pq"):
        yield from pq.ParquetFile(path).iter_batches(batch_size=_BATCH_ROWS, columns=columns)
    elif path.suffix.lower() in (".csv", ".txt"):
        include = pyarrow.csv.ConvertOptions(include_columns=columns) if columns else None
        yield from pyarrow.csv.open_csv(path, convert_options=include)
    else:
        raise ValueError(f"training set {path} must be .csv or .parquet")


def _schema(path: Path) -> pa.Schema:
    if path.suffix.lower() in (".parquet", ".pq"):
        return pq.read_schema(path)
    if path.suffix.lower() in (".csv", ".txt"):
        return pyarrow.csv.open_csv(path).schema
    raise ValueError(f"training set {path} must be .csv or .parquet")


def _is_numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def _values(batch: pa.RecordBatch, numeric: list[str]) -> np.ndarray:
    """The numeric columns as an (n, K) float array, NaN for nulls."""
    columns = [pc.cast(batch.column(name), pa.float64()).to_numpy(zero_copy_only=False) for name in numeric]
    return np.column_stack(columns) if columns else np.empty((batch.num_rows, 0))


@dataclass(frozen=True)
class TrainingProfile:
    """What registration stores: per feature its stats and (numeric features) histogram."""

    feature_names: list[str]
    numeric: list[bool]
    stats: FeatureSummary  # over the numeric features, in order
    edges: list[np.ndarray]
    counts: np.ndarray  # (numeric features, bins)
    rows: int


def profile_training_set(path: str | Path, features: list[str] | None = None, label_column: str | None = None,
                         bins: int = DEFAULT_BINS) -> TrainingProfile:
    """Profile a training set. Features default to every column but the label, in file order;
    non-numeric features keep their position (the model's input rows include them) but get
    no histogram."""
    path = Path(path)
    if bins < 1:
        raise ValueError("--bins must be at least 1")
    schema = _schema(path)
    names = features or [n for n in schema.names if n != label_column]
    missing = [n for n in names if n not in schema.names]
    if missing:
        raise ValueError(f"training set {path} has no column(s) {missing}; it has {schema.names}")
    if label_column and label_column in names:
        raise ValueError(f"the label column {label_column!r} cannot also be a feature")
    numeric_flags = [_is_numeric(schema.field(n).type) for n in names]
    numeric = [n for n, flag in zip(names, numeric_flags) if flag]
    if not numeric:
        raise ValueError(f"training set {path} has no numeric feature among {names}")

    stats: FeatureSummary | None = None
    rows = 0
    for batch in _batches(path, numeric):
        values = _values(batch, numeric)
        rows += batch.num_rows
        part = summarize(values, np.zeros(len(values), dtype=np.int64), 1, None, 0)[0]
        stats = part if stats is None else stats.merge(part)
    if stats is None or rows == 0:
        raise ValueError(f"training set {path} has no rows")
    empty = [n for n, c in zip(numeric, stats.count) if c == 0]
    if empty:
        raise ValueError(f"feature(s) {empty} have no numeric value in {path}")

    edges = [bin_edges(float(lo), float(hi), bins) for lo, hi in zip(stats.minimum, stats.maximum)]
    binning = Reference(0, tuple(FeatureReference(n, e, np.zeros(bins, dtype=np.int64))
                                 for n, e in zip(numeric, edges)),
                        DEFAULT_POSSIBLE_THRESHOLD, DEFAULT_DETECTED_THRESHOLD)
    counts = np.zeros((len(numeric), bins + 2), dtype=np.int64)
    for batch in _batches(path, numeric):
        counts += summarize(_values(batch, numeric), np.zeros(batch.num_rows, dtype=np.int64), 1, binning, 0)[0].bins
    return TrainingProfile(names, numeric_flags, stats, edges, counts[:, 1:-1], rows)


def register_reference(client: Client, project: str, function_uri: str, model: str, training_set: str | Path,
                       features: list[str] | None = None, label_column: str | None = None,
                       bins: int = DEFAULT_BINS, possible_threshold: float = DEFAULT_POSSIBLE_THRESHOLD,
                       detected_threshold: float = DEFAULT_DETECTED_THRESHOLD) -> tuple[str, int]:
    """Profile ``training_set`` and store it as the endpoint's newest reference.

    ``model`` is ``name[:version]``; ``function_uri`` is ``[project/]function[:tag][@hash]``.
    Returns (endpoint id, reference id).
    """
    if not 0 < possible_threshold <= detected_threshold:
        raise ValueError("thresholds must satisfy 0 < possible <= detected")
    uri_text = function_uri if "/" in function_uri else f"{project}/{function_uri}"
    uri = parse_function_uri(uri_text)
    model_name, _, version = model.partition(":")
    endpoint = compute_endpoint_id(uri.project, uri.function, uri.tag, uri.hash, model_name, version)
    profile = profile_training_set(training_set, features, label_column, bins)
    reference_id = time.time_ns() // 1000
    registered_at = datetime.fromtimestamp(reference_id / 1e6, tz=timezone.utc)
    store.insert(client, "reference_endpoints", [
        "project", "endpoint_id", "reference_id", "registered_at", "function_uri", "model", "version",
        "feature_names", "label_column", "training_set", "training_rows", "bins", "possible_threshold",
        "detected_threshold"], [[
            project, endpoint, reference_id, registered_at, uri_text,
            model_name, version, profile.feature_names, label_column, str(training_set), profile.rows, bins,
            possible_threshold, detected_threshold]])
    rows, numeric_index = [], 0
    std = profile.stats.std()
    for index, (name, numeric) in enumerate(zip(profile.feature_names, profile.numeric)):
        if numeric:
            j = numeric_index
            numeric_index += 1
            rows.append([project, endpoint, reference_id, index, name, int(profile.stats.count[j]),
                         int(profile.stats.invalid[j]), float(profile.stats.mean[j]), float(std[j]),
                         float(profile.stats.minimum[j]), float(profile.stats.maximum[j]),
                         profile.edges[j].tolist(), profile.counts[j].tolist()])
        else:
            rows.append([project, endpoint, reference_id, index, name, 0, profile.rows, None, None, None, None, [], []])
    store.insert(client, "reference_features", [
        "project", "endpoint_id", "reference_id", "feature_index", "feature_name", "count", "invalid_count",
        "mean", "std", "min", "max", "bin_edges", "bin_counts"], rows)
    log.info("registered reference %d for endpoint %s: %d features, %d rows", reference_id, endpoint,
             len(profile.feature_names), profile.rows)
    return endpoint, reference_id


_NEWEST = "SELECT endpoint_id, max(reference_id) FROM reference_endpoints GROUP BY endpoint_id"


def registrations_seen(client: Client) -> tuple:
    """What changes whenever a reference is registered: compared before reloading them all."""
    return tuple(client.query("SELECT count(), max(reference_id) FROM reference_endpoints").result_rows[0])


def load_references(client: Client, endpoint_id: str | None = None,
                    reference_id: int | None = None) -> dict[str, Reference]:
    """The newest reference of every endpoint, or one given version of one endpoint."""
    if reference_id is None:
        where, parameters = f"(endpoint_id, reference_id) IN ({_NEWEST})", {}
    else:
        where = "endpoint_id = {endpoint:String} AND reference_id = {reference:UInt64}"
        parameters = {"endpoint": endpoint_id, "reference": reference_id}
    endpoints = client.query(
        f"SELECT endpoint_id, reference_id, possible_threshold, detected_threshold FROM reference_endpoints "
        f"WHERE {where}", parameters=parameters).result_rows
    features = client.query(
        f"SELECT endpoint_id, feature_name, bin_edges, bin_counts FROM reference_features WHERE {where} "
        f"ORDER BY endpoint_id, feature_index", parameters=parameters).result_rows
    by_endpoint: dict[str, list[FeatureReference]] = {}
    for endpoint, name, edges, counts in features:
        by_endpoint.setdefault(endpoint, []).append(FeatureReference(
            name, np.asarray(edges, dtype=np.float64) if edges else None,
            np.asarray(counts, dtype=np.int64) if counts else None))
    return {endpoint: Reference(int(ref_id), tuple(by_endpoint.get(endpoint, ())), possible, detected)
            for endpoint, ref_id, possible, detected in endpoints}


class ReferenceCache:
    """The newest references, reloaded when a registration is seen (checked every
    ``refresh_seconds``), so a running job picks up new references without a restart.

    It starts from the references read at submission (``seen`` as they were then); while the
    store is unavailable it keeps the ones it has and looks again at the next check.
    """

    def __init__(self, dsn: str, refresh_seconds: float, newest: dict[str, Reference], seen: tuple | None):
        self.client = store.LazyClient(dsn)
        self.refresh_seconds = refresh_seconds
        self.newest = newest
        self.versions: dict[tuple[str, int], Reference] = {}
        self.seen = seen
        self.checked = -float("inf")

    def current(self) -> dict[str, Reference]:
        now = time.monotonic()
        if now - self.checked >= self.refresh_seconds:
            self.checked = now
            try:
                seen = registrations_seen(self.client.get())
                if seen != self.seen:
                    self.newest = load_references(self.client.get())
                    self.seen = seen
                    log.info("loaded %d reference(s)", len(self.newest))
            except store.UNAVAILABLE as error:
                log.warning("store unavailable (%s): keeping the %d reference(s) loaded before",
                            str(error)[:300], len(self.newest))
                self.client.drop()
        return self.newest

    def get(self, endpoint_id: str) -> Reference | None:
        return self.current().get(endpoint_id)

    def version(self, endpoint_id: str, reference_id: int) -> Reference | None:
        """A given version (live counts binned before a re-registration still need its names)."""
        newest = self.current().get(endpoint_id)
        if newest is not None and newest.reference_id == reference_id:
            return newest
        key = (endpoint_id, reference_id)
        if key not in self.versions:
            self.versions[key] = load_references(self.client.get(), endpoint_id, reference_id).get(endpoint_id)
        return self.versions[key]

    def close(self) -> None:
        self.client.close()


class FixedReferences:
    """The references read when the job was built, for a Python worker that may not open the
    store: an embedded store is locked by the one process that has it open."""

    def __init__(self, newest: dict[str, Reference]):
        self.newest = newest

    def current(self) -> dict[str, Reference]:
        return self.newest

    def get(self, endpoint_id: str) -> Reference | None:
        return self.newest.get(endpoint_id)

    def version(self, endpoint_id: str, reference_id: int) -> Reference | None:
        newest = self.newest.get(endpoint_id)
        return newest if newest is not None and newest.reference_id == reference_id else None

    def close(self) -> None:
        pass


# Snapshots kept in the process that built the job, for its Python functions when they run in
# that same process (PyFlink's loopback mode, a local run at parallelism 1), by JobReferences.kept.
_KEPT_SNAPSHOTS: dict[str, dict[str, Reference]] = {}


@dataclass(frozen=True)
class JobReferences:
    """How the job's Python functions reach references; pickled with them.

    A server store, or an embedded store seen from the process that built the job (local
    mode runs the Python functions in that process): live, newest references picked up every
    ``refresh_seconds``, starting from the ``snapshot`` read at submission (``seen`` as its
    registrations were). An embedded store seen from a Flink TaskManager's worker process:
    the snapshot alone, since only one process may open that store and the job's sink needs it.
    """

    dsn: str
    refresh_seconds: float
    snapshot: dict[str, Reference] | None  # None: kept in the building process under ``kept_as``
    seen: tuple | None
    builder_pid: int
    kept_as: str | None = None

    def kept(self) -> "JobReferences":
        """These references for functions that run in this process: the snapshot stays here
        instead of travelling in every function that holds it. At 1,000 endpoints it pickles to
        about 8 MB, which py4j, the job graph and Beam each copy: 0.3 GB more at the peak and
        4 s more start-up, measured."""
        kept_as = uuid.uuid4().hex
        _KEPT_SNAPSHOTS[kept_as] = self.snapshot
        return replace(self, snapshot=None, kept_as=kept_as)

    def release(self) -> None:
        """Forget a kept snapshot once the job has ended."""
        if self.kept_as is not None:
            _KEPT_SNAPSHOTS.pop(self.kept_as, None)

    def open(self) -> ReferenceCache | FixedReferences:
        snapshot = self.snapshot
        if snapshot is None:
            if self.kept_as not in _KEPT_SNAPSHOTS:
                raise RuntimeError(f"the job's references were kept in process {self.builder_pid}, which built "
                                   f"it, but this function runs in process {os.getpid()}")
            snapshot = _KEPT_SNAPSHOTS[self.kept_as]
        if store.is_embedded(self.dsn) and os.getpid() != self.builder_pid:
            log.info("embedded store in a worker process: using the %d reference(s) read at submission",
                     len(snapshot))
            return FixedReferences(snapshot)
        return ReferenceCache(self.dsn, self.refresh_seconds, snapshot, self.seen)
