"""Human tasks: the inbox, a task with its form, claim, unclaim, complete, reassign (supervisor)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from flask import Blueprint, jsonify

from engine.vocabulary import Role

from . import access
from .context import actor, args, body, engine
from .errors import ApiError, forbidden
from .instances import personal_data

bp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks")


@bp.get("", endpoint="list")
def list_():
    return jsonify(inbox(actor(), args()))


@bp.get("/<uuid:task_id>")
def get(task_id: UUID):
    return jsonify(task_detail(actor(), task_id))


def inbox(who, query: dict[str, Any]) -> dict[str, Any]:
    """The tasks `who` may see, filtered by the API's query parameters (the pages call this too)."""
    for name in ("assignee", "candidate"):
        if query.get(name) not in (None, "me") and not access.may_name_others(who):
            raise forbidden(f"only a supervisor may filter by another user's {name}")
    access.check_group_filter(who, query.get("group"))
    due_before = query.get("due_before")
    if query.get("due_within") is not None:  # a window relative to now: what a saved view keeps
        window_end = engine().clock.now() + timedelta(hours=query["due_within"])
        due_before = window_end if due_before is None else min(due_before, window_end)
    return engine().tasks.query(
        who,
        assignee=query.get("assignee"),
        candidate=query.get("candidate"),
        group=query.get("group"),
        state=query.get("state"),
        instance_id=query.get("instance_id"),
        business_key=query.get("business_key"),
        due_before=due_before,
        due_after=query.get("due_after"),
        sort=query.get("sort", "due"),
        limit=query.get("limit", 50),
        cursor=query.get("cursor"),
        sla_state=query.get("sla_state"),
        case_fields={name: query[name] for name in ("risk_level", "category", "community") if name in query},
        **access.task_scope(who),
    )


def task_detail(who, task_id: UUID | str) -> dict[str, Any]:
    """A task with its form and the case data `who` may see (an audited read of personal fields)."""
    task = access.check_task(who, engine().tasks.get_task(str(task_id)))
    form = task.pop("form", None)
    case = engine().runtime.get_instance(task["instance_id"])
    tasks = engine().tasks.query(instance_id=case["id"], limit=200)["items"] if who.role == Role.LIAISON else None
    return {
        "task": task,
        "form": form,
        "case": {
            "id": case["id"],
            "business_key": case["business_key"],
            "process_key": case["process_key"],
            "status": case["status"],
            "case_owner": case["case_owner"],
            "variables": access.case_variables(who, case["variables"]),
            "personal_data": personal_data(who, case, tasks),
        },
    }


@bp.post("/<uuid:task_id>/claim")
def claim(task_id: UUID):
    body(required=False)
    return jsonify(_plain(engine().tasks.claim(str(task_id), actor(), visible=check_claimable)))


@bp.post("/<uuid:task_id>/unclaim")
def unclaim(task_id: UUID):
    body(required=False)
    return jsonify(_plain(engine().tasks.unclaim(str(task_id), actor(), visible=check_visible)))


@bp.post("/<uuid:task_id>/complete")
def complete(task_id: UUID):
    data = body(required=False)
    return jsonify(complete_task(actor(), task_id, data.get("data") or {}, data.get("opinion")))


def complete_task(who, task_id: UUID | str, data: dict[str, Any], opinion: str | None = None) -> dict[str, Any]:
    """Complete with form data (and an opinion); the result names the tasks it opened that `who` may see."""
    task = _plain(engine().tasks.complete(str(task_id), who, data, visible=check_visible, opinion=opinion))
    # a phone goes on to the next form without listing the case's tasks again
    task["next_tasks"] = [t for t in task["next_tasks"] if access.task_visible(who, t)]
    return task


@bp.post("/<uuid:task_id>/urge")
def urge(task_id: UUID):
    data = body()
    return jsonify(_plain(engine().tasks.urge(str(task_id), actor(), data["reason"], visible=check_visible)))


