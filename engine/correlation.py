"""Message correlation: a BPMN message delivered to the event of a case that waits for it.

A department reports its result as a message; the waiting event is found through the message-wait
projection (engine/uow/waits.py), the payload is validated with the form of the department task the
event is attached to, and a boundary event closes that task (completed via `message`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, select

from .errors import Forbidden, MessageNotCorrelated
from .identity import Actor
from .store.driver import DriverQuery
from .store.models import IS_OPEN_TASK, HumanTask, MessageWait
from .uow import Change, close_task, refresh_timers, waiting_events
from .validation import check_json
from .vocabulary import Event, HumanTaskState, Role

if TYPE_CHECKING:
    from . import Engine

_TASKS = HumanTask.__table__
_OPEN_TASKS_OF = DriverQuery(
    select(_TASKS).where(  # an element's open tasks in a case (a boundary's task)
        _TASKS.c.instance_id == bindparam("instance_id"), _TASKS.c.element_id == bindparam("element_id"), IS_OPEN_TASK
    )
)


def waiting_event(change: Change, name: str, department: str | None, actor: Actor) -> MessageWait:
    """The one event of the case waiting for message `name` (from `department`, if named)."""
    waits = change.scope.scalars(
        select(MessageWait).where(MessageWait.instance_id == change.instance.id, MessageWait.message_name == name)
    ).all()
    if department is not None:
        waits = [w for w in waits if not w.groups or department in w.groups]
    if not waits:
        raise MessageNotCorrelated(
            f"instance {change.instance.business_key} is not waiting for "
            f"message '{name}'" + (f" from '{department}'" if department else "")
        )
    if len(waits) > 1:
        raise MessageNotCorrelated(
            f"several events wait for '{name}'; name the department",
            [{"field": "department", "message": "one of " + ", ".join(sorted({g for w in waits for g in w.groups}))}],
        )
    wait = waits[0]
    if actor.role == Role.SYSTEM and actor.departments and wait.groups and not (actor.departments & set(wait.groups)):
        raise Forbidden("this department may not answer that event")
    return wait


def deliver(
    ctx: Engine,
    change: Change,
    wait: MessageWait,
    payload: dict[str, Any],
    actor: Actor,
    department: str | None,
) -> None:
    """Catch the message at its waiting event, close the department task it answers, record it."""
    name = wait.message_name
    workflow = change.workflow
    refresh_timers(workflow)
    waiting = waiting_events(workflow).get(wait.task_id)  # an event-based gateway's message has an id of its own
    task = waiting[2] if waiting is not None and waiting[0] == "message" else None
    if task is None or task.state != TaskState.WAITING:
        raise MessageNotCorrelated(f"the event waiting for '{name}' is no longer waiting")
    attached_rows = []
    form_key = None
    if wait.attached_to:
        attached_rows = change.hold(
            _OPEN_TASKS_OF.all(
                change.scope.connection(), {"instance_id": change.instance.id, "element_id": wait.attached_to}
            )
        )
        form_key = next((r.form_key for r in attached_rows if r.form_key), None)
    if form_key:
        form = ctx.repository.form(change.scope, change.instance.definition_id, form_key) or ctx.forms.get(form_key)
        plain, personal = form.validate(payload)
    else:
        check_json(payload)
        plain, personal = dict(payload), {}
    event = BpmnEvent(MessageEventDefinition(name), payload=plain)
    task.task_spec.catch(task, event)
    task.task_spec._update(task)
    workflow.do_engine_steps()
    for row in attached_rows:
        if str(row.id) in {str(t.id) for t in workflow.get_tasks(state=TaskState.READY, manual=True)}:
            continue  # non-interrupting boundary: the task stays open
        close_task(change, row, HumanTaskState.COMPLETED, via="message", actor=actor, outcome=plain)
        change.emit(Event.TASK_COMPLETED, task_id=row.id, element_id=row.element_id, via="message")
    if personal:
        ctx.personal.store(change, wait.task_id, f"message:{name}", personal)
    change.audit(
        Event.MESSAGE_CORRELATED,
        task_id=wait.task_id,
        message=name,
        element_id=wait.element_id,
        department=department,
        fields=sorted(plain),
        personal_fields=sorted(personal),
    )
    change.emit(Event.MESSAGE_CORRELATED, message=name, element_id=wait.element_id, department=department)
