"""MLRun-compatible prediction events: parsing, validation and endpoint identity.

The monitoring job hands whole batches of raw lines to :func:`parse_lines`, which returns
columns (one entry per line, one array element per event) so that Flink can expand the
events in Java with ``UNNEST`` and no Python call is made per event or per value.

Every line yields at least one event; a line that cannot be read yields one ``invalid``
event carrying the reason, so nothing is dropped without trace.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

import orjson

from udfs.features import FeatureCollector, FeatureColumns, FeatureSettings

STATUS_OK = "ok"
STATUS_INVALID = "invalid"
STATUS_LATE = "late"

MAX_LATENCY_US = 2**63  # a BIGINT
# Event times the store can keep: ClickHouse's Date, which partitions every table, spans
# 1970-01-01 up to (not including) 2149-06-07.
EARLIEST_TIME_MS = 0
END_OF_TIME_MS = 5_662_310_400_000
BATCH_HEADER_FIELDS = frozenset({"request", "op", "resp", "when", "microsec", "metrics", "error"})


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


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MILLISECOND = timedelta(milliseconds=1)


def parse_when(value: Any) -> int:
    """Event time in epoch milliseconds; naive times are UTC.

    Accepts MLRun's ``YYYY-MM-DD HH:MM:SS[.ffffff]+00:00`` (with or without microseconds)
    and ISO 8601 (``T``, ``Z``).

    >>> parse_when("2026-01-02 03:04:05+00:00")
    1767323045000
    >>> parse_when("2026-01-02T03:04:05.250Z")
    1767323045250
    """
    if not isinstance(value, str):
        raise EventError(f"'when' must be a string, got {type(value).__name__}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise EventError(f"'when' {value[:64]!r} is not a timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // _MILLISECOND  # integer arithmetic: timestamp() * 1000 may round down


def _string(obj: dict, key: str, required: bool = False) -> str:
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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
    uri_text = _string(obj, "function_uri", required=True)
    uri = parse_function_uri(uri_text)
    model = _string(obj, "model", required=True)
    version = _string(obj, "version")
    project = _string(obj, "project") or uri.project
    labels = obj.get("labels") or {}
    if not isinstance(labels, dict):
        raise EventError(f"'labels' must be an object, got {type(labels).__name__}")
    override = _string(obj, "endpoint_id")
    return Endpoint(
        project=project,
        endpoint_id=override or endpoint_id(uri.project, uri.function, uri.tag, uri.hash, model, version),
        function_uri=uri_text,
        model=model,
        version=version,
        model_class=_string(obj, "class"),
        labels=json.dumps({str(k): str(v) for k, v in labels.items()}, sort_keys=True),
    )


_ENDPOINT_FIELDS = ("function_uri", "model", "version", "project", "endpoint_id", "class")


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
        key = tuple(obj.get(name) for name in _ENDPOINT_FIELDS)
        labels = obj.get("labels")
        if labels is not None:
            if not isinstance(labels, dict) or not all(type(v) is str for v in labels.values()):
                return parse_endpoint(obj)
            key += tuple(labels.items())
        if not all(value is None or type(value) is str for value in key[:len(_ENDPOINT_FIELDS)]):
            return parse_endpoint(obj)
        endpoint = self.endpoints.get(key)
        if endpoint is None:
            endpoint = parse_endpoint(obj)  # raises for an invalid endpoint, which is not cached
            if len(self.endpoints) >= self.limit:
                self.endpoints.clear()
            self.endpoints[key] = endpoint
        return endpoint


def loads(line: str) -> Any:
    """A JSON line: orjson, or the standard library where orjson refuses (NaN, Infinity, lone
    surrogates), so the lines accepted are the standard library's. One difference remains:
    orjson reads an integer past 64 bits as a float.

    >>> loads('{"x": NaN}')["x"]
    nan
    """
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


@dataclass(frozen=True)
class Prediction:
    """One request as the metrics see it."""

    time_ms: int
    predictions: int  # predicted rows; 0 for an error event
    latency_us: int  # microsec as given; 0 for an error event
    is_error: bool


def parse_prediction(event: dict) -> Prediction:
    """Validate one (expanded) event: a success or an error.

    >>> parse_prediction({"when": "2026-01-01 00:00:00+00:00", "microsec": 1500000,
    ...                   "request": {"inputs": [[1, 2], [3, 4]]}, "resp": {"outputs": [0, 1]}})
    Prediction(time_ms=1767225600000, predictions=2, latency_us=1500000, is_error=False)
    """
    time_ms = parse_when(event.get("when"))
    if not EARLIEST_TIME_MS <= time_ms < END_OF_TIME_MS:
        raise EventError(f"'when' {event['when'][:64]!r} is outside the times the store keeps "
                         "(1970-01-01 to 2149-06-06)")
    request = event.get("request")
    if not isinstance(request, dict):
        raise EventError("missing 'request' object")
    inputs = request.get("inputs")
    if not isinstance(inputs, list):
        raise EventError("'request.inputs' must be a list of feature rows")
    if not inputs:
        raise EventError("'request.inputs' is empty")
    error = event.get("error")
    if error is not None:
        if not isinstance(error, str):
            raise EventError(f"'error' must be a string, got {type(error).__name__}")
        return Prediction(time_ms, 0, 0, True)
    resp = event.get("resp")
    if not isinstance(resp, dict):
        raise EventError("missing 'resp' object (and no 'error')")
    outputs = resp.get("outputs")
    if not isinstance(outputs, list):
        raise EventError("'resp.outputs' must be a list")
    if len(outputs) != len(inputs):
        raise EventError(f"{len(outputs)} outputs for {len(inputs)} input rows")
    microsec = event.get("microsec")
    if not _is_number(microsec) or not math.isfinite(microsec) or microsec < 0:
        raise EventError(f"'microsec' must be a non-negative number, got {microsec!r}"[:200])
    if microsec >= MAX_LATENCY_US:  # would overflow the job's BIGINT columns
        raise EventError(f"'microsec' {microsec!r} is past the largest latency, {MAX_LATENCY_US - 1}"[:200])
    return Prediction(time_ms, len(inputs), int(microsec), False)


def expand_batch(obj: dict) -> list[dict]:
    """The events of a line: itself, or one per row of a ``headers``/``values`` batch.

    >>> expand_batch({"model": "m", "headers": ["when", "microsec"], "values": [["t1", 5], ["t2", 6]]})
    [{'model': 'm', 'when': 't1', 'microsec': 5}, {'model': 'm', 'when': 't2', 'microsec': 6}]
    """
    if "headers" not in obj and "values" not in obj:
        return [obj]
    headers, values = obj.get("headers"), obj.get("values")
    if not isinstance(headers, list) or not all(isinstance(h, str) for h in headers):
        raise EventError("'headers' must be a list of field names")
    if not isinstance(values, list):
        raise EventError("'values' must be a list of rows")
    unknown = set(headers) - BATCH_HEADER_FIELDS
    if unknown:
        raise EventError(f"unknown batch headers {sorted(unknown)}")
    base = {k: v for k, v in obj.items() if k not in ("headers", "values")}
    return [dict(base, **dict(zip(headers, row))) if isinstance(row, list) else row for row in values]


@dataclass
class ParsedLines(FeatureColumns):
    """Columns for a batch of lines: per-line endpoint fields, per-event arrays, and the
    feature summaries and samples (see :mod:`udfs.features`)."""

    project: list[str | None] = field(default_factory=list)
    endpoint_id: list[str | None] = field(default_factory=list)
    function_uri: list[str | None] = field(default_factory=list)
    model: list[str | None] = field(default_factory=list)
    version: list[str | None] = field(default_factory=list)
    model_class: list[str | None] = field(default_factory=list)
    labels: list[str | None] = field(default_factory=list)
    time_ms: list[list[int | None]] = field(default_factory=list)
    predictions: list[list[int]] = field(default_factory=list)
    latency_us: list[list[int]] = field(default_factory=list)
    is_error: list[list[bool]] = field(default_factory=list)
    status: list[list[str]] = field(default_factory=list)
    reason: list[list[str | None]] = field(default_factory=list)
    # custom metrics of the line's valid successful events: event number (1-based), name, value
    metric_event: list[list[int]] = field(default_factory=list)
    metric_name: list[list[str]] = field(default_factory=list)
    metric_value: list[list[float]] = field(default_factory=list)


class LatenessTracker:
    """Flags events that Flink's watermark (max event time - lateness) would drop, and events
    too far ahead of the clock to be let move it.

    An event is late when its time is at or before the highest event time seen so far by
    this parser minus the allowed lateness. Flink's watermark downstream never runs ahead of
    that bound, so an event not flagged here is never dropped by a window. With no
    lateness (``None``: a bounded run, whose watermark only moves at the end) nothing is late.

    An event more than ``ahead_ms`` past the wall clock (continuous runs, ``ahead_ms`` > 0) is
    invalid: taken in, it would move the watermark so far that every later event were late.

    >>> tracker = LatenessTracker(lateness_ms=1000)
    >>> [tracker.is_late(t) for t in (5000, 4500, 4000, 3999, 6000)]
    [False, False, True, True, False]
    >>> LatenessTracker(None).is_late(0)
    False
    >>> ahead = LatenessTracker(1000, ahead_ms=60_000, clock_ms=lambda: 1_000_000)
    >>> ahead.is_too_far_ahead(1_060_000), ahead.is_too_far_ahead(1_060_001)
    (False, True)
    """

    def __init__(self, lateness_ms: int | None, ahead_ms: int = 0, clock_ms=lambda: time.time_ns() // 1_000_000):
        self.lateness_ms = lateness_ms
        self.ahead_ms = ahead_ms if lateness_ms is not None else 0
        self.clock_ms = clock_ms
        self.max_time_ms: int | None = None

    @property
    def ahead_reason(self) -> str:
        return f"event time is more than {self.ahead_ms} ms ahead of the clock"

    @property
    def late_reason(self) -> str:
        return f"event time is more than {self.lateness_ms} ms behind the latest event time"

    def is_too_far_ahead(self, time_ms: int) -> bool:
        return self.ahead_ms > 0 and time_ms > self.clock_ms() + self.ahead_ms

    def is_late(self, time_ms: int) -> bool:
        if self.lateness_ms is None:
            return False
        if self.max_time_ms is not None and time_ms <= self.max_time_ms - self.lateness_ms:
            return True
        if self.max_time_ms is None or time_ms > self.max_time_ms:
            self.max_time_ms = time_ms
        return False


MAX_CUSTOM_METRICS = 100  # per event; more is not monitored
MAX_METRIC_NAME = 200


def custom_metrics(event: dict) -> list[tuple[str, float]]:
    """The event's ``metrics`` object as (name, value) pairs: finite numbers only (other
    values, over-long names and metrics past MAX_CUSTOM_METRICS are left out).

    >>> custom_metrics({"metrics": {"confidence": 0.9, "note": "x", "flag": True, "n": 3}})
    [('confidence', 0.9), ('n', 3.0)]
    >>> custom_metrics({"metrics": None}), custom_metrics({"metrics": [1]})
    ([], [])
    """
    metrics = event.get("metrics")
    if not isinstance(metrics, dict):
        return []
    return [(name, float(value)) for name, value in list(metrics.items())[:MAX_CUSTOM_METRICS]
            if _is_number(value) and math.isfinite(value) and len(name) <= MAX_METRIC_NAME]


def _append_line(out: ParsedLines, endpoint: Endpoint | None, events: list[tuple],
                 metrics: list[tuple[int, str, float]] = ()) -> None:
    for name in ("project", "endpoint_id", "function_uri", "model", "version", "model_class", "labels"):
        getattr(out, name).append(getattr(endpoint, name) if endpoint else None)
    out.time_ms.append([e[0] for e in events])
    out.predictions.append([e[1] for e in events])
    out.latency_us.append([e[2] for e in events])
    out.is_error.append([e[3] for e in events])
    out.status.append([e[4] for e in events])
    out.reason.append([e[5] for e in events])
    out.metric_event.append([m[0] for m in metrics])
    out.metric_name.append([m[1] for m in metrics])
    out.metric_value.append([m[2] for m in metrics])


def _time_if_readable(row: object) -> int | None:
    """An invalid event's own time, when it has one, so its dead letter sits at that time."""
    try:
        return parse_when(row.get("when")) if isinstance(row, dict) else None
    except EventError:
        return None


