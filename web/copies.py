"""Copies (抄送): `GET /api/v1/copies` (copied to me), `POST /api/v1/copies/{id}/read`; the send is
`POST /api/v1/process-instances/{id}/copies` (web/instances.py). docs/operations.md."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Blueprint, jsonify

from . import access
from .context import actor, args, body, engine

bp = Blueprint("copies", __name__, url_prefix="/api/v1/copies")


@bp.get("", endpoint="list")
def list_():
    query = args()
    who = actor()
    items = copied_to(who, unread=query.get("unread") == "true", limit=query.get("limit", 50))
    return jsonify({"items": items, "unread": engine().copies.unread_count(who)})


@bp.post("/<uuid:copy_id>/read")
def read(copy_id: UUID):
    body(required=False)
    who = actor()
    return jsonify(with_links(who, [engine().copies.mark_read(str(copy_id), who)])[0])


def copied_to(who, unread: bool = False, limit: int = 50) -> list[dict[str, Any]]:
    """The caller's copies, newest first, each saying whether its case opens for them (`may_open`)."""
    return with_links(who, engine().copies.list_for(who, unread=unread, limit=limit))


def with_links(who, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy never widens what its recipient reads: the case opens only as their role allows."""
    reachable: set[str] = set()
    if access.needs_tasks_to_see_cases(who):  # one query for the whole list
        reachable = engine().copies.reachable_through_tasks(who, [c["instance_id"] for c in items])
    return [{**c, "may_open": access.copy_opens(who, c, reachable)} for c in items]
