"""JSON errors: a 4xx names what is wrong with the request; nothing answers with HTML."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


def _http_error(error: HTTPException):
    return jsonify(error=error.name, message=error.description), error.code


def _unexpected_error(error: Exception):
    log.exception("unexpected error", exc_info=error)
    return _http_error(InternalServerError("the proxy failed; see its log"))


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
