"""Administration: users, departments, memberships and the API tokens of department systems."""

from __future__ import annotations

from flask import Blueprint, jsonify

from . import parsing
from .context import actor, args, body, created, engine, no_content
from .errors import ApiError, not_found

bp = Blueprint("admin", __name__, url_prefix="/api/v1")


# --- users -------------------------------------------------------------------------------------
@bp.get("/users")
def list_users():
    args()
    return jsonify({"items": engine().identity.list_users()})


@bp.post("/users")
def create_user():
    data = body()
    user = engine().identity.create_user(
        data["username"],
        data["role"],
        data.get("password"),
        data.get("departments") or [],
        data.get("display_name"),
        actor=actor(),
    )
    return created(user)


@bp.get("/users/<username>")
def get_user(username: str):
    return jsonify(engine().identity.get_user(_name(username, "user")))


@bp.patch("/users/<username>")
def update_user(username: str):
    data = body()
    if data.get("active") is False and _name(username, "user") == actor().username:
        raise ApiError(
            422,
            "validation_failed",
            "you cannot deactivate your own account",
            [{"field": "active", "message": "not for yourself"}],
        )
    user = engine().identity.update_user(
        _name(username, "user"),
        active=data.get("active"),
        password=data.get("password"),
        display_name=data.get("display_name"),
        actor=actor(),
    )
    return jsonify(user)


@bp.put("/users/<username>/departments/<department>")
def add_membership(username: str, department: str):
    body(required=False)
    return jsonify(
        engine().identity.add_membership(_name(username, "user"), _name(department, "department"), actor=actor())
    )


@bp.delete("/users/<username>/departments/<department>")
def remove_membership(username: str, department: str):
    return jsonify(
        engine().identity.remove_membership(_name(username, "user"), _name(department, "department"), actor=actor())
    )


# --- departments -------------------------------------------------------------------------------
@bp.get("/departments")
def list_departments():
    args()
    return jsonify({"items": engine().identity.list_departments()})


@bp.post("/departments")
def create_department():
    data = body()
    return created(engine().identity.create_department(data["key"], data["name"], data["kind"], actor=actor()))


# --- API tokens of department systems ----------------------------------------------------------
@bp.get("/api-tokens")
def list_api_tokens():
    args()
    return jsonify({"items": engine().tokens.list_api_tokens()})


@bp.post("/api-tokens")
def create_api_token():
    data = body()
    return created(
        engine().tokens.create_api_token(data["department"], data.get("name"), actor=actor(), topics=data.get("topics"))
    )


@bp.delete("/api-tokens/<int(min=1, max=9007199254740992):token_id>")
def revoke_api_token(token_id: int):
    engine().tokens.revoke_api_token(token_id, actor=actor())
    return no_content()


def _name(value: str, what: str) -> str:
    """A path segment naming a user or department; unusable text names nothing (404)."""
    try:
        parsing.check_text(value, "path")
    except ApiError:
        raise not_found(what) from None
    if len(value) > 64:
        raise not_found(what)
    return value
