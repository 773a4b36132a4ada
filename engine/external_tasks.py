"""External tasks: BPMN service tasks that a department system fetches, locks and completes.

A `serviceTask` with `camunda:type="external" camunda:topic="..."` is deployable (engine/bpmn.py asks
this module). At run time SpiffWorkflow's plain service task returns no result, so the task stays
STARTED: the workflow waits there like at a user task. Each such task has one `external_tasks` row
while it waits (the projection, kept by `sync_external` in every unit of work of a model that has
external tasks). A worker holding an API token scoped to the task's topic:

fetch-and-lock  locks up to N unlocked (or expired) rows of its topics: one transaction, SKIP LOCKED
                on PostgreSQL, a conditional UPDATE per row on both backends;
complete        the case's unit of work: the row is deleted only if this worker still holds the lock
                (a conditional DELETE), so exactly one worker completes a task; variables checked
                against the task's form (extension property `form`) when it declares one;
failure         retries left and a retry timeout; at zero retries an incident (kind "external_task")
                that an admin retries (engine/timers.py), making the task fetchable again;
extend-lock     a longer lock for the holder;
bpmn-error      an error boundary event on the task catches the code (no boundary: refused, 409);
list, get       the waiting tasks without their variables: all for an admin, a token's own topics
                for a worker;
unlock          an admin or the holder releases a lock: fetchable again at once;
set retries     an admin sets the retries: above zero it resolves the task's open incident, at zero
                it opens one.

The shape follows Camunda 7's external-task REST API; docs/external-tasks.md lists the differences.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import and_, bindparam, case, delete, func, insert, or_, select, update

from . import conditions
from .audit import audit_row
from .errors import Conflict, Forbidden, InvalidInput, NotFound, PersonalField, TooLarge
from .outbox import outbox_row
from .store.driver import DriverQuery, DriverStatement
from .store.models import AuditEntry, ExternalTask, Incident, OutboxEvent, ProcessInstance
from .validation import check_json
from .vocabulary import Event, IncidentResolution, IncidentStatus, InstanceStatus, Role

if TYPE_CHECKING:
    from . import Engine
    from .identity import Actor

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
TOPIC = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")
WORKER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,199}$")
INCIDENT_KIND = "external_task"
MAX_TASKS = 100  # per fetch-and-lock
MAX_LOCK_MS = 7 * 24 * 3600 * 1000  # a week
MAX_ASYNC_TIMEOUT_MS = 30_000  # long polling answers within 30 s
POLL_SECONDS = 0.2  # how often a long poll looks again
MAX_VARIABLES_BYTES = 256 * 1024
MAX_ERROR_CHARS = 2000
MAX_RETRIES = 1000
MAX_LISTED = 500  # per page of the list
# What an admin's console filters by (web/pages/external_tasks.py); each task is in exactly one:
# an incident (retries ran out), locked (a worker holds an unexpired lock), failed (a worker reported
# a failure and retries are left: waiting out its retry timeout or fetchable again), available.
STATES = ("available", "locked", "failed", "incident")


# --- deploy (engine/bpmn.py) ---------------------------------------------------------------------
def is_external(element) -> bool:
    return element.get(f"{{{CAMUNDA_NS}}}type") == "external"


def check_element(element) -> list[tuple[str | None, str]]:
    """What keeps an external service task from deploying: (element id, sentence) pairs."""
    topic = element.get(f"{{{CAMUNDA_NS}}}topic")
    if not topic or not TOPIC.fullmatch(topic):
        return [(element.get("id"), 'an external service task needs camunda:topic="..." (letters, digits and _.:-)')]
    return []


def element_meta(process) -> dict[str, dict[str, Any]]:
    """element id -> {topic, form, priority} of a process's external service tasks."""
    found = {}
    for task in process.iter(f"{{{BPMN_NS}}}serviceTask"):
        if not is_external(task):
            continue
        properties = {
            p.get("name"): p.get("value") or ""
            for p in task.iterfind(
                f"{{{BPMN_NS}}}extensionElements/{{{CAMUNDA_NS}}}properties/{{{CAMUNDA_NS}}}property"
            )
        }
        priority = task.get(f"{{{CAMUNDA_NS}}}taskPriority") or "0"
        found[task.get("id")] = {
            "topic": task.get(f"{{{CAMUNDA_NS}}}topic"),
            "form": properties.get("form") or None,
            "priority": int(priority) if re.fullmatch(r"-?\d{1,9}", priority) else 0,
            "name": task.get("name"),
        }
    return found


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


