"""`/settings/notifications`: a user's own channels (WeCom, DingTalk, e-mail); `/admin/deliveries`:
the admin's list of failing deliveries with re-send. Same services and rules as the API."""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.errors import InvalidInput
from engine.vocabulary import ChannelKind
from webhooks import Owner, install

from ..context import engine
from ..notifications import notifications

bp = Blueprint("notifications", __name__)
FIELDS = ("kind", "url", "secret", "address", "language")


def _me() -> Owner:
    return Owner(user_id=g.actor.id)


def _settings(values=None, error=None, status: int = 200):
    channels = notifications().channels.list(_me())
    page = render_template(
        "notifications.html", channels=channels, kinds=list(ChannelKind), values=values or {}, error=error
    )
    return page, status


def refusal(field: str) -> str:
    """Why a channel was refused, in the page's language (the engine's message is for the API)."""
    if field == "url":
        return _(
            "This robot URL cannot be used: it must start with https:// and reach a public address, "
            "without a user name or password."
        )
    if field == "secret":
        return _("DingTalk robots need their signing secret (SEC…); the other apps take none.")
    if field == "address":
        return _("Enter a valid e-mail address.")
    return _("Check the form: this channel cannot be saved.")


@bp.get("/settings/notifications")
def settings():
    return _settings()


@bp.post("/settings/notifications")
def add():
    values = {k: request.form.get(k, "").strip()[:2000] for k in FIELDS}
    data = {k: v for k, v in values.items() if v}
    try:
        notifications().channels.create(_me(), data, g.actor)
    except InvalidInput as exc:
        field = exc.details[0]["field"] if exc.details else ""
        return _settings(values, {"field": field, "message": refusal(field)}, 422)
    flash(_("Channel added."), "ok")
    return redirect(url_for("pages.notifications.settings"))


@bp.post("/settings/notifications/<uuid:channel_id>/active")
def toggle(channel_id: UUID):
    active = request.form.get("active") == "1"
    notifications().channels.update(_me(), str(channel_id), {"active": active}, g.actor)
    flash(_("Channel enabled.") if active else _("Channel paused."), "ok")
    return redirect(url_for("pages.notifications.settings"))


@bp.post("/settings/notifications/<uuid:channel_id>/delete")
def remove(channel_id: UUID):
    notifications().channels.delete(_me(), str(channel_id), g.actor)
    flash(_("Channel removed."), "ok")
    return redirect(url_for("pages.notifications.settings"))


@bp.get("/admin/deliveries")
def deliveries():
    items = install(engine()).list_deliveries("failing", limit=100)
    return render_template("deliveries.html", deliveries=items)


@bp.post("/admin/deliveries/<int(min=1, max=9007199254740992):delivery_id>/resend")
def resend(delivery_id: int):
    install(engine()).resend(delivery_id, g.actor)
    flash(_("Delivery %(id)s will be sent again now.", id=delivery_id), "ok")
    return redirect(url_for("pages.notifications.deliveries"))
