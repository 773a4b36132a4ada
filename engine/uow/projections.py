"""Projections: the instance row and its human tasks rebuilt from the workflow after every change.

The task rows open before a change are exactly the user tasks that were READY when the workflow was
loaded (every change keeps them so), so what to close and what to create is known without reading
them. Waiting timer and message events are projected by engine/uow/waits.py.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, delete, or_, select, update

from .. import external_tasks, io_mappings, multi_instance
from ..case_fields import CASE_FIELDS, case_field_values
from ..errors import EngineError, WorkflowFailed
from ..queues import candidate_rows, drop_candidates
from ..schedule import resolve_due
from ..sla import closing_sla_state, initial_sla_state, warning_time
from ..store.driver import DriverStatement
from ..store.models import TIMER_PENDING, HumanTask, TaskDraft, Timer, User
from ..store.record import Record
from ..vocabulary import SLA_TIMER_KINDS, Event, HumanTaskState, InstanceStatus, TimerKind, TimerStatus
from .change import Change, write_row
from .waits import owning_process, sync_waits

if TYPE_CHECKING:
    from .. import Engine


_DROP_DRAFT = DriverStatement(delete(TaskDraft.__table__).where(TaskDraft.__table__.c.task_id == bindparam("task_id")))
_CANCEL_SLA_TIMERS = DriverStatement(
    update(Timer)
    .where(
        Timer.instance_id == bindparam("instance_id"),
        Timer.task_id == bindparam("of_task"),
        TIMER_PENDING,
        or_(*[Timer.kind == kind for kind in SLA_TIMER_KINDS]),
    )
    .values(status=TimerStatus.CANCELLED)
)
_USER_ID = select(User.id).where(User.username == bindparam("username"))
# a case's business fields changed: every task row of the case follows (by the tasks' instance index)
_COPY_CASE_FIELDS = DriverStatement(
    update(HumanTask.__table__)
    .where(HumanTask.__table__.c.instance_id == bindparam("of_instance"))
    .values({name: bindparam(name) for name in CASE_FIELDS})
)


def sync(ctx: Engine, change: Change) -> None:
    """Rebuild the projections from the workflow and buffer the instance's new state (steps 4 and 5)."""
    wf, instance = change.workflow, change.instance
    _thrown_events(change)  # takes the thrown events out of the workflow: before it is saved
    active = wf.get_tasks(state=TaskState.READY | TaskState.WAITING)
    ready_manual = [t for t in active if t.state == TaskState.READY and t.task_spec.manual]
    multi_instance.prepare(ready_manual)  # new multi-instance tasks get their element variable: before it is saved
    completed = instance.status == InstanceStatus.RUNNING and wf.is_completed()
    variables = snapshot(wf, active)
    values: dict[str, Any] = {"variables": variables, "state": ctx.serializer.dumps(wf)}
    fields = case_field_values(variables)
    if change.fields_before is not None and fields != change.fields_before:
        _COPY_CASE_FIELDS.execute(change.scope, [{"of_instance": instance.id, **fields}])
    if completed:
        values.update(status=InstanceStatus.COMPLETED, ended_at=change.now)
    change.instance_values.update(values)
    _sync_human_tasks(ctx, change, ready_manual, fields)
    sync_waits(change)
    external_tasks.sync_external(change)  # models with external service tasks only
    if completed:
        change.audit(Event.INSTANCE_COMPLETED)
        change.emit(Event.INSTANCE_COMPLETED, process_key=instance.process_key)
    change.write_projections()
    external_tasks.write_rows(change)


def _thrown_events(change: Change) -> None:
    for event in change.workflow.get_events():
        definition = event.event_definition
        kind = type(definition).__name__.replace("EventDefinition", "").lower() or "event"
        payload = event.payload if isinstance(event.payload, dict) else {}
        details = {"name": definition.name, "code": getattr(definition, "code", None)}
        if kind == "escalation":
            details["departments"] = payload.get("departments")
        change.audit(Event.raised(kind), **details)
        change.emit(Event.raised(kind), **details)


