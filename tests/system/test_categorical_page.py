"""The status page of an endpoint with categorical features, in headless Chromium over the
categorical run's store: each categorical feature's bars are the expected and actual shares of
its categories, named under them, and the features table gives each data-quality share, all as
the REST feature analysis of the same range says."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest

from modelmon.udfs.contract import endpoint_id
from tests.support.categorical_traffic import FEATURES, KINDS, WINDOW_MS
from tests.support.browser import api, chromium, proxy_serving

SHIFTING = endpoint_id("shop", "serving", "v1", "", "shifting", "")
QUALITY = (("missing_count", "missing"), ("type_mismatch_count", "mismatched"), ("nonfinite_count", "not finite"),
           ("out_of_range_count", "out of range"), ("unseen_count", "unseen"))


@pytest.fixture(scope="module")
def page_url(categorical_run):
    with proxy_serving(categorical_run["config"]) as url:
        yield url


class Histograms(HTMLParser):
    """Per histogram figure (by its feature): its bars' (kind, share in %) and its tick labels."""

    def __init__(self, dom: str):
        super().__init__()
        self.found: dict[str, dict[str, list]] = {}
        self.current: dict | None = None
        self.reading: str | None = None
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and (a.get("aria-label") or "").endswith(" histogram"):
            self.current = self.found.setdefault(a["aria-label"].removesuffix(" histogram"), {"bars": [], "ticks": []})
        elif self.current is not None and tag == "rect" and a.get("class") in ("expected", "actual"):
            self.reading = "bar"
            self.current["bars"].append([a["class"], None])
        elif self.current is not None and tag == "text" and a.get("class") == "edge":
            self.reading = "tick"

    def handle_data(self, data):
        if self.reading == "bar" and data.strip():
            self.current["bars"][-1][1] = float(re.search(r"([\d.]+)%", data).group(1))
        elif self.reading == "tick":
            self.current["ticks"].append(data)

    def handle_endtag(self, tag):
        if tag == "svg":
            self.current = None
        if tag in ("title", "text", "rect"):
            self.reading = None


def test_categorical_bars_and_data_quality_shares_are_the_feature_analysis_of_the_range(categorical_run, page_url):
    starts = sorted({start for (e, _, start) in categorical_run["expected"] if e == SHIFTING})
    query = urlencode({"from": starts[0], "to": starts[-1] + WINDOW_MS})
    dom = chromium("--dump-dom", f"{page_url}/endpoints/{SHIFTING}?{query}")
    analysis = {f["feature_name"]: f for f in api(page_url, f"/api/projects/shop/model-endpoints/{SHIFTING}/features?"
                                                            f"start={starts[0]}&end={starts[-1] + WINDOW_MS}")}
    drawn = Histograms(dom).found
    assert set(drawn) == set(FEATURES)
    for name in FEATURES:
        feature = analysis[name]
        if KINDS[name] == "numeric":
            assert len(drawn[name]["bars"]) == 2 * 22 and drawn[name]["ticks"][0].startswith("< ")
            continue
        expected, actual = feature["expected_bins"], feature["actual_bins"]
        want = [(kind, float(f"{count / sum(counts) * 100:.1f}"))  # a share, as the bar's title prints it
                for pair in zip(expected, actual) for kind, count, counts in zip(("expected", "actual"), pair,
                                                                                (expected, actual))]
        assert [tuple(bar) for bar in drawn[name]["bars"]] == want, name
        assert drawn[name]["ticks"] == feature["bin_labels"], name  # few categories: each one named
    # the features table: each data-quality share of the values, in the feature's row
    rows = {re.sub(r"<[^>]+>", "", row.split("</td>")[0]).strip(): row
            for row in re.findall(r"<tr><td>.*?</tr>", dom, flags=re.S)}
    for name in FEATURES:
        feature = analysis[name]
        cell = re.search(r'<td class="quality">(.*?)</td>', rows[name], flags=re.S).group(1)
        shown = [f"{label} {100 * feature[count] / feature['values_count']:.2f}%" for count, label in QUALITY
                 if feature[count]]
        assert cell.split(" · ") == shown, name
        assert shown, name  # the traffic has bad values of some kind in every feature
