"""Administration: users, departments, memberships and the API tokens of department systems; the
monitoring of running cases (no personal data) and their migration to a newer version (issue 17)."""

from __future__ import annotations

from uuid import UUID

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
    return created(
        engine().identity.create_department(
            data["key"], data["name"], data["kind"], actor=actor(), time_zone=data.get("time_zone")
        )
    )


@bp.patch("/departments/<department>")
def update_department(department: str):
    data = body()
    return jsonify(engine().identity.set_time_zone(_name(department, "department"), data["time_zone"], actor=actor()))


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


# --- monitoring and migration (docs/admin.md) -------------------------------------------------
@bp.get("/admin/cases")
def list_cases():
    query = args()
    return jsonify(
        {
            "items": engine().monitoring.cases(
                process_key=query.get("process_key"),
                version=query.get("version"),
                status=query.get("status"),
                station=query.get("station"),
                business_key=query.get("business_key"),
                limit=query.get("limit", 50),
                offset=query.get("offset", 0),
            )
        }
    )


@bp.get("/admin/cases/<uuid:instance_id>")
def get_case(instance_id: UUID):
    return jsonify(engine().monitoring.case(str(instance_id)))


@bp.get("/process-definitions/<key>/element-counts")
def element_counts(key: str):
    query = args()
    version = query.get("version") or engine().repository.get_definition(key)["version"]
    return jsonify(engine().monitoring.element_counts(key, version))


@bp.get("/process-definitions/<key>/migration")
def migration_plan(key: str):
    query = _two_versions(args())
    return jsonify(engine().migration.plan(key, query["from"], query["to"], _case_id(query.get("instance_id"))))


@bp.post("/process-definitions/<key>/migrations")
def migrate(key: str):
    data = body()
    result = engine().migration.migrate(
        key,
        data["from"],
        data["to"],
        actor(),
        instance_id=_case_id(data.get("instance_id")),
        reason=data.get("reason"),
        dry_run=bool(data.get("dry_run", False)),
    )
    return jsonify(result)


def _two_versions(query: dict) -> dict:
    missing = [name for name in ("from", "to") if name not in query]
    if missing:
        raise parsing.bad_request(
            "give the version to migrate from and the one to migrate to",
            [{"field": name, "message": "required"} for name in missing],
            code="invalid_query",
        )
    return query


def _case_id(value) -> str | None:
    return str(value) if value is not None else None


def _name(value: str, what: str) -> str:
    """A path segment naming a user or department; unusable text names nothing (404)."""
    try:
        parsing.check_text(value, "path")
    except ApiError:
        raise not_found(what) from None
    if len(value) > 64:
        raise not_found(what)
    return value
