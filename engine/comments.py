"""Opinions (审批意见) given with a completed task, and comments on a case.

The text may name a person, so it is sealed with the vault like personal fields (associated data
binds it to its case and comment id) and never copied into audit or outbox rows: those say only
that a comment exists (`comment.added`, with its id and kind). Who may write and read is the web
layer's rule (web/access.py); the engine checks the text and the case's state.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from .errors import InstanceNotRunning, InvalidInput
from .store.models import Comment
from .vocabulary import CommentKind, Event, InstanceStatus

if TYPE_CHECKING:
    from . import Engine

MAX_TEXT = 2000
_INSERT = insert(Comment.__table__)


def checked_text(text: Any, field: str = "text") -> str:
    """A comment's or opinion's text: a string of 1 to MAX_TEXT characters once trimmed."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("write some text", [{"field": field, "message": "must not be empty"}])
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput("the text is too long", [{"field": field, "message": f"at most {MAX_TEXT} characters"}])
    return text


def _ordered_id() -> str:
    """A 128-bit id in UUID form that sorts by creation (nanoseconds, then random bits): comments
    written within one clock tick (a manual clock, a fast typist) keep their order."""
    return str(uuid.UUID(int=(time.time_ns() << 64 | secrets.randbits(64)) & (2**128 - 1)))


def _source(comment_id: str) -> str:
    return f"comment:{comment_id}"


class CommentService:
    def __init__(self, ctx: Engine):
        self.ctx = ctx

    def add(self, instance_id: str, actor, text: str) -> dict[str, Any]:
        """Comment on a running case (one unit of work: the sealed row, an audit row, `comment.added`)."""
        text = checked_text(text)

        def op(change) -> dict[str, Any]:
            if change.instance.status != InstanceStatus.RUNNING:
                raise InstanceNotRunning(f"the case is {change.instance.status}")
            return self.write(change, CommentKind.COMMENT, text)

        return self.ctx.uow.run(instance_id, actor, op, load_workflow=False)

    def write(self, change, kind: str, text: str, task_id: str | None = None) -> dict[str, Any]:
        """Seal and insert one comment inside `change` (a task completion writes its opinion so)."""
        comment_id = _ordered_id()
        instance_id = change.instance.id
        nonce, ciphertext = self.ctx.vault.seal(instance_id, _source(comment_id), {"text": text})
        actor = change.actor
        row = {
            "id": comment_id,
            "instance_id": instance_id,
            "task_id": task_id,
            "kind": kind,
            "author_id": getattr(actor, "id", None),
            "author": getattr(actor, "username", None) or "system",
            "role": str(getattr(actor, "role", "system")),
            "created_at": change.now,
            "key_id": self.ctx.vault.key_id,
            "nonce": nonce,
            "ciphertext": ciphertext,
        }
        change.scope.execute(_INSERT, [row])
        change.audit(Event.COMMENT_ADDED, task_id=task_id, comment_id=comment_id, kind=kind)
        change.emit(Event.COMMENT_ADDED, task_id=task_id, comment_id=comment_id, kind=kind)
        return _view(row, text)

    def list(self, instance_id: str) -> list[dict[str, Any]]:
        """A case's opinions and comments, oldest first, opened."""
        with self.ctx.db.read() as scope:
            rows = scope.execute(
                select(Comment.__table__)
                .where(Comment.instance_id == instance_id)
                .order_by(Comment.created_at, Comment.id)
            ).all()
        return [
            _view(r._asdict(), self.ctx.vault.open(instance_id, _source(r.id), r.nonce, r.ciphertext)["text"])
            for r in rows
        ]


def _view(row: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "instance_id": row["instance_id"],
        "task_id": row["task_id"],
        "kind": row["kind"],
        "author": row["author"],
        "role": row["role"],
        "created_at": row["created_at"].isoformat(),
        "text": text,
    }
