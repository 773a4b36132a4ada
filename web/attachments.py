"""Attachments of a case or task: upload (multipart), list, download, thumbnail, soft delete.

Attachments are personal data: they are shown to exactly those who see the case's personal fields in
clear (web.access.personal_visibility); to anyone else a file does not exist (404) and a case's list
is empty. Every download of a whole file is audited by the engine.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote
from uuid import UUID

from flask import Blueprint, Response, jsonify, request

from engine.vocabulary import Role

from . import access, parsing
from .context import actor, args, body, created, engine
from .errors import ApiError

bp = Blueprint("attachments", __name__, url_prefix="/api/v1")

MAX_FILES = 10
UPLOAD_ENDPOINTS = ("attachments.upload", "pages.attachments.upload")
FALSE = ("", "0", "false", "no", "off")


@bp.post("/process-instances/<uuid:instance_id>/attachments")
def upload(instance_id: UUID):
    args()
    files, task_id, keep_location = upload_fields()
    items = attach(actor(), instance_id, files, task_id=task_id, keep_location=keep_location)
    return created({"items": items})


@bp.get("/process-instances/<uuid:instance_id>/attachments", endpoint="list")
def list_(instance_id: UUID):
    return jsonify(case_attachments(actor(), instance_id))


@bp.get("/attachments/<uuid:attachment_id>")
def get(attachment_id: UUID):
    return jsonify(visible_attachment(actor(), attachment_id))


@bp.get("/attachments/<uuid:attachment_id>/content")
def content(attachment_id: UUID):
    return file_response(*download(actor(), attachment_id))


@bp.get("/attachments/<uuid:attachment_id>/thumbnail")
def thumbnail(attachment_id: UUID):
    return file_response(*download(actor(), attachment_id, thumbnail=True))


@bp.post("/attachments/<uuid:attachment_id>/delete")
def delete(attachment_id: UUID):
    data = body()
    return jsonify(delete_attachment(actor(), attachment_id, data["reason"]))


# --- shared with the pages -----------------------------------------------------------------------
def upload_fields() -> tuple[list[tuple[str, bytes]], str | None, bool]:
    """The files (field `file`, one or several), `task_id` and `keep_location` of a multipart body."""
    if request.mimetype != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "send files as multipart/form-data (field `file`)")
    # a browser form sends an unused file input as an empty part without a name: not a file
    uploads = [u for u in request.files.getlist("file") if u.filename or u.content_length]
    if not uploads:
        raise parsing.bad_request("no file in the multipart body (field `file`)", code="body_required")
    if len(uploads) > MAX_FILES:
        raise ApiError(413, "too_large", f"at most {MAX_FILES} files per request")
    task_id = request.form.get("task_id") or None
    if task_id is not None:
        try:
            task_id = str(UUID(task_id))
        except ValueError:
            raise ApiError(
                422, "validation_failed", "task_id is not a task id", [{"field": "task_id", "message": "not a UUID"}]
            ) from None
    keep_location = (request.form.get("keep_location") or "").strip().lower() not in FALSE
    return [(u.filename or "", u.read()) for u in uploads], task_id, keep_location


def case_access(who, instance_id: UUID | str) -> tuple[dict[str, Any], list[dict[str, Any]] | None, str]:
    """The case (a 404 unless `who` may see it), a liaison's view of its tasks, and how `who` sees its personal data."""
    case = engine().runtime.get_instance(str(instance_id))
    tasks = engine().tasks.query(instance_id=case["id"], limit=200)["items"] if who.role == Role.LIAISON else None
    access.check_instance(who, case, tasks)
    return case, tasks, access.personal_visibility(who, case, tasks)


def attach(who, instance_id: UUID | str, files, *, task_id: str | None, keep_location: bool) -> list[dict[str, Any]]:
    """Store each file for the case (or one of its tasks); all or none: a refused file refuses the request."""
    case, tasks, visibility = case_access(who, instance_id)
    access.check_attach(who, visibility, task_id, tasks)
    # check every file before storing any (a request of three with a bad third stores none)
    for _name, data in files:
        engine().attachments.check(data)
    return [
        engine().attachments.add(case["id"], who, name, data, task_id=task_id, keep_location=keep_location)
        for name, data in files
    ]


def case_attachments(who, instance_id: UUID | str) -> dict[str, Any]:
    case, tasks, visibility = case_access(who, instance_id)
    return attachments_seen(who, case["id"], visibility, tasks)


def attachments_seen(who, instance_id: str, visibility: str, tasks: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The case's files `who` may see, given how they see its personal data (a page already knows)."""
    items = engine().attachments.list(instance_id) if visibility == "clear" else []
    return {"visibility": visibility, "items": access.attachments_view(who, items, visibility, tasks)}


def visible_attachment(who, attachment_id: UUID | str) -> dict[str, Any]:
    """A file's metadata if `who` may see it (a 404 otherwise, and for deleted files)."""
    meta = engine().attachments.get(str(attachment_id))
    try:
        _case, tasks, visibility = case_access(who, meta["instance_id"])
    except ApiError:
        raise access.attachment_not_found() from None
    if meta["deleted_at"] is not None or not access.attachments_view(who, [meta], visibility, tasks):
        raise access.attachment_not_found()
    return meta


def download(who, attachment_id: UUID | str, thumbnail: bool = False) -> tuple[dict[str, Any], bytes, bool]:
    visible_attachment(who, attachment_id)
    meta, data = engine().attachments.read(str(attachment_id), who, thumbnail=thumbnail)
    return meta, data, thumbnail


def delete_attachment(who, attachment_id: UUID | str, reason: str) -> dict[str, Any]:
    meta = visible_attachment(who, attachment_id)
    access.check_delete_attachment(who, meta)
    return engine().attachments.delete(str(attachment_id), who, reason)


def file_response(meta: dict[str, Any], data: bytes, thumbnail: bool) -> Response:
    """The bytes with the type found at upload; images shown inline, everything else downloaded."""
    content_type = "image/jpeg" if thumbnail else meta["content_type"]
    response = Response(data, mimetype=content_type)
    inline = content_type.startswith("image/")
    name = meta["filename"] if not thumbnail else "thumbnail.jpg"
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    response.headers["Content-Disposition"] = (
        f"{'inline' if inline else 'attachment'}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    )
    # the file is the case's personal data, never an active document of this site
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response
