"""Browser sessions: the login form, logout, and who is asking on every page request.

The signed session cookie carries a login token of the engine's TokenService (the same kind the API
hands out): every page request resolves it, so a logout, an expired token, a deactivated user or a
changed password (which revokes the user's tokens) ends the browser session at once. Logging in
starts a fresh session (the old cookie's token is revoked), so a planted cookie never gets promoted.
"""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from .. import access
from ..context import engine

bp = Blueprint("session", __name__)


def load_actor():
    """Before every page: the signed-in actor in `g.actor`, or off to the login page."""
    if request.endpoint == "static" or request.routing_exception is not None:
        return None
    token = session.get("token")
    who = engine().tokens.resolve(token) if token else None
    if who is None:
        if token:
            _end_session()
        if request.endpoint in access.PUBLIC_PAGES:
            return None
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("pages.session.login", next=target))
    g.actor, g.token = who, token
    access.check_role(who, request.endpoint)
    return None


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if session.get("token") and engine().tokens.resolve(session["token"]):
            return redirect(url_for("pages.home.index"))
        return render_template("login.html", next=safe_next(request.args.get("next")))
    username = request.form.get("username", "")[:64]
    result = engine().tokens.login(username, request.form.get("password", "")[:1024])
    if result is None:
        error = _("Unknown user name or wrong password.")
        next_ = safe_next(request.form.get("next"))
        return render_template("login.html", error=error, username=username, next=next_), 401
    if session.get("token"):
        engine().tokens.revoke(session["token"])
    _end_session()
    session["token"] = result["token"]
    session.permanent = True
    return redirect(safe_next(request.form.get("next")) or url_for("pages.home.index"))


@bp.post("/logout")
def logout():
    engine().tokens.revoke(g.token, g.actor)
    _end_session()
    return redirect(url_for("pages.session.login"))


def _end_session() -> None:
    """Forget everything but the chosen language."""
    chosen = session.get("locale")
    session.clear()
    if chosen:
        session["locale"] = chosen


def safe_next(target: str | None) -> str | None:
    """Only paths of this site (no `//host`, no scheme): a login link must not send users elsewhere.

    Browsers drop tabs and newlines from a URL (a tab between two slashes makes `//evil.example`), so any
    control character or space refuses the target too. Deep links from notifications (`/tasks/<id>`)
    pass and bring the user back to the task after login."""
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in target):
        return None
    return target
