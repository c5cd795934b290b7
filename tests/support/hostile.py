"""A corpus of malformed and adversarial lines, each with its documented outcome written out by
hand: the status and reason of each of its events, and what it adds to its endpoint's counts
and to the feature histograms (three reference features, f0..f2).

The lines are bytes, as a model server might write them; the parser decodes them as UTF-8,
with U+FFFD in place of bytes that are not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

BASE = {"class": "Hostile", "worker": "0", "model": "hostile", "version": "v1", "host": "h",
        "function_uri": "tests/hostile:prod"}
STRANGER = dict(BASE, model="stranger")  # an endpoint with no reference
FEATURES = 3
BAD_JSON = "bad JSON"  # the start of every unreadable line's reason; the rest is the parser's message
TEN_MB = 10 * 1024 * 1024
DEAD_LETTER_CHARS = 65536  # the job's default dead_letter_max_chars


@dataclass(frozen=True)
class Hostile:
    """One kind of bad input and what must come of it."""

    kind: str
    line: bytes
    events: list[tuple[str, str | None]]  # (status, reason, or its start for BAD_JSON) per event
    endpoint: bool = True  # whether the endpoint can be worked out (its base fields are readable)
    requests: int = 0  # valid events counted for the endpoint, errors included
    predictions: int = 0
    errors: int = 0
    valid_values: tuple[int, ...] = (0,) * FEATURES  # feature values binned, per feature
    invalid_values: tuple[int, ...] = (0,) * FEATURES  # counted as invalid, per feature
    other_endpoint: dict = field(default_factory=dict)


def corpus(when: datetime) -> list[Hostile]:
    """Every kind, with events at ``when`` (MLRun's time format)."""
    at = when.strftime("%Y-%m-%d %H:%M:%S.%f+00:00")

    def success(**changes) -> dict:
        event = dict(BASE, request={"id": "r1", "inputs": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]}, op="infer",
                     resp={"id": "r1", "model_name": "hostile", "outputs": [0, 1]}, when=at, microsec=1500)
        return {k: v for k, v in dict(event, **changes).items() if v is not ...}

    def line(obj: dict) -> bytes:
        return json.dumps(obj).encode()

    ok_two_rows = dict(requests=1, predictions=2, valid_values=(2, 2, 2))
    good = success()
    return [
        Hostile("broken JSON", b'{"model": "hostile", "function_uri": "tests/hostile:prod", "when": }',
                [("invalid", BAD_JSON)], endpoint=False),
        Hostile("truncated line", line(good)[:80], [("invalid", BAD_JSON)], endpoint=False),
        Hostile("not an object", b"[1, 2, 3]", [("invalid", "a line must be a JSON object, got list")],
                endpoint=False),
        Hostile("NUL byte", b"\x00", [("invalid", BAD_JSON)], endpoint=False),
        Hostile("100,000-deep nesting", b"[" * 100_000, [("invalid", BAD_JSON)], endpoint=False),
        Hostile("string for a number", line(success(microsec="fast")),
                [("invalid", "'microsec' must be a non-negative number, got 'fast'")]),
        Hostile("object for a list", line(success(request={"inputs": {"f0": 1.0}})),
                [("invalid", "'request.inputs' must be a list of feature rows")]),
        Hostile("string for the model", line(success(model=12)), [("invalid", "'model' must be a string, got int")],
                endpoint=False),
        Hostile("missing when", line(success(when=...)), [("invalid", "'when' must be a string, got NoneType")]),
        Hostile("missing request", line(success(request=...)), [("invalid", "missing 'request' object")]),
        Hostile("missing resp", line(success(resp=...)), [("invalid", "missing 'resp' object (and no 'error')")]),
        Hostile("outputs not matching inputs", line(success(resp={"outputs": [1]})),
                [("invalid", "1 outputs for 2 input rows")]),
        Hostile("NaN latency", line(good).replace(b'"microsec": 1500', b'"microsec": NaN'),
                [("invalid", "'microsec' must be a non-negative number, got nan")]),
        Hostile("Infinity latency", line(good).replace(b'"microsec": 1500', b'"microsec": Infinity'),
                [("invalid", "'microsec' must be a non-negative number, got inf")]),
        Hostile("huge latency", line(success(microsec=1e300)),
                [("invalid", "'microsec' 1e+300 is past the largest latency, 9223372036854775807")]),
        Hostile("event time before 1970", line(success(when="1969-12-31 23:59:59+00:00")),
                [("invalid", "'when' '1969-12-31 23:59:59+00:00' is outside the times the store keeps "
                             "(1970-01-01 to 2149-06-06)")]),
        Hostile("event time far in the future", line(success(when="2200-01-01T00:00:00Z")),
                [("invalid", "'when' '2200-01-01T00:00:00Z' is outside the times the store keeps "
                             "(1970-01-01 to 2149-06-06)")]),
        Hostile("NaN and infinite feature values",
                line(success(request={"inputs": [[1.0, 2.0, 3.0]]}, resp={"outputs": [0]})).replace(
                    b"[[1.0, 2.0, 3.0]]", b"[[NaN, Infinity, -Infinity]]"),
                [("ok", None)], requests=1, predictions=1, invalid_values=(1, 1, 1)),
        Hostile("huge feature values", line(success(request={"inputs": [[1e308, -1e308, 5.0]]}, resp={"outputs": [0]})),
                [("ok", None)], requests=1, predictions=1, valid_values=(1, 1, 1)),
        Hostile("strings, booleans and nulls for features",
                line(success(request={"inputs": [["a", True, None]]}, resp={"outputs": [0]})),
                [("ok", None)], requests=1, predictions=1, invalid_values=(1, 1, 1)),
        Hostile("empty feature row", line(success(request={"inputs": [[]]}, resp={"outputs": [0]})),
                [("ok", None)], requests=1, predictions=1, invalid_values=(1, 1, 1)),
        Hostile("fewer features than the reference",
                line(success(request={"inputs": [[1.0, 2.0]]}, resp={"outputs": [0]})),
                [("ok", None)], requests=1, predictions=1, valid_values=(1, 1, 0), invalid_values=(0, 0, 1)),
        Hostile("10,000-value feature row",
                line(success(request={"inputs": [[0.5] * 10_000]}, resp={"outputs": [0]})),
                [("ok", None)], requests=1, predictions=1, valid_values=(1, 1, 1)),
        Hostile("empty inputs", line(success(request={"inputs": []}, resp={"outputs": []})),
                [("invalid", "'request.inputs' is empty")]),
        Hostile("error event", line(success(resp=..., microsec=..., error="model crashed")), [("ok", None)],
                requests=1, errors=1),
        Hostile("batch with one bad row", line(dict(BASE, headers=["when", "request", "resp", "microsec"], values=[
                    [at, {"inputs": [[1.0, 2.0, 3.0]]}, {"outputs": [0]}, 10],
                    [at, {"inputs": [[1.0, 2.0, 3.0]]}, {"outputs": [0]}, "slow"],
                    [at, {"inputs": [[1.0, 2.0, 3.0]]}, {"outputs": [0]}, 30]])),
                [("ok", None), ("invalid", "'microsec' must be a non-negative number, got 'slow'"), ("ok", None)],
                requests=2, predictions=2, valid_values=(2, 2, 2)),
        Hostile("duplicate request id (first)", line(good), [("ok", None)], **ok_two_rows),
        Hostile("duplicate request id (second)", line(dict(good, worker="1")), [("ok", None)], **ok_two_rows),
        Hostile("non-UTF-8 bytes in a string", line(good).replace(b'"host": "h"', b'"host": "h\xff\xfe"'),
                [("ok", None)], **ok_two_rows),
        Hostile("non-UTF-8 bytes between fields", line(good).replace(b', "host"', b', \xff"host"'),
                [("invalid", BAD_JSON)], endpoint=False),
        Hostile("10 MB valid line", line(success(request={"id": "x" * TEN_MB, "inputs": good["request"]["inputs"]})),
                [("ok", None)], **ok_two_rows),
        Hostile("10 MB broken line", b'{"model": "hostile", "host": "' + b"x" * TEN_MB, [("invalid", BAD_JSON)],
                endpoint=False),
        Hostile("unknown endpoint", line(dict(good, model="stranger")), [("ok", None)],
                other_endpoint={"requests": 1, "predictions": 2}),
    ]
