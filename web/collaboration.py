"""Collaboration: a case's opinions and comments, common phrases, task drafts, saved inbox views.

Who may comment is a case participant (web/access.py `may_comment`); anyone who may see a case reads
its comments. Drafts belong to the task's holder (the engine checks). Phrases and views are a user's own;
an admin's phrases are the station-wide defaults.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Blueprint, current_app, jsonify

from engine.vocabulary import Role

from . import access, parsing
from .context import actor, body, created, engine, no_content
from .errors import ApiError, forbidden
from .instances import _tasks_of
from .tasks import check_visible

bp = Blueprint("collab", __name__, url_prefix="/api/v1")

# the inbox's filters a view may save: GET /tasks's query parameters but paging
VIEW_EXCLUDED = ("limit", "cursor")


# --- comments ------------------------------------------------------------------------------------
@bp.get("/process-instances/<uuid:instance_id>/comments")
def list_comments(instance_id: UUID):
    return jsonify({"items": case_comments(actor(), instance_id)})


@bp.post("/process-instances/<uuid:instance_id>/comments")
def add_comment(instance_id: UUID):
    data = body()
    return created(add_case_comment(actor(), instance_id, data["text"]))


def case_comments(who, instance_id: UUID | str) -> list[dict[str, Any]]:
    """The case's opinions and comments, for whoever may see the case (a 404 otherwise)."""
    visible_case(who, instance_id)
    return engine().comments.list(str(instance_id))


def add_case_comment(who, instance_id: UUID | str, text: str) -> dict[str, Any]:
    """Comment as a participant of the case (owner, reporter, a task's holder or worker, its supervisor)."""
    case, tasks = visible_case(who, instance_id)
    if not access.may_comment(who, case, tasks):
        raise forbidden("only the case's participants may comment on it")
    return engine().comments.add(str(instance_id), who, text)


def visible_case(who, instance_id: UUID | str) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    case = engine().runtime.get_instance(str(instance_id))
    tasks = _tasks_of(case["id"]) if who.role == Role.LIAISON else None
    access.check_instance(who, case, tasks)
    return case, tasks


# --- common phrases ------------------------------------------------------------------------------
@bp.get("/phrases")
def list_phrases():
    return jsonify({"items": engine().phrases.list(actor())})


@bp.post("/phrases")
def add_phrase():
    data = body()
    return created(engine().phrases.add(actor(), data["text"]))


@bp.delete("/phrases/<int:phrase_id>")
def remove_phrase(phrase_id: int):
    engine().phrases.remove(actor(), phrase_id)
    return no_content()


# --- drafts --------------------------------------------------------------------------------------
@bp.get("/tasks/<uuid:task_id>/draft")
def get_draft(task_id: UUID):
    access.check_task(actor(), engine().tasks.get_task(str(task_id)))
    draft = engine().drafts.get(str(task_id), actor())
    if draft is None:
        raise ApiError(404, "draft_not_found", "this task has no draft of yours")
    return jsonify(draft)


@bp.put("/tasks/<uuid:task_id>/draft")
def save_draft(task_id: UUID):
    data = body()
    return jsonify(engine().drafts.save(str(task_id), actor(), data["data"], visible=check_visible))


@bp.delete("/tasks/<uuid:task_id>/draft")
def discard_draft(task_id: UUID):
    engine().drafts.discard(str(task_id), actor(), visible=check_visible)
    return no_content()


# --- saved views ---------------------------------------------------------------------------------
@bp.get("/saved-views")
def list_views():
    return jsonify({"items": engine().saved_views.list(actor())})


@bp.post("/saved-views")
def create_view():
    data = body()
    filters = checked_filters(actor(), data["filters"])
    return created(engine().saved_views.create(actor(), data["name"], filters))


@bp.delete("/saved-views/<int:view_id>")
def remove_view(view_id: int):
    engine().saved_views.remove(actor(), view_id)
    return no_content()


def view_parameters() -> dict[str, dict[str, Any]]:
    """The inbox query parameters a view may hold, with their schemas (GET /tasks's declaration)."""
    declared = current_app.extensions["fengqiao.openapi"].operation("tasks.list")["query"]
    return {k: v for k, v in declared.items() if k not in VIEW_EXCLUDED}


def checked_filters(who, filters: dict[str, Any]) -> dict[str, str]:
    """Filters as GET /tasks would take them (a 422 naming each bad one); stored as the query's text."""
    declared = view_parameters()
    problems = []
    for name, value in filters.items():
        if name not in declared:
            problems.append({"field": f"filters.{name[:60]}", "message": "not an inbox filter"})
            continue
        try:
            parsing.convert(str(value), declared[name])
        except ValueError as exc:
            problems.append({"field": f"filters.{name}", "message": str(exc)})
    if problems:
        raise ApiError(422, "validation_failed", "the view has invalid filters", problems)
    for name in ("assignee", "candidate"):
        if filters.get(name) not in (None, "me") and not access.may_name_others(who):
            raise forbidden(f"only a supervisor may filter by another user's {name}")
    access.check_group_filter(who, filters.get("group"))
    return {name: str(value) for name, value in filters.items()}


def view_query(view: dict[str, Any]) -> dict[str, Any]:
    """A saved view's filters as the converted query GET /tasks would run."""
    declared = view_parameters()
    return {name: parsing.convert(value, declared[name]) for name, value in view["filters"].items() if name in declared}