# --- the projection (engine/uow/projections.py) ----------------------------------------------------
# Statements of the hot path, compiled once and run on the driver (engine/store/driver.py)
_T = ExternalTask.__table__
_INSERT = DriverStatement(insert(_T))
_IDS_OF = DriverQuery(select(_T.c.id).where(_T.c.instance_id == bindparam("instance_id")))
_DELETE = DriverStatement(delete(_T).where(_T.c.id == bindparam("task_id")))
_ROW = DriverQuery(select(_T).where(_T.c.id == bindparam("task_id")))
_INSERT_AUDIT = DriverStatement(insert(AuditEntry.__table__))
_INSERT_OUTBOX = DriverStatement(insert(OutboxEvent.__table__))


def _external_meta(loaded) -> dict[str, dict[str, Any]]:
    """element id -> meta of every external task of a loaded definition (its called processes too)."""
    merged: dict[str, dict[str, Any]] = {}
    for process in (loaded.meta or {}).values():
        merged.update(process.get("external_tasks") or {})
    return merged


def sync_external(change) -> None:
    """Bring the case's external-task rows in line with its STARTED external service tasks.

    Runs only for models that have external tasks: other cases pay nothing."""
    loaded = change.loaded
    meta = _external_meta(loaded) if loaded is not None else {}
    if not meta:
        return
    running = change.instance.status == InstanceStatus.RUNNING
    waiting = {}
    if running:
        workflow = change.workflow
        # the task dicts of the workflow and its sub-processes: cheaper than SpiffWorkflow's tree iterator
        for tasks in (workflow.tasks, *(sub.tasks for sub in workflow.subprocesses.values())):
            for task in tasks.values():
                spec = task.task_spec
                if task.state == TaskState.STARTED and isinstance(spec, ServiceTask) and spec.bpmn_id in meta:
                    waiting[str(task.id)] = task
    scope = change.scope
    existing = set()
    if not change.is_new:
        existing = {row.id for row in _IDS_OF.all(scope.connection(), {"instance_id": change.instance.id})}
    for task_id in sorted(existing - set(waiting)):  # gone without a worker: cancelled (a boundary, the case)
        _DELETE.execute(scope, {"task_id": task_id})
        change.audit(Event.EXTERNAL_TASK_CANCELLED, task_id=task_id)
        change.emit(Event.EXTERNAL_TASK_CANCELLED, task_id=task_id)
    rows = []
    for task_id, task in waiting.items():
        if task_id in existing:
            continue
        element_id = task.task_spec.bpmn_id
        info = meta[element_id]
        rows.append(
            {
                "id": task_id,
                "instance_id": change.instance.id,
                "business_key": change.instance.business_key,
                "process_key": task.workflow.spec.name,
                "element_id": element_id,
                "topic": info["topic"],
                # the task's data: personal fields never are in it (forms seal them, engine/personal.py)
                "variables": json.loads(json.dumps(task.data, default=str)),
                "lock_owner": None,
                "lock_expires_at": None,
                "retries": None,
                "error": None,
                "priority": info.get("priority", 0),
                "created_at": change.now,
            }
        )
        change.audit(Event.EXTERNAL_TASK_CREATED, task_id=task_id, element_id=element_id, topic=info["topic"])
        change.emit(Event.EXTERNAL_TASK_CREATED, task_id=task_id, element_id=element_id, topic=info["topic"])
    if rows:
        change.external_rows = rows  # inserted after the instance row (write_rows)


def write_rows(change) -> None:
    rows = getattr(change, "external_rows", None)
    if rows:
        change.external_rows = []
        _INSERT.execute(change.scope, rows)


# --- the service ---------------------------------------------------------------------------------
class ExternalTaskNotFound(NotFound):
    code = "external_task_not_found"


class ExternalTaskLockLost(Conflict):
    """The worker does not hold the task's lock (never did, another does, or it expired)."""

    code = "external_task_not_locked"


class NoErrorBoundary(Conflict):
    code = "no_error_boundary"


def _fetchable(now_param: str = "now"):
    return and_(
        or_(_T.c.lock_expires_at.is_(None), _T.c.lock_expires_at <= bindparam(now_param)),
        or_(_T.c.retries.is_(None), _T.c.retries > 0),
    )


_LOCK_ONE = DriverStatement(
    update(_T)
    .where(_T.c.id == bindparam("task_id"), _fetchable())
    .values(lock_owner=bindparam("owner"), lock_expires_at=bindparam("until"))
)
_HELD = and_(
    _T.c.id == bindparam("task_id"),
    _T.c.lock_owner == bindparam("owner"),
    _T.c.lock_expires_at > bindparam("now"),
)
_DELETE_HELD = DriverStatement(delete(_T).where(_HELD))
_UNLOCK = DriverStatement(update(_T).where(_HELD).values(lock_owner=None, lock_expires_at=None))
_EXTEND = DriverStatement(update(_T).where(_HELD).values(lock_expires_at=bindparam("until")))
_FAIL = DriverStatement(
    update(_T)
    .where(_HELD)
    .values(
        lock_owner=None,
        lock_expires_at=bindparam("until"),
        retries=bindparam("retries"),
        error=bindparam("error"),
    )
)


