"""The workbench: server-rendered pages for officers, liaisons, supervisors and auditors.

Same app, same engine facades and the same access rules (web.access) as the JSON API: a page calls
the functions the API's views call (web.tasks.inbox, web.instances.case_detail ...), never the API
over HTTP. What differs is only the transport:
- browsers hold a signed session cookie (web.pages.session) instead of a bearer token; the cookie
  carries a login token of the engine's TokenService, so logout, deactivation and a password change
  end a browser session exactly as they end an API session;
- every state-changing form carries a CSRF token (Flask-WTF), the bearer-token API needs none;
- answers are HTML in zh-CN (default) or English (Flask-Babel), errors are pages in the layout;
- pages send a Content-Security-Policy without inline scripts (see SECURITY_HEADERS).
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Blueprint, Flask, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from engine.config import PROJECT_ROOT, Settings

from . import (
    admin,
    attachments,
    audit,
    board,
    cases,
    copies,
    errors,
    external_tasks,
    home,
    locale,
    notifications,
    phrases,
    record,
    reports,
    tasks,
    webhooks,
)
from . import session as browser_session
from .formatting import register_filters
from .locale import DEFAULT_LOCALE, Catalogues, select_locale

TRANSLATION_DIRECTORIES = (PROJECT_ROOT / "web" / "translations", PROJECT_ROOT / "forms" / "translations")

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# The admin's modeler only: the properties panel's code editor (CodeMirror) adds a <style> element at
# run time. Scripts stay 'self'-only; the page serves no user content but the admin's own model.
CSP_INLINE_STYLES = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

bp = Blueprint("pages", __name__)
for child in (
    browser_session.bp,
    locale.bp,
    home.bp,
    tasks.bp,
    cases.bp,
    attachments.bp,
    record.bp,
    board.bp,
    audit.bp,
    phrases.bp,
    notifications.bp,
    copies.bp,
    admin.bp,
    webhooks.bp,
    external_tasks.bp,
    reports.bp,
):
    bp.register_blueprint(child)
csrf = CSRFProtect()
errors.register(bp)


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, marked Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


def init_app(app: Flask) -> None:
    """Sessions, CSRF, translations, security headers and the page blueprints."""
    settings: Settings = app.extensions["fengqiao"].settings
    app.config.update(
        SECRET_KEY=secret_key(settings),
        SESSION_COOKIE_NAME="fengqiao_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=settings.token_ttl_seconds,
        WTF_CSRF_CHECK_DEFAULT=False,  # only page forms are checked (pages.before_request); the API uses tokens
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        BABEL_DEFAULT_LOCALE=DEFAULT_LOCALE,
        BABEL_DEFAULT_TIMEZONE=settings.time_zone,
        BABEL_TRANSLATION_DIRECTORIES=";".join(str(d) for d in TRANSLATION_DIRECTORIES),
    )
    app.session_interface = SessionInterface()
    csrf.init_app(app)
    Babel(app, locale_selector=select_locale).domain_instance = Catalogues(domain="messages")
    register_filters(app)
    app.extensions["fengqiao.page_error"] = errors.page  # the app's other 404s off /api/ get a page too
    app.register_blueprint(bp)
    app.after_request(_security_headers)


@bp.before_request
def _protect() -> None:
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()


bp.before_request(browser_session.load_actor)


def _security_headers(response):
    """On every HTML answer (pages, and the error pages of addresses no page serves)."""
    if response.mimetype == "text/html":
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        if g.get("inline_styles"):
            response.headers["Content-Security-Policy"] = CSP_INLINE_STYLES
    return response


def secret_key(settings: Settings) -> str:
    """FENGQIAO_SECRET_KEY, else a key file under the instance folder created on first use (0600)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.instance_path) / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(os.urandom(32).hex())
    return path.read_text().strip()
