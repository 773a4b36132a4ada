"""Attachments on the case and task pages: upload (a plain form, or one request per file with
progress from web/static/js/attachments.js), the file and its thumbnail, soft delete with a reason.
The same functions and rules as the API (web.attachments)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Blueprint, flash, g, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from engine.errors import EngineError
from engine.vocabulary import InstanceStatus, Role

from ..attachments import attach, attachments_seen, delete_attachment, download, file_response, upload_fields
from ..context import engine
from ..errors import STATUS_BY_KIND, ApiError

bp = Blueprint("attachments", __name__)


@bp.post("/cases/<uuid:instance_id>/attachments")
def upload(instance_id: UUID):
    back = request.form.get("back") or ""
    target = back if back.startswith("/tasks/") or back.startswith("/cases/") else None
    try:
        files, task_id, keep_location = upload_fields()
        items = attach(g.actor, instance_id, files, task_id=task_id, keep_location=keep_location)
    except (EngineError, ApiError) as exc:
        if not _wants_json():
            raise
        status = exc.status if isinstance(exc, ApiError) else STATUS_BY_KIND.get(exc.kind, 422)
        return jsonify({"error": {"code": exc.code, "message": _upload_error(exc.code)}}), status
    if _wants_json():
        return jsonify({"items": [{"id": a["id"]} for a in items]}), 201
    flash(ngettext("%(num)d file attached.", "%(num)d files attached.", len(items)), "ok")
    return redirect(target or url_for("pages.cases.show", instance_id=instance_id), 303)


@bp.get("/attachments/<uuid:attachment_id>")
def content(attachment_id: UUID):
    return file_response(*download(g.actor, attachment_id))


@bp.get("/attachments/<uuid:attachment_id>/thumbnail")
def thumbnail(attachment_id: UUID):
    return file_response(*download(g.actor, attachment_id, thumbnail=True))


@bp.post("/attachments/<uuid:attachment_id>/delete")
def delete(attachment_id: UUID):
    reason = (request.form.get("reason") or "").strip()[:500]  # empty: the engine's 422
    deleted = delete_attachment(g.actor, attachment_id, reason)
    flash(_("The file was deleted."), "ok")
    return redirect(url_for("pages.cases.show", instance_id=deleted["instance_id"]), 303)


def section(who, case: dict[str, Any], task: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the case and task pages show: the files `who` may see and whether they may attach here."""
    # the page already read the case as `who` may see it: its personal data's visibility decides
    tasks = engine().tasks.query(instance_id=case["id"], limit=200)["items"] if who.role == Role.LIAISON else None
    listed = attachments_seen(who, case["id"], case["personal_data"]["visibility"], tasks)
    running = case["status"] == InstanceStatus.RUNNING
    if who.role == Role.LIAISON:
        may_attach = task is not None and task["state"] == "claimed" and task["assignee"] == who.username
    else:
        may_attach = task is None or task["state"] in ("open", "claimed")
    return {
        "items": listed["items"],
        "visible": listed["visibility"] == "clear",
        "may_attach": running and may_attach and listed["visibility"] == "clear",
        "task_id": task["id"] if task else None,
        "may_delete": lambda item: who.role == Role.SUPERVISOR or item["uploaded_by"] == who.username,
    }


def _wants_json() -> bool:
    return request.headers.get("X-Requested-With") == "fengqiao-upload"


def _upload_error(code: str) -> str:
    return {
        "unsupported_content": _("This file is not a photo, recording or PDF document."),
        "too_large": _("This file is too large."),
        "invalid_input": _("This file is empty."),
        "instance_not_running": _("This case is closed or cancelled."),
        "task_not_open": _("This task is already finished or was cancelled."),
        "forbidden": _("You may not attach files here."),
    }.get(code, _("The upload failed."))
