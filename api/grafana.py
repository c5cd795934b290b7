"""Grafana SimpleJson routes, compatible with MLRun's model-endpoints proxy."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Callable

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import BadRequest

from api import queries
from api.db import get_store

bp = Blueprint("grafana", __name__, url_prefix="/api/grafana-proxy/model-endpoints")


def parse_target(target: Any) -> dict[str, str]:
    """``key=value;key=value`` with Grafana's regex escaping (``my\\-project``) undone.

    >>> parse_target(r"target_endpoint=list_endpoints;project=my\\-project")
    {'target_endpoint': 'list_endpoints', 'project': 'my-project'}
    """
    if not isinstance(target, str) or not target.strip():
        raise BadRequest("a target must be a non-empty 'key=value;key=value' string")
    parameters = {}
    for part in filter(None, (p.strip() for p in target.split(";"))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise BadRequest(f"target part {part[:100]!r} is not key=value")
        parameters[key.strip()] = re.sub(r"\\(.)", r"\1", value.strip())
    if "target_endpoint" not in parameters:
        raise BadRequest("the target names no target_endpoint")
    return parameters


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _table(columns: list[tuple[str, str]], rows: list[list[Any]]) -> dict[str, Any]:
    return {"type": "table", "columns": [{"text": name, "type": kind} for name, kind in columns], "rows": rows}


_LIST_ENDPOINTS_COLUMNS = [
    ("endpoint_id", "string"), ("endpoint_function", "string"), ("endpoint_model", "string"),
    ("endpoint_model_class", "string"), ("first_request", "time"), ("last_request", "time"),
    ("accuracy", "number"), ("error_count", "number"), ("drift_status", "string"),
]


def list_endpoints_table(parameters: dict[str, str]) -> dict[str, Any]:
    """MLRun's columns; accuracy stays null until ground truth exists, drift_status until the
    endpoint's first drift run."""
    rows = [[e["endpoint_id"], e["function_uri"], e["model"], e["model_class"], _iso(e["first_request"]),
             _iso(e["last_request"]), None, e["error_count"], e["drift_status"]]
            for e in queries.list_endpoints(get_store(), parameters.get("project"))]
    return _table(_LIST_ENDPOINTS_COLUMNS, rows)


QUERY_TARGETS: dict[str, Callable[[dict[str, str]], dict[str, Any]]] = {
    "list_endpoints": list_endpoints_table,
}


@bp.get("/")
def health():
    return jsonify(status="ok")


@bp.post("/search")
def search():
    parameters = parse_target(_json_body().get("target"))
    if parameters["target_endpoint"] != "list_projects":
        raise BadRequest(f"unknown search target_endpoint {parameters['target_endpoint']!r}; known: list_projects")
    return jsonify(queries.list_projects(get_store()))


@bp.post("/query")
def query():
    targets = _json_body().get("targets")
    if not isinstance(targets, list) or not targets:
        raise BadRequest("'targets' must be a non-empty list")
    answers = []
    for target in targets:
        if not isinstance(target, dict):
            raise BadRequest("each target must be an object with a 'target' string")
        parameters = parse_target(target.get("target"))
        handler = QUERY_TARGETS.get(parameters["target_endpoint"])
        if handler is None:
            raise BadRequest(f"unknown query target_endpoint {parameters['target_endpoint']!r}; "
                             f"known: {', '.join(sorted(QUERY_TARGETS))}")
        answers.append(handler(parameters))
    return jsonify(answers)
