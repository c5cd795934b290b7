"""Injection attempts in every parameter of every route, against the real store the job filled:
each is refused (4xx) or harmless (no row it did not name), and the store is unchanged after."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from modelmon import store
from modelmon.pipelines.store_sink import TABLES
from tests.support.proxy import GRAFANA_RANGE, PREFIX

PAYLOADS = [
    "' OR '1'='1",
    "x' OR 1=1 --",
    "'; DROP TABLE endpoint_metrics; --",
    "x') UNION ALL SELECT name, name FROM system.tables --",
    "{project:String}",
    "\\' OR \\'1\\'=\\'1",
    "x\\'; SELECT 1; --",
    "%' OR endpoint_id LIKE '%",
    "x\" OR \"1\"=\"1",
    "1; SYSTEM SHUTDOWN",
    "x`; DROP DATABASE default; --",
    "\u0000' OR 1=1",
]


@pytest.fixture
def known(traffic_store):
    """The store's endpoint ids: a response may hold only those its request named."""
    return {row[0] for row in traffic_store.query("SELECT endpoint_id FROM endpoints").result_rows}


def grafana(client, target: str, **body):
    return client.post(f"{PREFIX}/query", json={
        "range": GRAFANA_RANGE, "maxDataPoints": 500, "targets": [{"target": target, "refId": "A"}], **body})


def rest(client, path: str, **query):
    encoded = "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items())
    return client.get(f"/api/projects/{path}" + (f"?{encoded}" if encoded else ""))


def attempts(endpoint: str, payload: str) -> dict[str, tuple]:
    """Every parameter, with the payload in it and real values elsewhere: the request, and the
    endpoint ids it legitimately names."""
    p = quote(payload, safe="")
    return {
        "rest project": (lambda c: rest(c, f"{p}/model-endpoints"), set()),
        "rest endpoint_id": (lambda c: rest(c, f"demo/model-endpoints/{p}"), set()),
        "rest features endpoint_id": (lambda c: rest(c, f"demo/model-endpoints/{p}/features"), set()),
        "rest model": (lambda c: rest(c, "demo/model-endpoints", model=payload), set()),
        "rest function": (lambda c: rest(c, "demo/model-endpoints", function=payload), set()),
        "rest label key": (lambda c: rest(c, "demo/model-endpoints", label=f"{payload}=x"), set()),
        "rest label value": (lambda c: rest(c, "demo/model-endpoints", label=f"team={payload}"), set()),
        "rest start": (lambda c: rest(c, f"demo/model-endpoints/{endpoint}", start=payload), {endpoint}),
        "rest end": (lambda c: rest(c, f"demo/model-endpoints/{endpoint}", end=payload), {endpoint}),
        "rest metric": (lambda c: rest(c, f"demo/model-endpoints/{endpoint}", metric=payload), {endpoint}),
        "rest feature_analysis": (lambda c: rest(c, f"demo/model-endpoints/{endpoint}", feature_analysis=payload),
                                  {endpoint}),
        "status endpoint_id": (lambda c: c.get(f"/endpoints/{p}"), set()),
        "search project": (lambda c: c.post(f"{PREFIX}/search",
                                            json={"target": f"target_endpoint=list_endpoints;project={payload}"}),
                           set()),
        "search target": (lambda c: c.post(f"{PREFIX}/search", json={"target": payload}), set()),
        "list_endpoints project": (lambda c: grafana(c, f"target_endpoint=list_endpoints;project={payload}"), set()),
        "list_endpoints metrics": (lambda c: grafana(c, f"target_endpoint=list_endpoints;metrics={payload}"), set()),
        "target_endpoint": (lambda c: grafana(c, f"target_endpoint={payload}"), set()),
        **{f"{target} endpoint_id": (
            lambda c, target=target: grafana(
                c, f"target_endpoint={target};endpoint_id={payload};metrics=latency_avg_5m"),
            set()) for target in ("metrics", "incoming_features", "individual_feature_analysis",
                                  "overall_feature_analysis")},
        "metrics metrics": (lambda c: grafana(c, f"target_endpoint=metrics;endpoint_id={endpoint};metrics={payload}"),
                            {endpoint}),
        "range.from": (lambda c: grafana(c, f"target_endpoint=metrics;endpoint_id={endpoint};metrics=latency_avg_5m",
                                         range={"from": payload, "to": GRAFANA_RANGE["to"]}), {endpoint}),
        "range.to": (lambda c: grafana(c, f"target_endpoint=metrics;endpoint_id={endpoint};metrics=latency_avg_5m",
                                       range={"from": GRAFANA_RANGE["from"], "to": payload}), {endpoint}),
        "maxDataPoints": (lambda c: grafana(c, f"target_endpoint=metrics;endpoint_id={endpoint};metrics=latency_avg_5m",
                                            maxDataPoints=payload), {endpoint}),
        "annotation query": (lambda c: c.post(f"{PREFIX}/annotations", json={
            "range": GRAFANA_RANGE, "annotation": {"query": payload, "name": payload}}), set()),
    }


def test_every_parameter_refuses_or_defuses_injection(client, traffic_store, known):
    endpoint = sorted(known)[0]
    before = store.row_counts(traffic_store, list(TABLES))
    tried = 0
    for payload in PAYLOADS:
        for name, (send, named) in attempts(endpoint, payload).items():
            response = send(client)
            tried += 1
            assert response.status_code in (200, 400, 404), (name, payload, response.status_code)
            body = response.get_data(as_text=True)
            leaked = {endpoint_id for endpoint_id in known - named if endpoint_id in body}
            assert not leaked, (name, payload, leaked)
            if response.status_code != 200:
                assert response.is_json and "error" in response.get_json(), (name, payload)
    assert tried == len(PAYLOADS) * len(attempts(endpoint, ""))
    assert store.row_counts(traffic_store, list(TABLES)) == before
    assert {row[0] for row in traffic_store.query("SHOW TABLES").result_rows} >= set(TABLES)


def test_a_payload_in_the_project_finds_nothing_where_the_real_name_finds_everything(client, known):
    assert len(rest(client, "demo/model-endpoints").get_json()["endpoints"]) == len(known) - 1  # one is 'tests'
    for payload in PAYLOADS:
        assert rest(client, f"{quote('demo' + payload, safe='')}/model-endpoints").get_json() == {"endpoints": []}