def _sync_human_tasks(ctx: Engine, change: Change, ready_manual: list, fields: dict[str, str | None]) -> None:
    ready = {str(t.id): t for t in ready_manual}
    change.ready_after = set(ready)
    known = change.ready_before  # the open rows, without reading them
    for task_id in sorted(known - set(ready) - change.finished):  # gone from the workflow: cancelled
        row = change.held_task_row(task_id)
        close_task(change, row, HumanTaskState.CANCELLED)
        # an instance of a countersign whose completion condition was met: not needed (no reason given)
        extra = {"not_needed": True} if multi_instance.not_needed(change.workflow, uuid.UUID(task_id)) else {}
        change.audit(Event.TASK_CANCELLED, task_id=row.id, element_id=row.element_id, **extra)
        change.emit(Event.TASK_CANCELLED, task_id=row.id, element_id=row.element_id, **extra)
    for task_id, task in ready.items():
        if task_id not in known and task_id not in change.finished:
            _create_task(ctx, change, task, fields)


@dataclass
class _TaskTerms:
    """What a new user task's model says about it, evaluated over the task's data."""

    due_at: datetime | None
    warn_at: datetime | None
    follow_up_at: datetime | None
    priority: int
    assignee_name: Any


def _task_terms(
    ctx: Engine, change: Change, task, process_key: str, element_id: str, meta: dict[str, Any]
) -> _TaskTerms:
    """Due, warning and follow-up times, priority and assignee of a new task (a model's mistake fails the change)."""
    variables = task.data
    evaluate = ctx.evaluator.evaluate
    process_meta = change.loaded.meta.get(process_key, {})
    try:
        due_at = resolve_due(meta.get("due"), variables, change.now, evaluate)
        warn_at = warning_time(
            meta.get("warn") or process_meta.get("sla_warning"), change.now, due_at, ctx.settings.sla_warn_fraction
        )
        follow_up_at = resolve_due(meta.get("follow_up"), variables, change.now, evaluate)
        priority = int(evaluate(meta["priority"], variables)) if meta.get("priority") else 50
        assignee_name = meta.get("assignee")
        if assignee_name and meta.get("assignee_is_expression"):
            assignee_name = evaluate(assignee_name, variables)
    except (EngineError, ValueError, TypeError) as exc:
        message = getattr(exc, "message", str(exc))
        raise WorkflowFailed(
            f"user task '{element_id}': {message}", [{"element_id": element_id, "message": message}]
        ) from None
    return _TaskTerms(due_at, warn_at, follow_up_at, priority, assignee_name)


def _groups(ctx: Engine, task, element_id: str, meta: dict[str, Any]) -> list[str]:
    """The task's candidate groups, `${department}` of a multi-instance task evaluated for this instance."""
    try:
        return multi_instance.expand_groups(meta.get("groups", []), task.data, ctx.evaluator.evaluate)
    except (EngineError, ValueError, TypeError) as exc:
        message = getattr(exc, "message", str(exc))
        raise WorkflowFailed(
            f"user task '{element_id}': {message}", [{"element_id": element_id, "message": message}]
        ) from None


