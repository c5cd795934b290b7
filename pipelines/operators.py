"""The monitoring job's operators: Flink adapters around the pure functions of :mod:`modelmon.udfs`.

- :class:`ParsePredictionBlocks` / :class:`ParsePredictionMessages`: one vectorized Python call
  per spool block, or per Arrow batch of Kafka messages, over the events Java read
  (:func:`modelmon.udfs.batches.parse_batch`), returning one pickled batch output.
- :class:`RouteBatch`: a batch's output -> slices per endpoint | feature partials | dead letters
  and samples.
- :class:`MetricWindows` and :class:`FeatureWindows`: keyed state and event-time timers per
  endpoint, emitting the windows' rows as the watermark passes their ends.
"""

from __future__ import annotations

import pickle
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from pyflink.common import Row, Types
from pyflink.datastream import OutputTag
from pyflink.datastream.functions import KeyedProcessFunction, ProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueState, ValueStateDescriptor
from pyflink.table import DataTypes
from pyflink.table.udf import FunctionContext, ScalarFunction

from modelmon.config import Config
from modelmon.pipelines.alerting import AlertChecks, JobAlertRules
from modelmon.pipelines.references import JobReferences
from modelmon.pipelines.store_sink import REGISTRY, STORE_ROW, SampleInserts, WindowRows, store_row
from modelmon.pipelines.worker import tune_worker
from modelmon.udfs.batches import BatchOutput, parse_batch
from modelmon.udfs.contract import EndpointCache
from modelmon.udfs.feature_windows import drift_rows, histogram_rows
from modelmon.udfs.features import FeatureSettings
from modelmon.udfs.histograms import FeatureSummary
from modelmon.udfs.java_events import BlockLines, Descriptions, JavaEvents, decode
from modelmon.udfs.lateness import LatenessTracker
from modelmon.udfs.metric_windows import window_ends, windows_ending
from modelmon.udfs.registry import EndpointTotals, count_slices
from modelmon.udfs.slices import slice_length_ms

WINDOW_SIZES_MS = {"5m": 5 * 60_000, "1h": 60 * 60_000}

PARSED_BATCH_TYPE = DataTypes.ROW([
    DataTypes.FIELD("time_ms", DataTypes.BIGINT()),
    DataTypes.FIELD("batch", DataTypes.BYTES()),
])


def job_slice_ms(config: Config) -> int:
    """The time slice the parser sums events into and the metric windows are built from."""
    return slice_length_ms(config.slide_seconds * 1000, list(WINDOW_SIZES_MS.values()))


class _PredictionParser(ScalarFunction):
    """What both parse adapters share: the settings, and per instance the lateness tracker,
    endpoint cache and references that every call's :func:`modelmon.udfs.batches.parse_batch` uses,
    and the direct inserts of a large batch's sampled rows (``sample_insert_rows``, 0 to
    leave them all to the writer)."""

    def __init__(self, config: Config, lateness_ms: int | None, references: JobReferences):
        self.lateness_ms = lateness_ms
        self.dsn = config.store
        self.sample_insert_rows = references.access.direct_insert_rows(config.sample_insert_rows)
        self.retry_max_seconds = config.sink_retry_max_seconds
        self.ahead_ms = config.future_tolerance_seconds * 1000
        self.job_references = references
        self.window_ms = config.feature_window_seconds * 1000
        self.sample_every = config.feature_sample_every
        self.slice_ms = job_slice_ms(config)
        self.dead_letter_max_chars = config.dead_letter_max_chars
        self.idle_ms = round(config.source_idle_seconds * 1000)
        self.retention_days = config.retention_days

    def open(self, function_context: FunctionContext) -> None:
        tune_worker()
        self.tracker = LatenessTracker(self.lateness_ms, self.ahead_ms, idle_ms=self.idle_ms,
                                       retention_days=self.retention_days)
        self.endpoints = EndpointCache()
        self.descriptions = Descriptions(self.endpoints)
        self.references = self.job_references.open()
        self.sample_inserts = SampleInserts(self.dsn, self.sample_insert_rows, self.retry_max_seconds)

    def parse(self, raw_lines: Sequence[bytes], java: JavaEvents,
              line_partitions: np.ndarray | None = None) -> BatchOutput:
        features = FeatureSettings(self.window_ms, self.references.current().get, self.sample_every)
        output = parse_batch(raw_lines, self.tracker, features, self.endpoints, self.slice_ms,
                             self.dead_letter_max_chars, java, line_partitions)
        if self.sample_inserts.stored(output.samples):
            output.samples = output.samples.slice(0, 0)
        return output

    def close(self) -> None:
        self.references.close()
        self.sample_inserts.close()


