"""The built-in status page in a real browser (headless Chromium) over the drift run's store:
every chart is compared with the REST answer it links, point by point."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from modelmon import store
from modelmon.api import queries
from modelmon.udfs.contract import endpoint_id
from tests.support.browser import api, chromium, proxy_serving

FULLY = endpoint_id("drift", "serving", "v1", "", "fully", "")
STABLE = endpoint_id("drift", "serving", "v1", "", "stable", "")
DRIFT_COLOURS = {"NO_DRIFT": "#2e7d32", "DRIFT_DETECTED": "#c62828"}


@pytest.fixture(scope="module")
def status_url(drift_run):
    with proxy_serving(drift_run["config"]) as url:
        yield url


def visible_text(html: str) -> str:
    """The page's text outside its charts, scripts and styles."""
    html = re.sub(r"<(svg|script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@dataclass
class Chart:
    """A figure of the page as the browser holds it: what it draws, and the request it names."""

    source: str
    title: str
    points: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # series -> circles
    bands: list[str] = field(default_factory=list)  # drift statuses, in order
    band_colours: list[str] = field(default_factory=list)
    cells: list[float] = field(default_factory=list)  # heat map values, in order
    bars: int = 0
    no_data: bool = False


class Charts(HTMLParser):
    def __init__(self, dom: str):
        super().__init__()
        self.charts: list[Chart] = []
        self.chart: Chart | None = None
        self.series: str | None = None
        self.text_class: str | None = None
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "figure":
            self.chart = Chart(a.get("data-source", ""), a.get("data-title", ""))
            self.charts.append(self.chart)
        elif self.chart is None:
            return
        elif tag == "g" and "data-series" in a:
            self.series = a["data-series"]
            self.chart.points[self.series] = []
        elif tag == "circle":
            self.chart.points[self.series].append((int(a["data-time"]), float(a["data-value"])))
        elif tag == "rect" and a.get("class") == "band":
            self.chart.bands.append(a["data-status"])
            self.chart.band_colours.append(a["fill"])
        elif tag == "rect" and "data-value" in a:
            self.chart.cells.append(float(a["data-value"]))
        elif tag == "rect" and a.get("class") in ("expected", "actual"):
            self.chart.bars += 1
        elif tag == "text":
            self.text_class = a.get("class")

    def handle_data(self, data):
        if self.chart is not None and self.text_class == "nodata" and data.strip():
            self.chart.no_data = True

    def handle_endtag(self, tag):
        if tag == "figure":
            self.chart = None
        elif tag == "g":
            self.series = None
        elif tag == "text":
            self.text_class = None


def page(status_url: str, path: str) -> tuple[str, list[Chart]]:
    dom = chromium("--dump-dom", status_url + path)
    return dom, Charts(dom).charts


def epoch_ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


def assert_draws_its_answer(status_url: str, chart: Chart) -> dict:
    """The chart's circles (or cells, or bands) are the points of the REST answer it links:
    as many, at the same times, with the same values."""
    answer = api(status_url, chart.source)
    if "features" in answer and "measure" in answer:  # the heat map: a cell per point, features in order
        assert chart.cells == [v for points in answer["features"].values() for _, v in points], chart.title
    elif "features" in answer:
        assert chart.points == {n: [(t, v) for t, v in p] for n, p in answer["features"].items()}, chart.title
    elif "series" in answer:
        series = dict(answer["series"])
        statuses = series.pop("drift_status", [])
        assert chart.bands == [s for _, s in statuses], chart.title
        assert chart.points == {n: [(t, v) for t, v in p] for n, p in series.items()}, chart.title
    else:  # an endpoint of the list: its real-time metrics (ISO times)
        metrics = answer["status"]["metrics"]["real_time"]
        assert chart.points == {n: [(epoch_ms(t), v) for t, v in p] for n, p in metrics.items()}, chart.title
    return answer


def source_range(chart: Chart) -> tuple[datetime, datetime]:
    query = parse_qs(urlsplit(chart.source).query)
    return datetime.fromisoformat(query["start"][0]), datetime.fromisoformat(query["end"][0])


def test_the_index_shows_statuses_in_colour_and_sparklines_of_the_api_series(status_url, tmp_path):
    dom, charts = page(status_url, "/")
    text = visible_text(dom)
    for model, status in (("stable", "NO_DRIFT"), ("partly", "NO_DRIFT"), ("fully", "DRIFT_DETECTED"),
                          ("unregistered", "NO_REFERENCE")):
        # ... predictions, errors, then no accuracy and no open alert (-), the status
        assert re.search(rf"drift {model} \w+ [\d-]+ [\d:]+ \d+ \d+ - - {status}", text), (model, text[:2000])
    assert 'style="background: #c62828">DRIFT_DETECTED' in dom
    assert len(charts) == 4 * 3  # predictions/s, p95 latency, errors per endpoint
    for chart in charts:
        assert_draws_its_answer(status_url, chart)
        assert chart.points and all(chart.points.values()), chart.source  # traffic 2-4 h ago: in the last 6 h
    # filtered by drift status, sorted by model
    _, drifting = page(status_url, "/?status=DRIFT_DETECTED")
    assert {urlsplit(c.source).path.rsplit("/", 1)[1] for c in drifting} == {FULLY}
    dom = chromium("--dump-dom", f"{status_url}/?sort=model&order=asc")
    assert re.findall(r"drift (fully|partly|stable|unregistered) ", visible_text(dom)) == [
        "fully", "partly", "stable", "unregistered"]
    screenshot = tmp_path / "status-index.png"
    chromium(f"--screenshot={screenshot}", "--window-size=1400,600", f"{status_url}/")
    assert screenshot.stat().st_size > 10_000


def test_every_endpoint_chart_draws_the_points_the_api_serves(status_url, drift_run, tmp_path):
    dom, charts = page(status_url, f"/endpoints/{FULLY}")
    text = visible_text(dom)
    assert "fully DRIFT_DETECTED" in text and FULLY in text and "stream " + str(drift_run["spool"]) in text
    drawn = [c for c in charts if c.source]
    assert len(drawn) == 8  # 7 time-series charts and the heat map
    for chart in drawn:
        assert_draws_its_answer(status_url, chart)
        assert not chart.no_data and (chart.cells or any(chart.points.values())), chart.title  # no empty panel
    # the drift chart shows the status change: no drift before the shift, detected after
    drift = next(c for c in drawn if c.bands)
    assert drift.bands[0] == "NO_DRIFT" and drift.bands[-1] == "DRIFT_DETECTED"
    assert [DRIFT_COLOURS[s] for s in drift.bands if s in DRIFT_COLOURS] == [
        c for s, c in zip(drift.bands, drift.band_colours) if s in DRIFT_COLOURS]
    _, steady = page(status_url, f"/endpoints/{STABLE}")
    assert set(next(c for c in steady if c.bands).bands) == {"NO_DRIFT"}
    # histograms: 22 bins a feature (below the training range, 20, above), two bars each, edges labelled
    histograms = [c for c in charts if not c.source]
    assert len(histograms) == 5 and all(h.bars == 44 for h in histograms)
    assert len(re.findall(r'<text class="edge"[^>]*>&lt; -?\d', dom)) == 5
    assert len(re.findall(r'<text class="edge"[^>]*>&gt; -?\d', dom)) == 5
    # the latest windows in their units: latencies in ms (stored in µs), counts whole
    client = store.connect(drift_run["config"].store)
    try:
        latest = queries.latest_metric_values(client, ["latency_avg_5m", "latency_p95_5m", "error_count_5m"])[FULLY]
    finally:
        client.close()
    assert (f"{latest['latency_avg_5m'] / 1000:.2f} ms {latest['latency_p95_5m'] / 1000:.2f} ms "
            f"{latest['error_count_5m']:.0f} ") in text
    screenshot = tmp_path / "status-endpoint.png"
    chromium(f"--screenshot={screenshot}", "--window-size=1400,2400", f"{status_url}/endpoints/{FULLY}")
    assert screenshot.stat().st_size > 50_000


def test_the_range_picker_changes_the_range_of_every_chart(status_url, drift_run):
    dom, charts = page(status_url, f"/endpoints/{FULLY}")
    link = re.search(r'<a href="([^"]+)"[^>]*data-range="now-24h"', dom).group(1).replace("&amp;", "&")
    _, day = page(status_url, link)
    for chart in (c for c in day if c.source):
        start, end = source_range(chart)
        assert end - start == timedelta(hours=24)
        assert abs(end - datetime.now(timezone.utc)) < timedelta(minutes=2)
    # a custom range: the hour after the shift, in epoch milliseconds as Grafana's URLs carry it
    shift = drift_run["start"] + timedelta(hours=1)
    first, last = (int(t.timestamp() * 1000) for t in (shift, shift + timedelta(hours=1)))
    _, hour = page(status_url, f"/endpoints/{FULLY}?from={first}&to={last}")
    drawn = [c for c in hour if c.source]
    assert len(drawn) == 8
    for chart in drawn:
        assert source_range(chart) == (shift, shift + timedelta(hours=1)), chart.title
        answer = assert_draws_its_answer(status_url, chart)
        times = [t for points in chart.points.values() for t, _ in points]
        assert all(first <= t <= last for t in times) and (times or chart.cells), chart.title
        if chart.bands:  # after the shift the drift range fills with shifted values: the status rises
            assert chart.bands[-1] == "DRIFT_DETECTED" and answer["series"]["drift_status"]


def test_times_are_utc_with_the_browsers_offset_and_refresh_is_in_the_url(status_url):
    dom = chromium("--dump-dom", f"{status_url}/?refresh=30s", zone="Asia/Kolkata")
    assert "times in UTC (your browser: UTC+05:30)" in visible_text(dom)
    assert '<meta http-equiv="refresh" content="30">' in dom
    assert "http-equiv" not in chromium("--dump-dom", f"{status_url}/")