def parse_lines(lines: Iterable[str | None], tracker: LatenessTracker,
                features: FeatureSettings | None = None, endpoints: EndpointCache | None = None) -> ParsedLines:
    """Parse a batch of raw lines into columns; never raises for bad input.

    With ``features``, the input rows of valid successful predictions are summarized per
    endpoint and window (error events are not: no prediction was made on their inputs).

    >>> out = parse_lines(['{"bad json', '{"model": "m", "function_uri": "p/f", '
    ...     '"when": "2026-01-01T00:00:00Z", "request": {"inputs": [[1]]}, "error": "boom"}'],
    ...     LatenessTracker(0))
    >>> out.status, out.is_error, out.endpoint_id[0] is None
    ([['invalid'], ['ok']], [[False], [True]], True)
    """
    out = ParsedLines()
    endpoints = endpoints or EndpointCache()
    collector = FeatureCollector(features, out) if features else None
    line_index = -1
    for line in lines:
        line_index += 1
        out.add_line()
        endpoint = None
        try:
            obj = loads(line) if line is not None else None
            if not isinstance(obj, dict):
                raise EventError(f"a line must be a JSON object, got {type(obj).__name__}")
            endpoint = endpoints.parse(obj)
            rows = expand_batch(obj)
        except (EventError, ValueError, RecursionError) as error:
            reason = str(error) if isinstance(error, EventError) else f"bad JSON: {error}"
            _append_line(out, endpoint, [(None, 0, 0, False, STATUS_INVALID, reason[:500])])
            continue
        events, metrics = [], []
        ordinal = 0  # input rows numbered across the line's successful events, late ones too
        for row in rows:
            try:
                if not isinstance(row, dict):
                    raise EventError(f"a batch row must be a list, got {type(row).__name__}")
                p = parse_prediction(row)
            except EventError as error:
                events.append((_time_if_readable(row), 0, 0, False, STATUS_INVALID, str(error)[:500]))
                continue
            first_row, ordinal = ordinal, ordinal + p.predictions
            if tracker.is_too_far_ahead(p.time_ms):
                events.append((p.time_ms, 0, 0, False, STATUS_INVALID, tracker.ahead_reason))
                continue
            if tracker.is_late(p.time_ms):
                events.append((p.time_ms, p.predictions, p.latency_us, p.is_error, STATUS_LATE, tracker.late_reason))
                continue
            events.append((p.time_ms, p.predictions, p.latency_us, p.is_error, STATUS_OK, None))
            if not p.is_error:
                metrics.extend((len(events), name, value) for name, value in custom_metrics(row))
            if collector is not None and not p.is_error:
                if tracker.lateness_ms is not None:
                    collector.close_through(tracker.max_time_ms - tracker.lateness_ms, line_index)
                collector.add(line, first_row, endpoint.project, endpoint.endpoint_id, p.time_ms,
                              row["request"]["inputs"])
        if not events:
            events.append((None, 0, 0, False, STATUS_INVALID, "batch has no rows"))
        _append_line(out, endpoint, events, metrics)
    if collector is not None and line_index >= 0:
        collector.finish(line_index)
    return out
