"""Reference (training-set) profiles: registration from CSV or Parquet, and loading them.

Registration reads the file twice in record batches (pyarrow's streaming CSV reader or
Parquet row-group iterator), so files larger than memory work: the first pass finds each
numeric feature's count, mean, std, min and max and counts each categorical feature's values,
the second counts the histogram on the edges the first pass fixed. Strings and booleans make a
feature categorical, as does ``--categorical``; it keeps its top ``max_categories`` categories.
Re-registering adds a newer version; the job uses the newest.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv
import pyarrow.parquet as pq
from clickhouse_connect.driver.client import Client

from modelmon import store
from modelmon.udfs.drift import DEFAULT_DETECTED_THRESHOLD, DEFAULT_POSSIBLE_THRESHOLD
from modelmon.udfs.contract import endpoint_id as compute_endpoint_id, parse_function_uri
from modelmon.udfs.histograms import (CATEGORICAL, CATEGORICAL_NUMBER, DEFAULT_BINS, DEFAULT_MAX_CATEGORIES, NUMERIC,
                                      FeatureReference, FeatureSummary, Reference, bin_edges, summarize)

log = logging.getLogger(__name__)

_BATCH_ROWS = 65_536


def _csv_options(columns: list[str] | None) -> pyarrow.csv.ConvertOptions:
    """An empty CSV field is a null, for a text column too (a categorical feature's missing value)."""
    return pyarrow.csv.ConvertOptions(include_columns=columns or [], strings_can_be_null=True)


def _batches(path: Path, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
    if path.suffix.lower() in (".parquet", ".pq"):
        yield from pq.ParquetFile(path).iter_batches(batch_size=_BATCH_ROWS, columns=columns)
    elif path.suffix.lower() in (".csv", ".txt"):
        yield from pyarrow.csv.open_csv(path, convert_options=_csv_options(columns))
    else:
        raise ValueError(f"training set {path} must be .csv or .parquet")


def _schema(path: Path) -> pa.Schema:
    if path.suffix.lower() in (".parquet", ".pq"):
        return pq.read_schema(path)
    if path.suffix.lower() in (".csv", ".txt"):
        return pyarrow.csv.open_csv(path, convert_options=_csv_options(None)).schema
    raise ValueError(f"training set {path} must be .csv or .parquet")


def _is_numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def _is_categorical(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_boolean(kind)


@dataclass(frozen=True)
class CategoryProfile:
    """A categorical feature's training values: its kept categories, most frequent first, and
    their counts, then the other values', then the nulls' (its live bins)."""

    kind: str  # CATEGORICAL or CATEGORICAL_NUMBER
    categories: tuple[str, ...]
    counts: np.ndarray
    distinct: int  # categories in the training set, kept or not


def _category_counts(column: pa.ChunkedArray | pa.Array, counts: dict[str, int]) -> int:
    """Adds the column's values to ``counts`` (as text; booleans 'true'/'false'); returns its nulls."""
    found = pc.value_counts(pc.cast(column, pa.string()))
    for value, count in zip(found.field("values").to_pylist(), found.field("counts").to_pylist()):
        if value is not None:
            counts[value] = counts.get(value, 0) + count
    return column.null_count


def _category_profile(name: str, kind: str, counts: dict[str, int], nulls: int, limit: int) -> CategoryProfile:
    """The top ``limit`` categories by count (ties in text order); says so when it drops some."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = ranked[:limit]
    if len(ranked) > limit:
        log.warning("feature %r has %d distinct categories: kept the %d most frequent (--max-categories); "
                    "the other %d count as __other__", name, len(ranked), limit, len(ranked) - limit)
    other = sum(count for _, count in ranked[limit:])
    return CategoryProfile(kind, tuple(c for c, _ in kept), np.array([n for _, n in kept] + [other, nulls],
                                                                     dtype=np.int64), len(ranked))


def _values(batch: pa.RecordBatch, numeric: list[str]) -> np.ndarray:
    """The numeric columns as an (n, K) float array, NaN for nulls."""
    columns = [pc.cast(batch.column(name), pa.float64()).to_numpy(zero_copy_only=False) for name in numeric]
    return np.column_stack(columns) if columns else np.empty((batch.num_rows, 0))


@dataclass(frozen=True)
class TrainingProfile:
    """What registration stores: per feature its stats and histogram (numeric features) or its
    categories (categorical ones)."""

    feature_names: list[str]
    numeric: list[bool]
    stats: FeatureSummary  # over the numeric features, in order
    edges: list[np.ndarray]
    counts: np.ndarray  # (numeric features, bins)
    rows: int
    categories: dict[str, CategoryProfile]  # by feature name


def profile_training_set(path: str | Path, features: list[str] | None = None, label_column: str | None = None,
                         bins: int = DEFAULT_BINS, categorical: Sequence[str] = (),
                         max_categories: int = DEFAULT_MAX_CATEGORIES) -> TrainingProfile:
    """Profile a training set. Features default to every column but the label, in file order.
    Strings and booleans make a feature categorical, as does naming it in ``categorical``;
    other non-numeric features keep their position (the model's input rows include them) but
    get no histogram."""
    path = Path(path)
    if bins < 1:
        raise ValueError("--bins must be at least 1")
    if max_categories < 1:
        raise ValueError("--max-categories must be at least 1")
    schema = _schema(path)
    names = features or [n for n in schema.names if n != label_column]
    missing = [n for n in names if n not in schema.names]
    if missing:
        raise ValueError(f"training set {path} has no column(s) {missing}; it has {schema.names}")
    if label_column and label_column in names:
        raise ValueError(f"the label column {label_column!r} cannot also be a feature")
    unknown = [n for n in categorical if n not in names]
    if unknown:
        raise ValueError(f"--categorical names {unknown}, which are not features; the features are {names}")
    numeric_flags = [_is_numeric(schema.field(n).type) and n not in categorical for n in names]
    numeric = [n for n, flag in zip(names, numeric_flags) if flag]
    category_kinds = {n: CATEGORICAL_NUMBER if _is_numeric(schema.field(n).type) else CATEGORICAL for n in names
                      if n in categorical or _is_categorical(schema.field(n).type)}
    if not numeric and not category_kinds:
        raise ValueError(f"training set {path} has no numeric or categorical feature among {names}")

    stats: FeatureSummary | None = None
    rows = 0
    category_counts: dict[str, dict[str, int]] = {n: {} for n in category_kinds}
    nulls = dict.fromkeys(category_kinds, 0)
    for batch in _batches(path, numeric + list(category_kinds)):
        values = _values(batch, numeric)
        rows += batch.num_rows
        part = summarize(values, np.zeros(len(values), dtype=np.int64), 1, None, 0)[0]
        stats = part if stats is None else stats.merge(part)
        for name in category_kinds:
            nulls[name] += _category_counts(batch.column(name), category_counts[name])
    if stats is None or rows == 0:
        raise ValueError(f"training set {path} has no rows")
    empty = [n for n, c in zip(numeric, stats.count) if c == 0]
    if empty:
        raise ValueError(f"feature(s) {empty} have no numeric value in {path}")
    categories = {n: _category_profile(n, kind, category_counts[n], nulls[n], max_categories)
                  for n, kind in category_kinds.items()}

    edges = [bin_edges(float(lo), float(hi), bins) for lo, hi in zip(stats.minimum, stats.maximum)]
    binning = Reference(0, tuple(FeatureReference(n, e, np.zeros(bins, dtype=np.int64))
                                 for n, e in zip(numeric, edges)),
                        DEFAULT_POSSIBLE_THRESHOLD, DEFAULT_DETECTED_THRESHOLD)
    counts = np.zeros((len(numeric), bins + 2), dtype=np.int64)
    for batch in _batches(path, numeric) if numeric else ():
        counts += summarize(_values(batch, numeric), np.zeros(batch.num_rows, dtype=np.int64), 1, binning, 0)[0].bins
    return TrainingProfile(names, numeric_flags, stats, edges, counts[:, 1:-1], rows, categories)


@dataclass(frozen=True)
class Registration:
    """One endpoint's reference to register: the endpoint as its events name it, and the
    training set to profile. ``where`` names it in errors (a manifest's line)."""

    project: str
    function_uri: str  # [project/]function[:tag][@hash]
    model: str  # name[:version]
    training_set: str
    label_column: str | None = None
    features: tuple[str, ...] | None = None  # default: every column but the label
    categorical: tuple[str, ...] = ()  # features categorical whatever their type
    where: str = ""


MANIFEST_COLUMNS = ("project", "function_uri", "model", "training_set")  # then optionally label_column, categorical
OPTIONAL_MANIFEST_COLUMNS = ("label_column", "categorical")  # categorical: "a,b" (quoted), as --categorical


def read_manifest(path: str | Path) -> list[Registration]:
    """A fleet's registrations from a CSV manifest with the columns :data:`MANIFEST_COLUMNS`
    and optionally :data:`OPTIONAL_MANIFEST_COLUMNS`; a relative ``training_set`` is relative to
    the manifest."""
    path = Path(path)
    table = pyarrow.csv.read_csv(path, convert_options=pyarrow.csv.ConvertOptions(
        column_types={name: pa.string() for name in (*MANIFEST_COLUMNS, *OPTIONAL_MANIFEST_COLUMNS)}))
    missing = [name for name in MANIFEST_COLUMNS if name not in table.column_names]
    if missing:
        raise ValueError(f"manifest {path} has no column(s) {missing}; it needs {list(MANIFEST_COLUMNS)} "
                         f"and optionally {', '.join(OPTIONAL_MANIFEST_COLUMNS)}")
    rows = table.to_pylist()
    registrations = []
    for line, row in enumerate(rows, start=2):
        blank = [name for name in MANIFEST_COLUMNS if not row[name]]
        if blank:
            raise ValueError(f"manifest {path} line {line}: {', '.join(blank)} is empty")
        training_set = Path(row["training_set"])
        registrations.append(Registration(row["project"], row["function_uri"], row["model"],
                                          str(training_set if training_set.is_absolute() else path.parent / training_set),
                                          row.get("label_column") or None,
                                          categorical=tuple(n.strip() for n in (row.get("categorical") or "").split(",")
                                                            if n.strip()),
                                          where=f"manifest {path} line {line}"))
    return registrations


def register_references(client: Client, registrations: Sequence[Registration], bins: int = DEFAULT_BINS,
                        possible_threshold: float = DEFAULT_POSSIBLE_THRESHOLD,
                        detected_threshold: float = DEFAULT_DETECTED_THRESHOLD,
                        max_categories: int = DEFAULT_MAX_CATEGORIES) -> list[tuple[str, int]]:
    """Profile each registration's training set and store it as its endpoint's newest reference;
    returns (endpoint id, reference id) for each.

    A fleet shares training sets: each (file, label, features) is profiled once. Nothing is
    stored unless every registration is valid, and then in two inserts, so 10,000 endpoints
    take one process and a few seconds, not 10,000 processes.
    """
    if not 0 < possible_threshold <= detected_threshold:
        raise ValueError("thresholds must satisfy 0 < possible <= detected")
    started = time.perf_counter()
    profiles: dict[tuple, TrainingProfile] = {}
    endpoint_rows, feature_rows, registered = [], [], []
    first_id = time.time_ns() // 1000  # reference ids are registration times in µs, one apart here
    for number, registration in enumerate(registrations):
        try:
            uri_text = (registration.function_uri if "/" in registration.function_uri
                        else f"{registration.project}/{registration.function_uri}")
            uri = parse_function_uri(uri_text)
            key = (registration.training_set, registration.label_column, registration.features,
                   registration.categorical)
            if key not in profiles:
                profiles[key] = profile_training_set(registration.training_set, list(registration.features or ()),
                                                     registration.label_column, bins, registration.categorical,
                                                     max_categories)
        except (ValueError, OSError) as error:  # a bad line, a training set that cannot be read
            if not registration.where:
                raise
            raise ValueError(f"{registration.where}: {error}") from None
        profile = profiles[key]
        model_name, _, version = registration.model.partition(":")
        endpoint = compute_endpoint_id(uri.project, uri.function, uri.tag, uri.hash, model_name, version)
        reference_id = first_id + number
        endpoint_rows.append([
            registration.project, endpoint, reference_id, datetime.fromtimestamp(reference_id / 1e6, tz=timezone.utc),
            uri_text, model_name, version, profile.feature_names, registration.label_column,
            registration.training_set, profile.rows, bins, possible_threshold, detected_threshold])
        feature_rows += _feature_rows(registration.project, endpoint, reference_id, profile)
        registered.append((endpoint, reference_id))
    # Features first: a job that sees the endpoints' rows finds their features too.
    store.insert(client, "reference_features", [
        "project", "endpoint_id", "reference_id", "feature_index", "feature_name", "feature_kind", "count",
        "invalid_count", "mean", "std", "min", "max", "bin_edges", "bin_counts", "categories"], feature_rows)
    store.insert(client, "reference_endpoints", [
        "project", "endpoint_id", "reference_id", "registered_at", "function_uri", "model", "version",
        "feature_names", "label_column", "training_set", "training_rows", "bins", "possible_threshold",
        "detected_threshold"], endpoint_rows)
    log.info("registered %d reference(s) from %d training set profile(s), %d feature rows, in %.1f s",
             len(registered), len(profiles), len(feature_rows), time.perf_counter() - started)
    return registered


def _feature_rows(project: str, endpoint: str, reference_id: int, profile: TrainingProfile) -> list[list]:
    """``reference_features`` rows of one reference: stats and histogram of each numeric feature,
    categories and their counts of each categorical one, and a row holding the position of each
    other one."""
    rows, numeric_index = [], 0
    std = profile.stats.std()
    for index, (name, numeric) in enumerate(zip(profile.feature_names, profile.numeric)):
        head = [project, endpoint, reference_id, index, name]
        if numeric:
            j = numeric_index
            numeric_index += 1
            rows.append([*head, NUMERIC, int(profile.stats.count[j]), int(profile.stats.invalid[j]),
                         float(profile.stats.mean[j]), float(std[j]), float(profile.stats.minimum[j]),
                         float(profile.stats.maximum[j]), profile.edges[j].tolist(), profile.counts[j].tolist(), []])
        elif name in profile.categories:
            category = profile.categories[name]
            rows.append([*head, category.kind, profile.rows, 0, None, None, None, None, [], category.counts.tolist(),
                         list(category.categories)])
        else:
            rows.append([*head, "", 0, profile.rows, None, None, None, None, [], [], []])
    return rows


def register_reference(client: Client, project: str, function_uri: str, model: str, training_set: str | Path,
                       features: list[str] | None = None, label_column: str | None = None,
                       bins: int = DEFAULT_BINS, possible_threshold: float = DEFAULT_POSSIBLE_THRESHOLD,
                       detected_threshold: float = DEFAULT_DETECTED_THRESHOLD, categorical: Sequence[str] = (),
                       max_categories: int = DEFAULT_MAX_CATEGORIES) -> tuple[str, int]:
    """Profile ``training_set`` and store it as the endpoint's newest reference.

    ``model`` is ``name[:version]``; ``function_uri`` is ``[project/]function[:tag][@hash]``.
    Returns (endpoint id, reference id).
    """
    registration = Registration(project, function_uri, model, str(training_set), label_column,
                                tuple(features) if features else None, tuple(categorical))
    return register_references(client, [registration], bins, possible_threshold, detected_threshold,
                               max_categories)[0]


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
        f"SELECT endpoint_id, feature_name, feature_kind, bin_edges, bin_counts, categories FROM reference_features "
        f"WHERE {where} ORDER BY endpoint_id, feature_index", parameters=parameters).result_rows
    by_endpoint: dict[str, list[FeatureReference]] = {}
    for endpoint, name, kind, edges, counts, categories in features:
        categorical = kind in (CATEGORICAL, CATEGORICAL_NUMBER)
        by_endpoint.setdefault(endpoint, []).append(FeatureReference(
            name, np.asarray(edges, dtype=np.float64) if edges else None,
            np.asarray(counts, dtype=np.int64) if counts else None, tuple(categories) if categorical else None,
            kind or NUMERIC))
    return {endpoint: Reference(int(ref_id), tuple(by_endpoint.get(endpoint, ())), possible, detected)
            for endpoint, ref_id, possible, detected in endpoints}
