"""`/admin/webhooks`: Standard Webhooks subscriptions (create with the secret shown once, pause,
rotate, attempts, re-send) and departments' inbound secrets. Same services and rules as the API."""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.errors import DepartmentNotFound, InvalidInput
from webhooks import events, install

from ..context import engine

bp = Blueprint("webhooks", __name__)


def _hooks():
    return install(engine())


def _page(values=None, error=None, secret=None, status: int = 200):
    hooks = _hooks()
    page = render_template(
        "webhooks.html",
        subscriptions=hooks.subscriptions.listing(),
        inbound=hooks.subscriptions.inbound_list(),
        departments=[d["key"] for d in engine().identity.list_departments()],
        types=events.TYPES,
        values=values or {},
        error=error,
        secret=secret,
    )
    return page, status


def refusal(field: str) -> str:
    """Why a subscription was refused, in the page's language (the engine's message is for the API)."""
    if field == "url":
        return _(
            "This URL cannot be used: it must start with https:// and reach a public address (or an "
            "allow-listed one), without a user name or password."
        )
    if field == "events":
        return _("Choose at least one event.")
    if field in ("department", "name"):
        return _("Choose a department, or name the integration.")
    return _("Check the form: this subscription cannot be saved.")


@bp.get("/admin/webhooks")
def show():
    return _page()


@bp.post("/admin/webhooks")
def create():
    values = {k: request.form.get(k, "").strip()[:2000] for k in ("url", "department", "name")}
    wanted = [t for t in request.form.getlist("events") if t in events.TYPES]
    data = {k: v for k, v in values.items() if v} | {"events": wanted}
    try:
        created = _hooks().subscriptions.create(data, g.actor)
    except InvalidInput as exc:
        field = exc.details[0]["field"] if exc.details else ""
        return _page(values | {"events": wanted}, {"field": field, "message": refusal(field)}, status=422)
    except DepartmentNotFound:
        return _page(values | {"events": wanted}, {"field": "department", "message": refusal("department")}, status=422)
    return _page(secret={"for": created["name"], "value": created["secret"]}, status=201)


@bp.post("/admin/webhooks/<uuid:subscription_id>/active")
def toggle(subscription_id: UUID):
    active = request.form.get("active") == "1"
    _hooks().subscriptions.update(str(subscription_id), {"active": active}, g.actor)
    flash(_("Subscription enabled.") if active else _("Subscription paused."), "ok")
    return redirect(url_for("pages.webhooks.show"))


@bp.post("/admin/webhooks/<uuid:subscription_id>/rotate")
def rotate(subscription_id: UUID):
    rotated = _hooks().subscriptions.rotate(str(subscription_id), g.actor)
    return _page(secret={"for": rotated["name"], "value": rotated["secret"], "rotated": True})


@bp.post("/admin/webhooks/inbound")
def inbound():
    department = request.form.get("department", "")[:64]
    try:
        rotated = _hooks().subscriptions.inbound_rotate(department, g.actor)
    except (InvalidInput, DepartmentNotFound):
        return _page(error={"field": "inbound", "message": _("Choose a department.")}, status=422)
    return _page(secret={"for": department, "value": rotated["secret"], "inbound": True})


@bp.get("/admin/webhooks/<uuid:subscription_id>")
def attempts(subscription_id: UUID):
    hooks = _hooks()
    subscription = hooks.subscriptions.get(str(subscription_id))
    items = hooks.webhook_deliveries(subscription_id=str(subscription_id), limit=50)
    return render_template("webhook_attempts.html", subscription=subscription, deliveries=items)


@bp.post("/admin/webhooks/deliveries/<int(min=1, max=9007199254740992):delivery_id>/resend")
def resend(delivery_id: int):
    view = _hooks().resend_webhook(delivery_id, g.actor)
    flash(_("Queued to be sent again."), "ok")
    return redirect(url_for("pages.webhooks.attempts", subscription_id=view["subscription"]["id"]))
