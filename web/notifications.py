"""Notification channels (a user's own; a department's, admin) and the admin's view of deliveries."""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint, jsonify

from webhooks import Notifications, Owner, install

from .admin import _name
from .context import actor, args, body, created, engine, no_content

bp = Blueprint("notifications", __name__, url_prefix="/api/v1")


def notifications() -> Notifications:
    return install(engine())


def _me() -> Owner:
    return Owner(user_id=actor().id)


# --- my channels -------------------------------------------------------------------------------
@bp.get("/me/channels")
def list_my_channels():
    args()
    return jsonify({"items": notifications().channels.list(_me())})


@bp.post("/me/channels")
def create_my_channel():
    return created(notifications().channels.create(_me(), body(), actor()))


@bp.patch("/me/channels/<uuid:channel_id>")
def update_my_channel(channel_id: UUID):
    return jsonify(notifications().channels.update(_me(), str(channel_id), body(), actor()))


@bp.delete("/me/channels/<uuid:channel_id>")
def delete_my_channel(channel_id: UUID):
    notifications().channels.delete(_me(), str(channel_id), actor())
    return no_content()


# --- a department's channels (admin) -----------------------------------------------------------
def _department(department: str) -> Owner:
    return Owner(department=_name(department, "department"))


@bp.get("/departments/<department>/channels")
def list_department_channels(department: str):
    args()
    return jsonify({"items": notifications().channels.list(_department(department))})


@bp.post("/departments/<department>/channels")
def create_department_channel(department: str):
    return created(notifications().channels.create(_department(department), body(), actor()))


@bp.patch("/departments/<department>/channels/<uuid:channel_id>")
def update_department_channel(department: str, channel_id: UUID):
    return jsonify(notifications().channels.update(_department(department), str(channel_id), body(), actor()))


@bp.delete("/departments/<department>/channels/<uuid:channel_id>")
def delete_department_channel(department: str, channel_id: UUID):
    notifications().channels.delete(_department(department), str(channel_id), actor())
    return no_content()


# --- deliveries (admin) ------------------------------------------------------------------------
@bp.get("/admin/deliveries")
def list_deliveries():
    query = args()
    return jsonify(
        {"items": notifications().list_deliveries(query.get("state", "failing"), limit=query.get("limit", 100))}
    )


@bp.get("/admin/deliveries/<int(min=1, max=9007199254740992):delivery_id>")
def get_delivery(delivery_id: int):
    return jsonify(notifications().get_delivery(delivery_id))


@bp.post("/admin/deliveries/<int(min=1, max=9007199254740992):delivery_id>/resend")
def resend_delivery(delivery_id: int):
    body(required=False)
    return jsonify(notifications().resend(delivery_id, actor()))
