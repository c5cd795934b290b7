"""Property-based fuzzing of the exact parser (hypothesis): whatever a line holds, the parts of
the parser raise only :class:`EventError`, and reading a batch raises nothing and accounts for
every line, with features summarized against a reference."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from modelmon.udfs.batches import parse_batch
from modelmon.udfs.contract import STATUS_INVALID, STATUS_OK, EndpointCache, EventError, parse_endpoint
from modelmon.udfs.events import expand_batch, parse_prediction
from modelmon.udfs.features import FeatureSettings
from modelmon.udfs.lateness import LatenessTracker
from tests.support.reader_lines import parsed
from tests.support.fuzz import FUZZ, REFERENCE, lines, mutated_batches, mutated_events


@FUZZ
@given(mutated_events)
def test_parse_prediction_and_parse_endpoint_raise_only_event_error(event):
    for part in (parse_prediction, parse_endpoint, expand_batch):
        try:
            part(event)
        except EventError:
            pass


@FUZZ
@given(mutated_batches)
def test_expand_batch_raises_only_event_error(line):
    try:
        rows = expand_batch(line)
    except EventError:
        return
    for row in rows:
        try:
            parse_prediction(row) if isinstance(row, dict) else None
        except EventError:
            pass


@FUZZ
@given(st.lists(lines, min_size=1, max_size=8), st.sampled_from([None, 0, 60_000]))
def test_parse_lines_never_raises_and_accounts_for_every_line(batch, lateness_ms):
    out = parsed(batch, LatenessTracker(lateness_ms))
    assert len(out.status) == len(batch)
    for statuses, reasons, predictions, latencies in zip(out.status, out.reason, out.predictions, out.latency_us):
        assert statuses  # every line yields at least one event
        for status, reason, count, latency in zip(statuses, reasons, predictions, latencies):
            assert (reason is None) == (status == STATUS_OK)
            if status == STATUS_INVALID:
                assert count == 0 and latency == 0 and reason
            assert count >= 0 and 0 <= latency < 2**63
    features = FeatureSettings(300_000, lambda endpoint_id: REFERENCE, sample_every=2)
    output = parse_batch([text.encode() for text in batch], LatenessTracker(lateness_ms), features, EndpointCache(),
                         60_000, 65536)
    assert all(math.isfinite(value) for s in output.slices for _, total, low, high in s.metrics.values()
               for value in (total, low, high))
