"""Alert rules and activations over REST (DESIGN.md "Alerts"), behind the API tokens like
every route: ``GET|POST /api/projects/<p>/alerts``, ``DELETE .../alerts/<name>``, the
activations, and resolving one."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import BadRequest, NotFound

from modelmon import alert_rules
from modelmon.api.db import get_store
from modelmon.api.grafana import iso_utc
from modelmon.udfs.alerts import RULE_FIELDS, AlertRule, RuleError, make_rule

bp = Blueprint("alerts", __name__, url_prefix="/api/projects/<project>")


def _rule_object(rule: AlertRule) -> dict[str, Any]:
    return {**{name: getattr(rule, name) for name in RULE_FIELDS}, "notify": list(rule.notify),
            "summary": rule.summary}


def activation_object(activation: dict[str, Any]) -> dict[str, Any]:
    return {key: iso_utc(value) if key.endswith("_at") else value for key, value in activation.items()}


@bp.get("/alerts")
def list_rules(project: str):
    return jsonify(rules=[_rule_object(rule) for rule in alert_rules.list_rules(get_store(), project)])


@bp.post("/alerts")
def add_rule(project: str):
    """A rule from a JSON object of its fields (``project`` is the route's); replaces the
    project's rule of that name. 400 with what is wrong for a bad rule."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object of the rule's fields")
    if body.get("project", project) != project:
        raise BadRequest(f"the body's project {str(body['project'])[:100]!r} is not the route's {project!r}")
    try:
        rule = make_rule({**body, "project": project})
    except RuleError as error:
        raise BadRequest(str(error)) from None
    alert_rules.save_rule(get_store(), rule)
    return jsonify(_rule_object(rule)), 201


@bp.delete("/alerts/<name>")
def remove_rule(project: str, name: str):
    if not alert_rules.remove_rule(get_store(), project, name):
        raise NotFound(f"project {project!r} has no alert rule {name!r}")
    return jsonify(removed=name)


@bp.get("/alert-activations")
def list_activations(project: str):
    """The project's activations, newest first; ``open=true`` for the open ones only,
    ``endpoint=ID`` for one endpoint's."""
    open_only = request.args.get("open", "false").lower() == "true"
    return jsonify(activations=[activation_object(a) for a in alert_rules.list_activations(
        get_store(), project, open_only=open_only, endpoint_id=request.args.get("endpoint"))])


@bp.post("/alert-activations/<activation_id>/resolve")
def resolve(project: str, activation_id: str):
    """Close an open activation (how a ``reset: manual`` rule's activations end)."""
    found = alert_rules.list_activations(get_store(), project, activation_id=activation_id)
    if not found:
        raise NotFound(f"project {project!r} has no alert activation {activation_id!r}")
    before = alert_rules.resolve_activation(get_store(), activation_id)
    return jsonify(resolved=activation_id, was_open=before["closed_at"] is None)
