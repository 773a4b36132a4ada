"""Cases: `/cases/new` (the report form), `/cases/<id>` (status, owner, deadlines, department tasks,
timeline, diagram) and the supervisor's reassign-owner and cancel actions."""

from __future__ import annotations

from typing import cast
from uuid import UUID

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.comments import MAX_TEXT
from engine.errors import FormInvalid
from engine.vocabulary import InstanceStatus, Role

from .. import access
from ..collaboration import add_case_comment
from ..context import engine
from ..instances import (
    cancel_case,
    case_detail,
    copy_case,
    diagram_state,
    reassign_case_owner,
    resume_case,
    suspend_case,
)
from .attachments import section as attachments_section
from .formatting import parse_form, timeline_entries
from .tasks import colleagues, reason_form

bp = Blueprint("cases", __name__, url_prefix="/cases")
PROCESS = "dispute_resolution"  # the process an officer reports a case into
HIDDEN_ACTIONS = (
    "personal_data.read",
    "attachment.downloaded",
)  # reads belong in the audit trail, not in the case's story


def start_form() -> dict:
    return engine().forms.get(cast(str, engine().repository.start_form(PROCESS))).schema


@bp.get("/new")
def new():
    return render_template("case_new.html", form=start_form(), values=None, errors=None)


@bp.post("/new")
def create():
    schema = start_form()
    data = parse_form(schema, request.form)
    try:
        case = engine().runtime.start_instance(PROCESS, g.actor, data)
    except FormInvalid as exc:
        return render_template("case_new.html", form=schema, values=data, errors=exc.details), 422
    flash(_("Case %(key)s reported.", key=case["business_key"]), "ok")
    mine = [t for t in case["open_tasks"] if t.get("assignee") == g.actor.username]
    if len(mine) == 1:
        return redirect(url_for("pages.tasks.show", task_id=mine[0]["id"]))
    return redirect(url_for("pages.cases.show", instance_id=case["id"]))


@bp.get("/<uuid:instance_id>")
def show(instance_id: UUID):
    who = g.actor
    case = case_detail(who, instance_id)
    tasks = [t for t in engine().tasks.query(instance_id=case["id"], limit=200)["items"] if access.task_visible(who, t)]
    comments = engine().comments.list(case["id"])  # case_detail checked that `who` may see the case
    return render_template(
        "case.html",
        case=case,
        suspension=suspension_of(case),
        tasks=tasks,
        timeline=case_timeline(case, tasks, comments),
        comments=comments,
        may_comment=case["status"] == InstanceStatus.RUNNING and access.may_comment(who, case, tasks),
        report=start_form(),
        colleagues=colleagues() if who.role == Role.SUPERVISOR else [],
        files=attachments_section(who, case),
        copy_groups=copy_groups() if may_copy(who, case) else None,
    )


def may_copy(who, case: dict) -> bool:
    """The copy form shows to whom the engine lets copy (docs/operations.md): the case owner and a
    supervisor of the station, while the case is running or suspended."""
    if case["status"] not in (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED):
        return False
    return who.role == Role.SUPERVISOR or (who.role == Role.OFFICER and case["case_owner"] == who.username)


def copy_groups() -> list[str]:
    """Whom a case may be copied to as a group: the station's officers and supervisors, and every
    department (the committee, agencies), by key."""
    departments = [d["key"] for d in engine().identity.list_departments()]
    return [Role.OFFICER, Role.SUPERVISOR, *departments]


def case_timeline(case: dict, tasks: list[dict], comments: list[dict]) -> list[dict]:
    """The case's story, oldest first: who did what, when, in words, with the opinions' and comments'
    text. The case page and the printable record (web/pages/record.py) both show exactly this."""
    names = {t["id"]: t["name"] for t in tasks}
    history = [e for e in case.get("history", []) if e["action"] not in HIDDEN_ACTIONS]
    return timeline_entries(history, names, comments)


def suspension_of(case: dict) -> dict | None:
    """Since when and why a suspended case waits (its last suspension in the history)."""
    if case["status"] != "suspended":
        return None
    entries = [e for e in case.get("history", []) if e["action"] == "instance.suspended"]
    last = entries[-1] if entries else {}
    return {"at": last.get("at"), "actor": last.get("actor"), "reason": (last.get("details") or {}).get("reason")}


@bp.get("/<uuid:instance_id>/diagram")
def diagram(instance_id: UUID):
    """The case's BPMN and the elements to highlight, for the viewer on the case page."""
    state = diagram_state(g.actor, instance_id)
    case = engine().runtime.get_instance(str(instance_id), history=False)
    definition = engine().repository.get_definition(case["process_key"], case["definition_version"], with_xml=True)
    return jsonify({"xml": definition["xml"], "active": state["active"], "completed": state["completed"]})


@bp.post("/<uuid:instance_id>/comments")
def comment(instance_id: UUID):
    text = (request.form.get("text") or "")[: MAX_TEXT + 1]
    add_case_comment(g.actor, instance_id, text)
    flash(_("Your comment was added."), "ok")
    return redirect(url_for("pages.cases.show", instance_id=instance_id, _anchor="comments"))


@bp.post("/<uuid:instance_id>/cancel")
def cancel(instance_id: UUID):
    reason = reason_form(None)[1]
    cancel_case(g.actor, instance_id, reason)
    flash(_("The case was cancelled."), "ok")
    return redirect(url_for("pages.cases.show", instance_id=instance_id))


@bp.post("/<uuid:instance_id>/suspend")
def suspend(instance_id: UUID):
    reason = reason_form(None)[1]
    suspend_case(g.actor, instance_id, reason)
    flash(_("The case is suspended: its tasks and deadlines wait until it is resumed."), "ok")
    return redirect(url_for("pages.cases.show", instance_id=instance_id))


@bp.post("/<uuid:instance_id>/resume")
def resume(instance_id: UUID):
    reason = reason_form(None)[1]
    resume_case(g.actor, instance_id, reason)
    flash(_("The case is resumed; its deadlines run again with the time they had left."), "ok")
    return redirect(url_for("pages.cases.show", instance_id=instance_id))


@bp.post("/<uuid:instance_id>/copies")
def copy(instance_id: UUID):
    reason = reason_form(None)[1]
    users = [u.strip() for u in (request.form.get("users") or "").replace("，", ",").split(",") if u.strip()]
    groups = [k for k in request.form.getlist("groups") if k]
    sent = copy_case(g.actor, instance_id, reason, users[:51], groups[:51])
    flash(_("Copied to %(users)s.", users=", ".join(sent["recipients"])), "ok")
    return redirect(url_for("pages.cases.show", instance_id=instance_id))


@bp.post("/<uuid:instance_id>/owner")
def reassign_owner(instance_id: UUID):
    user, reason = reason_form("user")
    reassign_case_owner(g.actor, instance_id, user, reason)
    flash(_("%(user)s now owns the case.", user=user), "ok")
    return redirect(url_for("pages.cases.show", instance_id=instance_id))
