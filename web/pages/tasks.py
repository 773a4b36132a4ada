"""`/tasks/<id>`: a task with its form, claim / release / complete, and (supervisors) reassign."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.comments import MAX_TEXT
from engine.errors import FormInvalid, InvalidInput
from engine.vocabulary import HumanTaskState, Role

from ..context import engine
from ..errors import ApiError
from ..tasks import check_claimable, check_visible, complete_task, task_detail
from .attachments import section as attachments_section
from .formatting import group_name, parse_form

bp = Blueprint("tasks", __name__, url_prefix="/tasks")
REASON_MAX = 500


@bp.get("/<uuid:task_id>")
def show(task_id: UUID):
    return render_task(task_id)


def render_task(task_id: UUID, values=None, errors=None, status: int = 200, opinion: str = ""):
    detail = task_detail(g.actor, task_id)
    task = detail["task"]
    mine = task["state"] == HumanTaskState.CLAIMED and task["assignee"] == g.actor.username
    draft = engine().drafts.get(str(task_id), g.actor) if mine and values is None else None
    if draft is not None:
        values = draft["data"]  # what the holder typed last, on this device or another
    return (
        render_template(
            "task.html",
            task=task,
            form=detail["form"],
            case=detail["case"],
            mine=mine,
            report=engine().forms.get("report_case").schema if "report_case" in engine().forms else None,
            values=values,
            errors=errors,
            colleagues=colleagues() if g.actor.role == Role.SUPERVISOR else [],
            transfer_to=group_colleagues(task) if mine and not task["owner_task"] and not task["delegated"] else [],
            delegate_to=group_colleagues(task) if mine and not task["delegated"] else [],
            extension_days=EXTENSION_DAYS,
            draft=draft,
            opinion=opinion,
            phrases=engine().phrases.list(g.actor) if mine else [],
            files=attachments_section(g.actor, detail["case"], task),
            other_departments=other_departments(task) if g.actor.role == Role.LIAISON else [],
        ),
        status,
    )


@bp.post("/<uuid:task_id>/claim")
def claim(task_id: UUID):
    engine().tasks.claim(str(task_id), g.actor, visible=check_claimable)
    flash(_("You claimed the task."), "ok")
    return redirect(url_for("pages.tasks.show", task_id=task_id))


@bp.post("/<uuid:task_id>/release")
def release(task_id: UUID):
    engine().tasks.unclaim(str(task_id), g.actor, visible=check_visible)
    flash(_("You released the task; it is back in its queue."), "ok")
    return redirect(url_for("pages.home.index"))


@bp.post("/<uuid:task_id>/complete")
def complete(task_id: UUID):
    detail = task_detail(g.actor, task_id)
    schema = detail["form"] or {"type": "object", "properties": {}}
    data = parse_form(schema, request.form)
    opinion = (request.form.get("opinion") or "")[: MAX_TEXT + 1]
    try:
        done = complete_task(g.actor, task_id, data, opinion)
    except (FormInvalid, InvalidInput) as exc:
        # the values go back only to the user who typed them, in this response; nothing is logged
        return render_task(task_id, values=data, errors=exc.details, status=422, opinion=opinion)
    flash(_("Done: “%(task)s” is complete.", task=done["name"]), "ok")
    mine = [t for t in done["next_tasks"] if t.get("assignee") == g.actor.username]
    if len(mine) == 1:
        return redirect(url_for("pages.tasks.show", task_id=mine[0]["id"]))
    return redirect(url_for("pages.home.index"))


@bp.post("/<uuid:task_id>/draft")
def draft(task_id: UUID):
    """The form typed so far, sent by js/drafts.js (debounced, and when the page is left): 204."""
    detail = task_detail(g.actor, task_id)
    schema = detail["form"] or {"type": "object", "properties": {}}
    engine().drafts.save(str(task_id), g.actor, parse_form(schema, request.form), visible=check_visible)
    return "", 204


@bp.post("/<uuid:task_id>/reassign")
def reassign(task_id: UUID):
    user, reason = reason_form("user")
    engine().tasks.reassign(str(task_id), g.actor, user, reason, visible=check_visible)
    flash(_("The task now belongs to %(user)s.", user=user), "ok")
    return redirect(url_for("pages.board.show"))


@bp.post("/<uuid:task_id>/urge")
def urge(task_id: UUID):
    reason = reason_form(None)[1]
    engine().tasks.urge(str(task_id), g.actor, reason, visible=check_visible)
    flash(_("The handler was urged."), "ok")
    return redirect(url_for("pages.tasks.show", task_id=task_id))


@bp.post("/<uuid:task_id>/withdraw")
def withdraw(task_id: UUID):
    reason = reason_form(None)[1]
    back = engine().tasks.withdraw(str(task_id), g.actor, reason, visible=check_visible)
    flash(_("The escalation is withdrawn; the task is yours again."), "ok")
    return redirect(url_for("pages.tasks.show", task_id=back["id"]))


@bp.post("/<uuid:task_id>/return")
def return_(task_id: UUID):
    reason = reason_form(None)[1]
    engine().tasks.return_task(str(task_id), g.actor, reason, visible=check_visible)
    flash(_("The task is returned; the case owner will re-route the case."), "ok")
    return redirect(url_for("pages.home.index"))


@bp.post("/<uuid:task_id>/transfer")
def transfer(task_id: UUID):
    user, reason = reason_form("user")
    engine().tasks.transfer(str(task_id), g.actor, user, reason, visible=check_visible)
    flash(_("The task now belongs to %(user)s.", user=user), "ok")
    return redirect(url_for("pages.home.index"))


@bp.post("/<uuid:task_id>/transfer-department")
def transfer_department(task_id: UUID):
    department, reason = reason_form("department")
    engine().tasks.transfer_to_department(str(task_id), g.actor, department, reason, visible=check_visible)
    flash(_("The task is in the queue of %(department)s now.", department=group_name(department)), "ok")
    return redirect(url_for("pages.home.index"))


def other_departments(task: dict) -> list[dict]:
    """The agencies a department task may be transferred to (转办): every other one."""
    if task["owner_task"] or task["state"] not in ("open", "claimed"):
        return []
    groups = set(task["candidate_groups"])
    return [d for d in engine().identity.list_departments() if d["kind"] == "agency" and d["key"] not in groups]


EXTENSION_DAYS = (1, 3, 7, 14)  # what a holder may ask for on the page (the API takes any later time)


@bp.post("/<uuid:task_id>/extension")
def request_extension(task_id: UUID):
    days = request.form.get("days", "")
    reason = reason_form(None)[1]
    if not days.isdigit() or int(days) not in EXTENSION_DAYS:
        raise ApiError(422, "validation_failed", "choose how much more time")
    task = engine().tasks.get_task(str(task_id))
    due = datetime.fromisoformat(task["due_at"]) if task.get("due_at") else None
    if due is None:
        raise ApiError(422, "validation_failed", "this task has no due time to extend")
    engine().tasks.request_extension(str(task_id), g.actor, due + timedelta(days=int(days)), reason, check_visible)
    flash(_("Your request for more time waits for a supervisor."), "ok")
    return redirect(url_for("pages.tasks.show", task_id=task_id))


@bp.post("/<uuid:task_id>/extension/decision")
def decide_extension(task_id: UUID):
    decision = request.form.get("decision")
    reason = reason_form(None)[1]
    if decision not in ("approve", "refuse"):
        raise ApiError(422, "validation_failed", "approve or refuse")
    engine().tasks.decide_extension(str(task_id), g.actor, decision == "approve", reason, check_visible)
    flash(_("The extension is approved.") if decision == "approve" else _("The extension is refused."), "ok")
    return redirect(url_for("pages.tasks.show", task_id=task_id))


@bp.post("/<uuid:task_id>/delegate")
def delegate(task_id: UUID):
    user, reason = reason_form("user")
    engine().tasks.delegate(str(task_id), g.actor, user, reason, visible=check_visible)
    flash(_("%(user)s now works on the task for you; it comes back to you to complete.", user=user), "ok")
    return redirect(url_for("pages.home.index"))


@bp.post("/<uuid:task_id>/resolve")
def resolve(task_id: UUID):
    reason = reason_form(None)[1]
    engine().tasks.resolve(str(task_id), g.actor, reason, visible=check_visible)
    flash(_("The task went back to its holder."), "ok")
    return redirect(url_for("pages.home.index"))


def group_colleagues(task: dict) -> list[dict]:
    """Active users of the task's department queues other than the caller: whom a holder may transfer to."""
    groups = set(task["candidate_groups"])
    return [
        u
        for u in engine().identity.list_users()
        if u["active"] and u["username"] != g.actor.username and groups & set(u["departments"])
    ]


def reason_form(field: str | None) -> tuple[str, str]:
    """A supervisor's action form: the chosen user (when `field`) and the reason, both required."""
    reason = (request.form.get("reason") or "").strip()[:REASON_MAX]
    user = (request.form.get(field) or "").strip()[:64] if field else ""
    if not reason or (field and not user):
        raise ApiError(422, "validation_failed", "a reason is required")
    return user, reason


def colleagues() -> list[dict]:
    """The officers of the supervisor's station: whom a task or a case may be given to."""
    station = g.actor.departments
    return [
        u
        for u in engine().identity.list_users()
        if u["active"] and u["role"] == Role.OFFICER and station & set(u["departments"])
    ]