class ParsePredictionBlocks(_PredictionParser):
    """Adapter: one block of spool lines (or, for a local file, NULL: the events say where it
    is) and its events read in Java -> its pickled :class:`modelmon.udfs.batches.BatchOutput` and
    latest event time.

    A plain (row-at-a-time) function, not a pandas one: a block is a whole batch already, and
    the Arrow framing of one 9 MB row costs copies on both sides that the row coder avoids.
    """

    def eval(self, payload: bytes | None, events: bytes) -> Row:
        java = decode([events], self.descriptions)
        output = self.parse(BlockLines.of(payload, java), java)
        return Row(output.time_ms, pickle.dumps(output, protocol=pickle.HIGHEST_PROTOCOL))


class ParsePredictionMessages(_PredictionParser):
    """Adapter: a pandas batch of Kafka messages (one line each), their events read in Java and
    their partitions -> one pickled :class:`modelmon.udfs.batches.BatchOutput` on the batch's last
    row (NULL on the others), beside the time the watermark follows on every row."""

    def eval(self, payloads: pd.Series, events: pd.Series, partitions: pd.Series) -> pd.DataFrame:
        raw = [b"" if payload is None else payload for payload in payloads]
        output = self.parse(raw, decode(events.tolist(), self.descriptions), partitions.to_numpy(dtype=np.int64))
        batches = [None] * len(raw)
        batches[-1] = pickle.dumps(output, protocol=pickle.HIGHEST_PROTOCOL)
        return pd.DataFrame({"time_ms": np.full(len(raw), output.time_ms, dtype=np.int64), "batch": batches})


FEATURE_PARTIALS = OutputTag("feature-partials", Types.ROW_NAMED(
    ["project", "endpoint_id", "partials"],  # partials: [(window start, FeatureSummary bytes)]
    [Types.STRING(), Types.STRING(), Types.PICKLED_BYTE_ARRAY()]))
STORE_ROWS = OutputTag("store-rows", STORE_ROW)


class RouteBatch(ProcessFunction):
    """Adapter: a batch's output -> its slices per endpoint (main output), its feature partials
    (side output) and its dead letters and samples, which go straight to the store (side output)."""

    def process_element(self, value: Row, ctx: ProcessFunction.Context):
        output: BatchOutput = pickle.loads(value.batch)
        by_endpoint: dict[str, list] = {}
        for s in output.slices:
            by_endpoint.setdefault(s.endpoint_id, []).append(s)
        for endpoint_id, endpoint_slices in by_endpoint.items():
            yield Row(endpoint_id, endpoint_slices)
        # One record per endpoint, not per window: with many quiet endpoints a batch holds about
        # one partial per event, and each record costs FeatureWindows a state read and write.
        by_endpoint_partials: dict[tuple[str, str], list] = {}
        for project, endpoint_id, window_start, data in output.partials:
            by_endpoint_partials.setdefault((project, endpoint_id), []).append((window_start, data))
        for (project, endpoint_id), partials in by_endpoint_partials.items():
            yield FEATURE_PARTIALS, Row(project, endpoint_id, partials)
        if output.dead_letters:
            yield STORE_ROWS, store_row("invalid_events", output.dead_letters)
        if output.samples.num_rows:
            yield STORE_ROWS, store_row("incoming_features", output.samples)


class WindowTimer:
    """What both window operators do at a timer around their own rows: find the window ends
    the watermark passed since the last one emitted; then note the last, keep only what a later
    end's windows reach back to (nothing when no end is left), and set the timer for the next.

    ``step_ms`` is the distance between ends (a slice, a base window), ``reach_ms`` how far back
    an end's rows reach (the longest window, the drift range)."""

    def __init__(self, step_ms: int, reach_ms: int):
        self.step_ms, self.reach_ms = step_ms, reach_ms

    def first_end(self, held: Mapping[int, Any], emitted: int | None) -> int:
        """The first end not yet emitted; ``held`` maps start -> what is held for it."""
        return min(held) + self.step_ms if emitted is None else emitted + self.step_ms

    def due(self, held: Mapping[int, Any], emitted: int | None, watermark: int) -> tuple[list[int], int | None]:
        """The ends the watermark has passed, and the next one (None when there is none)."""
        passed = []
        for end in window_ends(sorted(held), self.first_end(held, emitted), self.step_ms, self.reach_ms):
            if end - 1 > watermark:
                return passed, end
            passed.append(end)
        return passed, None

    def settle(self, ctx: KeyedProcessFunction.OnTimerContext, held_state: ValueState, emitted_state: ValueState,
               held: Mapping[int, Any], passed: list[int], next_end: int | None) -> None:
        """After the rows of the ``passed`` ends went out."""
        if passed:
            emitted_state.update(passed[-1])
        if next_end is None:  # nothing held is in any later end's windows
            held_state.clear()
            return
        if passed:
            kept_from = passed[-1] + self.step_ms - self.reach_ms  # the next end's windows start here or later
            held_state.update({start: kept for start, kept in held.items() if start >= kept_from})
        ctx.timer_service().register_event_time_timer(next_end - 1)


