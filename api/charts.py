"""Chart geometry for the status page's server-rendered SVG: pure functions from the REST
series answers (``[[epoch ms, value], ...]``) to positions, so the page needs no script or
CDN and works offline; the templates only place what these compute."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

PALETTE = ("#1e88e5", "#e53935", "#43a047", "#8e24aa", "#fb8c00", "#00897b", "#6d4c41", "#3949ab")
STATUS_COLOURS = {"NO_DRIFT": "#2e7d32", "POSSIBLE_DRIFT": "#f9a825", "DRIFT_DETECTED": "#c62828",
                  "NO_REFERENCE": "#757575", "NO_DATA": "#757575"}
LEFT, BOTTOM, TOP, RIGHT = 56, 24, 6, 8
_TIME_STEPS_MS = [m * 60_000 for m in (1, 5, 15, 30, 60, 180, 360, 720, 1440, 2880)]


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    time_ms: int
    value: float
    label: str  # the tooltip: time (UTC) and value in the chart's unit


@dataclass(frozen=True)
class Line:
    name: str
    colour: str
    points: list[Point]

    @property
    def path(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Band:
    """A stretch of time in one drift status, drawn under a chart."""

    x: float
    width: float
    status: str
    colour: str


@dataclass(frozen=True)
class LineChart:
    title: str
    width: int
    height: int
    lines: list[Line]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    source: str  # the REST request whose answer the chart draws
    bands: list[Band]

    @property
    def empty(self) -> bool:
        return not any(line.points for line in self.lines)

    @property
    def plot_bottom(self) -> int:
        return self.height - BOTTOM


def format_value(value: float, unit: str) -> str:
    """A value as the page shows it: latencies (stored in µs) in ms, counts whole.

    >>> format_value(28555.13, "ms"), format_value(37.0, "count"), format_value(0.51234, "")
    ('28.56 ms', '37', '0.5123')
    """
    if unit == "ms":
        return f"{value / 1000:.2f} ms"
    if unit == "count":
        return f"{value:.0f}"
    if unit == "/s":
        return f"{value:.3f} /s"
    return f"{value:.4g}" if abs(value) >= 1e4 or (value and abs(value) < 1e-3) else f"{value:.4f}"


def utc_label(time_ms: int, seconds: bool = False) -> str:
    """A time as the page shows it, in UTC.

    >>> utc_label(1767225600000)
    '2026-01-01 00:00 UTC'
    """
    moment = datetime.fromtimestamp(time_ms / 1000, timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def time_ticks(start_ms: int, end_ms: int, left: float, width: float) -> list[Tick]:
    """Round times across [start, end] (at most six), placed on ``width`` pixels from ``left``.

    >>> [t.label for t in time_ticks(0, 3_600_000, 0, 100)]
    ['00:00', '00:15', '00:30', '00:45', '01:00']
    """
    span = max(end_ms - start_ms, 1)
    longest = _TIME_STEPS_MS[-1]
    step = next((s for s in _TIME_STEPS_MS if span / s <= 6), longest * (span // (longest * 6) + 1))
    form = "%H:%M" if step < 86_400_000 else "%m-%d"
    first = -(-start_ms // step) * step
    return [Tick(left + (t - start_ms) / span * width,
                 datetime.fromtimestamp(t / 1000, timezone.utc).strftime(form))
            for t in range(first, end_ms + 1, step)]


def extents(times: list[int], end_ms: int) -> list[int]:
    """Where each of a series' points ends: at the next point, the last one a spacing after
    itself (no further than ``end_ms``), so a value holds until it is replaced.

    >>> extents([0, 300, 600], 10_000), extents([0], 10_000), extents([0, 300], 400)
    ([300, 600, 900], [0], [300, 400])
    """
    if len(times) < 2:
        return list(times)
    return [*times[1:], min(times[-1] + times[-1] - times[-2], end_ms)]


def line_chart(title: str, series: dict[str, list[list]], start_ms: int, end_ms: int, unit: str = "",
               source: str = "", width: int = 420, height: int = 150, axes: bool = True,
               statuses: list[list] | None = None) -> LineChart:
    """Lines of ``series`` (name -> [[epoch ms, value], ...]) over [start, end]; y from 0 (or
    the lowest value, if negative) to the highest. ``statuses`` ([[epoch ms, drift status]])
    become coloured bands, each status lasting until the next.

    >>> chart = line_chart("c", {"a": [[0, 1.0], [50, 3.0]], "b": []}, 0, 100, width=156, height=130)
    >>> [(p.x, p.y) for p in chart.lines[0].points], chart.empty
    ([(56.0, 72.7), (102.0, 6.0)], False)
    >>> line_chart("c", {"a": []}, 0, 100).empty
    True
    """
    left, bottom, top, right = (LEFT, BOTTOM, TOP, RIGHT) if axes else (1, 1, 1, 1)
    plot_width, plot_height = width - left - right, height - top - bottom
    values = [v for points in series.values() for _, v in points if v is not None]
    low, high = min([0.0, *values]), max([0.0, *values])
    if high == low:
        high = low + 1
    span = max(end_ms - start_ms, 1)

    def x(time_ms: int) -> float:
        return round(left + (time_ms - start_ms) / span * plot_width, 1)

    def y(value: float) -> float:
        return round(top + (high - value) / (high - low) * plot_height, 1)

    lines = [Line(name, PALETTE[i % len(PALETTE)],
                  [Point(x(t), y(v), t, v, f"{name} {utc_label(t)}: {format_value(v, unit)}")
                   for t, v in points if v is not None])
             for i, (name, points) in enumerate(series.items())]
    x_ticks = time_ticks(start_ms, end_ms, left, plot_width) if axes else []
    y_ticks = [Tick(y(v), format_value(v, unit)) for v in (low, (low + high) / 2, high)] if axes else []
    status_times = [t for t, _ in statuses or []]
    bands = [Band(x(t), max(x(until) - x(t), 1.0), status, STATUS_COLOURS.get(status, "#757575"))
             for (t, status), until in zip(statuses or [], extents(status_times, end_ms))]
    return LineChart(title, width, height, lines, x_ticks, y_ticks, source, bands)


@dataclass(frozen=True)
class Cell:
    x: float
    y: float
    width: float
    height: float
    value: float
    colour: str
    label: str


@dataclass(frozen=True)
class HeatMap:
    title: str
    width: int
    height: int
    left: int  # where the cells start, right of the feature names
    rows: list[Tick]  # feature names at their row's middle
    cells: list[Cell]
    x_ticks: list[Tick]
    source: str

    @property
    def empty(self) -> bool:
        return not self.cells


def heat_colour(share: float) -> str:
    """White (0) to red (1).

    >>> heat_colour(0.0), heat_colour(1.0)
    ('#ffffff', '#c62828')
    """
    share = min(max(share, 0.0), 1.0)
    red, green, blue = (round(255 + (c - 255) * share) for c in (0xc6, 0x28, 0x28))
    return f"#{red:02x}{green:02x}{blue:02x}"


def heat_map(title: str, features: dict[str, list[list]], start_ms: int, end_ms: int, bucket_ms: int,
             full_scale: float, source: str = "", width: int = 900, row_height: int = 16) -> HeatMap:
    """One row per feature, one cell per drift run (or bucket of them) reaching to the next,
    red as deep as value / ``full_scale`` (the measure's detected threshold, or its largest
    value if higher).

    >>> m = heat_map("h", {"x": [[0, 0.5], [25, 0.0]], "y": [[50, 1.0]]}, 0, 100, 50, 1.0, width=156)
    >>> [(c.x, c.y, c.width, c.colour) for c in m.cells]
    [(52.0, 6, 24.0, '#e29494'), (76.0, 6, 24.0, '#ffffff'), (100.0, 22, 48.0, '#c62828')]
    """
    left = min(max(LEFT, 7 * max((len(name) for name in features), default=0) + 10), width // 3)  # room for names
    plot_width = width - left - RIGHT
    span = max(end_ms - start_ms, 1)
    scale = max([full_scale, *(v for points in features.values() for _, v in points)]) or 1.0
    cells, rows = [], []
    for i, (name, points) in enumerate(features.items()):
        y = TOP + i * row_height
        rows.append(Tick(y + row_height / 2, name))
        times = [t for t, _ in points]
        for (t, v), until in zip(points, extents(times, end_ms) if len(times) > 1 else [t + bucket_ms for t in times]):
            x, right = (left + (moment - start_ms) / span * plot_width for moment in (t, min(until, end_ms)))
            cells.append(Cell(round(x, 1), y, round(max(right - x, 1.0), 1), row_height - 1, v,
                              heat_colour(v / scale), f"{name} {utc_label(t)}: {format_value(v, '')}"))
    height = TOP + len(features) * row_height + BOTTOM
    return HeatMap(title, width, height, left, rows, cells, time_ticks(start_ms, end_ms, left, plot_width), source)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # "expected" | "actual"
    share: float


@dataclass(frozen=True)
class Histogram:
    feature: str
    width: int
    height: int
    bars: list[Bar]
    edges: list[Tick]  # bin edges at their x, and the outer bins' "< lowest" / "> highest"; or categories
    categorical: bool = False  # bins are categories (then other, missing), each named under its bars

    @property
    def plot_bottom(self) -> int:
        return self.height - BOTTOM


def _share_bars(expected: list[int], actual: list[int], width: int, plot_height: int) -> list[Bar]:
    """Side-by-side bars of two histograms on the same bins, as shares of their totals."""
    totals = (sum(expected) or 1, sum(actual) or 1)
    shares = [(e / totals[0], a / totals[1]) for e, a in zip(expected, actual or [0] * len(expected))]
    top = max((max(pair) for pair in shares), default=0) or 1
    slot = width / max(len(shares), 1)
    bars = []
    for i, pair in enumerate(shares):
        for k, (kind, share) in enumerate(zip(("expected", "actual"), pair)):
            bar_height = share / top * (plot_height - 10)
            bars.append(Bar(i * slot + k * slot / 2 + 1, plot_height - bar_height, slot / 2 - 2, bar_height, kind,
                            share))
    return bars


def histogram(feature: str, edges: list[float], expected: list[int], actual: list[int], width: int = 420,
              height: int = 150) -> Histogram:
    """Side-by-side bars of both histograms as shares of their totals, on the live bins
    (below the training range, the reference's bins, above it), with the bin edges under them.

    >>> h = histogram("f", [0.0, 1.0, 2.0], [1, 1], [0, 1, 3, 0], width=88)
    >>> [(b.kind, round(b.share, 2)) for b in h.bars][:4]
    [('expected', 0.0), ('actual', 0.0), ('expected', 0.5), ('actual', 0.25)]
    >>> [(t.position, t.label) for t in h.edges]
    [(11.0, '< 0'), (44.0, '1'), (77.0, '> 2')]
    """
    expected = [0, *expected, 0]
    bars = _share_bars(expected, actual, width, height - BOTTOM)
    slot = width / len(expected)
    inner = edges[1:-1]
    every = max(1, round(len(inner) / 5))  # about five inner edges labelled; the outer bins name the others
    ticks = [Tick(round((i + 2) * slot, 1), f"{edge:.3g}") for i, edge in enumerate(inner) if i % every == every // 2]
    if edges:
        ticks = [Tick(round(slot / 2, 1), f"< {edges[0]:.3g}"), *ticks,
                 Tick(round(width - slot / 2, 1), f"> {edges[-1]:.3g}")]
    return Histogram(feature, width, height, bars, ticks)


def category_histogram(feature: str, labels: list[str], expected: list[int], actual: list[int], width: int = 420,
                       height: int = 150) -> Histogram:
    """A categorical feature's bars, expected vs actual shares per category (the reference's
    order, then other and missing), each category named under its pair (about 12 named).

    >>> h = category_histogram("colour", ["red", "blue", "__other__", "__missing__"], [6, 2, 0, 2], [1, 1, 2, 0], 80)
    >>> [(b.kind, round(b.share, 2)) for b in h.bars][:4], [(t.position, t.label) for t in h.edges][:2]
    ([('expected', 0.6), ('actual', 0.25), ('expected', 0.2), ('actual', 0.25)], [(10.0, 'red'), (30.0, 'blue')])
    """
    bars = _share_bars(expected, actual, width, height - BOTTOM)
    slot = width / max(len(expected), 1)
    every = max(1, -(-len(labels) // 12))
    ticks = [Tick(round((i + 0.5) * slot, 1), label if len(label) <= 12 else label[:11] + "…")
             for i, label in enumerate(labels) if i % every == 0 or i >= len(labels) - 2]
    return Histogram(feature, width, height, bars, ticks, categorical=True)
