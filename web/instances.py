"""Process instances (cases): report, list, read, cancel (terminate), suspend, resume, copy, reassign the case owner."""

from __future__ import annotations

import base64
from typing import Any
from uuid import UUID

from flask import Blueprint, jsonify

from engine.vocabulary import Role

from . import access
from .context import actor, args, body, created, engine
from .errors import ApiError, forbidden

bp = Blueprint("instances", __name__, url_prefix="/api/v1/process-instances")

SUMMARY = (
    "id",
    "business_key",
    "process_key",
    "definition_version",
    "status",
    "case_owner",
    "station",
    "started_by",
    "started_at",
    "ended_at",
)
MAX_OFFSET = 100_000


@bp.post("")
def start():
    data = body()
    case = engine().runtime.start_instance(
        data["definition_key"],
        actor(),
        data.get("variables") or {},
        business_key=data.get("business_key"),
        version=data.get("version"),
    )
    return created(render(case))


@bp.get("", endpoint="list")
def list_():
    query = args()
    who = actor()
    limit = query.get("limit", 50)
    offset = decode_cursor(query.get("cursor"))
    owner = query.get("case_owner")
    if owner is not None and owner != "me" and not access.may_name_others(who):
        raise forbidden("only a supervisor may filter by another officer")
    rows = engine().runtime.list_instances(
        status=query.get("status"),
        process_key=query.get("definition_key"),
        business_key=query.get("business_key"),
        case_owner=who.username if owner == "me" else owner,
        station_id=who.station_id if who.station_id is not None else -1,
        limit=limit + 1,
        offset=offset,
    )
    more = len(rows) > limit
    items = [summary(r) for r in rows[:limit]]
    return jsonify({"items": items, "next_cursor": encode_cursor(offset + limit) if more else None})


@bp.get("/<uuid:instance_id>")
def get(instance_id: UUID):
    return jsonify(case_detail(actor(), instance_id))


def case_detail(who, instance_id: UUID | str) -> dict[str, Any]:
    """A case as `who` may see it, or a 404 (the pages call this too)."""
    case = engine().runtime.get_instance(str(instance_id))
    tasks = _tasks_of(case["id"]) if who.role == Role.LIAISON else None
    access.check_instance(who, case, tasks)
    return render(case, who, tasks)


@bp.get("/<uuid:instance_id>/diagram")
def diagram(instance_id: UUID):
    """Active and completed element ids, for highlighting the case on its BPMN diagram."""
    return jsonify(diagram_state(actor(), instance_id))


def diagram_state(who, instance_id: UUID | str) -> dict[str, Any]:
    case = engine().runtime.get_instance(str(instance_id), history=False)
    access.check_instance(who, case, _tasks_of(case["id"]) if who.role == Role.LIAISON else None)
    return engine().runtime.diagram_state(case["id"])


@bp.post("/<uuid:instance_id>/variables")
def update_variables(instance_id: UUID):
    """An admin fixes non-personal variables of a running case (e.g. before retrying an incident)."""
    data = body()
    case = engine().runtime.update_variables(str(instance_id), actor(), data["variables"], data["reason"])
    return jsonify(summary(case))


@bp.post("/<uuid:instance_id>/cancel")
def cancel(instance_id: UUID):
    data = body()
    return jsonify(summary(cancel_case(actor(), instance_id, data["reason"])))


@bp.post("/<uuid:instance_id>/terminate")
def terminate(instance_id: UUID):
    """Terminate (终止): the cancel case workers know by this name."""
    data = body()
    return jsonify(summary(cancel_case(actor(), instance_id, data["reason"])))


@bp.post("/<uuid:instance_id>/suspend")
def suspend(instance_id: UUID):
    data = body()
    return jsonify(summary(suspend_case(actor(), instance_id, data["reason"])))


@bp.post("/<uuid:instance_id>/resume")
def resume(instance_id: UUID):
    data = body()
    return jsonify(summary(resume_case(actor(), instance_id, data["reason"])))


@bp.post("/<uuid:instance_id>/copies", endpoint="copy")
def copy_(instance_id: UUID):
    """Copy (抄送) the case to users or groups, with a reason."""
    data = body()
    return created(copy_case(actor(), instance_id, data["reason"], data.get("users"), data.get("groups")))


@bp.post("/<uuid:instance_id>/case-owner")
def reassign_owner(instance_id: UUID):
    data = body()
    return jsonify(render(reassign_case_owner(actor(), instance_id, data["user"], data["reason"])))


def cancel_case(who, instance_id: UUID | str, reason: str) -> dict[str, Any]:
    if who.role != Role.ADMIN:
        access.check_instance(who, engine().runtime.get_instance(str(instance_id), history=False))
    return engine().runtime.cancel_instance(str(instance_id), who, reason)


def suspend_case(who, instance_id: UUID | str, reason: str) -> dict[str, Any]:
    if who.role != Role.ADMIN:
        access.check_instance(who, engine().runtime.get_instance(str(instance_id), history=False))
    return engine().runtime.suspend_instance(str(instance_id), who, reason)


def resume_case(who, instance_id: UUID | str, reason: str) -> dict[str, Any]:
    if who.role != Role.ADMIN:
        access.check_instance(who, engine().runtime.get_instance(str(instance_id), history=False))
    return engine().runtime.resume_instance(str(instance_id), who, reason)


def copy_case(who, instance_id: UUID | str, reason: str, users: Any, groups: Any) -> dict[str, Any]:
    """A case the sender may not see is a 404; the engine decides who may copy it (403) and when (409)."""
    access.check_instance(who, engine().runtime.get_instance(str(instance_id), history=False))
    return engine().copies.send(str(instance_id), who, reason, users, groups)


def reassign_case_owner(who, instance_id: UUID | str, user: str, reason: str) -> dict[str, Any]:
    access.check_instance(who, engine().runtime.get_instance(str(instance_id), history=False))
    return engine().tasks.reassign_case_owner(str(instance_id), who, user, reason)


# --- rendering ---------------------------------------------------------------------------------
def summary(case: dict[str, Any]) -> dict[str, Any]:
    return {k: case[k] for k in SUMMARY}


def render(case: dict[str, Any], who=None, tasks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A case as `who` may see it; without `who`, without personal data (what a command returns)."""
    view = {**summary(case), "variables": case["variables"], "open_tasks": case["open_tasks"]}
    if who is None:
        return view
    view["variables"] = access.case_variables(who, case["variables"])
    if who.role == Role.LIAISON:
        view["open_tasks"] = access.liaison_tasks(who, case["open_tasks"])
    else:
        view["history"] = case.get("history", [])
    view["personal_data"] = personal_data(who, case, tasks)
    return view


def personal_data(who, case: dict[str, Any], tasks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Decrypt (an audited read) and mask unless the caller may see the personal fields in clear."""
    visibility = access.personal_visibility(who, case, tasks)
    purpose = "case view" if visibility == "clear" else "masked case view"
    records = engine().runtime.personal_data(case["id"], who, purpose)
    return access.personal_view(who, records, visibility, tasks)


def _tasks_of(instance_id: str) -> list[dict[str, Any]]:
    return engine().tasks.query(instance_id=instance_id, limit=200)["items"]


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("o:") or not text[2:].isdigit():
            raise ValueError
        offset = int(text[2:])
    except ValueError:
        raise ApiError(400, "invalid_query", "invalid cursor", [{"field": "cursor", "message": "invalid"}]) from None
    if offset > MAX_OFFSET:
        raise ApiError(400, "invalid_query", "the cursor is out of range", [{"field": "cursor", "message": "invalid"}])
    return offset
