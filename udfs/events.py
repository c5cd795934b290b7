"""The exact parser: MLRun-compatible prediction lines read one by one in plain Python.

It is the reference the Java reader is held equal to (the differential tests), and it reads
every line the Java reader leaves. Every line yields at least one event; a line that cannot
be read yields one ``invalid`` event carrying the reason, so nothing is dropped without trace.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

import numpy as np
import orjson

from modelmon.udfs.contract import (BATCH_HEADER_FIELDS, END_OF_TIME_MS, EARLIEST_TIME_MS, MAX_CUSTOM_METRICS,
                                    MAX_LATENCY_US, MAX_METRIC_NAME, MAX_REASON_CHARS, STATUS_INVALID, STATUS_OK,
                                    VALUE_FALSE, VALUE_NONFINITE, VALUE_NULL, VALUE_NUMBER, VALUE_OTHER, VALUE_TRUE,
                                    Endpoint, EndpointCache, EventError)
from modelmon.udfs.event_columns import EventColumns
from modelmon.udfs.histograms import as_number

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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
    unknown = set(headers).difference(BATCH_HEADER_FIELDS)
    if unknown:
        raise EventError(f"unknown batch headers {sorted(unknown)}")
    base = {k: v for k, v in obj.items() if k not in ("headers", "values")}
    return [dict(base, **dict(zip(headers, row))) if isinstance(row, list) else row for row in values]


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


def _time_if_readable(row: object) -> int | None:
    """An invalid event's own time, when it has one, so its dead letter sits at that time."""
    try:
        return parse_when(row.get("when")) if isinstance(row, dict) else None
    except EventError:
        return None


class _Events:
    """The exact parser's events as they are read, turned into :class:`EventColumns` at the end."""

    def __init__(self):
        self.columns: dict[str, list] = {name: [] for name in (
            "line", "ordinal", "endpoint", "time_ms", "has_time", "predictions", "latency_us", "is_error", "status",
            "reason", "line_crc", "rows", "metric_event", "metric_name", "metric_value")}
        self.row_lengths: list[int] = []
        self.values: list[float] = []
        self.value_codes: list[int] = []
        self.texts: dict[str, int] = {}
        self.codes: dict[Endpoint, int] = {}

    def add(self, line: int, ordinal: int, endpoint: Endpoint | None, crc: int, time_ms: int | None,
            status: str = STATUS_OK, reason: str | None = None, prediction: "Prediction | None" = None,
            event: dict | None = None) -> None:
        """One event; ``prediction`` and ``event`` for a valid one."""
        c = self.columns
        success = prediction is not None and not prediction.is_error
        if success:
            c["metric_event"] += [len(c["line"])] * len(metrics := custom_metrics(event))
            c["metric_name"] += [name for name, _ in metrics]
            c["metric_value"] += [value for _, value in metrics]
            inputs = event["request"]["inputs"]
            for row in inputs:
                cells = row if isinstance(row, list) else []
                self.row_lengths.append(len(cells))
                for value in cells:
                    number, code = self.read_value(value)
                    self.values.append(number)
                    self.value_codes.append(code)
        c["line"].append(line)
        c["ordinal"].append(ordinal)
        c["endpoint"].append(-1 if endpoint is None else self.codes.setdefault(endpoint, len(self.codes)))
        c["time_ms"].append(0 if time_ms is None else time_ms)
        c["has_time"].append(time_ms is not None)
        c["predictions"].append(prediction.predictions if prediction else 0)
        c["latency_us"].append(prediction.latency_us if prediction else 0)
        c["is_error"].append(bool(prediction and prediction.is_error))
        c["status"].append(status)
        c["reason"].append(reason)
        c["line_crc"].append(crc)
        c["rows"].append(prediction.predictions if success else 0)

    def read_value(self, value: object) -> tuple[float, int]:
        """A feature value as its number (NaN for none) and its code (``contract.VALUE_*``, or
        its text's index)."""
        number = as_number(value)
        if type(value) in (int, float):
            return number, VALUE_NUMBER if math.isfinite(number) else VALUE_NONFINITE
        if isinstance(value, str):
            return number, self.texts.setdefault(value, len(self.texts))
        code = {type(None): VALUE_NULL, list: VALUE_OTHER, dict: VALUE_OTHER}.get(type(value))
        return number, code if code is not None else (VALUE_TRUE if value else VALUE_FALSE)

    def columns_of_events(self) -> EventColumns:
        c = self.columns
        return EventColumns(
            line=np.array(c["line"], dtype=np.int64), ordinal=np.array(c["ordinal"], dtype=np.int64),
            endpoint=np.array(c["endpoint"], dtype=np.int64), time_ms=np.array(c["time_ms"], dtype=np.int64),
            has_time=np.array(c["has_time"], dtype=bool), predictions=np.array(c["predictions"], dtype=np.int64),
            latency_us=np.array(c["latency_us"], dtype=np.int64), is_error=np.array(c["is_error"], dtype=bool),
            status=np.array(c["status"], dtype=object), reason=c["reason"],
            line_crc=np.array(c["line_crc"], dtype=np.uint32),
            row_offsets=np.concatenate([[0], np.cumsum(c["rows"], dtype=np.int64)]),
            value_offsets=np.concatenate([[0], np.cumsum(self.row_lengths, dtype=np.int64)]),
            values=np.array(self.values, dtype=np.float64), value_code=np.array(self.value_codes, dtype=np.int32),
            value_texts=list(self.texts), metric_event=np.array(c["metric_event"], dtype=np.int64),
            metric_name=np.array(c["metric_name"], dtype=object),
            metric_value=np.array(c["metric_value"], dtype=np.float64), endpoints=list(self.codes))