def _create_task(ctx: Engine, change: Change, task, fields: dict[str, str | None]) -> None:
    """Buffer a new READY user task's row (with the case's business fields), its queue entries and
    SLA marks, and announce it."""
    instance = change.instance
    process_key = owning_process(task, change.loaded.meta)
    element_id = task.task_spec.bpmn_id or task.task_spec.name
    meta = change.loaded.task_meta(process_key, element_id) or {}
    terms = _task_terms(ctx, change, task, process_key, element_id, meta)
    groups = _groups(ctx, task, element_id, meta)
    users = list(meta.get("users", []))
    owner_task = ctx.settings.ownership_role in groups
    assignee_id = None
    if owner_task and instance.case_owner_id is not None:
        assignee_id = instance.case_owner_id
    elif terms.assignee_name:
        assignee_id = change.scope.scalars(_USER_ID, {"username": str(terms.assignee_name)}).first()
    task_id, due_at = str(task.id), terms.due_at
    row = {
        "id": task_id,
        "instance_id": instance.id,
        "business_key": instance.business_key,
        "process_key": process_key,
        "element_id": element_id,
        "name": meta.get("name") or task.task_spec.bpmn_name,
        "lane": meta.get("lane") or task.task_spec.lane,
        "candidate_groups": groups,
        "candidate_users": users,
        "owner_task": owner_task,
        "station_id": instance.station_id,
        "state": HumanTaskState.CLAIMED if assignee_id else HumanTaskState.OPEN,
        "assignee_id": assignee_id,
        "form_key": meta.get("form_key"),
        "priority": terms.priority,
        "created_at": change.now,
        "claimed_at": change.now if assignee_id else None,
        "ended_at": None,
        "completed_by_id": None,
        "completed_via": None,
        "due_at": due_at,
        "warn_at": terms.warn_at,
        "follow_up_at": terms.follow_up_at,
        "sla_state": initial_sla_state(due_at),
        "outcome": None,
        "urge_count": 0,
        "urged_at": None,
        "extension_due_at": None,
        "extended_from": None,
        "delegated_by_id": None,
        **fields,
    }
    change.task_rows.append(row)
    for kind, when in ((TimerKind.SLA_WARNING, terms.warn_at), (TimerKind.SLA_BREACH, due_at)):
        if when is not None:
            change.add_timer(task_id, element_id, kind, when)
    if assignee_id is None:
        change.candidate_rows += candidate_rows(task_id, groups, users, due_at)
    due = due_at.isoformat() if due_at else None
    change.audit(Event.TASK_CREATED, task_id=task_id, element_id=element_id, assignee_id=assignee_id, due_at=due)
    change.emit(
        Event.TASK_CREATED,
        task_id=task_id,
        element_id=element_id,
        name=row["name"],
        process_key=process_key,
        candidate_groups=groups,
        assignee_id=assignee_id,
        due_at=due,
    )


def close_task(
    change: Change,
    row: Record,
    state: str,
    *,
    via: str | None = None,
    actor=None,
    outcome: dict[str, Any] | None = None,
) -> None:
    """Close a task row (completed or cancelled): queue entries, pending SLA marks and its holder's
    draft (docs/collaboration.md) go with it."""
    was_open = row.state == HumanTaskState.OPEN
    if row.state == HumanTaskState.CLAIMED:  # only a held task has a draft
        _DROP_DRAFT.execute(change.scope, {"task_id": row.id})
    values: dict[str, Any] = {"state": state, "ended_at": change.now}
    if state == HumanTaskState.COMPLETED:
        values.update(completed_via=via, completed_by_id=getattr(actor, "id", None), outcome=outcome)
    sla_state = closing_sla_state(state, change.now, row.due_at)
    if sla_state is not None:
        values["sla_state"] = sla_state
    write_row(change.scope, row, values)
    change.finished.add(row.id)
    # Core statements: neither table's rows are held by an ORM session (queue entries never are; the
    # SLA marks of a task being closed are not loaded by the unit of work). Only an open task is in
    # queues, and only a task with a due time has SLA marks (its warning comes before it).
    if was_open:
        drop_candidates(change.scope, row.id)
    if row.due_at is not None:
        _CANCEL_SLA_TIMERS.execute(change.scope, {"instance_id": row.instance_id, "of_task": row.id})


def rearm_sla(change: Change, row: Record) -> None:
    """A task's due or warning time moved (an extension): its pending SLA marks are replaced by new ones."""
    _CANCEL_SLA_TIMERS.execute(change.scope, {"instance_id": row.instance_id, "of_task": row.id})
    for kind, when in ((TimerKind.SLA_WARNING, row.warn_at), (TimerKind.SLA_BREACH, row.due_at)):
        if when is not None and when > change.now:
            change.add_timer(row.id, row.element_id, kind, when)


def case_fields_of(workflow) -> dict[str, str | None]:
    """The business fields of the case whose workflow this is (its task rows carry them)."""
    return case_field_values(snapshot(workflow, workflow.get_tasks(state=TaskState.READY | TaskState.WAITING)))


def snapshot(workflow, active: list) -> dict[str, Any]:
    """The instance's current non-personal variables, merged from its active (ready or waiting) tasks."""
    data: dict[str, Any] = {}
    source = active if active else ([workflow.last_task] if workflow.last_task is not None else [])
    for task in source:
        data.update(io_mappings.visible(task))  # an activity's input parameters are its own
    return data
