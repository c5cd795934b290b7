"""Hypothesis strategies for prediction lines: valid events with fields replaced by anything JSON
can hold or removed, batches with any headers and rows, and text and bytes that are no JSON."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from modelmon.udfs.histograms import CATEGORICAL, CATEGORICAL_NUMBER, FeatureReference, Reference

FIELDS = ["class", "model", "version", "function_uri", "project", "endpoint_id", "labels", "request", "resp",
          "when", "microsec", "error", "metrics", "headers", "values", "op"]
VALID = {"class": "C", "model": "m", "version": "v", "function_uri": "p/f:t", "op": "infer",
         "request": {"id": "1", "inputs": [[1.0, 2.0, 3.0]]}, "resp": {"outputs": [0]},
         "when": "2026-11-26 10:00:00+00:00", "microsec": 12}
# f0 numeric, f1 categorical (strings and booleans), f2 category codes: every kind of feature.
REFERENCE = Reference(1, (
    FeatureReference("f0", np.linspace(0, 10, 6), np.ones(5, dtype=np.int64)),
    FeatureReference("f1", None, np.ones(5, dtype=np.int64), ("x", "true", "\u00e9"), CATEGORICAL),
    FeatureReference("f2", None, np.ones(4, dtype=np.int64), ("3", "1.5"), CATEGORICAL_NUMBER)), 0.5, 0.7)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=25)
# A valid event with some fields replaced by anything JSON can hold, or removed.
mutated_events = st.builds(
    lambda changes, removed: {k: v for k, v in dict(VALID, **changes).items() if k not in removed},
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4),
    st.sets(st.sampled_from(FIELDS), max_size=3))
# Batched lines whose headers and rows are anything.
mutated_batches = st.builds(
    lambda headers, values: dict(VALID, headers=headers, values=values),
    st.one_of(st.lists(st.sampled_from(["when", "request", "resp", "microsec", "error", "metrics"]), max_size=6),
              json_values),
    st.one_of(st.lists(st.lists(json_values, max_size=6), max_size=4), json_values))
lines = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda raw: raw.decode("utf-8", errors="replace")),
    json_values.map(lambda value: json.dumps(value)),
    mutated_events.map(lambda event: json.dumps(event)),
    mutated_batches.map(lambda event: json.dumps(event)),
    mutated_events.map(lambda event: json.dumps(event)[:max(1, len(json.dumps(event)) // 2)]),
)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
