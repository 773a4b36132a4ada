"""Suspending a case (挂起) and resuming it (激活): deadlines pause, timers do not fire (docs/operations.md).

Suspending parks the case's open tasks as `suspended` (out of every queue: nobody claims or
completes them) and its pending timers as `paused` (no sweeper sees them). Resuming moves every
paused due time, SLA mark and waiting BPMN timer later by the time the case was suspended, so each
deadline keeps the time it had left, and puts the tasks back as they were (open or held). Both run
inside a unit of work (engine/uow) the runtime facade starts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, literal_column, select, update

from .queues import add_candidates, drop_candidates
from .store.driver import DriverQuery, DriverStatement
from .store.models import IS_OPEN_TASK, TIMER_PENDING, HumanTask, Timer
from .uow import Change, waiting_events, write_row
from .vocabulary import HumanTaskState, TimerKind, TimerStatus

_T = HumanTask.__table__
_TIMERS = Timer.__table__
_IS_PAUSED = _TIMERS.c.status == literal_column(f"'{TimerStatus.PAUSED}'")  # matches ix_timers_paused
# both through ix_tasks_instance (instance_id, state)
_OPEN_TASKS = DriverQuery(select(_T).where(_T.c.instance_id == bindparam("instance_id"), IS_OPEN_TASK))
_SUSPENDED_TASKS = DriverQuery(
    select(_T).where(
        _T.c.instance_id == bindparam("instance_id"),
        _T.c.state == literal_column(f"'{HumanTaskState.SUSPENDED}'"),
    )
)
_PAUSE_TIMERS = DriverStatement(  # through ix_timers_instance_task (pending or incident)
    update(_TIMERS)
    .where(_TIMERS.c.instance_id == bindparam("instance_id"), TIMER_PENDING)
    .values(status=TimerStatus.PAUSED, claim_token=None, locked_until=None)
)
_PAUSED_TIMERS = DriverQuery(
    select(_TIMERS.c.id, _TIMERS.c.kind, _TIMERS.c.task_id, _TIMERS.c.due_at).where(
        _TIMERS.c.instance_id == bindparam("instance_id"), _IS_PAUSED
    )
)
_RESUME_TIMER = DriverStatement(
    update(_TIMERS)
    .where(_TIMERS.c.id == bindparam("timer_id"))
    .values(status=TimerStatus.PENDING, due_at=bindparam("due_at"), locked_until=None)
)
_CANCEL_PAUSED = DriverStatement(
    update(_TIMERS)
    .where(_TIMERS.c.instance_id == bindparam("instance_id"), _IS_PAUSED)
    .values(status=TimerStatus.CANCELLED)
)


def pause(change: Change) -> int:
    """Park the case's open tasks and pending timers; returns how many tasks were parked."""
    rows = change.hold(_OPEN_TASKS.all(change.scope.connection(), {"instance_id": change.instance.id}))
    for row in rows:
        if row.state == HumanTaskState.OPEN:
            drop_candidates(change.scope, row.id)
        write_row(change.scope, row, {"state": HumanTaskState.SUSPENDED})
    _PAUSE_TIMERS.execute(change.scope, {"instance_id": change.instance.id})
    return len(rows)


def unpause(change: Change, paused: timedelta) -> None:
    """Put the parked tasks back (open or held, as they were) and re-arm the paused timers, all due
    later by `paused`; the workflow's waiting timers move with them."""
    instance_id = change.instance.id
    for row in change.hold(_SUSPENDED_TASKS.all(change.scope.connection(), {"instance_id": instance_id})):
        state = HumanTaskState.CLAIMED if row.assignee_id is not None else HumanTaskState.OPEN
        write_row(
            change.scope,
            row,
            {
                "state": state,
                "due_at": _later(row.due_at, paused),
                "warn_at": _later(row.warn_at, paused),
                # a pending extension asked for a time counted on the running clock: it moves too
                "extension_due_at": _later(row.extension_due_at, paused),
            },
        )
        if state == HumanTaskState.OPEN:
            add_candidates(change.scope, row)
    timers = _PAUSED_TIMERS.all(change.scope.connection(), {"instance_id": instance_id})
    rows = [{"timer_id": t.id, "due_at": t.due_at + paused} for t in timers]
    if rows:
        _RESUME_TIMER.execute(change.scope, rows)
        change.new_timers += [(row["timer_id"], row["due_at"]) for row in rows]  # the job runner wakes for them
    if any(t.kind == TimerKind.BPMN_TIMER for t in timers):
        _shift_waiting_timers(change.workflow, paused)
        # the timer rows were moved above: the projection must see the same waits as loaded
        change.waits_before = waiting_events(change.workflow)


def settle_paused(change: Change) -> None:
    """A suspended case ends (terminated): its paused timers will never fire."""
    _CANCEL_PAUSED.execute(change.scope, {"instance_id": change.instance.id})


def _shift_waiting_timers(workflow, paused: timedelta) -> None:
    """Move SpiffWorkflow's own due time of every waiting timer event (kept in the task's internal
    data once computed) so it agrees with the re-armed timer rows."""
    for task in workflow.event_manager.tasks.values():
        if task.state != TaskState.WAITING:
            continue
        definition = task.task_spec.event_definition
        if not any(  # a timer event, or an event-based gateway waiting for one
            isinstance(d, TimerEventDefinition) for d in getattr(definition, "event_definitions", None) or [definition]
        ):
            continue
        value: Any = task._get_internal_data("event_value")
        if isinstance(value, str):
            task._set_internal_data(event_value=(TimerEventDefinition.get_datetime(value) + paused).isoformat())
        elif isinstance(value, dict) and "next" in value:  # a cycle: its next occurrence
            value = {**value, "next": (datetime.fromisoformat(value["next"]) + paused).isoformat()}
            task._set_internal_data(event_value=value)


def _later(when: datetime | None, paused: timedelta) -> datetime | None:
    return None if when is None else when + paused
