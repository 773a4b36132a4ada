"""Waiting catch events: the timer and message-wait projections, and refreshing due timers.

The projection rows are exactly the events that waited when the workflow was loaded (every change
keeps them so): comparing the waits before and after a change says what to settle and what to add
without reading them, and nothing at all when the same events wait.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, delete, literal_column, or_, update

from ..store.driver import DriverStatement
from ..store.models import TIMER_PENDING, MessageWait, Timer
from ..vocabulary import Event, InstanceStatus, TimerKind, TimerStatus
from .change import Change

# A waiting timer event's row, pending or an incident (which still stands for its event: a change that
# keeps the event waiting, an admin fixing variables, schedules no second timer for it), settled by the
# event's task id.
_SETTLE_BPMN_TIMER = DriverStatement(
    update(Timer)
    .where(  # by instance: its index serves both states
        Timer.instance_id == bindparam("instance_id"),
        Timer.task_id == bindparam("task_id"),
        Timer.kind == TimerKind.BPMN_TIMER,
        or_(TIMER_PENDING, Timer.status == literal_column(f"'{TimerStatus.INCIDENT}'")),
    )
    .values(status=bindparam("status"), fired_at=bindparam("fired_at"))
)
_DELETE_WAIT = DriverStatement(delete(MessageWait).where(MessageWait.task_id == bindparam("task_id")))


def sync_waits(change: Change) -> None:
    """Bring the waiting-timer and message-wait projections in line with the workflow's waiting events."""
    before = change.waits_before or {}
    waits = waiting_events(change.workflow) if change.instance.status == InstanceStatus.RUNNING else {}
    if _wait_keys(waits) == _wait_keys(before):
        return  # the same events wait as when loaded: their projections are current
    timers = {task_id: (due, task) for task_id, (kind, due, task) in waits.items() if kind == "timer"}
    messages = {task_id: (name, task) for task_id, (kind, name, task) in waits.items() if kind == "message"}
    _sync_timers(change, before, timers)
    _sync_messages(change, before, messages)


def _sync_timers(change: Change, before: dict[str, tuple[str, Any, Any]], timers: dict[str, tuple]) -> None:
    """Settle the timer rows of events that stopped waiting (fired here, or cancelled); add new waits."""
    scope, instance, wf = change.scope, change.instance, change.workflow
    fired: list[tuple[str, datetime, Any]] = []
    cancelled: list[tuple[str, datetime, Any]] = []
    for task_id, (kind, due, _task) in before.items():
        if kind != "timer" or due is None:
            continue
        now_due, task = timers.get(task_id, (None, None))
        if now_due == due:
            continue  # still waiting for the same moment
        # gone or moved on (a cycle): did it fire here (a user action refreshed timers) or was it cancelled?
        spiff_task = task or _task_or_none(wf, task_id)
        ran = task is not None or (spiff_task is not None and spiff_task.state == TaskState.COMPLETED)
        (fired if ran and due <= change.now else cancelled).append((task_id, due, spiff_task))
    if fired or cancelled:
        scope.flush()  # a timer fired by this change's own timer service is settled: it must not match
    for task_id, due, spiff_task in fired:
        if _SETTLE_BPMN_TIMER.execute(
            scope,
            {"instance_id": instance.id, "task_id": task_id, "status": TimerStatus.FIRED, "fired_at": change.now},
        ):  # 0: settled already, no second audit
            element_id = spiff_task.task_spec.bpmn_id if spiff_task is not None else None
            times = {"due_at": due.isoformat(), "fired_at": change.now.isoformat()}
            change.audit(Event.TIMER_FIRED, task_id=task_id, element_id=element_id, **times)
            change.emit(Event.TIMER_FIRED, element_id=element_id, **times)
    if cancelled:
        _SETTLE_BPMN_TIMER.execute(
            scope,
            [
                {"instance_id": instance.id, "task_id": task_id, "status": TimerStatus.CANCELLED, "fired_at": None}
                for task_id, _due, _task in cancelled
            ],
        )
    for task_id, (due, task) in timers.items():
        if due is not None and before.get(task_id, (None, None))[:2] != ("timer", due):
            # a new wait (a row there already, pending or an incident still standing for it, is kept)
            change.add_timer(task_id, wait_element(task, "timer"), TimerKind.BPMN_TIMER, due)


