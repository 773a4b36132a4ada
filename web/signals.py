"""Signals: a supervisor broadcasts a BPMN signal to the cases of their station waiting for it."""

from __future__ import annotations

from flask import Blueprint, jsonify

from .context import actor, body, engine

bp = Blueprint("signals", __name__, url_prefix="/api/v1/signals")


@bp.post("")
def broadcast():
    data = body()
    return jsonify(engine().signals.broadcast(data["name"], actor(), data.get("variables")))