class ExternalTaskService:
    def __init__(self, ctx: Engine):
        self.ctx = ctx

    # --- fetch and lock ----------------------------------------------------------------------------
    def fetch_and_lock(
        self, actor: Actor, worker_id: str, max_tasks: int, topics: list[dict[str, Any]], async_timeout_ms: int = 0
    ) -> list[dict[str, Any]]:
        """Lock up to `max_tasks` fetchable tasks of `topics` ([{topicName, lockDuration}]) for the worker;
        with `async_timeout_ms`, wait up to that long (bounded) for one to appear."""
        worker_id = _worker(worker_id)
        if not isinstance(max_tasks, int) or not 1 <= max_tasks <= MAX_TASKS:
            raise InvalidInput(
                f"maxTasks must be 1-{MAX_TASKS}", [{"field": "maxTasks", "message": f"1 to {MAX_TASKS}"}]
            )
        durations = _topics(topics)
        _check_topics(actor, durations)
        deadline = time.monotonic() + min(max(int(async_timeout_ms or 0), 0), MAX_ASYNC_TIMEOUT_MS) / 1000
        while True:
            locked = self.ctx.db.retrying(lambda: self._lock(actor, worker_id, max_tasks, durations))
            if locked or time.monotonic() >= deadline:
                return locked
            time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0)))

    def _lock(self, actor: Actor, worker_id: str, max_tasks: int, durations: dict[str, int]) -> list[dict[str, Any]]:
        with self.ctx.db.transaction() as scope:
            now = self.ctx.clock.now()
            candidates = scope.execute(
                select(_T)
                .join(ProcessInstance.__table__, ProcessInstance.__table__.c.id == _T.c.instance_id)
                .where(
                    _T.c.topic.in_(sorted(durations)),
                    _fetchable(),
                    ProcessInstance.__table__.c.status == InstanceStatus.RUNNING,
                )
                .order_by(_T.c.priority.desc(), _T.c.created_at, _T.c.id)
                .limit(max_tasks)
                .with_for_update(skip_locked=True, of=_T),
                {"now": now},
            ).all()
            locked, audits = [], []
            for row in candidates:
                until = now + timedelta(milliseconds=durations[row.topic])
                if _LOCK_ONE.execute(scope, {"task_id": row.id, "now": now, "owner": worker_id, "until": until}):
                    view = _view(row._asdict() | {"lock_owner": worker_id, "lock_expires_at": until})
                    locked.append(view)
                    audits.append(
                        audit_row(
                            now,
                            actor,
                            Event.EXTERNAL_TASK_LOCKED,
                            instance_id=row.instance_id,
                            task_id=row.id,
                            details={"worker_id": worker_id, "topic": row.topic, "until": until.isoformat()},
                        )
                    )
            _INSERT_AUDIT.execute(scope, audits)
            return locked

    # --- complete, BPMN error ------------------------------------------------------------------------
    def complete(self, task_id: str, actor: Actor, worker_id: str, variables: dict[str, Any] | None) -> None:
        """Complete the task the worker holds: its variables (validated) join the case; the case moves on."""
        worker_id = _worker(worker_id)
        values = _variables(variables)
        _check_topics(actor, {})  # a token for no topic learns nothing, not even whether the task exists
        row = self._row(task_id)
        _check_topics(actor, {row.topic: 0})

        def op(change):
            # the conditional delete is the claim: of racing workers exactly one deletes the row
            if not _DELETE_HELD.execute(change.scope, {"task_id": task_id, "owner": worker_id, "now": change.now}):
                self._refuse_unheld(change.scope, task_id)
            held = row
            task = self._spiff_task(change, task_id)
            plain, personal = self._validated(change, held, values)  # a refusal rolls the delete back
            task.set_data(**plain)
            if conditions.before_completion(change, task):  # else an interrupting conditional event took it
                task.complete()
            change.workflow.do_engine_steps()
            if personal:
                self.ctx.personal.store(change, task_id, _form_key(change, held) or held.element_id, personal)
            details = {"element_id": held.element_id, "topic": held.topic, "worker_id": worker_id}
            change.audit(Event.EXTERNAL_TASK_COMPLETED, task_id=task_id, variables=sorted(plain), **details)
            change.emit(Event.EXTERNAL_TASK_COMPLETED, task_id=task_id, **details)

        self.ctx.uow.run(row.instance_id, actor, op)

    def bpmn_error(
        self,
        task_id: str,
        actor: Actor,
        worker_id: str,
        error_code: str,
        error_message: str | None = None,
        variables: dict[str, Any] | None = None,
    ) -> None:
        """Throw a BPMN error at the task: an error boundary event on it that catches the code takes
        the case on; without one, nothing changes (409)."""
        worker_id = _worker(worker_id)
        if not isinstance(error_code, str) or not error_code.strip() or len(error_code) > 200:
            raise InvalidInput("errorCode is required", [{"field": "errorCode", "message": "1-200 characters"}])
        message = _error_text(error_message)
        values = _variables(variables)
        _check_topics(actor, {})  # a token for no topic learns nothing, not even whether the task exists
        row = self._row(task_id)
        _check_topics(actor, {row.topic: 0})

        def op(change):
            held = self._held(change.scope, task_id, worker_id, change.now)
            task = self._spiff_task(change, task_id)
            event = BpmnEvent(ErrorEventDefinition(error_code, code=error_code), payload={}, target=task.workflow)
            catcher = _error_boundary(task, event)
            if catcher is None:
                raise NoErrorBoundary(
                    f"no error boundary event on '{held.element_id}' catches error code '{error_code}'",
                    [{"field": "errorCode", "message": "not caught by the task's boundary events"}],
                )
            plain, personal = self._validated(change, held, values) if values else ({}, {})
            if not _DELETE_HELD.execute(change.scope, {"task_id": task_id, "owner": worker_id, "now": change.now}):
                raise ExternalTaskLockLost("the task's lock is held by another worker or has expired")
            if plain:
                task.set_data(**plain)
            catcher.task_spec.catch(catcher, event)
            catcher.task_spec._update(catcher)
            change.workflow.do_engine_steps()
            if personal:
                self.ctx.personal.store(change, task_id, _form_key(change, held) or held.element_id, personal)
            details = {"element_id": held.element_id, "topic": held.topic, "worker_id": worker_id}
            change.audit(Event.EXTERNAL_TASK_BPMN_ERROR, task_id=task_id, code=error_code, message=message, **details)
            change.emit(Event.EXTERNAL_TASK_BPMN_ERROR, task_id=task_id, code=error_code, **details)

        self.ctx.uow.run(row.instance_id, actor, op)

    # --- failure, extend lock --------------------------------------------------------------------
    def failure(
        self,
        task_id: str,
        actor: Actor,
        worker_id: str,
        error_message: str | None,
        retries: int,
        retry_timeout_ms: int = 0,
        error_details: str | None = None,
    ) -> None:
        """The worker could not do it: `retries` left, fetchable again after `retry_timeout_ms`; at zero an incident."""
        worker_id = _worker(worker_id)
        message = _error_text(error_message) or ""
        if error_details:
            message = f"{message}\n{_error_text(error_details)}".strip()[:MAX_ERROR_CHARS]
        if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 1000:
            raise InvalidInput("retries must be 0-1000", [{"field": "retries", "message": "0 to 1000"}])
        timeout = _millis(retry_timeout_ms or 0, "retryTimeout", allow_zero=True)
        _check_topics(actor, {})  # a token for no topic learns nothing, not even whether the task exists
        row = self._row(task_id)
        _check_topics(actor, {row.topic: 0})
        with self.ctx.db.transaction() as scope:
            now = self.ctx.clock.now()
            until = now + timedelta(milliseconds=timeout) if timeout else None
            params = {"task_id": task_id, "owner": worker_id, "now": now}
            if not _FAIL.execute(scope, params | {"until": until, "retries": retries, "error": message}):
                self._refuse_unheld(scope, task_id)
            events = _Events(now, actor, row, task_id)
            details = {"element_id": row.element_id, "worker_id": worker_id, "retries": retries, "error": message[:500]}
            events.add(Event.EXTERNAL_TASK_FAILED, details, announce={"retries": retries})
            if retries == 0:
                self._open_incident(scope, events, message)
            events.write(scope)

    def extend_lock(self, task_id: str, actor: Actor, worker_id: str, new_duration_ms: int) -> None:
        """The holder keeps the lock `new_duration_ms` from now."""
        worker_id = _worker(worker_id)
        duration = _millis(new_duration_ms, "newDuration")
        _check_topics(actor, {})  # a token for no topic learns nothing, not even whether the task exists
        row = self._row(task_id)
        _check_topics(actor, {row.topic: 0})
        with self.ctx.db.transaction() as scope:
            now = self.ctx.clock.now()
            until = now + timedelta(milliseconds=duration)
            if not _EXTEND.execute(scope, {"task_id": task_id, "owner": worker_id, "now": now, "until": until}):
                self._refuse_unheld(scope, task_id)
            events = _Events(now, actor, row, task_id)
            details = {"element_id": row.element_id, "worker_id": worker_id, "until": until.isoformat()}
            events.add(Event.EXTERNAL_TASK_LOCK_EXTENDED, details)
            events.write(scope)

    # --- reads: the list and one task (an admin; a worker's token for its own topics) -----------
    def query(
        self,
        actor: Actor,
        *,
        topic: str | None = None,
        worker_id: str | None = None,
        locked: bool | None = None,
        retries_left: bool | None = None,
        instance_id: str | None = None,
        business_key: str | None = None,
        process_key: str | None = None,
        state: str | None = None,
        first: int = 0,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Waiting external tasks, oldest first, without variables (`locked`: an unexpired lock;
        `retries_left` False: retries ran out, an incident is open; `state`: one of STATES). An admin
        sees every topic, a worker's token only its own (a topic outside them is 403)."""
        own_topics = self._readable_topics(actor, topic)
        if not 1 <= limit <= MAX_LISTED or first < 0:
            raise InvalidInput(f"maxResults must be 1-{MAX_LISTED}, firstResult at least 0")
        if state is not None and state not in STATES:
            raise InvalidInput(f"state must be one of {', '.join(STATES)}")
        now = self.ctx.clock.now()
        is_locked, not_locked = _lock_conditions(now)
        has_retries = or_(_T.c.retries.is_(None), _T.c.retries > 0)
        conditions = [
            condition
            for wanted, condition in (
                (topic, _T.c.topic == topic),
                (own_topics, _T.c.topic.in_(sorted(own_topics or ()))),
                (worker_id, _T.c.lock_owner == worker_id),
                (instance_id, _T.c.instance_id == instance_id),
                (business_key, _T.c.business_key == business_key),
                (process_key, _T.c.process_key == process_key),
                (locked is not None, is_locked if locked else not_locked),
                (retries_left is not None, has_retries if retries_left else _T.c.retries == 0),
            )
            if wanted
        ]
        if state is not None:
            conditions.append(_state_conditions(now)[state])
        with self.ctx.db.read() as scope:
            rows = scope.execute(
                select(_T).where(*conditions).order_by(_T.c.created_at, _T.c.id).offset(first).limit(limit)
            ).all()
        return [_view(r._asdict(), variables=False) for r in rows]

    def overview(self, actor: Actor) -> dict[str, Any]:
        """An admin's counts: per topic, the waiting tasks in each of STATES and in all; and the
        processes that have waiting tasks. Two grouped statements, whatever the number of tasks."""
        if actor.role != Role.ADMIN:
            raise Forbidden("only an admin sees every topic's counts")
        now = self.ctx.clock.now()
        states = _state_conditions(now)
        sums = [func.sum(case((condition, 1), else_=0)).label(name) for name, condition in states.items()]
        with self.ctx.db.read() as scope:
            topics = scope.execute(
                select(_T.c.topic, func.count().label("total"), *sums).group_by(_T.c.topic).order_by(_T.c.topic)
            ).all()
            processes = scope.execute(select(_T.c.process_key).distinct().order_by(_T.c.process_key)).scalars()
            return {
                "topics": [
                    {"topic": r.topic, "total": r.total, **{name: int(getattr(r, name) or 0) for name in states}}
                    for r in topics
                ],
                "processes": list(processes),
            }

    def get(self, task_id: str, actor: Actor) -> dict[str, Any]:
        """One waiting task, without variables (a worker's token: of its own topics)."""
        self._readable_topics(actor, None)  # a token for no topic learns nothing, not even whether it exists
        row = self._row(task_id)
        self._readable_topics(actor, row.topic)
        return _view(row._asdict(), variables=False)

    # --- unlock and retries: an admin's (unlock also the holder's) ----------------------------------
    def unlock(self, task_id: str, actor: Actor, worker_id: str | None = None) -> None:
        """Release the task's lock: fetchable again at once. An admin may release any lock; a worker's
        token only the lock its `worker_id` holds (of its topics). No unexpired lock: 409."""
        if actor.role != Role.ADMIN:
            _check_topics(actor, {})  # a token for no topic learns nothing, not even whether the task exists
            worker_id = _worker(worker_id)
        elif worker_id is not None:
            worker_id = _worker(worker_id)
        row = self._row(task_id)
        if actor.role != Role.ADMIN:
            _check_topics(actor, {row.topic: 0})
        with self.ctx.db.transaction() as scope:
            now = self.ctx.clock.now()
            current = self._current(scope, task_id)
            if current.lock_owner is None or current.lock_expires_at is None or current.lock_expires_at <= now:
                raise ExternalTaskLockLost("the task is not locked (never fetched, failed, or its lock expired)")
            if worker_id is not None and current.lock_owner != worker_id:
                raise ExternalTaskLockLost("the task is locked by another worker")
            holder = current.lock_owner
            if not _UNLOCK.execute(scope, {"task_id": task_id, "owner": holder, "now": now}):
                raise ExternalTaskLockLost("the task's lock changed meanwhile; read it again")
            events = _Events(now, actor, row, task_id)
            details = {"element_id": row.element_id, "topic": row.topic, "worker_id": holder}
            events.add(Event.EXTERNAL_TASK_UNLOCKED, details, announce={"worker_id": holder})
            events.write(scope)

    def set_retries(self, task_id: str, actor: Actor, retries: int) -> dict[str, Any]:
        """An admin sets the task's retries. Above zero: its open incident (retries ran out) is resolved
        as retried and the task is fetchable at once; at zero: an incident opens (unless one is open)."""
        if actor.role != Role.ADMIN:
            raise Forbidden("only an admin sets an external task's retries")
        if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= MAX_RETRIES:
            raise InvalidInput(
                f"retries must be 0-{MAX_RETRIES}", [{"field": "retries", "message": f"0 to {MAX_RETRIES}"}]
            )
        with self.ctx.db.transaction() as scope:
            now = self.ctx.clock.now()
            row = self._current(scope, task_id, lock=True)  # two admins at once: one incident, not two
            incident = scope.execute(
                select(Incident).where(Incident.external_task_id == task_id, Incident.status == IncidentStatus.OPEN)
            ).scalar_one_or_none()
            values: dict[str, Any] = {"retries": retries}
            events = _Events(now, actor, row, task_id)
            details = {"element_id": row.element_id, "retries": retries, "previous": row.retries}
            events.add(Event.EXTERNAL_TASK_RETRIES_SET, details, announce={"retries": retries})
            if retries > 0 and incident is not None:
                incident.status, incident.resolution = IncidentStatus.RESOLVED, IncidentResolution.RETRIED
                incident.resolved_at = now
                if row.lock_owner is None:
                    values["lock_expires_at"] = None  # the failure's retry timeout no longer holds it back
                events.add(Event.INCIDENT_RETRIED, {"incident_id": incident.id})
            elif retries == 0 and incident is None:
                self._open_incident(scope, events, row.error or "an admin set the retries to 0")
            scope.execute(update(_T).where(_T.c.id == task_id).values(**values))
            events.write(scope)
        return self.get(task_id, actor)

    @staticmethod
    def reset_after_incident(scope, external_task_id: str) -> None:
        """An admin retries an external-task incident: fresh retries, unlocked, fetchable now."""
        scope.execute(
            update(_T).where(_T.c.id == external_task_id).values(retries=None, lock_owner=None, lock_expires_at=None)
        )

    def list(self, topic: str | None = None, instance_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The engine's own view, with variables (tests, tools); the API's list is `query`."""
        with self.ctx.db.read() as scope:
            query = select(_T)
            if topic:
                query = query.where(_T.c.topic == topic)
            if instance_id:
                query = query.where(_T.c.instance_id == instance_id)
            rows = scope.execute(query.order_by(_T.c.created_at, _T.c.id).limit(min(max(limit, 1), 500))).all()
            return [_view(r._asdict()) for r in rows]

    # --- helpers ---------------------------------------------------------------------------------
    def _row(self, task_id: str):
        try:
            uuid.UUID(str(task_id))
        except ValueError:
            raise ExternalTaskNotFound(f"external task '{task_id}' does not exist") from None
        found = self.ctx.db.retrying(lambda: self.ctx.db.read_rows(_ROW, {"task_id": task_id}))
        if not found:
            raise ExternalTaskNotFound(f"external task '{task_id}' does not exist")
        return found[0]

    @staticmethod
    def _current(scope, task_id: str, lock: bool = False):
        """The task's row inside the transaction that changes it (404 when it went meanwhile); with
        `lock`, locked until the commit (PostgreSQL; SQLite has one writer)."""
        if lock:
            found = scope.execute(select(_T).where(_T.c.id == task_id).with_for_update()).all()
        else:
            found = _ROW.all(scope.connection(), {"task_id": task_id})
        if not found:
            raise ExternalTaskNotFound(f"external task '{task_id}' does not exist (completed or cancelled)")
        return found[0]

    @staticmethod
    def _readable_topics(actor: Actor, topic: str | None) -> frozenset[str] | None:
        """Which topics `actor` may read: None for an admin (all); a worker token's own (403 for another)."""
        if actor.role == Role.ADMIN:
            return None
        _check_topics(actor, {topic: 0} if topic else {})
        return frozenset(actor.topics or ())

    @staticmethod
    def _open_incident(scope, events: _Events, message: str) -> None:
        """Retries ran out: an incident of kind `external_task`, audited and announced with the change."""
        row = events.row
        incident = Incident(
            instance_id=row.instance_id,
            timer_id=None,
            element_id=row.element_id,
            kind=INCIDENT_KIND,
            error=message or "the worker reported a failure with no retries left",
            attempts=0,
            status=IncidentStatus.OPEN,
            created_at=events.now,
            external_task_id=events.task_id,
        )
        scope.add(incident)
        scope.flush()
        opened = {"incident_id": incident.id, "element_id": row.element_id, "error": message[:500]}
        events.add(Event.INCIDENT_OPENED, opened, announce={"incident_id": incident.id, "kind": INCIDENT_KIND})

    def _held(self, scope, task_id: str, worker_id: str, now: datetime):
        row = self._current(scope, task_id)
        if row.lock_owner != worker_id or row.lock_expires_at is None or row.lock_expires_at <= now:
            raise ExternalTaskLockLost(_unheld_sentence(row, now))
        return row

    def _refuse_unheld(self, scope, task_id: str) -> None:
        row = self._current(scope, task_id)
        raise ExternalTaskLockLost(_unheld_sentence(row, self.ctx.clock.now()))

    @staticmethod
    def _spiff_task(change, task_id: str):
        task = change.workflow.get_task_from_id(uuid.UUID(task_id))
        if task is None or task.state != TaskState.STARTED:
            raise ExternalTaskNotFound(f"external task '{task_id}' no longer waits")
        return task

    def _validated(self, change, row, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The variables, checked against the task's form when it declares one, else plain non-personal JSON."""
        form_key = _form_key(change, row)
        if form_key:
            form = self.ctx.repository.form(
                change.scope, change.instance.definition_id, form_key
            ) or self.ctx.forms.get(form_key)
            return form.validate(values)
        personal = sorted(set(values) & self.ctx.forms.personal_fields())
        if personal:
            raise PersonalField(
                f"{', '.join(personal)}: personal fields are set only through a form, which seals them",
                [{"field": name, "message": "a personal field"} for name in personal],
            )
        return dict(values), {}


def _form_key(change, row) -> str | None:
    """The result form the task's model names (extension property `form`), if any."""
    return _external_meta(change.loaded).get(row.element_id, {}).get("form")


def _error_boundary(task, event):
    """The waiting error boundary event attached to `task` that catches `event`, if any."""
    parent = task.parent
    if parent is None:
        return None
    for sibling in parent.children:
        if sibling is task or sibling.state != TaskState.WAITING:
            continue
        definition = getattr(sibling.task_spec, "event_definition", None)
        if isinstance(definition, ErrorEventDefinition) and sibling.task_spec.catches(sibling, event):
            return sibling
    return None


def _lock_conditions(now: datetime):
    """(an unexpired lock, no unexpired lock) at `now`."""
    is_locked = and_(_T.c.lock_owner.is_not(None), _T.c.lock_expires_at > now)
    not_locked = or_(_T.c.lock_owner.is_(None), _T.c.lock_expires_at.is_(None), _T.c.lock_expires_at <= now)
    return is_locked, not_locked


def _state_conditions(now: datetime) -> dict[str, Any]:
    """Each of STATES as a condition at `now`: every waiting task meets exactly one."""
    is_locked, not_locked = _lock_conditions(now)
    has_retries = or_(_T.c.retries.is_(None), _T.c.retries > 0)
    return {
        "available": and_(_T.c.retries.is_(None), not_locked),
        "locked": and_(is_locked, has_retries),
        "failed": and_(_T.c.retries > 0, not_locked),
        "incident": _T.c.retries == 0,
    }


def state_of(task: dict[str, Any], now: datetime) -> str:
    """Which of STATES a task of the list (`query`'s view) is in at `now`: `_state_conditions` in Python."""
    expires = task["lockExpirationTime"]
    locked = task["workerId"] is not None and expires is not None and datetime.fromisoformat(expires) > now
    if task["retries"] == 0:
        return "incident"
    if locked:
        return "locked"
    return "available" if task["retries"] is None else "failed"


def _unheld_sentence(row, now: datetime) -> str:
    if row.lock_owner is None:
        return "the task is not locked by this worker (fetch and lock it first)"
    if row.lock_expires_at is not None and row.lock_expires_at <= now:
        return "the task's lock has expired; fetch and lock it again"
    return "the task is locked by another worker"


class _Events:
    """The audit rows and outbox events of one change to a task, written together before the commit."""

    def __init__(self, now: datetime, actor: Actor, row, task_id: str):
        self.now, self.actor, self.row, self.task_id = now, actor, row, task_id
        self.audits: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []

    def add(self, event: str, details: dict[str, Any], announce: dict[str, Any] | None = None) -> None:
        """Audit `event`; with `announce`, also put it in the outbox (the thin payload plus these)."""
        where = {"instance_id": self.row.instance_id, "task_id": self.task_id}
        self.audits.append(audit_row(self.now, self.actor, event, details=details, **where))
        if announce is not None:
            payload = _payload(self.row, self.task_id, **announce)
            self.outbox.append(outbox_row(self.now, event, payload=payload, **where))

    def write(self, scope) -> None:
        _write_events(scope, self.audits, self.outbox)


def _write_events(scope, audits: list[dict[str, Any]], outbox: list[dict[str, Any]]) -> None:
    _INSERT_AUDIT.execute(scope, audits)
    _INSERT_OUTBOX.execute(scope, outbox)


def _payload(row, task_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "instance_id": row.instance_id,
        "business_key": row.business_key,
        "task_id": task_id,
        "element_id": row.element_id,
        "topic": row.topic,
        **extra,
    }


def _check_topics(actor: Actor, topics: dict[str, Any]) -> None:
    """Only a token scoped to every named topic may work on them (403 before anything is read or changed)."""
    allowed = getattr(actor, "topics", None)
    if not allowed:
        raise Forbidden("this token is not scoped to any external-task topic")
    missing = sorted(set(topics) - set(allowed))
    if missing:
        raise Forbidden(f"this token may not work on topic(s) {', '.join(missing)}")


def _worker(worker_id: Any) -> str:
    if not isinstance(worker_id, str) or not WORKER_ID.fullmatch(worker_id):
        raise InvalidInput(
            "workerId must be 1-200 characters of letters, digits and _.:@/-",
            [{"field": "workerId", "message": "invalid worker id"}],
        )
    return worker_id


def _millis(value: Any, field: str, allow_zero: bool = False) -> int:
    low = 0 if allow_zero else 1
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= MAX_LOCK_MS:
        raise InvalidInput(
            f"{field} must be {low}-{MAX_LOCK_MS} milliseconds", [{"field": field, "message": "out of range"}]
        )
    return value


def _topics(topics: Any) -> dict[str, int]:
    if not isinstance(topics, list) or not topics or len(topics) > 50:
        raise InvalidInput("topics must list 1-50 topics", [{"field": "topics", "message": "1 to 50 topics"}])
    durations: dict[str, int] = {}
    for item in topics:
        name = item.get("topicName") if isinstance(item, dict) else None
        if not isinstance(name, str) or not TOPIC.fullmatch(name):
            raise InvalidInput("topicName is invalid", [{"field": "topics.topicName", "message": "invalid topic"}])
        durations[name] = _millis(item.get("lockDuration"), "topics.lockDuration")
    return durations


def _variables(variables: Any) -> dict[str, Any]:
    """Camunda's typed variables ({name: {"value": v, "type": t}}) as plain values."""
    if variables is None:
        return {}
    if not isinstance(variables, dict):
        raise InvalidInput("variables must be a JSON object", [{"field": "variables", "message": "not an object"}])
    plain = {}
    for name, typed in variables.items():
        if not isinstance(typed, dict) or "value" not in typed:
            raise InvalidInput(
                f"variable {name[:100]} must be an object with a value", [{"field": name[:100], "message": "no value"}]
            )
        plain[name] = typed["value"]
    check_json(plain)
    if len(json.dumps(plain, default=str)) > MAX_VARIABLES_BYTES:
        raise TooLarge(f"variables exceed {MAX_VARIABLES_BYTES} bytes")
    return plain


def _error_text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("errorMessage must be text", [{"field": "errorMessage", "message": "not text"}])
    return value[:MAX_ERROR_CHARS]


def _typed(value: Any) -> dict[str, Any]:
    kind = {bool: "Boolean", int: "Long", float: "Double", str: "String", type(None): "Null"}.get(type(value), "Json")
    return {"value": value, "type": kind}


def _view(row: dict[str, Any], variables: bool = True) -> dict[str, Any]:
    """A task as Camunda's fetch-and-lock answers it (camelCase), with Fengqiao's case key; the list
    and `get` leave the variables out (an admin's view carries no case data)."""
    expires = row.get("lock_expires_at")
    view = {
        "id": row["id"],
        "topicName": row["topic"],
        "workerId": row.get("lock_owner"),
        "lockExpirationTime": expires.isoformat() if expires else None,
        "processInstanceId": row["instance_id"],
        "businessKey": row["business_key"],
        "processDefinitionKey": row["process_key"],
        "activityId": row["element_id"],
        "retries": row.get("retries"),
        "errorMessage": row.get("error"),
        "priority": row.get("priority", 0),
        "createTime": row["created_at"].isoformat(),
    }
    if variables:
        view["variables"] = {name: _typed(value) for name, value in (row.get("variables") or {}).items()}
    return view
