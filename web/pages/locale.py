"""The language switch: zh-CN or English, remembered in the session cookie (also before login)."""

from __future__ import annotations

from typing import cast

from babel import support
from flask import Blueprint, redirect, request, session, url_for
from flask_babel import Domain, get_locale

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


class Catalogues(Domain):
    """Flask-Babel's message domain, also finding catalogues filed as `zh_CN`: babel names the
    Chinese locale `zh_Hans_CN`, gettext's lookup then never tries `zh_CN`."""

    def get_translations(self):
        locale = get_locale()
        key = str(locale)
        cache = self.get_translations_cache(None)
        if key not in cache:
            names = [key, f"{locale.language}_{locale.territory}"] if locale.territory else [key]
            translations = support.Translations()
            for directory in self.translation_directories:
                translations.merge(
                    cast(support.Translations, support.Translations.load(directory, names, self.domain[0]))
                )
            cache[key] = translations
        return cache[key]
