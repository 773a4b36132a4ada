"""Drafts: a half-filled task form, saved while its holder types, restored on any device.

Only the task's holder has a draft. Declared non-personal fields are kept as JSON; personal (x-pii)
fields are sealed with the vault exactly like submitted ones. A draft goes in the same unit of work
as the task's completion, release or reassignment (`drop`), so nobody else ever sees it. Saving
takes the case's lock (a unit of work), so a save racing a completion cannot outlive it.
Drafts are not audited: a save is a keystroke, not a change to the case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, insert, select

from .errors import DraftNotFound, InvalidInput, NotAssignee, TaskNotFound, TaskNotOpen
from .store.driver import DriverStatement
from .store.models import HumanTask, TaskDraft
from .uow import OfTask
from .vocabulary import HumanTaskState

if TYPE_CHECKING:
    from . import Engine

MAX_BYTES = 64 * 1024
_DROP = DriverStatement(delete(TaskDraft.__table__).where(TaskDraft.__table__.c.task_id == bindparam("task_id")))
_INSERT = insert(TaskDraft.__table__)


def drop(change, task_id: str) -> None:
    """Remove a task's draft inside the unit of work that completes it or gives it to someone else."""
    _DROP.execute(change.scope, {"task_id": task_id})


def _source(task_id: str) -> str:
    return f"draft:{task_id}"


class DraftService:
    def __init__(self, ctx: Engine):
        self.ctx = ctx

    def save(self, task_id: str, actor, data: Any, visible=None) -> dict[str, Any]:
        """Keep the declared fields of `data` as the holder's draft (not validated: it is half-filled)."""
        if not isinstance(data, dict):
            raise InvalidInput("data must be a JSON object", [{"field": "data", "message": "not an object"}])

        def op(change) -> dict[str, Any]:
            row = self._held(change, task_id, actor, visible)
            form = self.ctx.repository.form(change.scope, change.instance.definition_id, row.form_key)
            declared = set(form.schema.get("properties", {})) if form is not None else set()
            kept = {k: v for k, v in data.items() if k in declared}
            personal_names = form.personal_fields if form is not None else frozenset()
            plain = {k: v for k, v in kept.items() if k not in personal_names}
            personal = {k: v for k, v in kept.items() if k in personal_names}
            if len(repr(kept).encode()) > MAX_BYTES:
                raise InvalidInput("the draft is too large", [{"field": "data", "message": "at most 64 KB"}])
            sealed: dict[str, Any] = {"key_id": None, "nonce": None, "ciphertext": None}
            if personal:
                nonce, ciphertext = self.ctx.vault.seal(row.instance_id, _source(task_id), personal)
                sealed = {"key_id": self.ctx.vault.key_id, "nonce": nonce, "ciphertext": ciphertext}
            drop(change, task_id)
            change.scope.execute(
                _INSERT,
                [
                    {
                        "task_id": task_id,
                        "instance_id": row.instance_id,
                        "user_id": actor.id,
                        "data": plain,
                        "updated_at": change.now,
                        **sealed,
                    }
                ],
            )
            return {"task_id": task_id, "data": kept, "updated_at": change.now.isoformat()}

        return self.ctx.uow.run(OfTask(str(task_id)), actor, op, load_workflow=False)

    def get(self, task_id: str, actor) -> dict[str, Any] | None:
        """The actor's draft of a task they hold, opened; None when there is none."""
        with self.ctx.db.read() as scope:
            found = scope.execute(
                select(TaskDraft.__table__)
                .join(HumanTask.__table__, HumanTask.id == TaskDraft.task_id)
                .where(
                    TaskDraft.task_id == str(task_id),
                    TaskDraft.user_id == actor.id,
                    HumanTask.assignee_id == actor.id,
                    HumanTask.state == HumanTaskState.CLAIMED,
                )
            ).first()
        if found is None:
            return None
        data = dict(found.data)
        if found.ciphertext is not None:
            data.update(self.ctx.vault.open(found.instance_id, _source(found.task_id), found.nonce, found.ciphertext))
        return {"task_id": found.task_id, "data": data, "updated_at": found.updated_at.isoformat()}

    def discard(self, task_id: str, actor, visible=None) -> None:
        """The holder throws their draft away."""

        def op(change) -> None:
            self._held(change, task_id, actor, visible)
            if _DROP.execute(change.scope, {"task_id": str(task_id)}) != 1:
                raise DraftNotFound("this task has no draft")

        self.ctx.uow.run(OfTask(str(task_id)), actor, op, load_workflow=False)

    def _held(self, change, task_id: str, actor, visible):
        row = change.task_row(str(task_id))
        if row is None:
            raise TaskNotFound(f"task '{task_id}' does not exist")
        if visible is not None:
            visible(self.ctx.tasks._row_view(change, row))
        if row.state != HumanTaskState.CLAIMED:
            raise TaskNotOpen(f"the task is {row.state}: claim it before saving a draft")
        if row.assignee_id != actor.id:
            raise NotAssignee("the task is assigned to someone else")
        return row