@bp.post("/<uuid:task_id>/withdraw")
def withdraw(task_id: UUID):
    """Take back an escalation no liaison has claimed; the answer is the escalating task, reopened."""
    data = body()
    return jsonify(_plain(engine().tasks.withdraw(str(task_id), actor(), data["reason"], visible=check_visible)))


@bp.post("/<uuid:task_id>/return")
def return_(task_id: UUID):
    """The department sends an escalated task back with a reason; the case owner re-routes."""
    data = body()
    return jsonify(_plain(engine().tasks.return_task(str(task_id), actor(), data["reason"], visible=check_visible)))


@bp.post("/<uuid:task_id>/transfer")
def transfer(task_id: UUID):
    """The holder hands the task to a colleague of its queue, or the department to another department,
    with a reason; the deadline runs on."""
    data = body()
    if ("user" in data) == ("department" in data):
        raise ApiError(422, "validation_failed", "name either a user or a department to transfer to")
    if "department" in data:  # 转办 to another department (docs/operations.md)
        moved = engine().tasks.transfer_to_department(
            str(task_id), actor(), data["department"], data["reason"], visible=check_visible
        )
        return jsonify(_plain(moved))
    return jsonify(
        _plain(engine().tasks.transfer(str(task_id), actor(), data["user"], data["reason"], visible=check_visible))
    )


@bp.post("/<uuid:task_id>/extension")
def request_extension(task_id: UUID):
    """The holder asks for a later due time, with a reason (延期)."""
    data = body()
    due_at = parse_time(data["due_at"], "due_at")
    return jsonify(
        _plain(engine().tasks.request_extension(str(task_id), actor(), due_at, data["reason"], visible=check_visible))
    )


@bp.post("/<uuid:task_id>/extension/approve")
def approve_extension(task_id: UUID):
    data = body()
    return jsonify(_plain(engine().tasks.decide_extension(str(task_id), actor(), True, data["reason"], check_visible)))


@bp.post("/<uuid:task_id>/extension/refuse")
def refuse_extension(task_id: UUID):
    data = body()
    return jsonify(_plain(engine().tasks.decide_extension(str(task_id), actor(), False, data["reason"], check_visible)))


def parse_time(text: Any, field: str) -> datetime:
    """An RFC 3339 time with a zone from a JSON body (a 422 naming the field otherwise)."""
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ApiError(
            422,
            "invalid_input",
            f"{field} must be an RFC 3339 time with a time zone",
            [{"field": field, "message": "invalid"}],
        )
    return moment


@bp.post("/<uuid:task_id>/delegate")
def delegate(task_id: UUID):
    """The holder asks a colleague to do the work; it comes back to the holder (resolve) to confirm."""
    data = body()
    return jsonify(
        _plain(engine().tasks.delegate(str(task_id), actor(), data["user"], data["reason"], visible=check_visible))
    )


@bp.post("/<uuid:task_id>/resolve")
def resolve(task_id: UUID):
    """The delegate hands the task back to the holder who delegated it."""
    data = body()
    return jsonify(_plain(engine().tasks.resolve(str(task_id), actor(), data["reason"], visible=check_visible)))


@bp.post("/<uuid:task_id>/assignee")
def reassign(task_id: UUID):
    data = body()
    return jsonify(
        _plain(engine().tasks.reassign(str(task_id), actor(), data["user"], data["reason"], visible=check_visible))
    )


def check_visible(task: dict[str, Any]) -> None:
    """The access check the engine runs on the task inside its transaction (a 404 if not visible)."""
    access.check_task(actor(), task)


def check_claimable(task: dict[str, Any]) -> None:
    """As `check_visible`, except that a liaison who lost the race for a task of their queue hears it was taken."""
    access.check_claim(actor(), task)


def _plain(task: dict[str, Any]) -> dict[str, Any]:
    task.pop("form", None)
    return task
