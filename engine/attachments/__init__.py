"""Attachments: photos, recordings and documents of a case or of one of its tasks.

A file is checked by its content (engine/attachments/content.py), stripped of its location unless the
uploader keeps it, sealed with the personal-data key (engine/vault.py, in chunks) and put in the
attachment storage (engine/attachments/storage.py); its row (name sealed too) is written in the same
transaction as the audit entry and the outbox event. Files are held in memory while they pass
through (at most `attachment_max_bytes`, 20 MB by default). Who may see them is the web layer's
rule: exactly those who see the case's personal data in clear.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from forms.fields import attachment_fields

from .. import clock as clock_module
from ..audit import record
from ..errors import (
    AttachmentNotFound,
    Conflict,
    InstanceNotFound,
    InstanceNotRunning,
    InvalidInput,
    TaskNotFound,
    TaskNotOpen,
    TooLarge,
)
from ..outbox import emit
from ..store.models import Attachment, HumanTask, ProcessInstance, User
from ..vocabulary import OPEN_TASK_STATES, Event, InstanceStatus
from . import content
from .storage import Storage, for_settings

if TYPE_CHECKING:
    from .. import Engine

__all__ = ["AttachmentService", "Storage"]


class AttachmentAlreadyDeleted(Conflict):
    code = "attachment_deleted"


class AttachmentService:
    def __init__(self, ctx: Engine, storage: Storage | None = None):
        self.ctx = ctx
        self._storage = storage

    @property
    def storage(self) -> Storage:
        if self._storage is None:  # built on first use: a deployment without attachments never imports boto3
            self._storage = for_settings(self.ctx.settings)
        return self._storage

    def add(
        self,
        instance_id: str,
        actor,
        filename: str,
        data: bytes,
        *,
        task_id: str | None = None,
        keep_location: bool = False,
    ) -> dict[str, Any]:
        """Check, seal and store one file for a running case (or an open task of it); audited."""
        content_type = self.check(data)
        located = content.has_location(data, content_type)
        if located and not keep_location:
            data = content.strip_location(data, content_type)
        thumbnail = content.thumbnail(data, content_type)
        attachment_id = str(uuid.uuid4())
        key = f"{instance_id}/{attachment_id}"
        name = _clean_name(filename)
        stored: list[str] = []
        try:
            with clock_module.bind(self.ctx.clock), self.ctx.db.transaction() as scope:
                instance = scope.get(ProcessInstance, instance_id)
                if instance is None:
                    raise InstanceNotFound(f"process instance '{instance_id}' does not exist")
                if instance.status != InstanceStatus.RUNNING:
                    raise InstanceNotRunning("files are attached to running cases only")
                if task_id is not None:
                    task = scope.get(HumanTask, task_id)
                    if task is None or task.instance_id != instance_id:
                        raise TaskNotFound(f"task '{task_id}' does not exist")
                    if task.state not in OPEN_TASK_STATES:
                        raise TaskNotOpen("files are attached to open tasks only")
                now = self.ctx.clock.now()
                vault = self.ctx.vault
                row = Attachment(
                    id=attachment_id,
                    instance_id=instance_id,
                    task_id=task_id,
                    storage_key=key,
                    key_id=vault.key_id,
                    sealed_name=vault.seal_bytes(_name_context(instance_id, attachment_id), name.encode()),
                    content_type=content_type,
                    size=len(data),
                    has_thumbnail=thumbnail is not None,
                    location_kept=located and keep_location,
                    uploaded_by_id=getattr(actor, "id", None),
                    uploaded_at=now,
                )
                scope.add(row)
                details = {"attachment_id": attachment_id, "content_type": content_type, "size": len(data)}
                record(
                    scope, now, actor, Event.ATTACHMENT_ADDED, instance_id=instance_id, task_id=task_id, details=details
                )
                emit(scope, now, Event.ATTACHMENT_ADDED, instance_id=instance_id, task_id=task_id, payload=details)
                self.storage.put(key, vault.seal_bytes(_file_context(instance_id, attachment_id), data))
                stored.append(key)
                if thumbnail is not None:
                    self.storage.put(
                        key + ".thumb", vault.seal_bytes(_thumb_context(instance_id, attachment_id), thumbnail)
                    )
                    stored.append(key + ".thumb")
                scope.flush()
                view = self._view(row, name, {row.uploaded_by_id: getattr(actor, "username", None)})
        except BaseException:
            for written in stored:  # the row was not committed: its files go too
                self.storage.delete(written)
            raise
        return view

    def check(self, data: bytes) -> str:
        """The file's content type, or the refusal: empty, too large, not an accepted kind."""
        limit = self.ctx.settings.attachment_max_bytes
        if len(data) > limit:
            raise TooLarge(f"a file may have at most {limit} bytes", [{"field": "file", "message": "too large"}])
        if not data:
            raise InvalidInput("the file is empty", [{"field": "file", "message": "empty"}])
        return content.sniff(data)

    def list(self, instance_id: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        """A case's files (metadata, names decrypted) in upload order; the files themselves are not read."""
        with self.ctx.db.read() as scope:
            query = (
                select(Attachment)
                .where(Attachment.instance_id == instance_id)
                .order_by(Attachment.uploaded_at, Attachment.id)
            )
            if not include_deleted:
                query = query.where(Attachment.deleted_at.is_(None))
            rows = scope.scalars(query).all()
            users = self._usernames(scope, {r.uploaded_by_id for r in rows} | {r.deleted_by_id for r in rows})
            return [self._view(r, self._name(r), users) for r in rows]

    def get(self, attachment_id: str) -> dict[str, Any]:
        """One file's metadata, deleted or not (the caller decides what a deleted file means)."""
        with self.ctx.db.read() as scope:
            row = _row(scope, attachment_id)
            return self._view(row, self._name(row), self._usernames(scope, {row.uploaded_by_id, row.deleted_by_id}))

    def read(self, attachment_id: str, actor, *, thumbnail: bool = False) -> tuple[dict[str, Any], bytes]:
        """A file (or its thumbnail), decrypted; every read of a whole file is audited."""
        meta = self.get(attachment_id)
        if meta["deleted_at"] is not None:
            raise AttachmentNotFound("the file was deleted")
        if thumbnail and not meta["has_thumbnail"]:
            raise AttachmentNotFound("the file has no thumbnail")
        key = f"{meta['instance_id']}/{attachment_id}"
        if thumbnail:
            sealed = self.storage.get(key + ".thumb")
            return meta, self.ctx.vault.open_bytes(_thumb_context(meta["instance_id"], attachment_id), sealed)
        data = self.ctx.vault.open_bytes(_file_context(meta["instance_id"], attachment_id), self.storage.get(key))
        with clock_module.bind(self.ctx.clock), self.ctx.db.transaction() as scope:
            record(
                scope,
                self.ctx.clock.now(),
                actor,
                Event.ATTACHMENT_DOWNLOADED,
                instance_id=meta["instance_id"],
                task_id=meta["task_id"],
                details={"attachment_id": attachment_id},
            )
        return meta, data

    def delete(self, attachment_id: str, actor, reason: str) -> dict[str, Any]:
        """Mark a file deleted, with a reason (kept, sealed, for the record); audited, with an event."""
        reason = (reason or "").strip()
        if not reason:
            raise InvalidInput("give a reason for deleting the file", [{"field": "reason", "message": "required"}])
        with clock_module.bind(self.ctx.clock), self.ctx.db.transaction() as scope:
            row = _row(scope, attachment_id)
            if row.deleted_at is not None:
                raise AttachmentAlreadyDeleted("the file was already deleted")
            now = self.ctx.clock.now()
            row.deleted_at, row.deleted_by_id, row.delete_reason = now, getattr(actor, "id", None), reason[:1000]
            details = {"attachment_id": attachment_id}
            record(
                scope,
                now,
                actor,
                Event.ATTACHMENT_DELETED,
                instance_id=row.instance_id,
                task_id=row.task_id,
                details=details,
            )
            emit(
                scope, now, Event.ATTACHMENT_DELETED, instance_id=row.instance_id, task_id=row.task_id, payload=details
            )
            scope.flush()
            return self._view(row, self._name(row), self._usernames(scope, {row.uploaded_by_id, row.deleted_by_id}))

    def fill_form(self, scope, schema: Mapping[str, Any], instance_id: str, task_id: str, data: Any) -> Any:
        """The form data with each `x-attachment` field set to the ids of the files attached to the
        task (whatever the client sent there): a form with `minItems: 1` thus requires a file."""
        names = attachment_fields(schema)
        if not names or not isinstance(data, dict):
            return data
        ids = list(
            scope.scalars(
                select(Attachment.id)
                .where(Attachment.instance_id == instance_id, Attachment.task_id == task_id)
                .where(Attachment.deleted_at.is_(None))
                .order_by(Attachment.uploaded_at, Attachment.id)
            )
        )
        return {**data, **dict.fromkeys(names, ids)}

    # --- views ---------------------------------------------------------------------------------
    def _name(self, row: Attachment) -> str:
        return self.ctx.vault.open_bytes(_name_context(row.instance_id, row.id), row.sealed_name).decode()

    @staticmethod
    def _usernames(scope, ids: set[int | None]) -> dict[int | None, str]:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        return dict(scope.execute(select(User.id, User.username).where(User.id.in_(wanted))).all())

    @staticmethod
    def _view(row: Attachment, name: str, users: Mapping[int | None, str | None]) -> dict[str, Any]:
        return {
            "id": row.id,
            "instance_id": row.instance_id,
            "task_id": row.task_id,
            "filename": name,
            "content_type": row.content_type,
            "size": row.size,
            "has_thumbnail": row.has_thumbnail,
            "location_kept": row.location_kept,
            "uploaded_by": users.get(row.uploaded_by_id),
            "uploaded_at": row.uploaded_at.isoformat(),
            "deleted_at": row.deleted_at.isoformat() if row.deleted_at else None,
            "deleted_by": users.get(row.deleted_by_id) if row.deleted_by_id else None,
            "delete_reason": row.delete_reason,
        }


def _row(scope, attachment_id: str) -> Attachment:
    row = scope.get(Attachment, attachment_id)
    if row is None:
        raise AttachmentNotFound(f"attachment '{attachment_id}' does not exist")
    return row


def _clean_name(filename: str | None) -> str:
    """The last part of the client's file name, without control characters; 'file' when none is left."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()[:200]
    return name or "file"


def _file_context(instance_id: str, attachment_id: str) -> str:
    return f"attachment/{instance_id}/{attachment_id}"


def _thumb_context(instance_id: str, attachment_id: str) -> str:
    return f"attachment/{instance_id}/{attachment_id}/thumbnail"


def _name_context(instance_id: str, attachment_id: str) -> str:
    return f"attachment/{instance_id}/{attachment_id}/name"
