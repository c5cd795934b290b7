"""Alert rules as the job's window operators reach them, and their evaluation on the rows those
operators produce (:func:`modelmon.udfs.alerts.check_rows`), each endpoint's rule states in
Flink's keyed state, so a restore resumes them and a replay opens the same activation ids."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from pyflink.common import Types
from pyflink.datastream.functions import RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from clickhouse_connect.driver.client import Client

from modelmon import alert_rules
from modelmon.pipelines.store_access import RefreshedFromStore, StoreAccess
from modelmon.udfs.alerts import SILENCE, AlertRule, check_rows, silence_rows, silence_times

log = logging.getLogger(__name__)


class RuleCache(RefreshedFromStore):
    """The rules in force, read again every ``refresh_seconds``."""

    def __init__(self, dsn: str, refresh_seconds: float, rules: tuple[AlertRule, ...]):
        super().__init__(dsn, refresh_seconds, checked=time.monotonic())
        self.rules = rules

    def reload(self, client: Client) -> None:
        rules = tuple(alert_rules.list_rules(client))
        if rules != self.rules:
            log.info("alert rules: %d in force", len(rules))
        self.rules = rules

    def held(self) -> str:
        return f"{len(self.rules)} alert rule(s)"

    def current(self) -> tuple[AlertRule, ...]:
        self.refresh()
        return self.rules


@dataclass(frozen=True)
class JobAlertRules:
    """How the job's operators reach the rules; pickled with them. Live where the store may be
    opened (:meth:`StoreAccess.may_open_here`), else the rules read when the job was built."""

    access: StoreAccess
    refresh_seconds: float
    snapshot: tuple[AlertRule, ...]


class AlertChecks:
    """A window operator's part in alerting: called with the rows it is about to emit for one
    endpoint (the current key), returns the ``alert_activations`` rows they open or close."""

    def __init__(self, job_rules: JobAlertRules):
        self.job_rules = job_rules

    def open(self, runtime_context: RuntimeContext) -> None:
        self.states = runtime_context.get_state(ValueStateDescriptor("alert_states", Types.PICKLED_BYTE_ARRAY()))
        rules = self.job_rules
        self.rules = (RuleCache(rules.access.dsn, rules.refresh_seconds, rules.snapshot)
                      if rules.access.may_open_here() else None)

    def current(self) -> tuple[AlertRule, ...]:
        return self.rules.current() if self.rules is not None else self.job_rules.snapshot

    def check(self, project: str, endpoint_id: str, tables: dict[str, list[dict]]) -> list[dict]:
        """Rows by table (those an operator emits at one timer) -> activation rows. Costs
        nothing for an endpoint no rule watches."""
        rules = [rule for rule in self.current() if rule.watches(project, endpoint_id)]
        if not rules:
            return []
        states = {name: state for name, state in (self.states.value() or {}).items()
                  if any(rule.name == name for rule in rules)}  # a removed rule's state goes
        activations = [activation for table, rows in tables.items()
                       for activation in check_rows(rules, states, project, endpoint_id, table, rows)]
        self.states.update(states)
        return activations

    def check_silence(self, project: str, endpoint_id: str, last_request_ms: int, times: list[int]) -> list[dict]:
        """The no_traffic evaluations at ``times`` -> activation rows."""
        if not self.silence_watched(project, endpoint_id):
            return []
        return self.check(project, endpoint_id, {SILENCE: silence_rows(last_request_ms, times)})

    def silence_watched(self, project: str, endpoint_id: str) -> bool:
        return any(rule.kind == "no_traffic" and rule.watches(project, endpoint_id) for rule in self.current())

    def silence_timers(self, project: str, endpoint_id: str, last_request_ms: int) -> list[int]:
        """Event times at which no_traffic rules need an evaluation of this endpoint."""
        return silence_times(list(self.current()), project, endpoint_id, last_request_ms)

    def close(self) -> None:
        if self.rules is not None:
            self.rules.close()
