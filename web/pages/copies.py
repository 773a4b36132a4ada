"""`/copies`: copied to me (抄送给我), newest first, with mark-read. Same service and rules as the API
(`GET /api/v1/copies`): a copy's case link shows only when the recipient's role may open the case."""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _

from ..context import engine
from ..copies import copied_to

bp = Blueprint("copies", __name__)
PAGE_SIZE = 100


@bp.get("/copies")
def show():
    items = copied_to(g.actor, limit=PAGE_SIZE)
    return render_template("copies.html", copies=items, unread=sum(1 for c in items if c["read_at"] is None))


@bp.post("/copies/<uuid:copy_id>/read")
def read(copy_id: UUID):
    engine().copies.mark_read(str(copy_id), g.actor)
    flash(_("Marked as read."), "ok")
    return redirect(url_for("pages.copies.show"))
