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
from ..instances import cancel_case, case_detail, diagram_state, reassign_case_owner
from .formatting import parse_form, timeline_entries
from .tasks import colleagues, reason_form

bp = Blueprint("cases", __name__, url_prefix="/cases")
PROCESS = "dispute_resolution"  # the process an officer reports a case into
HIDDEN_ACTIONS = ("personal_data.read",)  # reads belong in the audit trail, not in the case's story


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
    names = {t["id"]: t["name"] for t in tasks}
    comments = engine().comments.list(case["id"])  # case_detail checked that `who` may see the case
    history = [e for e in case.get("history", []) if e["action"] not in HIDDEN_ACTIONS]
    return render_template(
        "case.html",
        case=case,
        tasks=tasks,
        timeline=timeline_entries(history, names, comments),
        comments=comments,
        may_comment=case["status"] == InstanceStatus.RUNNING and access.may_comment(who, case, tasks),
        report=start_form(),
        colleagues=colleagues() if who.role == Role.SUPERVISOR else [],
    )


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


@bp.post("/<uuid:instance_id>/owner")
def reassign_owner(instance_id: UUID):
    user, reason = reason_form("user")
    reassign_case_owner(g.actor, instance_id, user, reason)
    flash(_("%(user)s now owns the case.", user=user), "ok")
    return redirect(url_for("pages.cases.show", instance_id=instance_id))
