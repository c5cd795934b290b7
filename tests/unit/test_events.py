"""The event contract of ../shared/DESIGN.md: forms, endpoint identity, and bad input."""

from __future__ import annotations

import hashlib
import json

import pytest

from modelmon.udfs.contract import EventError, endpoint_id, parse_endpoint
from modelmon.udfs.events import parse_prediction, parse_when
from modelmon.udfs.lateness import LatenessTracker
from tests.support.reader_lines import parsed

BASE = {"class": "sklearn.RF", "worker": "0", "model": "RF", "version": "", "host": "h",
        "function_uri": "demo/serving:latest"}
WHEN = "2026-11-26 10:00:00.123456+00:00"
WHEN_MS = 1795687200123


def success(**changes):
    event = dict(BASE, request={"id": "1", "inputs": [[1, 2], [3, 4]]}, op="infer",
                 resp={"id": "1", "model_name": "RF", "outputs": [0, 1]}, when=WHEN, microsec=2_500_000)
    return dict(event, **changes)


def parse_one(obj) -> tuple:
    out = parsed([obj if isinstance(obj, str) else json.dumps(obj)])
    return (out.endpoint_id[0], out.status[0], out.reason[0], out.time_ms[0], out.predictions[0],
            out.latency_us[0], out.is_error[0])


def test_design_example_endpoint_id():
    assert parse_endpoint(BASE).endpoint_id == "fbe75ae49c14f9f103f3464c9e7953c142130ac0"


@pytest.mark.parametrize("uri, version, key", [
    ("p/f@abc", "", "p_f_abc_RF_latest"),
    ("p/f", "", "p_f_N/A_RF_latest"),
    ("p/f:t@abc", "v2", "p_f_t_RF_v2"),
])
def test_endpoint_id_prefers_tag_then_hash_then_na(uri, version, key):
    assert parse_endpoint(dict(BASE, function_uri=uri, version=version)).endpoint_id == \
        hashlib.sha1(key.encode()).hexdigest()


def test_project_and_endpoint_id_overrides():
    endpoint = parse_endpoint(dict(BASE, project="other", endpoint_id="e1"))
    assert (endpoint.project, endpoint.endpoint_id) == ("other", "e1")


@pytest.mark.parametrize("text", ["2026-11-26 10:00:00.123+00:00", "2026-11-26T10:00:00.123Z",
                                  "2026-11-26T10:00:00.123", "2026-11-26T11:00:00.123+01:00"])
def test_when_accepts_mlrun_and_iso_forms(text):
    assert parse_when(text) == 1795687200123


def test_when_without_microseconds_parses():
    assert parse_when("2026-11-26 10:00:00+00:00") == 1795687200000


def test_success_counts_rows_and_keeps_latency_over_one_second_whole():
    assert parse_one(success()) == (parse_endpoint(BASE).endpoint_id, ["ok"], [None], [WHEN_MS], [2], [2_500_000],
                                    [False])


def test_error_event_has_no_resp_and_no_latency():
    error = dict(BASE, request={"inputs": [[1, 2]]}, op="infer", when=WHEN, error="boom")
    assert parse_one(error)[1:] == (["ok"], [None], [WHEN_MS], [0], [0], [True])


def test_batched_form_expands_one_event_per_row_and_keeps_good_rows():
    headers = ["request", "op", "resp", "when", "microsec", "metrics"]
    good = [{"inputs": [[1]]}, "infer", {"outputs": [1]}, WHEN, 7, {}]
    bad = [{"inputs": [[1]]}, "infer", {"outputs": []}, WHEN, 7, {}]
    line = dict(BASE, headers=headers, values=[good, bad, good])
    _, status, reason, times, predictions, latency, _ = parse_one(line)
    assert status == ["ok", "invalid", "ok"]
    assert reason == [None, "0 outputs for 1 input rows", None]
    assert (predictions[0], predictions[2], latency[0]) == (1, 1, 7)


