"""Readiness (/healthz) and the OpenAPI document: the two endpoints that need no token."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify

from .context import engine
from .errors import error_response

bp = Blueprint("health", __name__)
log = logging.getLogger("fengqiao.web")


@bp.get("/healthz")
def healthz():
    try:
        definitions = engine().repository.count_definitions()
    except Exception as exc:  # any failure to reach the database means "not ready"
        log.warning("health check failed: %s", type(exc).__name__)
        return error_response(503, "not_ready", "the database does not answer")
    return jsonify({"status": "ok", "definitions": definitions})


@bp.get("/api/v1/openapi.json")
def openapi():
    return jsonify(current_app.extensions["fengqiao.openapi"].document)
