"""`/tasks/<id>`: a task with its form, claim / release / complete, and (supervisors) reassign."""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.comments import MAX_TEXT
from engine.errors import FormInvalid, InvalidInput
from engine.vocabulary import HumanTaskState, Role

from ..context import engine
from ..errors import ApiError
from ..tasks import check_claimable, check_visible, complete_task, task_detail
from .formatting import parse_form

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
            draft=draft,
            opinion=opinion,
            phrases=engine().phrases.list(g.actor) if mine else [],
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
