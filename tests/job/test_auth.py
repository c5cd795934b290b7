"""API tokens on every data route, over a real store."""

from __future__ import annotations

import pytest

from modelmon.api import create_app

TOKENS = "first-token,second-token"
HEALTH = "/api/grafana-proxy/model-endpoints/"


@pytest.fixture
def secured(traffic_run):
    app = create_app({"MODELMON": traffic_run.config.replace(api_tokens=TOKENS), "TESTING": True})
    return app, app.test_client()


def data_routes(app) -> list[tuple[str, str]]:
    """Every route of the app but the health check, with a concrete URL."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "grafana.health"):
            continue
        url = rule.rule.replace("<project>", "demo").replace("<endpoint_id>", "x")
        routes += [(method, url) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


def test_every_data_route_refuses_a_missing_or_wrong_token(secured):
    app, client = secured
    routes = data_routes(app)
    assert len(routes) >= 5
    body = {"target": "target_endpoint=list_projects",
            "targets": [{"target": "target_endpoint=list_endpoints"}]}
    for method, url in routes:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-V3io-Session-Key": "first-toke"},
                        {"Authorization": "first-token"}):
            response = client.open(url, method=method, json=body, headers=headers)
            assert response.status_code == 401, (method, url, headers)
            assert response.get_json()["error"] == "Unauthorized" and "rows" not in response.get_data(as_text=True)


def test_a_configured_token_opens_the_routes_either_header(secured):
    _, client = secured
    body = {"targets": [{"target": "target_endpoint=list_endpoints"}]}
    for headers in ({"Authorization": "Bearer first-token"}, {"Authorization": "bearer second-token"},
                    {"X-V3io-Session-Key": "second-token"}):
        response = client.post("/api/grafana-proxy/model-endpoints/query", json=body, headers=headers)
        assert response.status_code == 200 and len(response.get_json()[0]["rows"]) == 11
    assert client.get("/api/projects/demo/model-endpoints", headers={"Authorization": "Bearer first-token"}
                      ).status_code == 200


def test_the_health_check_needs_no_token(secured):
    _, client = secured
    assert client.get(HEALTH).status_code == 200
