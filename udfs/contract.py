"""The prediction-event contract of DESIGN.md, defined once: field lists, limits, statuses and
endpoint identity.

Both implementations of the contract take their fields and limits from here: the exact parser
(:mod:`modelmon.udfs.events`) imports them, and the Java reader's ``Contract`` class is
generated from :data:`READER_CONSTANTS` when its jar is built (:mod:`modelmon.pipelines.reader_jar`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

STATUS_OK = "ok"
STATUS_INVALID = "invalid"
STATUS_LATE = "late"
STATUS_EXPIRED = "expired"  # older than the store's retention

# The base fields naming an endpoint, in the order the Java reader reports them.
ENDPOINT_FIELDS = ("class", "model", "version", "function_uri", "project", "endpoint_id")
# An event's own fields: the names a batch's ``headers`` may use.
BATCH_HEADER_FIELDS = ("request", "op", "resp", "when", "microsec", "metrics", "error")

MAX_LATENCY_US = 2**63  # a BIGINT; a larger microsec is invalid
EXACT_LATENCY_US = 2**53  # below this a latency read as a double is exact: the Java reader leaves larger ones
# Event times the store can keep: ClickHouse's Date, which partitions every table, spans
# 1970-01-01 up to (not including) 2149-06-07.
EARLIEST_TIME_MS = 0
END_OF_TIME_MS = 5_662_310_400_000
MAX_CUSTOM_METRICS = 100  # per event; a line with more metrics keeps the first ones (the Java reader leaves it)
MAX_METRIC_NAME = 200  # characters; a metric with a longer name is not monitored
MAX_FEATURES = 1000  # wider feature rows are cut: the values past this are not monitored
MAX_REASON_CHARS = 500  # of a dead letter's reason

# What a feature value is, beside its number (``EventColumns.value_code``): a code >= 0 is the
# index of a string among the batch's value texts; a value that is not a finite number has the
# float NaN (or its infinity) in ``values``.
VALUE_NUMBER = -1  # a finite number
VALUE_NULL = -2  # null, or absent (a row shorter than the features)
VALUE_TRUE = -3
VALUE_FALSE = -4
VALUE_NONFINITE = -5  # NaN, ±Infinity, or an integer too large for a float
VALUE_OTHER = -6  # a list or an object

# What the Java reader's generated ``Contract`` class holds, by its Java name.
READER_CONSTANTS: dict[str, Any] = {
    "ENDPOINT_FIELDS": ENDPOINT_FIELDS, "BATCH_FIELDS": BATCH_HEADER_FIELDS,
    "EARLIEST_TIME_MS": EARLIEST_TIME_MS, "END_OF_TIME_MS": END_OF_TIME_MS, "EXACT_LATENCY_US": EXACT_LATENCY_US,
    "MAX_CUSTOM_METRICS": MAX_CUSTOM_METRICS, "MAX_METRIC_NAME": MAX_METRIC_NAME,
    "VALUE_NULL": VALUE_NULL, "VALUE_TRUE": VALUE_TRUE, "VALUE_FALSE": VALUE_FALSE,
}


class EventError(ValueError):
    """An event that breaks the input contract; the message is the stored reason."""


@dataclass(frozen=True)
class FunctionUri:
    project: str
    function: str
    tag: str
    hash: str


def parse_function_uri(uri: str) -> FunctionUri:
    """Split ``project/function[:tag][@hash]`` the way MLRun does.

    >>> parse_function_uri("demo/serving:latest")
    FunctionUri(project='demo', function='serving', tag='latest', hash='')
    >>> parse_function_uri("demo/serving@3f2a")
    FunctionUri(project='demo', function='serving', tag='', hash='3f2a')
    """
    project, sep, rest = uri.partition("/")
    if not sep or not project or not rest:
        raise EventError(f"function_uri {uri!r} is not project/function[:tag][@hash]")
    rest, _, hash_ = rest.partition("@")
    function, _, tag = rest.partition(":")
    if not function:
        raise EventError(f"function_uri {uri!r} has no function name")
    return FunctionUri(project, function, tag, hash_)


def endpoint_id(project: str, function: str, tag: str, hash_: str, model: str, version: str) -> str:
    """MLRun's endpoint id: sha1 of ``project_function_(tag|hash|N/A)_model_(version|latest)``.

    >>> endpoint_id("demo", "serving", "latest", "", "RF", "")
    'fbe75ae49c14f9f103f3464c9e7953c142130ac0'
    """
    key = f"{project}_{function}_{tag or hash_ or 'N/A'}_{model}_{version or 'latest'}"
    return hashlib.sha1(key.encode()).hexdigest()


def string_field(obj: dict, key: str, required: bool = False) -> str:
    """A string field of an event object ("" when absent and not required)."""
    value = obj.get(key)
    if value is None:
        if required:
            raise EventError(f"missing '{key}'")
        return ""
    if not isinstance(value, str):
        raise EventError(f"'{key}' must be a string, got {type(value).__name__}")
    if required and not value:
        raise EventError(f"'{key}' is empty")
    return value


@dataclass(frozen=True)
class Endpoint:
    """What a line says about the model endpoint that served it."""

    project: str
    endpoint_id: str
    function_uri: str
    model: str
    version: str
    model_class: str
    labels: str  # JSON object text, keys sorted


def parse_endpoint(obj: dict) -> Endpoint:
    """The endpoint of an event object (base fields shared by all rows of a batch)."""
    uri_text = string_field(obj, "function_uri", required=True)
    uri = parse_function_uri(uri_text)
    model = string_field(obj, "model", required=True)
    version = string_field(obj, "version")
    project = string_field(obj, "project") or uri.project
    labels = obj.get("labels") or {}
    if not isinstance(labels, dict):
        raise EventError(f"'labels' must be an object, got {type(labels).__name__}")
    override = string_field(obj, "endpoint_id")
    return Endpoint(
        project=project,
        endpoint_id=override or endpoint_id(uri.project, uri.function, uri.tag, uri.hash, model, version),
        function_uri=uri_text,
        model=model,
        version=version,
        model_class=string_field(obj, "class"),
        labels=json.dumps({str(k): str(v) for k, v in labels.items()}, sort_keys=True),
    )


class EndpointCache:
    """:func:`parse_endpoint` once per distinct endpoint: a line's base fields repeat for every
    line of an endpoint, and hashing and label encoding them per line was a third of parsing.

    Only lines whose base fields and label values are all strings are cached: for those, equal
    keys mean equal text, so the cached endpoint is exactly what parsing the line gives.

    >>> cache = EndpointCache()
    >>> line = {"function_uri": "demo/serving:latest", "model": "RF", "labels": {"team": "ml"}}
    >>> cache.parse(line) is cache.parse(dict(line))
    True
    >>> cache.parse(dict(line, labels={"team": 1})).labels
    '{"team": "1"}'
    """

    def __init__(self, limit: int = 100_000):
        self.limit = limit
        self.endpoints: dict[tuple, Endpoint] = {}

    def parse(self, obj: dict) -> Endpoint:
        key = tuple(obj.get(name) for name in ENDPOINT_FIELDS)
        labels = obj.get("labels")
        if labels is not None:
            if not isinstance(labels, dict) or not all(type(v) is str for v in labels.values()):
                return parse_endpoint(obj)
            key += tuple(labels.items())
        if not all(value is None or type(value) is str for value in key[:len(ENDPOINT_FIELDS)]):
            return parse_endpoint(obj)
        endpoint = self.endpoints.get(key)
        if endpoint is None:
            endpoint = parse_endpoint(obj)  # raises for an invalid endpoint, which is not cached
            if len(self.endpoints) >= self.limit:
                self.endpoints.clear()
            self.endpoints[key] = endpoint
        return endpoint
