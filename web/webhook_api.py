"""Standard Webhooks: subscriptions and departments' inbound secrets (admin), and the signed inbound
result endpoint, which authenticates by its signature, not by a token (docs/webhooks.md)."""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint, jsonify, request

from webhooks import Notifications, inbound, install, signing

from .admin import _name
from .context import actor, args, body, created, engine, no_content
from .errors import ApiError

bp = Blueprint("webhooks", __name__, url_prefix="/api/v1/webhooks")
ID = "int(min=1, max=9007199254740992)"


def hooks() -> Notifications:
    return install(engine())


# --- subscriptions (admin) ---------------------------------------------------------------------
@bp.get("/subscriptions")
def list_subscriptions():
    args()
    return jsonify({"items": hooks().subscriptions.listing()})


@bp.post("/subscriptions")
def create_subscription():
    return created(hooks().subscriptions.create(body(), actor()))


@bp.get("/subscriptions/<uuid:subscription_id>")
def get_subscription(subscription_id: UUID):
    return jsonify(hooks().subscriptions.get(str(subscription_id)))


@bp.patch("/subscriptions/<uuid:subscription_id>")
def update_subscription(subscription_id: UUID):
    return jsonify(hooks().subscriptions.update(str(subscription_id), body(), actor()))


@bp.delete("/subscriptions/<uuid:subscription_id>")
def delete_subscription(subscription_id: UUID):
    hooks().subscriptions.delete(str(subscription_id), actor())
    return no_content()


@bp.post("/subscriptions/<uuid:subscription_id>/rotate-secret")
def rotate_secret(subscription_id: UUID):
    data = body(required=False)
    return jsonify(hooks().subscriptions.rotate(str(subscription_id), actor(), data.get("grace_seconds")))


@bp.get("/subscriptions/<uuid:subscription_id>/deliveries")
def subscription_deliveries(subscription_id: UUID):
    query = args()
    items = hooks().webhook_deliveries(subscription_id=str(subscription_id), limit=query.get("limit", 50))
    return jsonify({"items": items})


@bp.get("/events/<uuid:event_id>/deliveries")
def event_deliveries(event_id: UUID):
    args()
    return jsonify({"items": hooks().webhook_deliveries(event_id=str(event_id), limit=200)})


@bp.post(f"/deliveries/<{ID}:delivery_id>/resend")
def resend(delivery_id: int):
    body(required=False)
    return jsonify(hooks().resend_webhook(delivery_id, actor()))


# --- inbound secrets (admin) -------------------------------------------------------------------
@bp.get("/inbound-secrets")
def list_inbound_secrets():
    args()
    return jsonify({"items": hooks().subscriptions.inbound_list()})


@bp.post("/inbound-secrets/<department>")
def rotate_inbound_secret(department: str):
    data = body(required=False)
    return jsonify(
        hooks().subscriptions.inbound_rotate(_name(department, "department"), actor(), data.get("grace_seconds"))
    )


# --- inbound results (signed, no token) --------------------------------------------------------
@bp.post("/inbound/<department>")
def receive(department: str):
    raw = request.get_data(cache=False)
    found = {k: request.headers.get(k) for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    try:
        answer = inbound.receive(engine(), hooks().subscriptions, department[:64], found, raw)
    except signing.Unverified as exc:
        raise ApiError(401, "signature_invalid", str(exc)) from None
    except signing.Malformed as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    return jsonify(answer)
