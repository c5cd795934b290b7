"""Grafana-shaped requests to the proxy."""

from __future__ import annotations

PREFIX = "/api/grafana-proxy/model-endpoints"
GRAFANA_RANGE = {"from": "2026-11-26T00:00:00.000Z", "to": "2026-11-26T23:59:59.000Z",
                 "raw": {"from": "now-24h", "to": "now"}}


def grafana_query(client, target: str):
    return client.post(f"{PREFIX}/query", json={
        "range": GRAFANA_RANGE, "rangeRaw": GRAFANA_RANGE["raw"], "interval": "1m", "maxDataPoints": 500,
        "targets": [{"target": target, "refId": "A", "type": "table"}]})
