"""The language switch: zh-CN or English, remembered in the session cookie (also before login)."""

from __future__ import annotations

from flask import Blueprint, redirect, request, session, url_for

from .session import safe_next

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"

bp = Blueprint("locale", __name__)


@bp.post("/locale")
def choose():
    chosen = request.form.get("locale")
    if chosen in LOCALES:
        session["locale"] = chosen
    return redirect(safe_next(request.form.get("next")) or url_for("pages.home.index"))


def select_locale() -> str:
    """The user's choice (kept in the session), else the browser's Accept-Language, else zh-CN."""
    chosen = session.get("locale")
    if chosen in LOCALES:
        return chosen
    best = request.accept_languages.best_match(("zh-CN", "zh", "en"), default="zh-CN")
    return "en" if best == "en" else DEFAULT_LOCALE