def parse_lines(lines: Sequence[bytes], endpoints: EndpointCache | None = None,
                line_numbers: Sequence[int] | None = None) -> EventColumns:
    """Read raw lines (bytes, decoded as UTF-8 with U+FFFD for what is not) into events; never
    raises for bad input. ``line_numbers`` are the lines' indices in their batch (default 0, 1, ...).
    Lateness is not judged here: every valid event is ``ok``.

    >>> events = parse_lines([b'{"bad json', b'{"model": "m", "function_uri": "p/f", '
    ...     b'"when": "2026-01-01T00:00:00Z", "request": {"inputs": [[1]]}, "error": "boom"}'])
    >>> events.status.tolist(), events.is_error.tolist(), events.endpoint.tolist()
    (['invalid', 'ok'], [False, True], [-1, 0])
    """
    out = _Events()
    endpoints = endpoints or EndpointCache()
    for index, raw in zip(range(len(lines)) if line_numbers is None else line_numbers, lines):
        crc = zlib.crc32(raw)
        endpoint = None
        try:
            obj = loads(raw.decode("utf-8", errors="replace"))
            if not isinstance(obj, dict):
                raise EventError(f"a line must be a JSON object, got {type(obj).__name__}")
            endpoint = endpoints.parse(obj)
            rows = expand_batch(obj)
        except (EventError, ValueError, RecursionError) as error:
            reason = str(error) if isinstance(error, EventError) else f"bad JSON: {error}"
            out.add(index, 1, endpoint, crc, None, STATUS_INVALID, reason[:MAX_REASON_CHARS])
            continue
        if not rows:
            out.add(index, 1, endpoint, crc, None, STATUS_INVALID, "batch has no rows")
        for ordinal, row in enumerate(rows, start=1):
            try:
                if not isinstance(row, dict):
                    raise EventError(f"a batch row must be a list, got {type(row).__name__}")
                prediction = parse_prediction(row)
            except EventError as error:
                out.add(index, ordinal, endpoint, crc, _time_if_readable(row), STATUS_INVALID,
                        str(error)[:MAX_REASON_CHARS])
                continue
            out.add(index, ordinal, endpoint, crc, prediction.time_ms, prediction=prediction, event=row)
    return out.columns_of_events()
