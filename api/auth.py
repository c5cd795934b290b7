"""API tokens: with ``api_tokens`` configured, every route but the health check needs one, as
``Authorization: Bearer <token>`` or (for MLRun-era Grafana datasources) ``X-V3io-Session-Key``.
Without tokens the proxy only listens on the loopback interface."""

from __future__ import annotations

import hmac

from flask import Flask, current_app, request
from werkzeug.exceptions import Unauthorized

from modelmon.config import Config

OPEN_ENDPOINTS = frozenset({"grafana.health", "static"})
LOOPBACK = "127.0.0.1"


def _presented_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("X-V3io-Session-Key")


def _require_token() -> None:
    tokens = current_app.config["MODELMON"].tokens()
    if not tokens or request.endpoint in OPEN_ENDPOINTS:
        return
    presented = _presented_token()
    if presented is None or not any(hmac.compare_digest(presented.encode(), t.encode()) for t in tokens):
        raise Unauthorized("a valid API token is required: 'Authorization: Bearer <token>' or 'X-V3io-Session-Key'")


def listen_host(config: Config) -> tuple[str, str | None]:
    """Where the proxy may listen, and a warning when that is not where it was asked to.

    >>> listen_host(Config(proxy_host="0.0.0.0"))[0]
    '127.0.0.1'
    >>> listen_host(Config(proxy_host="0.0.0.0", api_tokens="secret"))
    ('0.0.0.0', None)
    """
    if config.tokens() or config.proxy_host in (LOOPBACK, "localhost", "::1"):
        return config.proxy_host, None
    return LOOPBACK, (f"no API tokens are configured (MODELMON_API_TOKENS): listening on {LOOPBACK} only, "
                      f"not {config.proxy_host}")


def init_app(app: Flask) -> None:
    app.before_request(_require_token)