@pytest.mark.parametrize("line, reason", [
    ("[1, 2]", "a line must be a JSON object, got list"),
    ("null", "a line must be a JSON object, got NoneType"),
    (dict(BASE, function_uri="serving"), "function_uri 'serving' is not project/function[:tag][@hash]"),
    ({k: v for k, v in BASE.items() if k != "model"}, "missing 'model'"),
    (dict(BASE, model=5), "'model' must be a string, got int"),
    (dict(BASE, labels=["a"]), "'labels' must be an object, got list"),
    (dict(BASE, headers="when", values=[]), "'headers' must be a list of field names"),
    (dict(BASE, headers=["when", "evil"], values=[]), "unknown batch headers ['evil']"),
    (dict(BASE, headers=["when"], values=[]), "batch has no rows"),
])
def test_bad_lines_become_one_invalid_event_with_a_reason(line, reason):
    status, reasons = parse_one(line)[1:3]
    assert (status, reasons) == (["invalid"], [reason])


@pytest.mark.parametrize("changes, reason", [
    ({"when": 17}, "'when' must be a string, got int"),
    ({"when": "yesterday"}, "'when' 'yesterday' is not a timestamp"),
    ({"request": {"inputs": {"a": 1}}}, "'request.inputs' must be a list of feature rows"),
    ({"request": {"inputs": []}}, "'request.inputs' is empty"),
    ({"resp": None}, "missing 'resp' object (and no 'error')"),
    ({"resp": {"outputs": [0]}}, "1 outputs for 2 input rows"),
    ({"microsec": True}, "'microsec' must be a non-negative number, got True"),
    ({"microsec": -1}, "'microsec' must be a non-negative number, got -1"),
    ({"microsec": float("nan")}, "'microsec' must be a non-negative number, got nan"),
    ({"error": 5}, "'error' must be a string, got int"),
])
def test_bad_events_are_invalid_but_keep_their_endpoint(changes, reason):
    endpoint, status, reasons = parse_one(success(**changes))[:3]
    assert (endpoint, status, reasons) == (parse_endpoint(BASE).endpoint_id, ["invalid"], [reason])


def test_hostile_lines_never_raise():
    lines = ["[" * 100_000, "\x00", "{}", '{"a": ' * 5000, "", "{" + "x" * 1000]
    out = parsed(lines, LatenessTracker(1000))
    assert [s for s in out.status] == [["invalid"]] * len(lines)
    assert all(r[0].startswith("bad JSON") or r[0].startswith("missing") for r in out.reason)


def test_parse_prediction_rejects_non_dict_request():
    with pytest.raises(EventError, match="missing 'request' object"):
        parse_prediction({"when": WHEN, "request": [1]})


def test_endpoint_id_function_matches_mlrun_key_format():
    assert endpoint_id("demo", "serving", "", "h1", "RF", "v1") == hashlib.sha1(b"demo_serving_h1_RF_v1").hexdigest()


def test_endpoint_cache_gives_each_line_its_own_labels_and_validation():
    """Lines of one endpoint share a cached endpoint only when their fields are equal strings:
    label values equal in Python (1, True, 1.0) keep their own text, and a bad line stays bad."""
    lines = [success(labels={"a": "x"}), success(labels={"a": "x"}), success(labels={"a": 1}),
             success(labels={"a": True}), success(labels={"a": 1.0}), success(model=7), success(labels={"a": "x"})]
    out = parsed([json.dumps(line) for line in lines])
    assert out.labels == ['{"a": "x"}', '{"a": "x"}', '{"a": "1"}', '{"a": "True"}', '{"a": "1.0"}', None,
                          '{"a": "x"}']
    assert out.status[5] == ["invalid"] and out.reason[5] == ["'model' must be a string, got int"]


def test_json_orjson_refuses_is_read_as_the_standard_library_reads_it():
    """orjson refuses NaN, which the standard library reads; a latency past a BIGINT (which
    orjson reads as a float) is invalid rather than an overflow in the job."""
    nan_latency = json.dumps(success()).replace("2500000", "NaN")
    largest = json.dumps(success()).replace("2500000", str(2**63 - 1))
    huge = json.dumps(success()).replace("2500000", str(2**70))
    assert parse_one(nan_latency)[1:3] == (["invalid"], ["'microsec' must be a non-negative number, got nan"])
    assert parse_one(largest)[1] == ["ok"] and parse_one(largest)[5] == [2**63 - 1]
    assert parse_one(huge)[1:3] == (["invalid"], [f"'microsec' {float(2**70)!r} is past the largest latency, "
                                                  f"{2**63 - 1}"])
