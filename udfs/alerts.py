"""Alert rules and their evaluation, as DESIGN.md "Alerts" draws them: pure functions, no I/O.

A rule names a kind (:data:`KINDS`: what it reads and how it compares), the endpoints it
watches, how often the condition must hold (``count`` evaluations within ``period_seconds``),
a cooldown, how activations close (``reset``), a severity and notify targets. Each
evaluation of a rule for an endpoint goes through :func:`evaluate`, which keeps a small
:class:`RuleState` and says when an activation opens or closes; activation ids are derived
from the rule, the endpoint and the evaluation that opened it, so a replay opens the same id.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from modelmon.udfs.drift import DRIFT_DETECTED, POSSIBLE_DRIFT

SEVERITIES = ("low", "medium", "high")
RESETS = ("auto", "manual")
DEFAULT_COOLDOWN_SECONDS = 3600
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
# How a drift status ranks, for "at or above".
STATUS_RANK = {"NO_DATA": 0, "NO_REFERENCE": 0, "NO_DRIFT": 0, POSSIBLE_DRIFT: 1, DRIFT_DETECTED: 2}


class RuleError(ValueError):
    """A rule or target that cannot be used, with what is wrong in its message."""


@dataclass(frozen=True)
class AlertKind:
    """What a kind of rule reads (``source``: the rows the job produces) and how it compares:
    ``above`` / ``below`` a threshold, or a drift status ``at_least`` one."""

    name: str
    source: str
    compare: str  # "above" | "below" | "at_least"
    unit: str
    description: str
    status: str | None = None  # for "at_least": the drift status it is at or above

    @property
    def needs_threshold(self) -> bool:
        return self.compare != "at_least"

    def breached(self, value: float | str | None, threshold: float | None) -> bool:
        """Whether one evaluation's value breaks the rule.

        >>> KINDS["latency_p99_above"].breached(250_000.0, 200_000.0), KINDS["accuracy_below"].breached(0.9, 0.8)
        (True, False)
        >>> KINDS["drift_possible"].breached("DRIFT_DETECTED", None), KINDS["drift_detected"].breached("NO_DRIFT", None)
        (True, False)
        """
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.compare == "at_least":
            return STATUS_RANK.get(str(value), 0) >= STATUS_RANK[self.status]
        return value > threshold if self.compare == "above" else value < threshold


KINDS = {kind.name: kind for kind in (
    AlertKind("drift_detected", "drift_status", "at_least", "", "the endpoint's drift status is DRIFT_DETECTED",
              DRIFT_DETECTED),
    AlertKind("drift_possible", "drift_status", "at_least", "", "the endpoint's drift status is POSSIBLE_DRIFT "
              "or DRIFT_DETECTED", POSSIBLE_DRIFT),
    AlertKind("feature_drift", "feature_drift", "at_least", "", "any feature's drift status is DRIFT_DETECTED",
              DRIFT_DETECTED),
    AlertKind("latency_p99_above", "metrics_5m", "above", "µs", "the 5-minute p99 latency is above threshold µs"),
    AlertKind("error_rate_above", "metrics_5m", "above", "share", "5-minute errors / requests is above threshold"),
    AlertKind("invalid_rate_above", "data_quality", "above", "share",
              "a feature's invalid values / its values in a base window is above threshold"),
    AlertKind("missing_rate_above", "data_quality", "above", "share",
              "a feature's missing values / its values in a base window is above threshold"),
    AlertKind("out_of_range_rate_above", "data_quality", "above", "share",
              "a feature's values outside the training range / its values in a base window is above threshold"),
    AlertKind("accuracy_below", "performance", "below", "share", "the 1-hour accuracy is below threshold"),
    AlertKind("no_traffic", "activity", "above", "s", "no request for threshold seconds of event time while "
              "other endpoints of the project advance"),
)}


@dataclass(frozen=True)
class NotifyTarget:
    """Where an activation is sent: ``webhook``, ``slack``, ``kafka`` or ``smtp``."""

    scheme: str
    url: str  # the URL requests go to (webhook, slack), or the target as given (kafka, smtp)

    @property
    def text(self) -> str:
        return self.url if self.scheme in ("kafka", "smtp") else f"{self.scheme}:{self.url}"


def parse_target(text: str) -> NotifyTarget:
    """A notify target as DESIGN.md spells them; a :class:`RuleError` saying what is wrong.

    >>> parse_target("webhook:https://example.com/hook").url
    'https://example.com/hook'
    >>> parse_target("smtp://127.0.0.1:25?from=a@b.c&to=d@e.f").scheme
    'smtp'
    >>> parse_target("webhook:ftp://x")
    Traceback (most recent call last):
    ...
    modelmon.udfs.alerts.RuleError: notify target 'webhook:ftp://x': a webhook needs an http(s) URL with a host
    """
    def wrong(why: str) -> RuleError:
        return RuleError(f"notify target {text[:200]!r}: {why}")

    scheme, sep, rest = text.partition(":")
    if scheme in ("webhook", "slack"):
        parts = urlsplit(rest)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise wrong(f"a {scheme} needs an http(s) URL with a host")
        return NotifyTarget(scheme, rest)
    if scheme in ("kafka", "smtp"):
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None:
            raise wrong(f"{scheme}:// needs host:port")
        if scheme == "kafka" and not parts.path.strip("/"):
            raise wrong("kafka://host:port/topic needs a topic")
        if scheme == "smtp":
            query = parse_qs(parts.query)
            if not all("@" in query.get(key, [""])[0] for key in ("from", "to")):
                raise wrong("smtp://host:port?from=a@b&to=c@d needs from and to addresses")
        return NotifyTarget(scheme, text)
    raise wrong("known targets: webhook:https://..., slack:https://..., kafka://host:port/topic, "
                "smtp://host:port?from=a@b&to=c@d")


@dataclass(frozen=True)
class AlertRule:
    name: str
    project: str
    kind: str
    endpoint: str = "*"  # an endpoint id, or * for every endpoint of the project
    threshold: float | None = None
    count: int = 1
    period_seconds: int = 0
    cooldown_seconds: int = DEFAULT_COOLDOWN_SECONDS
    reset: str = "auto"
    severity: str = "medium"
    notify: tuple[str, ...] = ()

    def watches(self, project: str, endpoint_id: str) -> bool:
        return project == self.project and self.endpoint in ("*", endpoint_id)

    @property
    def summary(self) -> str:
        """The rule in a line.

        >>> AlertRule("p99", "p", "latency_p99_above", threshold=250000.0, count=3, period_seconds=600).summary
        'p99 (project p, every endpoint): latency_p99_above 250000 µs, 3 times in 600 s, cooldown 3600 s, reset auto, severity medium'
        """
        kind = KINDS[self.kind]
        unit = f" {kind.unit}" if kind.unit else ""
        condition = self.kind if self.threshold is None else f"{self.kind} {self.threshold:g}{unit}"
        where = "every endpoint" if self.endpoint == "*" else f"endpoint {self.endpoint}"
        text = (f"{self.name} (project {self.project}, {where}): {condition}, "
                f"{'at once' if self.count == 1 else f'{self.count} times in {self.period_seconds} s'}, "
                f"cooldown {self.cooldown_seconds} s, reset {self.reset}, severity {self.severity}")
        return text + (f", notify {' '.join(self.notify)}" if self.notify else "")


RULE_FIELDS = tuple(AlertRule.__dataclass_fields__)


def make_rule(fields: dict[str, Any]) -> AlertRule:
    """A rule from user input (CLI options, a REST body), every field checked; a
    :class:`RuleError` naming the first that is wrong.

    >>> make_rule({"name": "p99", "project": "p", "kind": "latency_p99_above", "threshold": "250000"}).threshold
    250000.0
    >>> make_rule({"name": "x", "project": "p", "kind": "latency_p99_above"})
    Traceback (most recent call last):
    ...
    modelmon.udfs.alerts.RuleError: kind latency_p99_above needs a threshold (the 5-minute p99 latency is above threshold µs)
    >>> make_rule({"name": "x", "project": "p", "kind": "drift"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    modelmon.udfs.alerts.RuleError: unknown kind 'drift'; known: drift_detected, drift_possible, ...
    """
    unknown = sorted(set(fields) - set(RULE_FIELDS))
    if unknown:
        raise RuleError(f"unknown rule fields {unknown}; known: {', '.join(RULE_FIELDS)}")
    for required in ("name", "project", "kind"):
        if not isinstance(fields.get(required), str) or not fields[required]:
            raise RuleError(f"a rule needs a {required}")
    if not NAME.fullmatch(fields["name"]):
        raise RuleError(f"rule name {fields['name'][:100]!r}: letters, digits, '_', '.', '-', at most 100")
    kind = KINDS.get(fields["kind"])
    if kind is None:
        raise RuleError(f"unknown kind {fields['kind'][:100]!r}; known: {', '.join(KINDS)}")
    rule = AlertRule(fields["name"], fields["project"], kind.name)
    threshold = fields.get("threshold")
    if threshold is None and kind.needs_threshold:
        raise RuleError(f"kind {kind.name} needs a threshold ({kind.description})")
    if threshold is not None:
        if not kind.needs_threshold:
            raise RuleError(f"kind {kind.name} takes no threshold ({kind.description})")
        rule = replace(rule, threshold=_number(threshold, "threshold", float))
    for name, low in (("count", 1), ("period_seconds", 0), ("cooldown_seconds", 0)):
        if fields.get(name) is not None:
            rule = replace(rule, **{name: _number(fields[name], name, int, low)})
    for name, choices in (("reset", RESETS), ("severity", SEVERITIES)):
        if fields.get(name) is not None:
            if fields[name] not in choices:
                raise RuleError(f"{name} {str(fields[name])[:50]!r}: one of {', '.join(choices)}")
            rule = replace(rule, **{name: fields[name]})
    if rule.count > 1 and rule.period_seconds == 0:
        raise RuleError(f"count {rule.count} needs a period_seconds to count within")
    endpoint = fields.get("endpoint") or "*"
    if not isinstance(endpoint, str) or not re.fullmatch(r"\*|[0-9a-f]{40}", endpoint):
        raise RuleError(f"endpoint {str(endpoint)[:100]!r}: an endpoint id (40 hex digits) or *")
    notify = fields.get("notify") or ()
    if isinstance(notify, str) or not all(isinstance(t, str) for t in notify):
        raise RuleError("notify must be a list of targets")
    return replace(rule, endpoint=endpoint, notify=tuple(parse_target(t).text for t in notify))


def _number(value: Any, name: str, kind: type, low: float | None = None):
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise RuleError(f"{name} {str(value)[:50]!r} is not a number") from None
    if isinstance(value, bool) or (isinstance(number, float) and not math.isfinite(number)) or (
            kind is int and float(value) != number):
        raise RuleError(f"{name} {str(value)[:50]!r} is not {'a whole' if kind is int else 'a finite'} number")
    if low is not None and number < low:
        raise RuleError(f"{name} must be at least {low}")
    return number


def activation_id(rule: str, endpoint_id: str, opened_at_ms: int) -> str:
    """sha1 of the rule's name, the endpoint and the evaluation (event time, epoch ms) that
    opened it, separated by the unit separator.

    >>> activation_id("p99", "e" * 40, 1_767_225_600_000) == hashlib.sha1(
    ...     ("p99\x1f" + "e" * 40 + "\x1f1767225600000").encode()).hexdigest()
    True
    """
    return hashlib.sha1(f"{rule}\x1f{endpoint_id}\x1f{opened_at_ms}".encode()).hexdigest()


@dataclass
class RuleState:
    """What :func:`evaluate` remembers per rule and endpoint (kept in the job's keyed state)."""

    breaches: list[int] = field(default_factory=list)  # event times of breaches within the period
    open_id: str | None = None
    opened_at: int | None = None
    opened_value: float | None = None  # what the activation records as its value
    last_opened_at: int | None = None  # for the cooldown
    last_time: int | None = None


@dataclass(frozen=True)
class Change:
    """An activation opened or closed by one evaluation (at ``time_ms``); ``opened_at`` and
    ``value`` are the opening evaluation's."""

    action: str  # "open" | "close"
    activation_id: str
    time_ms: int
    opened_at: int
    value: float | str | None


def evaluate(rule: AlertRule, state: RuleState, endpoint_id: str, time_ms: int, value: float | str | None
             ) -> list[Change]:
    """One evaluation of ``rule`` for an endpoint at event time ``time_ms``: records a breach,
    opens an activation when ``count`` breaches fall within ``period_seconds`` and none is
    open and the cooldown since the last one opened has passed; with ``reset: auto``, closes
    the open one at the first evaluation without a breach. Evaluations older than the last
    one seen (a replay) change nothing.

    >>> rule = AlertRule("r", "p", "latency_p99_above", threshold=100.0, count=2, period_seconds=120,
    ...                  cooldown_seconds=0)
    >>> state = RuleState()
    >>> [[c.action for c in evaluate(rule, state, "e", t * 60_000, v)] for t, v in enumerate([150, 90, 150, 150, 50])]
    [[], [], [], ['open'], ['close']]
    """
    if state.last_time is not None and time_ms <= state.last_time:
        return []
    state.last_time = time_ms
    kind = KINDS[rule.kind]
    if not kind.breached(value, rule.threshold):
        state.breaches = [t for t in state.breaches if t > time_ms - rule.period_seconds * 1000]
        if state.open_id is not None and rule.reset == "auto":
            closed = Change("close", state.open_id, time_ms, state.opened_at, state.opened_value)
            state.open_id = state.opened_at = state.opened_value = None
            return [closed]
        return []
    state.breaches = [t for t in state.breaches if t > time_ms - rule.period_seconds * 1000] + [time_ms]
    if state.open_id is not None or len(state.breaches) < rule.count:
        return []
    if state.last_opened_at is not None and time_ms < state.last_opened_at + rule.cooldown_seconds * 1000:
        return []
    state.open_id = activation_id(rule.name, endpoint_id, time_ms)
    state.opened_at = state.last_opened_at = time_ms
    state.breaches = []
    state.opened_value = value
    return [Change("open", state.open_id, time_ms, time_ms, value)]


def _rate(part: float | None, whole: float | None) -> float | None:
    return part / whole if part is not None and whole else None


# Per kind: (the value compared with the rule, the value an activation records) from one
# evaluation's row. The drift kinds compare a status and record the drift measure.
READERS = {
    "drift_detected": lambda row: (row["drift_status"], row["drift_measure"]),
    "drift_possible": lambda row: (row["drift_status"], row["drift_measure"]),
    "feature_drift": lambda row: (row["drift_status"], row["drift_measure"]),
    "latency_p99_above": lambda row: (row["latency_p99"], row["latency_p99"]),
    "error_rate_above": lambda row: (_rate(row["error_count"], row["requests_count"]),) * 2,
    "no_traffic": lambda row: (row["silence_seconds"],) * 2,
    "invalid_rate_above": lambda row: (row["invalid_rate"],) * 2,
    "missing_rate_above": lambda row: (row["missing_rate"],) * 2,
    "out_of_range_rate_above": lambda row: (row["out_of_range_rate"],) * 2,
}
# The data-quality rates, each of a count column of feature_histograms over its values.
QUALITY_RATES = {"invalid_rate": "invalid_count", "missing_rate": "missing_count",
                 "out_of_range_rate": "out_of_range_count"}
SILENCE = "endpoint_silence"  # the rows of silence_rows: not a table, the no_traffic evaluations


def silence_rows(last_request_ms: int, times: list[int]) -> list[dict]:
    """The no_traffic evaluations at ``times`` (event time, as the watermark passes them): the
    seconds since the endpoint's last request.

    >>> silence_rows(60_000, [120_000, 720_000])
    [{'window_end': 120000, 'silence_seconds': 60.0}, {'window_end': 720000, 'silence_seconds': 660.0}]
    """
    return [{"window_end": t, "silence_seconds": (t - last_request_ms) / 1000} for t in times if t > last_request_ms]


def silence_times(rules: list[AlertRule], project: str, endpoint_id: str, last_request_ms: int) -> list[int]:
    """When each no_traffic rule watching the endpoint breaks, if no request comes before: the
    times to evaluate at, also after the endpoint's windows are all written.

    >>> silence_times([AlertRule("q", "p", "no_traffic", threshold=600.0)], "p", "e", 60_000)
    [660001]
    """
    return sorted({last_request_ms + round(rule.threshold * 1000) + 1 for rule in rules
                   if rule.kind == "no_traffic" and rule.watches(project, endpoint_id)})


def evaluation_rows(table: str, rows: list[dict]) -> list[tuple[str, dict]]:
    """(source, row) of each evaluation the job's rows of ``table`` make, in event-time order:
    a drift status row; the features' drift measures of one range end, as one row with the
    worst status and the largest measure among the features at it; a 5-minute metric window;
    the features' histograms of one base window, as one row with each data-quality rate's
    largest value among the features (rows of two reference versions of a window add up).

    >>> measures = [{"window_end": 5, "drift_status": s, "drift_measure": m}
    ...             for s, m in (("NO_DRIFT", 0.1), ("DRIFT_DETECTED", 0.9))]
    >>> evaluation_rows("drift_measures", measures)
    [('feature_drift', {'window_end': 5, 'drift_status': 'DRIFT_DETECTED', 'drift_measure': 0.9})]
    >>> evaluation_rows("endpoint_metrics", [{"window_size": "1h", "window_end": 5}])
    []
    >>> histograms = [{"window_end": 5, "feature_index": j, "count": c, "invalid_count": i, "missing_count": m,
    ...                "out_of_range_count": 0} for j, c, i, m in ((0, 8, 2, 1), (1, 6, 0, 4))]
    >>> evaluation_rows("feature_histograms", histograms)
    [('data_quality', {'window_end': 5, 'invalid_rate': 0.2, 'missing_rate': 0.6666666666666666, 'out_of_range_rate': 0.0})]
    """
    if table == "drift_status":
        return [("drift_status", row) for row in rows]
    if table == SILENCE:
        return [("activity", row) for row in rows]
    if table == "endpoint_metrics":
        return [("metrics_5m", row) for row in rows if row["window_size"] == "5m"]
    if table == "drift_measures":
        ends: dict[int, dict] = {}
        for row in rows:
            worst = ends.setdefault(row["window_end"], {"window_end": row["window_end"], "drift_status": "NO_DATA",
                                                        "drift_measure": None})
            if STATUS_RANK.get(row["drift_status"], 0) > STATUS_RANK.get(worst["drift_status"], 0):
                worst["drift_status"] = row["drift_status"]
            if row["drift_measure"] is not None:
                worst["drift_measure"] = max(row["drift_measure"], worst["drift_measure"] or 0.0)
        return [("feature_drift", ends[end]) for end in sorted(ends)]
    if table == "feature_histograms":
        sums: dict[int, dict[int, list[int]]] = {}  # window end -> feature -> [values, then each count]
        for row in rows:
            held = sums.setdefault(row["window_end"], {}).setdefault(row["feature_index"], [0] * (1 + len(QUALITY_RATES)))
            held[0] += row["count"] + row["invalid_count"]
            for k, column in enumerate(QUALITY_RATES.values(), start=1):
                held[k] += row[column]
        return [("data_quality", {"window_end": end, **{
            rate: max((held[k] / held[0] for held in sums[end].values() if held[0]), default=None)
            for k, rate in enumerate(QUALITY_RATES, start=1)}}) for end in sorted(sums)]
    return []


def check_rows(rules: list[AlertRule], states: dict[str, RuleState], project: str, endpoint_id: str, table: str,
               rows: list[dict]) -> list[dict]:
    """The ``alert_activations`` rows that the evaluations in ``rows`` (the job's rows of
    ``table`` for one endpoint) open or close, under the ``rules`` that watch the endpoint;
    ``states`` (rule name -> state) is updated in place. ``accuracy_below``, whose rows the job
    does not produce yet, is not evaluated here.

    >>> rule = AlertRule("d", "p", "drift_detected", cooldown_seconds=0)
    >>> rows = [{"window_end": t, "drift_status": s, "drift_measure": m}
    ...         for t, s, m in ((1, "NO_DRIFT", 0.1), (2, "DRIFT_DETECTED", 0.8), (3, "NO_DRIFT", 0.2))]
    >>> [(a["opened_at"], a["closed_at"], a["value"]) for a in check_rows([rule], {}, "p", "e", "drift_status", rows)]
    [(2, None, 0.8), (2, 3, 0.8)]
    """
    activations = []
    for source, row in evaluation_rows(table, rows):
        for rule in rules:
            kind = KINDS[rule.kind]
            if kind.source != source or rule.kind not in READERS or not rule.watches(project, endpoint_id):
                continue
            compared, recorded = READERS[rule.kind](row)
            state = states.setdefault(rule.name, RuleState())
            for change in evaluate(rule, state, endpoint_id, row["window_end"], compared):
                if change.action == "open":
                    state.opened_value = recorded  # what the activation records, here and at its close
                activations.append({
                    "project": project, "endpoint_id": endpoint_id, "activation_id": change.activation_id,
                    "rule": rule.name, "kind": rule.kind, "severity": rule.severity,
                    "value": recorded if change.action == "open" else change.value, "threshold": rule.threshold,
                    "opened_at": change.opened_at, "closed_at": change.time_ms if change.action == "close" else None})
    return activations
