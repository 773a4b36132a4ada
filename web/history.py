"""The audit trail, for auditors: who changed what, when (never personal data)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from .context import args, engine

bp = Blueprint("history", __name__, url_prefix="/api/v1/audit-trail")


@bp.get("")
def audit_trail():
    query = args()
    limit = query.get("limit", 200)
    items = engine().history.audit_trail(
        instance_id=query.get("instance_id"), limit=limit, after_id=query.get("after_id")
    )
    return jsonify({"items": items, "next_after_id": items[-1]["id"] if len(items) == limit else None})
