"""The endpoint registry's running totals (``endpoint_registry``): what the job counts per
endpoint in keyed state, and how its counts join the store's history.

A job counts the events it sees, whose ``endpoint_activity`` windows (one slide long) it
writes from the first one of each endpoint (``windows_from``) to the last (``windows_through``).
The registry row is its counts plus the totals of the endpoint's stored windows outside that
range (the history), so the row equals the sums over all the endpoint's windows however the
job started: fresh on later data, on data the store already holds (its windows replace the
stored ones), or restored from a checkpoint (its state began where the checkpoint's job did).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from modelmon.udfs.contract import Endpoint
from modelmon.udfs.slices import Slice


@dataclass(frozen=True)
class EndpointTotals:
    """One endpoint's requests in one project: counts, first and last request (epoch ms), and
    the endpoint as its last request named it; ``windows_from`` and ``windows_through``: the
    first and last activity window (start, epoch ms) they are in."""

    project: str
    endpoint_id: str
    windows_from: int
    windows_through: int
    first_ms: int
    last_ms: int
    requests: int
    predictions: int
    errors: int
    endpoint: Endpoint

    @staticmethod
    def of(s: Slice, slide_ms: int) -> "EndpointTotals":
        window = s.start - s.start % slide_ms
        return EndpointTotals(s.project, s.endpoint_id, window, window, s.first_ms, s.last_ms, s.requests,
                              s.predictions, s.errors, s.endpoint)

    def plus(self, other: "EndpointTotals") -> "EndpointTotals":
        """Both counts (of disjoint events): the identity of the later last request, the range
        of windows that spans both.

        >>> e, f = Endpoint("p", "e", "p/f", "m", "", "C", "{}"), Endpoint("p", "e", "p/f", "m", "2", "C", "{}")
        >>> a, b = EndpointTotals("p", "e", 60, 60, 70, 80, 2, 3, 1, e), EndpointTotals("p", "e", 0, 0, 5, 90, 1, 1, 0, f)
        >>> t = a.plus(b)
        >>> t.windows_from, t.windows_through, t.first_ms, t.last_ms, t.requests, t.predictions, t.errors, t.endpoint.version
        (0, 60, 5, 90, 3, 4, 1, '2')
        """
        later = other if other.last_ms >= self.last_ms else self
        return replace(later, windows_from=min(self.windows_from, other.windows_from),
                       windows_through=max(self.windows_through, other.windows_through),
                       first_ms=min(self.first_ms, other.first_ms), requests=self.requests + other.requests,
                       predictions=self.predictions + other.predictions, errors=self.errors + other.errors)

    def row(self) -> dict:
        """An ``endpoint_registry`` row."""
        endpoint = self.endpoint
        return {"project": self.project, "endpoint_id": self.endpoint_id, "function_uri": endpoint.function_uri,
                "model": endpoint.model, "version": endpoint.version, "model_class": endpoint.model_class,
                "labels": endpoint.labels, "first_request": self.first_ms, "last_request": self.last_ms,
                "requests_count": self.requests, "predictions_count": self.predictions, "error_count": self.errors}


def count_slices(totals: dict[str, EndpointTotals], slices: list[Slice], slide_ms: int) -> dict[str, EndpointTotals]:
    """``totals`` (project -> the job's counts of one endpoint) with ``slices`` counted.

    >>> import numpy as np
    >>> from modelmon.udfs.latency_sketch import LatencySketch
    >>> e = Endpoint("p", "e", "p/f", "m", "", "C", "{}")
    >>> s, t = (Slice(start, "p", "e", 2, 3, 1, LatencySketch.of(np.array([5])), 70, 80, e) for start in (15, 75))
    >>> c = count_slices(count_slices({}, [t], 60), [s], 60)["p"]
    >>> c.windows_from, c.windows_through, c.requests, c.predictions, c.errors
    (0, 60, 4, 6, 2)
    """
    counted = dict(totals)
    for s in slices:
        own = EndpointTotals.of(s, slide_ms)
        counted[s.project] = counted[s.project].plus(own) if s.project in counted else own
    return counted


def with_history(own: EndpointTotals, history: EndpointTotals | None) -> EndpointTotals:
    """The registry's totals: the job's counts and the store's windows outside their range."""
    return own if history is None else own.plus(history)
