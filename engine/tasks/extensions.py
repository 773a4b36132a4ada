"""Deadline extensions (延期): the holder asks for more time with a reason, a supervisor of the case's
station approves (the new due time) or refuses. An approved extension is shown as such: the task
keeps the due time it replaced (`extended_from`); a pending one shows the time asked for
(`extension_due_at`) while the due time stands (docs/operations.md)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import Conflict, Forbidden, InvalidInput, NotAssignee, TaskNotClaimed
from ..identity import Actor
from ..sla import initial_sla_state
from ..uow import Change, rearm_sla, write_row
from ..validation import checked_reason
from ..vocabulary import Event, HumanTaskState

if TYPE_CHECKING:
    from .. import Engine

MAX_EXTENSION_DAYS = 90


class ExtensionPending(Conflict):
    code = "extension_pending"


class NoExtensionRequested(Conflict):
    code = "no_extension_requested"


class ExtensionCommands:
    """Request, approve and refuse a deadline extension (mixed into the TaskService)."""

    ctx: Engine

    def request_extension(
        self, task_id: str, actor: Actor, due_at: datetime, reason: str, visible=None
    ) -> dict[str, Any]:
        """The holder asks for a later due time, with a reason; the due time stands until a supervisor decides."""
        reason = checked_reason(reason)
        if not isinstance(due_at, datetime) or due_at.tzinfo is None:
            raise InvalidInput("due_at must be a time with a time zone", [{"field": "due_at", "message": "invalid"}])

        def op(change: Change):
            row = self._row(change, task_id, visible)  # type: ignore[attr-defined]
            if row.state != HumanTaskState.CLAIMED:
                raise TaskNotClaimed(f"the task is {row.state}: its holder asks for more time")
            if row.assignee_id != actor.id:
                raise NotAssignee("only the holder of a task asks for more time")
            if row.extension_due_at is not None:
                raise ExtensionPending("an extension is already waiting for a supervisor")
            if row.due_at is None or due_at <= row.due_at:
                raise InvalidInput(
                    "the new due time must be later than the current one",
                    [{"field": "due_at", "message": "not later than the due time"}],
                )
            if (due_at - change.now).days > MAX_EXTENSION_DAYS:
                raise InvalidInput(
                    f"an extension reaches at most {MAX_EXTENSION_DAYS} days ahead",
                    [{"field": "due_at", "message": "too far ahead"}],
                )
            write_row(change.scope, row, {"extension_due_at": due_at})
            asked = due_at.isoformat()
            change.audit(
                Event.TASK_EXTENSION_REQUESTED, task_id=row.id, element_id=row.element_id, due_at=asked, reason=reason
            )
            change.emit(
                Event.TASK_EXTENSION_REQUESTED,
                task_id=row.id,
                element_id=row.element_id,
                due_at=row.due_at.isoformat(),
                requested_due_at=asked,
                station_id=row.station_id,
            )

        return self.ctx.uow.run(
            self._instance_of(task_id),  # type: ignore[attr-defined]
            actor,
            op,
            load_workflow=False,
            then=self._view_of(task_id),  # type: ignore[attr-defined]
        )

    def decide_extension(self, task_id: str, actor: Actor, approve: bool, reason: str, visible=None) -> dict[str, Any]:
        """A supervisor of the case's station approves (the due time becomes the one asked for; the old
        one is kept as `extended_from`, the warning keeps its lead) or refuses, with a reason."""
        reason = checked_reason(reason)

        def op(change: Change):
            row = self._row(change, task_id, visible)  # type: ignore[attr-defined]
            if not self._supervises(actor, row):  # type: ignore[attr-defined]
                raise Forbidden("only a supervisor of the case's station decides on an extension")
            if row.extension_due_at is None or row.state not in (HumanTaskState.OPEN, HumanTaskState.CLAIMED):
                raise NoExtensionRequested("no extension of this task is waiting for a decision")
            asked, previous = row.extension_due_at, row.due_at
            if approve:
                lead = previous - row.warn_at if row.warn_at is not None and previous is not None else None
                values = {
                    "extension_due_at": None,
                    "extended_from": previous,
                    "due_at": asked,
                    "warn_at": asked - lead if lead is not None else None,
                    "sla_state": initial_sla_state(asked),
                }
                write_row(change.scope, row, values)
                rearm_sla(change, row)
            else:
                write_row(change.scope, row, {"extension_due_at": None})
            event = Event.TASK_EXTENSION_APPROVED if approve else Event.TASK_EXTENSION_REFUSED
            times = {"due_at": previous.isoformat() if previous else None, "requested_due_at": asked.isoformat()}
            change.audit(event, task_id=row.id, element_id=row.element_id, reason=reason, **times)
            change.emit(event, task_id=row.id, element_id=row.element_id, assignee_id=row.assignee_id, **times)

        return self.ctx.uow.run(
            self._instance_of(task_id),  # type: ignore[attr-defined]
            actor,
            op,
            load_workflow=False,
            then=self._view_of(task_id),  # type: ignore[attr-defined]
        )
