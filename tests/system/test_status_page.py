"""The built-in status page in a real browser (headless Chromium) over the drift run's store."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading

import pytest
from werkzeug.serving import make_server

from modelmon import store
from modelmon.api import create_app, queries
from modelmon.udfs.contract import endpoint_id

FULLY = endpoint_id("drift", "serving", "v1", "", "fully", "")


@pytest.fixture(scope="module")
def status_url(drift_run):
    server = make_server("127.0.0.1", 0, create_app({"MODELMON": drift_run["config"]}), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()


def chromium(*arguments: str) -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "headless Chromium is needed: `make test` installs Debian's chromium"
    result = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                             *arguments], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def visible_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_endpoint_list_shows_each_drift_status_in_its_colour(status_url, tmp_path):
    dom = chromium("--dump-dom", f"{status_url}/")
    text = visible_text(dom)
    for model, status in (("stable", "NO_DRIFT"), ("partly", "NO_DRIFT"), ("fully", "DRIFT_DETECTED"),
                          ("unregistered", "NO_REFERENCE")):
        assert re.search(rf"drift {model} \w+ [\d-]+ [\d:]+ \d+ \d+ {status}", text), (model, text[:2000])
    assert 'style="background: #c62828">DRIFT_DETECTED' in dom
    screenshot = tmp_path / "status-index.png"
    chromium(f"--screenshot={screenshot}", "--window-size=1200,500", f"{status_url}/")
    assert screenshot.stat().st_size > 10_000


def test_an_endpoint_page_draws_expected_and_actual_histograms(status_url, drift_run, tmp_path):
    dom = chromium("--dump-dom", f"{status_url}/endpoints/{FULLY}")
    text = visible_text(dom)
    assert "fully DRIFT_DETECTED" in text and FULLY in text
    assert len(re.findall(r'<svg role="img" aria-label="x\d histogram"', dom)) == 5
    # per chart: 22 bins (underflow, 20, overflow), one expected and one actual bar each
    assert len(re.findall(r'<rect class="expected"', dom)) == len(re.findall(r'<rect class="actual"', dom)) == 110
    # every feature shifted past the training range: the live overflow bar is the tallest of its chart
    assert "actual 0.0%" in dom and re.search(r"actual (\d\d)\.\d%", dom)
    # the latest windows in their units: latencies in ms (stored in µs), counts whole
    client = store.connect(drift_run["config"].store)
    try:
        latest = queries.latest_metric_values(client, ["latency_avg_5m", "latency_p95_5m", "error_count_5m"])[FULLY]
    finally:
        client.close()
    assert "latency avg, 5 min latency p95, 5 min errors, 5 min" in text
    assert (f"{latest['latency_avg_5m'] / 1000:.1f} ms {latest['latency_p95_5m'] / 1000:.1f} ms "
            f"{latest['error_count_5m']:.0f} ") in text
    screenshot = tmp_path / "status-endpoint.png"
    chromium(f"--screenshot={screenshot}", "--window-size=1200,1400", f"{status_url}/endpoints/{FULLY}")
    assert screenshot.stat().st_size > 20_000