def merge_into(held_by_start: dict[int, list], start: int, record, same: Callable[[Any], bool]) -> None:
    """Add ``record`` (a slice or feature summary) to those held for ``start``, merged into the
    one ``same`` matches (same project, or same reference bins) if there is one."""
    held = held_by_start.setdefault(start, [])
    for i, h in enumerate(held):
        if same(h):
            held[i] = h.merge(record)
            return
    held.append(record)


END_OF_INPUT = 2 ** 63 - 1  # the watermark Flink sends when a bounded input ends


def latest(totals: dict[str, EndpointTotals]) -> EndpointTotals | None:
    """The totals (of the endpoint's one project, as a rule) with the latest request."""
    return max(totals.values(), key=lambda t: t.last_ms, default=None)


class MetricWindows(KeyedProcessFunction):
    """Adapter: per endpoint, keeps slices in keyed state and, when the watermark passes a
    slice's end, emits the windows ending there (:mod:`modelmon.udfs.metric_windows`); keeps
    the registry's running totals too, and sends them with those windows when they changed
    (:mod:`modelmon.udfs.registry`).

    Every timer emits all window ends from the first one not yet emitted up to the watermark,
    so one timer does the work of a chain of them (each a round trip to Java, about 20 ms at
    the end of a bounded input), and a timer that did not come back from a checkpoint costs
    nothing as long as a later one fires.
    """

    def __init__(self, config: Config, alert_rules: JobAlertRules):
        self.slide_ms = config.slide_seconds * 1000
        self.timer = WindowTimer(job_slice_ms(config), max(max(WINDOW_SIZES_MS.values()), self.slide_ms))
        self.alerts = AlertChecks(alert_rules)

    def open(self, runtime_context: RuntimeContext) -> None:
        tune_worker()
        self.alerts.open(runtime_context)
        # One value per endpoint (slice start -> slices), not a map state: a timer reads every
        # slice of the last hour, and PyFlink's cache keeps the value as a Python object.
        self.slices = runtime_context.get_state(ValueStateDescriptor("metric_slices", Types.PICKLED_BYTE_ARRAY()))
        self.emitted_through = runtime_context.get_state(ValueStateDescriptor("emitted_through", Types.LONG()))
        # The registry's running totals (project -> EndpointTotals), and whether they changed
        # since a timer last sent them: one state, as each is a round trip to Flink when a
        # fleet's states outgrow the worker's cache.
        self.totals = runtime_context.get_state(ValueStateDescriptor("registry_totals", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context):
        state = self.slices.value() or {}
        for s in value.slices:
            merge_into(state, s.start, s, lambda held: held.project == s.project)
        self.slices.update(state)
        totals, _ = self.totals.value() or ({}, False)
        totals = count_slices(totals, value.slices, self.slide_ms)
        self.totals.update((totals, True))
        ctx.timer_service().register_event_time_timer(self.timer.first_end(state, self.emitted_through.value()) - 1)
        last = latest(totals)
        for moment in self.alerts.silence_timers(last.project, ctx.get_current_key(), last.last_ms):
            ctx.timer_service().register_event_time_timer(moment)  # no_traffic, also once the windows are written
        return ()

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        watermark = ctx.timer_service().current_watermark()
        state = self.slices.value() or {}
        # no_traffic needs a clock that other traffic moves: not the final watermark of an input
        # that ended (a bounded run's only one), when every endpoint would look silent.
        last = latest((self.totals.value() or ({}, False))[0]) if watermark < END_OF_INPUT else None
        if not state:  # every window written: only a no_traffic evaluation can be due
            if last is not None:
                rows = WindowRows()
                yield from rows.add("alert_activations", self.alerts.check_silence(
                    last.project, ctx.get_current_key(), last.last_ms, [timestamp]))
                yield from rows.rest()
            return
        passed, next_end = self.timer.due(state, self.emitted_through.value(), watermark)
        rows = WindowRows()
        metrics = []
        for table, row in windows_ending(state, passed, self.slide_ms, WINDOW_SIZES_MS):
            yield from rows.add(table, [row])
            if table == "endpoint_metrics":
                metrics.append(row)
        if metrics:
            yield from rows.add("alert_activations", self.alerts.check(
                metrics[0]["project"], ctx.get_current_key(), {"endpoint_metrics": metrics}))
        if last is not None:
            yield from rows.add("alert_activations", self.alerts.check_silence(
                last.project, ctx.get_current_key(), last.last_ms, passed))
        totals, unsent = self.totals.value() or ({}, False)  # None: restored from a job without a registry
        if unsent:
            yield from rows.add(REGISTRY, list(totals.values()))
            self.totals.update((totals, False))
        yield from rows.rest()
        self.timer.settle(ctx, self.slices, self.emitted_through, state, passed, next_end)

    def close(self) -> None:
        self.alerts.close()


class FeatureWindows(KeyedProcessFunction):
    """Adapter: per endpoint, merges partial feature summaries per window in keyed state and,
    when the watermark closes a window, emits its histograms and the trailing-range drift
    (:mod:`modelmon.udfs.feature_windows`). While the trailing range still holds windows, drift is
    recomputed each time a further base window closes, so a quiet endpoint's drift stays current.
    Like :class:`MetricWindows`, every timer emits all window ends from the first one not yet
    emitted up to the watermark.
    """

    def __init__(self, config: Config, references: JobReferences, alert_rules: JobAlertRules):
        self.job_references = references
        self.alerts = AlertChecks(alert_rules)
        self.window_ms = config.feature_window_seconds * 1000
        self.range_ms = config.drift_range_seconds * 1000
        self.timer = WindowTimer(self.window_ms, self.range_ms)

    def open(self, runtime_context: RuntimeContext) -> None:
        tune_worker()
        # One value per endpoint (window start -> summaries), not a map state, as in
        # MetricWindows: a record brings partials for many windows and a timer reads them all,
        # and PyFlink's cache keeps the value as a Python object between them.
        self.windows = runtime_context.get_state(
            ValueStateDescriptor("feature_summaries", Types.PICKLED_BYTE_ARRAY()))
        self.project = runtime_context.get_state(ValueStateDescriptor("project", Types.STRING()))
        self.emitted_through = runtime_context.get_state(ValueStateDescriptor("emitted_through", Types.LONG()))
        self.references = self.job_references.open()
        self.alerts.open(runtime_context)

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context):
        windows = self.windows.value() or {}
        for window_start, data in value.partials:
            partial = FeatureSummary.from_bytes(data)
            merge_into(windows, window_start, partial, lambda held: held.reference_id == partial.reference_id)
        self.windows.update(windows)
        self.project.update(value.project)
        end = min(window_start for window_start, _ in value.partials) + self.window_ms
        emitted = self.emitted_through.value()
        if emitted is not None:
            end = min(end, emitted + self.window_ms)  # the first end not yet emitted
        ctx.timer_service().register_event_time_timer(end - 1)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        watermark = ctx.timer_service().current_watermark()
        windows = self.windows.value() or {}
        if not windows:
            return
        endpoint_id, project = ctx.get_current_key(), self.project.value()
        passed, next_end = self.timer.due(windows, self.emitted_through.value(), watermark)
        drifts = drift_rows(project, endpoint_id, passed, self.range_ms, windows, self.references.get(endpoint_id))
        rows = WindowRows()
        for end, (measures, status) in zip(passed, drifts):
            closed = windows.get(end - self.window_ms)
            histograms = []
            if closed:
                histograms = histogram_rows(project, endpoint_id, end - self.window_ms, self.window_ms, closed,
                                            lambda reference_id: self.references.version(endpoint_id, reference_id))
            yield from rows.add("drift_measures", measures)
            yield from rows.add("drift_status", [status])
            yield from rows.add("feature_histograms", histograms)
            yield from rows.add("alert_activations", self.alerts.check(
                project, endpoint_id, {"drift_status": [status], "drift_measures": measures,
                                       "feature_histograms": histograms}))
        yield from rows.rest()
        self.timer.settle(ctx, self.windows, self.emitted_through, windows, passed, next_end)

    def close(self) -> None:
        self.references.close()
        self.alerts.close()
