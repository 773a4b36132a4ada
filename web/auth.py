"""Authentication: log in, log out, who am I; and the bearer-token check in front of every endpoint."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, g, jsonify, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from engine.vocabulary import Role

from . import access
from .context import actor, body, engine, no_content
from .errors import ApiError

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")
LOGIN_ENDPOINTS = ("auth.login", "pages.session.login")  # the API's and the browser's login form
RATE_LIMITED = frozenset(LOGIN_ENDPOINTS)  # the only endpoints with rate limits (failed logins)


@bp.post("/login")
def login():
    data = body()
    result = engine().tokens.login(data["username"], data["password"])
    if result is None:
        raise ApiError(401, "invalid_credentials", "unknown username or wrong password")
    return jsonify(result)


@bp.post("/logout")
def logout():
    body(required=False)
    engine().tokens.revoke(g.token, actor())
    return no_content()


@bp.get("/me")
def me():
    who = actor()
    return jsonify(
        {
            "username": who.username,
            "role": who.role,
            "departments": sorted(who.departments),
            "kind": "system" if who.role == Role.SYSTEM else "user",
        }
    )


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate() -> None:
    """Before every request: resolve the bearer token and check the caller's role for the endpoint."""
    if request.routing_exception is not None or request.endpoint in access.PUBLIC or access.is_page(request.endpoint):
        return  # unknown routes answer 404/405 whoever asks; public endpoints need no token; pages use sessions
    token = bearer_token()
    who = engine().tokens.resolve(token) if token else None
    if who is None:
        message = "a bearer token is required" if token is None else "the token is invalid, expired or revoked"
        raise ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": 'Bearer realm="fengqiao"'})
    g.actor, g.token = who, token
    access.check_role(who, request.endpoint)


def _failed_login(response) -> bool:
    """Only failed logins count against the limit."""
    return response.status_code == 401


def _login_username() -> str:
    """Rate-limit key for failed logins of one account, whatever address they come from."""
    # the browser's login form, or the API's JSON body (whose stream the API's view reads: no form here)
    data = request.form if access.is_page(request.endpoint) else request.get_json(silent=True, cache=True)
    get = getattr(data, "get", None)
    name = get("username") if get is not None else None
    return "login-user:" + (name[:64] if isinstance(name, str) else "?")


def init_app(app: Flask) -> None:
    settings = engine_settings(app)
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings.redis_url or "memory://",
        headers_enabled=True,
        strategy="fixed-window",
        default_limits=[],
        swallow_errors=True,
    )  # an unreachable Redis must not lock everybody out
    for endpoint in LOGIN_ENDPOINTS:
        view: Any = app.view_functions.get(endpoint)
        if view is None:
            continue
        view = limiter.limit(settings.login_rate_limit, deduct_when=_failed_login, methods=["POST"])(view)
        view = limiter.limit(
            settings.login_rate_limit, key_func=_login_username, deduct_when=_failed_login, methods=["POST"]
        )(view)
        app.view_functions[endpoint] = view
    # Flask-Limiter checks every request before its view; the others have no limits to check.
    limiter.request_filter(lambda: request.endpoint not in RATE_LIMITED)
    app.extensions["fengqiao.limiter"] = limiter
    app.before_request(authenticate)


def engine_settings(app: Flask):
    return app.extensions["fengqiao"].settings