def _sync_messages(change: Change, before: dict[str, tuple[str, Any, Any]], messages: dict[str, tuple]) -> None:
    """Delete the wait rows of message events that stopped waiting; add the new ones."""
    existing_waits = {task_id for task_id, (kind, _key, _task) in before.items() if kind == "message"}
    gone = existing_waits - set(messages)
    if gone:
        _DELETE_WAIT.execute(change.scope, [{"task_id": task_id} for task_id in sorted(gone)])
    for task_id, (name, task) in messages.items():
        if task_id in existing_waits:
            continue
        process_meta = change.loaded.meta.get(owning_process(task, change.loaded.meta), {})
        attached = process_meta.get("boundaries", {}).get(task.task_spec.bpmn_id)
        groups = process_meta.get("tasks", {}).get(attached, {}).get("groups", []) if attached else []
        change.wait_rows.append(
            {
                "task_id": task_id,
                "instance_id": change.instance.id,
                "message_name": name,
                "element_id": wait_element(task, "message", name),
                "attached_to": attached,
                "groups": groups,
            }
        )


def _task_or_none(workflow, task_id: str):
    """A task of the workflow, or None if it left the tree (a reset removes the branch it was on)."""
    try:
        return workflow.get_task_from_id(uuid.UUID(task_id))
    except TaskNotFoundException:
        return None


def owning_process(task, meta: dict[str, Any]) -> str:
    """The process key whose model defines `task`: embedded sub-processes belong to their parent."""
    workflow = task.workflow
    while workflow is not None:
        if workflow.spec.name in meta:
            return workflow.spec.name
        workflow = workflow.parent_workflow
    return task.workflow.spec.name


def waiting_events(workflow) -> dict[str, tuple[str, Any, Any]]:
    """The catch events waiting now: task id -> (kind, due time or message name, task).

    Read from SpiffWorkflow's event manager (every waiting catch event of the workflow and its
    sub-processes), not by walking the task tree. Compared before and after a change, it tells
    whether the timer and message-wait projections need touching at all.
    """
    waits = {}
    for task in workflow.event_manager.tasks.values():
        if task.state != TaskState.WAITING:
            continue
        definition = task.task_spec.event_definition
        # an event-based gateway waits itself for the events that follow it (SpiffWorkflow moves their
        # definitions onto it): its timer is the gateway task's, each message gets an id of its own
        for child in getattr(definition, "event_definitions", None) or [definition]:
            if isinstance(child, TimerEventDefinition):
                waits[str(task.id)] = ("timer", timer_due(task), task)
            elif isinstance(child, MessageEventDefinition):
                key = str(task.id) if child is definition else gateway_wait_id(task, child.name)
                waits[key] = ("message", child.name, task)
    return waits


def gateway_wait_id(task, message_name: str) -> str:
    """The message-wait id of a message an event-based gateway waits for (stable across loads)."""
    return str(uuid.uuid5(task.id, message_name))


def wait_element(task, kind: str, message_name: str | None = None) -> str:
    """The element a wait stands for: the catch event after an event-based gateway, else the task's own."""
    spec = task.task_spec
    definitions = getattr(spec.event_definition, "event_definitions", None)
    for output, child in zip(spec.outputs, definitions or [], strict=False):
        if kind == "timer" and isinstance(child, TimerEventDefinition):
            return output.bpmn_id
        if kind == "message" and isinstance(child, MessageEventDefinition) and child.name == message_name:
            return output.bpmn_id
    return spec.bpmn_id


def _wait_keys(waits: dict[str, tuple[str, Any, Any]]) -> dict[str, tuple[str, Any]]:
    return {task_id: (kind, key) for task_id, (kind, key, _task) in waits.items()}


def refresh_timers(workflow) -> None:
    """Let timers that fell due fire before a user's action (a boundary at breach wins the race).

    Skipped when no timer waits; the engine steps run only if a timer actually moved on.
    """
    waiting = [
        t
        for t in workflow.event_manager.tasks.values()
        if t.state == TaskState.WAITING
        and isinstance(t.task_spec.event_definition, (TimerEventDefinition, MultipleEventDefinition))
    ]
    if not waiting:
        return
    workflow.refresh_timers()
    if any(t.state != TaskState.WAITING for t in waiting):
        workflow.do_engine_steps()


def timer_due(task) -> datetime | None:
    """When a waiting timer event falls due (the next occurrence, for a cycle)."""
    definition = task.task_spec.event_definition
    if isinstance(definition, MultipleEventDefinition):  # an event-based gateway keeps its timer's due time
        value = task._get_internal_data("event_value")
    else:
        value = definition.details(task).value
    if isinstance(value, str):
        return TimerEventDefinition.get_datetime(value)
    return None
