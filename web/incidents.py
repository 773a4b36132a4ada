"""Incidents (admin): timers and external tasks that kept failing, scheduled starts that started no
case. List them, retry after fixing; give up by cancelling the case, or dismiss a start that has none."""

from __future__ import annotations

from flask import Blueprint, jsonify

from engine.vocabulary import IncidentStatus

from .context import actor, args, body, engine

bp = Blueprint("incidents", __name__, url_prefix="/api/v1/incidents")


@bp.get("", endpoint="list")
def list_():
    query = args()
    status = query.get("status", IncidentStatus.OPEN)
    items = engine().timers.list_incidents(
        status=None if status == "all" else status, instance_id=query.get("instance_id"), limit=query.get("limit", 100)
    )
    return jsonify({"items": items})


@bp.post("/<int(min=1, max=9007199254740992):incident_id>/retry")
def retry(incident_id: int):
    body(required=False)
    return jsonify(engine().timers.retry_incident(incident_id, actor()))


@bp.post("/<int(min=1, max=9007199254740992):incident_id>/cancel")
def cancel(incident_id: int):
    data = body()
    return jsonify(engine().timers.cancel_incident(incident_id, actor(), data["reason"]))


@bp.post("/<int(min=1, max=9007199254740992):incident_id>/dismiss")
def dismiss(incident_id: int):
    data = body()
    return jsonify(engine().timers.dismiss_incident(incident_id, actor(), data["reason"]))
