"""Simulated model-server traffic in MLRun's monitoring-stream format, sent through the
tracker's sinks (:mod:`modelmon.tracker`)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from modelmon.tracker import format_when, open_sink
from modelmon.udfs.contract import EndpointCache

IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
FEATURE_MEAN, FEATURE_STD = 5.0, 1.0  # every simulated numeric feature, before any shift
# Categorical features (the last ``categorical`` of a row) take these values with these shares.
CATEGORIES = np.array([f"c{k}" for k in range(8)], dtype=object)
CATEGORY_SHARES = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.08, 0.05, 0.02])
_CLASSES = ["RandomForestClassifier", "LogisticRegression", "AdaBoostClassifier"]


@dataclass(frozen=True)
class SimulatedEndpoint:
    function_uri: str
    model: str
    model_class: str
    version: str = ""
    labels: tuple[tuple[str, str], ...] = ()


def default_endpoints(count: int, project: str = "demo") -> list[SimulatedEndpoint]:
    """``count`` endpoints of one serving function; the first three are the demo's classifiers.

    >>> [e.model for e in default_endpoints(4)]
    ['random-forest', 'logistic-regression', 'ada-boost', 'model-3']
    """
    names = ["random-forest", "logistic-regression", "ada-boost"]
    return [SimulatedEndpoint(function_uri=f"{project}/serving:latest",
                              model=names[i] if i < len(names) else f"model-{i}",
                              model_class=_CLASSES[i % len(_CLASSES)],
                              labels=(("team", "ml"), ("tier", "gold" if i % 2 else "silver")))
            for i in range(count)]


class TrafficGenerator:
    """Deterministic (seeded) prediction events at a fixed event-time rate."""

    def __init__(self, endpoints: list[SimulatedEndpoint], features: int = 4, seed: int = 0,
                 error_rate: float = 0.02, batch_rate: float = 0.05, events_per_second: float = 50.0,
                 start: datetime | None = None, categorical: int = 0):
        if not 0 <= categorical <= features:
            raise ValueError(f"--categorical {categorical} must be between 0 and --features {features}")
        self.endpoints = endpoints
        self.features = features
        self.categorical = categorical
        self.rng = np.random.default_rng(seed)
        self.error_rate = error_rate
        self.batch_rate = batch_rate
        self.step = timedelta(seconds=1 / events_per_second)
        self.clock = start or datetime.now(timezone.utc) - timedelta(hours=1)
        self.shift: dict[str, float] = {}

    def _event(self, endpoint: SimulatedEndpoint) -> dict:
        rng = self.rng
        rows = int(rng.integers(1, 5))
        mean = FEATURE_MEAN + self.shift.get(endpoint.model, 0.0)
        inputs = np.round(rng.normal(mean, FEATURE_STD, (rows, self.features)), 3)
        if self.categorical:
            inputs = inputs.astype(object)
            inputs[:, self.features - self.categorical:] = rng.choice(CATEGORIES, (rows, self.categorical),
                                                                      p=CATEGORY_SHARES)
        # a small jitter keeps events slightly out of order, well inside the allowed lateness
        when = self.clock + timedelta(milliseconds=float(rng.uniform(-500, 0)))
        self.clock += self.step
        event = {"request": {"id": str(uuid.UUID(int=int(rng.integers(2**63)))), "inputs": inputs.tolist()},
                 "op": "infer", "when": format_when(when)}
        if rng.random() < self.error_rate:
            event["error"] = "ValueError: model failed to predict"
        else:
            event["resp"] = {"id": event["request"]["id"], "model_name": endpoint.model,
                             "outputs": rng.integers(0, 3, rows).tolist()}
            # lognormal around 20 ms, with a tail past one second
            event["microsec"] = int(rng.lognormal(np.log(20_000), 0.8))
            event["metrics"] = {"confidence": round(float(rng.uniform(0.5, 1.0)), 4), "input_rows": rows}
        return event

    def lines(self) -> Iterator[dict]:
        """An endless stream of line objects (single or batched events)."""
        while True:
            endpoint = self.endpoints[int(self.rng.integers(len(self.endpoints)))]
            base = {"class": endpoint.model_class, "worker": "0", "model": endpoint.model,
                    "version": endpoint.version, "host": "simulator", "function_uri": endpoint.function_uri,
                    "labels": dict(endpoint.labels)}
            if self.rng.random() < self.batch_rate:
                events = [self._event(endpoint) for _ in range(int(self.rng.integers(2, 6)))]
                headers = ["request", "op", "resp", "when", "microsec", "metrics", "error"]
                values = [[e.get(h) for h in headers] for e in events]
                yield dict(base, headers=headers, values=values)
            else:
                yield dict(base, **self._event(endpoint))


def simulate_into(target: str, events: int, endpoints: int = 3, features: int = 4, seed: int = 0,
                  error_rate: float = 0.02, events_per_second: float = 50.0, live: bool = False,
                  segment_lines: int = 10_000, start: datetime | None = None, categorical: int = 0) -> int:
    """Send ``events`` lines to a Kafka topic or spool through the tracker's sinks.

    Event times advance at ``events_per_second`` from ``start`` (default: an hour ago).
    ``live``: they start now and lines go out at that rate of wall-clock time, like a model
    server's traffic, without end when ``events`` is 0. Returns the lines sent.
    """
    if events <= 0 and not live:
        raise ValueError("--events must be positive (0, for no end, needs --live)")

    generator = TrafficGenerator(default_endpoints(endpoints), features, seed, error_rate,
                                 events_per_second=events_per_second,
                                 start=datetime.now(timezone.utc) if live else start, categorical=categorical)
    sink = open_sink(target, segment_lines)
    endpoints = EndpointCache()  # a message's key is its endpoint id, as the tracker's
    sent, flushed = 0, time.monotonic()
    try:
        for line in generator.lines():
            if events and sent >= events:
                break
            if live:
                ahead = (generator.clock - datetime.now(timezone.utc)).total_seconds()
                if ahead > 0:
                    time.sleep(ahead)
                if time.monotonic() - flushed >= 1.0:  # live traffic reaches the job within a second
                    sink.flush()
                    flushed = time.monotonic()
            sink.send(endpoints.parse(line).endpoint_id, json.dumps(line))
            sent += 1
    finally:
        sink.close()
    return sent


def training_set(features: list[str], rows: int, seed: int, categorical: int = 0) -> pd.DataFrame:
    """A training set from the distribution the generator draws unshifted features from (the
    last ``categorical`` of them strings)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(np.round(rng.normal(FEATURE_MEAN, FEATURE_STD, (rows, len(features))), 3), columns=features)
    for name in features[len(features) - categorical:] if categorical else ():
        frame[name] = rng.choice(CATEGORIES, rows, p=CATEGORY_SHARES)
    return frame.assign(label=rng.integers(0, 3, rows))


def simulate(spool: Path, events: int, endpoints: int = 3, features: int = 4, seed: int = 0,
             error_rate: float = 0.02, events_per_second: float = 50.0, segment_lines: int = 10_000,
             start: datetime | None = None, categorical: int = 0) -> int:
    """Write ``events`` lines of traffic into ``spool``; returns the number of segments."""
    simulate_into(str(spool), events, endpoints, features, seed, error_rate, events_per_second,
                  segment_lines=segment_lines, start=start, categorical=categorical)
    return -(-events // segment_lines)
