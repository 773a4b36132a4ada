"""Task commands: claim, unclaim, complete, reassign, and case ownership (first-contact responsibility).

First-contact responsibility (首接负责制): the officer who first claims one of a case's officer tasks
becomes its case owner; later officer tasks go to the owner automatically; nobody else may take
them; only a supervisor moves ownership, with a reason, audited. Each command is one unit of work
(engine/uow/) on the task's instance; the task rows it changes are the ones the change holds.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, select, update

from .. import conditions, multi_instance
from ..comments import checked_text
from ..drafts import drop as drop_draft
from ..errors import (
    Forbidden,
    InstanceSuspended,
    InvalidInput,
    NotAssignee,
    NotCandidate,
    OwnedByAnother,
    TaskAlreadyClaimed,
    TaskDelegated,
    TaskNotClaimed,
    TaskNotDelegated,
    TaskNotFound,
    TaskNotOpen,
    UserNotFound,
)
from ..identity import Actor
from ..names import lookup_names
from ..queues import add_candidates, drop_candidates, is_candidate
from ..sla import initial_sla_state
from ..store.driver import DriverQuery, DriverStatement
from ..store.models import IS_OPEN_TASK, Department, HumanTask, User
from ..store.record import Record
from ..uow import Change, OfTask, close_task, refresh_timers, write_row
from ..validation import checked_reason
from ..vocabulary import OPEN_TASK_STATES, CommentKind, Event, HumanTaskState, InstanceStatus, Role, TimerKind
from .views import task_view

if TYPE_CHECKING:
    from .. import Engine


_T = HumanTask.__table__.c
_CLAIM = DriverStatement(
    update(HumanTask.__table__)
    .where(_T.id == bindparam("task_id"), _T.state == HumanTaskState.OPEN)
    .values(state=HumanTaskState.CLAIMED, assignee_id=bindparam("assignee_id"), claimed_at=bindparam("at"))
)
_OWNER_TASKS = DriverQuery(
    select(HumanTask.__table__).where(_T.instance_id == bindparam("instance_id"), _T.owner_task.is_(True), IS_OPEN_TASK)
)
# a case's open tasks, and its completed tasks latest first (both through ix_tasks_instance)
_OPEN_OF_CASE = DriverQuery(select(HumanTask.__table__).where(_T.instance_id == bindparam("instance_id"), IS_OPEN_TASK))
_COMPLETED_BEFORE = DriverQuery(
    select(HumanTask.__table__)
    .where(
        _T.instance_id == bindparam("instance_id"),
        _T.state == HumanTaskState.COMPLETED,
        _T.ended_at <= bindparam("at"),
    )
    .order_by(_T.ended_at.desc(), _T.id)
    .limit(1)
)
_DEPARTMENT_KIND = select(Department.kind).where(Department.key == bindparam("key"))
_NO_DUE = datetime.min.replace(tzinfo=UTC)  # sorts tasks without a due time (last) against the others


class TaskCommands:
    """The commands of the TaskService (engine/tasks/__init__.py)."""

    ctx: Engine

    # --- commands --------------------------------------------------------------------------------
    def claim(self, task_id: str, actor: Actor, visible=None) -> dict[str, Any]:
        """Atomically take an open task; the loser of a race gets TaskAlreadyClaimed.

        `visible(view)`, given to any command, is the caller's access check on the task as it is
        before the change; it raises to refuse (a web layer's 404), inside the same transaction.
        """

        def op(change: Change):
            row = self._row(change, task_id, visible)
            if row.state == HumanTaskState.CLAIMED and row.assignee_id == actor.id:
                return  # claiming what you hold already changes nothing
            self._claim(change, row, actor)

        return self.ctx.uow.run(self._instance_of(task_id), actor, op, load_workflow=False, then=self._view_of(task_id))

    def unclaim(self, task_id: str, actor: Actor, visible=None) -> dict[str, Any]:
        def op(change: Change):
            row = self._row(change, task_id, visible)
            if row.state != HumanTaskState.CLAIMED:
                raise TaskNotClaimed("the task is not claimed")
            if row.assignee_id != actor.id and not self._supervises(actor, row):
                raise NotAssignee("only the assignee or a supervisor of the station may release the task")
            if row.delegated_by_id is not None:
                raise TaskDelegated("the task is delegated: resolve it back to its holder first")
            write_row(change.scope, row, {"state": HumanTaskState.OPEN, "assignee_id": None, "claimed_at": None})
            drop_draft(change, row.id)  # the next holder starts from an empty form
            add_candidates(change.scope, row)
            change.audit(Event.TASK_UNCLAIMED, task_id=row.id, element_id=row.element_id)
            change.emit(Event.TASK_UNCLAIMED, task_id=row.id, element_id=row.element_id)

        return self.ctx.uow.run(self._instance_of(task_id), actor, op, load_workflow=False, then=self._view_of(task_id))

    def complete(
        self, task_id: str, actor: Actor, data: dict[str, Any] | None, visible=None, opinion: str | None = None
    ) -> dict[str, Any]:
        """Complete with form data: validated, declared fields only, personal fields sealed; with an
        `opinion` (审批意见), sealed like a comment (engine/comments.py). The holder's draft goes.

        An open task the actor may claim is claimed in the same transaction.
        """
        data = {} if data is None else data
        if isinstance(opinion, str) and not opinion.strip():
            opinion = None  # an empty opinion box is no opinion
        opinion = None if opinion is None else checked_text(opinion, "opinion")

        def op(change: Change):
            row = self._row(change, task_id, visible)
            if row.state not in OPEN_TASK_STATES:
                raise TaskNotOpen(f"the task is already {row.state}")
            if row.state == HumanTaskState.OPEN:
                self._claim(change, row, actor)
            elif row.assignee_id != actor.id:
                raise NotAssignee("the task is assigned to someone else")
            if row.delegated_by_id is not None:
                raise TaskDelegated("the task is delegated: resolve it back to its holder, who completes it")
            form = self.ctx.repository.form(change.scope, change.instance.definition_id, row.form_key)
            if form is not None:
                filled = self.ctx.attachments.fill_form(change.scope, form.schema, change.instance.id, row.id, data)
                plain, personal = form.validate(filled)
            else:
                if not isinstance(data, dict):
                    raise InvalidInput("data must be a JSON object", [{"field": None, "message": "not an object"}])
                if data:
                    raise InvalidInput(
                        "this task has no form: send no data",
                        [{"field": k, "message": "unknown field"} for k in sorted(data)[:20]],
                    )
                plain, personal = {}, {}
            workflow = change.workflow
            refresh_timers(workflow)  # a timer that fell due first wins (boundary at breach)
            task = workflow.get_task_from_id(uuid.UUID(task_id))
            # a pass-through task's row is one opened before plain and manual tasks passed through (issue 19)
            waits = task is not None and (task.task_spec.manual or getattr(task.task_spec, "passes_through", False))
            if task is None or task.state != TaskState.READY or not waits:
                raise TaskNotOpen("the task is no longer ready (a timer or message closed it)")
            task.set_data(**plain)
            multi_instance.before_completion(task)  # the counts a completion condition reads
            if conditions.before_completion(change, task):  # else an interrupting conditional event took it
                workflow.run_task_from_id(task.id)
            workflow.do_engine_steps()
            close_task(change, row, HumanTaskState.COMPLETED, via="form", actor=actor, outcome=plain)
            if personal:
                self.ctx.personal.store(change, row.id, row.form_key, personal)
            change.audit(
                Event.TASK_COMPLETED,
                task_id=row.id,
                element_id=row.element_id,
                fields=sorted(plain),
                personal_fields=sorted(personal),
            )
            change.emit(Event.TASK_COMPLETED, task_id=row.id, element_id=row.element_id, via="form")
            if opinion is not None:
                self.ctx.comments.write(change, CommentKind.OPINION, opinion, task_id=row.id)

        def view(change: Change) -> dict[str, Any]:
            result = self._view_of(task_id)(change)
            result["next_tasks"] = self.opened_by(change)
            return result

        return self.ctx.uow.run(self._instance_of(task_id), actor, op, then=view)

    def reassign(self, task_id: str, actor: Actor, username: str, reason: str, visible=None) -> dict[str, Any]:
        """A supervisor gives a task to someone else. An officer task moves the case's ownership."""
        reason = checked_reason(reason)

        def op(change: Change):
            row = self._row(change, task_id, visible)
            if row.state not in OPEN_TASK_STATES:
                raise TaskNotOpen(f"the task is already {row.state}")
            if not self._supervises(actor, row):
                raise Forbidden("only a supervisor of the case's station may reassign its tasks")
            target = self._user(change.scope, username)
            if row.owner_task:
                self._change_owner(change, target, reason)
                return
            if not is_candidate(target, row):
                raise InvalidInput(
                    f"'{username}' is not a candidate for this task",
                    [{"field": "user", "message": "not in the task's groups"}],
                )
            self._assign(change, row, target.id)
            change.audit(
                Event.TASK_REASSIGNED,
                task_id=row.id,
                element_id=row.element_id,
                assignee=target.username,
                reason=reason,
            )
            change.emit(Event.TASK_REASSIGNED, task_id=row.id, element_id=row.element_id, assignee_id=target.id)

        return self.ctx.uow.run(self._instance_of(task_id), actor, op, load_workflow=False, then=self._view_of(task_id))

    def urge(self, task_id: str, actor: Actor, reason: str, visible=None) -> dict[str, Any]:
        """Urge (催办) the current handler of an open task: the case owner or a supervisor of the station
        presses, the task counts it and keeps the time, and `task.urged` tells the handler."""
        reason = checked_reason(reason)

        def op(change: Change):
            row = self._row(change, task_id, visible)
            if row.state not in OPEN_TASK_STATES:
                raise TaskNotOpen(f"the task is already {row.state}")
            if actor.id != change.instance.case_owner_id and not self._supervises(actor, row):
                raise Forbidden("only the case owner or a supervisor of the station may urge a task")
            if row.assignee_id == actor.id:
                raise Forbidden("you hold this task yourself: there is nobody to urge")
            count = row.urge_count + 1
            write_row(change.scope, row, {"urge_count": count, "urged_at": change.now})
            change.audit(Event.TASK_URGED, task_id=row.id, element_id=row.element_id, reason=reason, urge_count=count)
            change.emit(
                Event.TASK_URGED,
                task_id=row.id,
                element_id=row.element_id,
                urge_count=count,
                assignee_id=row.assignee_id,
                candidate_groups=row.candidate_groups if row.assignee_id is None else [],
            )

        return self.ctx.uow.run(self._instance_of(task_id), actor, op, load_workflow=False, then=self._view_of(task_id))

    def transfer(self, task_id: str, actor: Actor, username: str, reason: str, visible=None) -> dict[str, Any]:
        """Transfer (转办) a held task to a colleague of its queue, with a reason; the deadline keeps
        running from the original start (created and due times are not touched)."""
        reason = checked_reason(reason)

        def op(change: Change):
            row = self._row(change, task_id, visible)
            if row.state != HumanTaskState.CLAIMED:
                raise TaskNotClaimed(f"the task is {row.state}: claim it before transferring it")
            if row.assignee_id != actor.id:
                raise NotAssignee("only the holder of a task transfers it")
            if row.delegated_by_id is not None:
                raise TaskDelegated("the task is delegated: resolve it back to its holder first")
            if row.owner_task:
                raise Forbidden("the case owner's tasks move only with the case, which a supervisor reassigns")
            target = self._user(change.scope, username)
            if target.id == actor.id or not is_candidate(target, row):
                raise InvalidInput(
                    f"'{username}' is not a colleague who may take this task",
                    [{"field": "user", "message": "not in the task's groups"}],
                )
            self._assign(change, row, target.id)
            change.audit(
                Event.TASK_TRANSFERRED,
                task_id=row.id,
                element_id=row.element_id,
                assignee=target.username,
                reason=reason,
            )
            change.emit(Event.TASK_TRANSFERRED, task_id=row.id, element_id=row.element_id, assignee_id=target.id)

        return self.ctx.uow.run(self._instance_of(task_id), actor, op, load_workflow=False, then=self._view_of(task_id))

    def _department_task(self, change: Change, task_id: str, actor: Actor, visible, done: str, verb: str):
        """An open department task its department may send on (return, transfer): held by the caller,
        or open in a queue of theirs."""
        row = self._row(change, task_id, visible)
        if row.state not in OPEN_TASK_STATES or row.owner_task:
            raise TaskNotOpen(f"the task is {row.state}: only an open department task is {done}")
        if row.state == HumanTaskState.CLAIMED and row.assignee_id != actor.id:
            raise NotAssignee("the task is held by someone else")
        if row.state == HumanTaskState.OPEN and not is_candidate(actor, row):
            raise NotCandidate(f"only the department the task is escalated to may {verb} it")
        return row

    def transfer_to_department(
        self, task_id: str, actor: Actor, department: str, reason: str, visible=None
    ) -> dict[str, Any]:
        """Transfer (转办) a department task to another department, with a reason: the department it was
        escalated to says who should handle it. The row moves to the other department's queue, open;
        its created and due times stay (the deadline keeps running from the original start)."""
        reason = checked_reason(reason)

        def op(change: Change):
            row = self._department_task(change, task_id, actor, visible, "transferred", "transfer")
            if row.delegated_by_id is not None:
                raise TaskDelegated("the task is delegated: resolve it back to its holder first")
            kind = change.scope.scalars(_DEPARTMENT_KIND, {"key": department}).first()
            if kind != "agency" or department in row.candidate_groups:
                raise InvalidInput(
                    f"'{department}' is not another department to transfer the task to",
                    [{"field": "department", "message": "not another agency"}],
                )
            was = list(row.candidate_groups)
            if row.state == HumanTaskState.CLAIMED:
                drop_draft(change, row.id)  # the next holder starts from an empty form
            drop_candidates(change.scope, row.id)
            write_row(
                change.scope,
                row,
                {
                    "state": HumanTaskState.OPEN,
                    "assignee_id": None,
                    "claimed_at": None,
                    "candidate_groups": [department],
                },
            )
            add_candidates(change.scope, row)
            change.audit(
                Event.TASK_TRANSFERRED,
                task_id=row.id,
                element_id=row.element_id,
                department=department,
                from_groups=was,
                reason=reason,
            )
            change.emit(
                Event.TASK_TRANSFERRED,
                task_id=row.id,
                element_id=row.element_id,
                candidate_groups=[department],
                from_groups=was,
            )

        return self.ctx.uow.run(self._instance_of(task_id), actor, op, load_workflow=False, then=self._view_of(task_id))

    def delegate(self, task_id: str, actor: Actor, username: str, reason: str, visible=None) -> dict[str, Any]:
        """Delegate (委派) a held task to a colleague who may claim it: they do the work and resolve it
        back to the holder, who confirms by completing it; the case's ownership does not move."""
        reason = checked_reason(reason)

        def op(change: Change):
            row = self._row(change, task_id, visible)
            if row.state != HumanTaskState.CLAIMED:
                raise TaskNotClaimed(f"the task is {row.state}: claim it before delegating it")
            if row.assignee_id != actor.id:
                raise NotAssignee("only the holder of a task delegates it")
            if row.delegated_by_id is not None:
                raise TaskDelegated("the task is delegated already: it is resolved back first")
            target = self._user(change.scope, username)
            if target.id == actor.id or not is_candidate(target, row):
                raise InvalidInput(
                    f"'{username}' is not a colleague who may take this task",
                    [{"field": "user", "message": "not in the task's groups"}],
                )
            write_row(change.scope, row, {"assignee_id": target.id, "delegated_by_id": actor.id})
            change.audit(
                Event.TASK_DELEGATED, task_id=row.id, element_id=row.element_id, assignee=target.username, reason=reason
            )
            change.emit(
                Event.TASK_DELEGATED,
                task_id=row.id,
                element_id=row.element_id,
                assignee_id=target.id,
                delegated_by_id=actor.id,
            )

        return self.ctx.uow.run(self._instance_of(task_id), actor, op, load_workflow=False, then=self._view_of(task_id))

    def resolve(self, task_id: str, actor: Actor, reason: str, visible=None) -> dict[str, Any]:
        """The delegate hands a delegated task back to the holder who delegated it, with a note of what was done."""
        reason = checked_reason(reason)

        def op(change: Change):
            row = self._row(change, task_id, visible)
            if row.state != HumanTaskState.CLAIMED or row.delegated_by_id is None:
                raise TaskNotDelegated("the task is not delegated: there is nothing to resolve")
            if row.assignee_id != actor.id:
                raise NotAssignee("only the colleague the task is delegated to resolves it")
            holder = row.delegated_by_id
            write_row(change.scope, row, {"assignee_id": holder, "delegated_by_id": None})
            change.audit(Event.TASK_RESOLVED, task_id=row.id, element_id=row.element_id, reason=reason)
            change.emit(Event.TASK_RESOLVED, task_id=row.id, element_id=row.element_id, assignee_id=holder)

        return self.ctx.uow.run(self._instance_of(task_id), actor, op, load_workflow=False, then=self._view_of(task_id))

    def withdraw(self, task_id: str, actor: Actor, reason: str, visible=None) -> dict[str, Any]:
        """Withdraw (撤回) an escalation no liaison has claimed: the officer who escalated takes it back.

        `task_id` is one of the department tasks the escalating completion opened; all of them close
        (cancelled) and the escalating task is the officer's again, with its original start and due
        time (the workflow is reset to it). Returns the reopened task.
        """
        reason = checked_reason(reason)
        reopened: list[str] = []

        def op(change: Change):
            row = self._row(change, task_id, visible)
            if row.state not in OPEN_TASK_STATES or row.owner_task:
                raise TaskNotOpen(f"the task is {row.state}: there is no open escalation to withdraw")
            source, opened = self._escalation_of(change, row)
            if source is None or source.completed_by_id != actor.id:
                raise Forbidden("only the officer who escalated may withdraw the escalation")
            if any(r.state == HumanTaskState.CLAIMED for r in opened):
                raise TaskAlreadyClaimed("a liaison has claimed the escalation: it can no longer be withdrawn")
            self._back_to(change, source, actor.id)
            change.audit(
                Event.TASK_WITHDRAWN,
                task_id=source.id,
                element_id=source.element_id,
                reason=reason,
                withdrawn=[r.element_id for r in opened],
            )
            change.emit(
                Event.TASK_WITHDRAWN,
                task_id=source.id,
                element_id=source.element_id,
                withdrawn_task_ids=[r.id for r in opened],
                candidate_groups=sorted({g for r in opened for g in r.candidate_groups}),
            )
            reopened.append(source.id)

        return self.ctx.uow.run(self._instance_of(task_id), actor, op, then=lambda c: self._view_of(reopened[0])(c))

    def return_task(self, task_id: str, actor: Actor, reason: str, visible=None) -> dict[str, Any]:
        """Return (退回) an escalated task: the department says the case is not theirs or lacks information.

        The task closes as `returned` (its row keeps the return and its time: returns count per
        department); the escalating task is the case owner's again (the workflow is reset to it), to
        re-route: choose another department, add information, or resolve on the spot. Returns the
        returned task.
        """
        reason = checked_reason(reason)

        def op(change: Change):
            row = self._department_task(change, task_id, actor, visible, "returned", "return")
            if self._decline_instance(change, row, actor, reason):
                return
            source, opened = self._escalation_of(change, row)
            if source is None:
                raise TaskNotOpen("the task was not opened by an escalation: there is nothing to return it to")
            others = [r for r in opened if r.id != row.id and r.state == HumanTaskState.CLAIMED]
            if others:
                raise TaskAlreadyClaimed(
                    "another department is working on this escalation: return after it has reported"
                )
            close_task(change, row, HumanTaskState.RETURNED)
            self._back_to(change, source, change.instance.case_owner_id or source.completed_by_id)
            groups = row.candidate_groups
            change.audit(Event.TASK_RETURNED, task_id=row.id, element_id=row.element_id, reason=reason, groups=groups)
            change.emit(
                Event.TASK_RETURNED,
                task_id=row.id,
                element_id=row.element_id,
                candidate_groups=groups,
                rerouting_task_id=source.id,
                owner_id=change.instance.case_owner_id,
            )

        return self.ctx.uow.run(self._instance_of(task_id), actor, op, then=self._view_of(task_id))

    def _decline_instance(self, change: Change, row: Record, actor: Actor, reason: str) -> bool:
        """Return (退回) of one instance of a countersign: that department declines with a reason. The
        instance completes as declined (it counts as completed, not signed: docs/operations.md), the
        others go on; the completion condition decides as for a signature. False: not an instance."""
        workflow = change.workflow
        refresh_timers(workflow)
        task = workflow.get_task_from_id(uuid.UUID(row.id))
        if task is None or not multi_instance.is_instance(task):
            return False
        if task.state != TaskState.READY:
            raise TaskNotOpen("the task is no longer ready (a timer or message closed it)")
        multi_instance.before_completion(task, declined=True)
        workflow.run_task_from_id(task.id)
        workflow.do_engine_steps()
        close_task(change, row, HumanTaskState.RETURNED, actor=actor)
        groups = row.candidate_groups
        change.audit(
            Event.TASK_RETURNED, task_id=row.id, element_id=row.element_id, reason=reason, groups=groups, declined=True
        )
        change.emit(
            Event.TASK_RETURNED,
            task_id=row.id,
            element_id=row.element_id,
            candidate_groups=groups,
            owner_id=change.instance.case_owner_id,
            declined=True,
        )
        return True

    def _escalation_of(self, change: Change, row: Record) -> tuple[Record | None, list[Record]]:
        """The task whose completion opened `row` (the case's task completed last before it was created),
        and the open tasks that completion opened (`row` among them)."""
        found = self._completed_before(change, row.created_at)
        opened = [
            r
            for r in change.hold(_OPEN_OF_CASE.all(change.scope.connection(), {"instance_id": change.instance.id}))
            if r.created_at == row.created_at
        ]
        return (found[0] if found else None), opened

    def _back_to(self, change: Change, source: Record, user_id: int | None) -> None:
        """Reset the workflow to the completed `source` task and reopen its row for `user_id`; the
        tasks and waits of the removed branch close with the projection."""
        workflow = change.workflow
        refresh_timers(workflow)
        task = workflow.get_task_from_id(uuid.UUID(source.id))
        if task is None or task.state != TaskState.COMPLETED:
            raise TaskNotOpen("the escalation has moved on: it can no longer be taken back")
        for removed in workflow.reset_from_task_id(task.id):
            workflow.event_manager.remove_task(removed)  # SpiffWorkflow leaves removed catch events listening
        workflow.do_engine_steps()
        again = workflow.get_task_from_id(task.id)
        if again is None or again.state != TaskState.READY:
            raise TaskNotOpen("the escalation has moved on: it can no longer be taken back")
        self._reopen(change, source, user_id)

    def _completed_before(self, change: Change, at: datetime) -> list[Record]:
        """The case's task completed last before `at`: the one whose completion opened a task created at `at`."""
        return change.hold(
            _COMPLETED_BEFORE.all(change.scope.connection(), {"instance_id": change.instance.id, "at": at})
        )

    @staticmethod
    def _reopen(change: Change, row: Record, user_id: int | None) -> None:
        """A completed task is the actor's again, as the workflow reset it: its row (history keeps the
        first completion in the audit trail), not a new one; its start and due time are the original."""
        write_row(
            change.scope,
            row,
            {
                "state": HumanTaskState.CLAIMED,
                "assignee_id": user_id,
                "claimed_at": change.now,
                "ended_at": None,
                "completed_by_id": None,
                "completed_via": None,
                "outcome": None,
                "sla_state": initial_sla_state(row.due_at),
            },
        )
        change.ready_before.add(row.id)  # an open row already: the projection must not insert it
        for kind, when in ((TimerKind.SLA_WARNING, row.warn_at), (TimerKind.SLA_BREACH, row.due_at)):
            if when is not None and when > change.now:
                change.add_timer(row.id, row.element_id, kind, when)

    def reassign_case_owner(self, instance_id: str, actor: Actor, username: str, reason: str) -> dict[str, Any]:
        """Move first-contact responsibility to another officer of the station (supervisor only)."""
        reason = checked_reason(reason)

        def op(change: Change):
            if actor.role != Role.SUPERVISOR or change.instance.station_id not in (None, actor.station_id):
                raise Forbidden("only a supervisor of the case's station may reassign its owner")
            if change.instance.status != InstanceStatus.RUNNING:
                raise TaskNotOpen(f"the case is {change.instance.status}")
            self._change_owner(change, self._user(change.scope, username), reason)

        self.ctx.uow.run(instance_id, actor, op, load_workflow=False)
        return self.ctx.runtime.get_instance(instance_id, history=False)

    # --- rules -----------------------------------------------------------------------------------
    def _claim(self, change: Change, row: Record, actor: Actor) -> None:
        if row.state == HumanTaskState.CLAIMED:
            raise TaskAlreadyClaimed("the task was claimed by someone else")
        if row.state != HumanTaskState.OPEN:
            raise TaskNotOpen(f"the task is already {row.state}")
        owner_id = change.instance.case_owner_id
        if row.owner_task and owner_id is not None and owner_id != actor.id:
            raise OwnedByAnother("this case has an owner; its officer tasks are theirs")
        if not is_candidate(actor, row):
            raise NotCandidate("you are not a candidate for this task")
        # conditional update: exactly one transaction moves the row out of 'open'
        won = _CLAIM.execute(change.scope, {"task_id": row.id, "assignee_id": actor.id, "at": change.now})
        if won != 1:
            raise TaskAlreadyClaimed("the task was claimed by someone else")
        row.state, row.assignee_id, row.claimed_at = HumanTaskState.CLAIMED, actor.id, change.now  # as written
        drop_candidates(change.scope, row.id)
        change.audit(Event.TASK_CLAIMED, task_id=row.id, element_id=row.element_id)
        change.emit(Event.TASK_CLAIMED, task_id=row.id, element_id=row.element_id, assignee_id=actor.id)
        if row.owner_task and owner_id is None:
            change.set_instance(case_owner_id=actor.id)
            change.audit(Event.CASE_OWNER_ASSIGNED, owner=actor.username, rule="first_contact")
            change.emit(Event.CASE_OWNER_CHANGED, owner_id=actor.id, previous_owner_id=None)
            self._owner_tasks_to(change, actor.id, exclude=row.id)

    def _change_owner(self, change: Change, target: Actor, reason: str) -> None:
        role = self.ctx.settings.ownership_role
        if target.role != role or target.station_id != change.instance.station_id:
            raise InvalidInput(
                f"the new owner must be an {role} of the case's station",
                [{"field": "user", "message": "not an officer of this station"}],
            )
        previous = change.instance.case_owner_id
        if previous == target.id:
            return
        change.set_instance(case_owner_id=target.id)
        self._owner_tasks_to(change, target.id)
        change.audit(Event.CASE_OWNER_REASSIGNED, owner=target.username, previous_owner_id=previous, reason=reason)
        change.emit(Event.CASE_OWNER_CHANGED, owner_id=target.id, previous_owner_id=previous)

    def _owner_tasks_to(self, change: Change, user_id: int | None, exclude: str | None = None) -> None:
        """Give the case's open officer tasks (but `exclude`) to `user_id`. The workflow this process
        saved at the locked version names the open tasks: none besides `exclude` (a first claim,
        usually), no query."""
        known = self.ctx.workflows.open_tasks(change.instance.id, change.instance.version)
        if known is not None and not set(known) - {exclude}:
            return
        for row in change.hold(_OWNER_TASKS.all(change.scope.connection(), {"instance_id": change.instance.id})):
            # a task delegated to the new owner becomes their own: resolving it would hand it back
            # to an officer who no longer owns the case
            if row.id != exclude and (row.assignee_id != user_id or row.delegated_by_id is not None):
                self._assign(change, row, user_id)
                change.emit(Event.TASK_REASSIGNED, task_id=row.id, element_id=row.element_id, assignee_id=user_id)

    @staticmethod
    def _assign(change: Change, row: Record, user_id: int | None) -> None:
        previous = row.assignee_id
        write_row(
            change.scope,
            row,
            {
                "state": HumanTaskState.CLAIMED,
                "assignee_id": user_id,
                "claimed_at": change.now,
                "delegated_by_id": None,
            },
        )
        drop_candidates(change.scope, row.id)
        if previous is not None and previous != user_id:
            drop_draft(change, row.id)  # a draft is its holder's; the new one starts afresh

    @staticmethod
    def _supervises(actor: Actor, row: Record) -> bool:
        return actor.role == Role.SUPERVISOR and (row.station_id is None or row.station_id == actor.station_id)

    def _user(self, scope, username: str) -> Actor:
        return active_actor(self.ctx, scope, username)

    def _row(self, change: Change, task_id: str, visible=None) -> Record:
        row = change.task_row(task_id)
        if row is None:
            raise TaskNotFound(f"task '{task_id}' does not exist")
        if visible is not None:
            visible(self._row_view(change, row))
        if change.instance.status == InstanceStatus.SUSPENDED:
            raise InstanceSuspended("the case is suspended: its tasks wait until a supervisor resumes it")
        return row

    def opened_by(self, change: Change) -> list[dict[str, Any]]:
        """The task rows `change` created, as `get_task` shows them, in the inbox's order (due time,
        then id): known to the change, so not read back."""
        rows = sorted(change.created_tasks, key=lambda r: (r["due_at"] is None, r["due_at"] or _NO_DUE, r["id"]))
        return self._rows_view(change, [Record(HumanTask.__table__, row) for row in rows])

    @classmethod
    def _row_view(cls, change: Change, row: Record) -> dict[str, Any]:
        """The task as `get_task` shows it, from the row the unit of work holds (users named by id)."""
        return cls._rows_view(change, [row])[0]

    @staticmethod
    def _rows_view(change: Change, rows: list) -> list[dict[str, Any]]:
        """Task rows as `get_task` shows them; their users named with one lookup (none for the actor)."""
        names = {change.actor.id: change.actor.username}
        others = {user_id for row in rows for user_id in (row.assignee_id, row.completed_by_id)} - set(names) - {None}
        if others:
            names.update(lookup_names(change.scope, {"u": others})["u"])
        return [task_view(row, names.get(row.assignee_id), names.get(row.completed_by_id), change.now) for row in rows]

    @staticmethod
    def _instance_of(task_id: str) -> OfTask:
        return OfTask(str(task_id))

    def _view_of(self, task_id: str):
        """The task as `get_task` shows it, after the change, from the row the unit of work holds."""

        def view(change: Change) -> dict[str, Any]:
            row = change.held_task_row(task_id)  # held by the change already: no statement
            result = self._row_view(change, row)
            result["form"] = form_schema(self.ctx, change.scope, change.instance.definition_id, row.form_key)
            return result

        return view


def form_schema(ctx: Engine, scope, definition_id: int | None, form_key: str | None) -> dict[str, Any] | None:
    """The JSON Schema of a task's form, if it has one (the one deployed with its version first)."""
    form = ctx.repository.form(scope, definition_id, form_key)
    return form.schema if form is not None else None


def active_actor(ctx: Engine, scope, username: str) -> Actor:
    """The actor of an active user, by username."""
    user_id = scope.scalar(select(User.id).where(User.username == username, User.active.is_(True)))
    if user_id is None:
        raise UserNotFound(f"user '{username}' does not exist")
    return ctx.identity.actor_by_id(scope, user_id)
