"""`/phrases`: a user's common phrases (常用语); for admins, the station-wide defaults."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..context import engine

bp = Blueprint("phrases", __name__, url_prefix="/phrases")


@bp.get("")
def show():
    return render_template("phrases.html", phrases=engine().phrases.list(g.actor))


@bp.post("")
def add():
    engine().phrases.add(g.actor, (request.form.get("text") or "")[:201])
    flash(_("The phrase was added."), "ok")
    return redirect(url_for("pages.phrases.show"))


@bp.post("/<int:phrase_id>/remove")
def remove(phrase_id: int):
    engine().phrases.remove(g.actor, phrase_id)
    flash(_("The phrase was removed."), "ok")
    return redirect(url_for("pages.phrases.show"))
