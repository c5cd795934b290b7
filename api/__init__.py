"""The Flask proxy: Grafana SimpleJson and a REST API (MLRun-compatible) over the ClickHouse store."""

from __future__ import annotations

from typing import Any, Mapping

from flask import Flask

from modelmon.config import Config, load_config

MAX_REQUEST_BYTES = 1024 * 1024


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """App factory; ``overrides`` may set ``MODELMON`` (a Config) or any Flask setting."""
    app = Flask(__name__)
    app.config.from_mapping(MODELMON=None, MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES)
    app.json.sort_keys = False
    if overrides:
        app.config.update(overrides)
    if not isinstance(app.config["MODELMON"], Config):
        app.config["MODELMON"] = load_config()

    from modelmon.api import alerts, auth, db, errors, grafana, rest, status

    db.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    app.register_blueprint(grafana.bp)
    app.register_blueprint(rest.bp)
    app.register_blueprint(status.bp)
    app.register_blueprint(alerts.bp)
    return app
