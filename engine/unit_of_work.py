"""The unit of work: every change to an instance is one transaction.

1. lock the instance row (FOR UPDATE on PostgreSQL; SQLite transactions begin IMMEDIATE) and check
   its version on write;
2. load the workflow (spec from the cache);
3. apply the change (refresh timers first, check the target task is still READY);
4. rebuild the projections (human tasks, timers, message waits), collect thrown events;
5. write state, projections, outbox and audit rows; commit.
Any exception rolls everything back and the in-memory workflow is discarded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, case, delete, insert, literal_column, null, or_, select, update
from sqlalchemy.orm.exc import StaleDataError

from . import clock as clock_module
from .audit import audit_row
from .errors import (
    ConcurrentModification,
    EngineError,
    InstanceNotFound,
    TaskNotFound,
    WorkflowFailed,
)
from .outbox import outbox_row
from .schedule import parse_instant_or_duration, resolve_due
from .store.db import DriverQuery, DriverStatement
from .store.models import (
    TIMER_PENDING,
    AuditEntry,
    HumanTask,
    MessageWait,
    OutboxEvent,
    PersonalRecord,
    ProcessInstance,
    TaskCandidate,
    Timer,
    User,
)
from .store.record import Record
from .vocabulary import (
    OPEN_TASK_STATES,
    SLA_TIMER_KINDS,
    STATION_ROLES,
    Event,
    HumanTaskState,
    InstanceStatus,
    Role,
    SlaState,
    TimerKind,
    TimerStatus,
)

MAX_ATTEMPTS = 5
OPEN_STATES = OPEN_TASK_STATES  # kept for imports from here until the split

# Statements of the hot path, built once (building a statement costs more than running it on SQLite).
# The instance row and a task row are locked and read on the driver as plain records
# (engine/store/record.py). The blob is never read with the row: a change that does not run the
# workflow (claim, reassign, an SLA mark) leaves it unread, and one that does gets it only if this
# process's cached workflow is not of the row's version (engine/workflow_cache.py): one round trip.
_P, _T = ProcessInstance.__table__, HumanTask.__table__
_INSTANCE_COLUMNS = [c for c in _P.c if c.key not in ("state", "variables")]
_STATE_IF_STALE = case((_P.c.version == bindparam("cached_version"), null()), else_=_P.c.state).label("stale_state")
_TASK_COLUMNS = [c.label(f"t_{c.key}") for c in _T.c]
_INSTANCE_KEYS = [c.key for c in _INSTANCE_COLUMNS]
_TASK_KEYS = [c.key for c in _T.c]


def _lock_query(by_task: bool, with_state: bool) -> DriverQuery:
    columns = _INSTANCE_COLUMNS + ([_STATE_IF_STALE] if with_state else [])
    if by_task:  # a task's instance and the task row in one round trip (instance first, like every writer)
        statement = (
            select(*columns, *_TASK_COLUMNS)
            .select_from(_P.join(_T, _T.c.instance_id == _P.c.id))
            .where(_T.c.id == bindparam("task_id"))
        )
    else:
        statement = select(*columns).where(_P.c.id == bindparam("id"))
    return DriverQuery(statement.with_for_update())


# (by task, with the workflow) -> statement
_LOCKS = {
    (by_task, with_state): _lock_query(by_task, with_state) for by_task in (False, True) for with_state in (False, True)
}
_TASK_ROW = DriverQuery(select(_T).where(_T.c.id == bindparam("task_id"), _T.c.instance_id == bindparam("instance_id")))
_STATE_OF = select(ProcessInstance.state).where(ProcessInstance.id == bindparam("id"))
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
# Writes run on the driver (engine/store/db.py DriverStatement): the rows are never held by the session.
_INSERT_WAITS = DriverStatement(insert(MessageWait.__table__))
_DELETE_CANDIDATES = DriverStatement(delete(TaskCandidate).where(TaskCandidate.task_id == bindparam("task_id")))
_INSERT_AUDIT = DriverStatement(insert(AuditEntry.__table__))
_INSERT_TASKS = DriverStatement(insert(HumanTask.__table__))
_INSERT_CANDIDATES = DriverStatement(insert(TaskCandidate.__table__))
_INSERT_PERSONAL = DriverStatement(insert(PersonalRecord.__table__))
_INSERT_OUTBOX = DriverStatement(insert(OutboxEvent.__table__))
_INSERT_INSTANCE = DriverStatement(insert(ProcessInstance.__table__))
# RETURNING (id, due_at) pairs: no row order needed, so SQLite inserts them in one statement too
_INSERT_TIMERS = DriverStatement(insert(Timer.__table__).returning(Timer.__table__.c.id, Timer.__table__.c.due_at))
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


@dataclass(frozen=True)
class OfTask:
    """Names the instance a unit of work changes by one of its tasks."""

    task_id: str


@dataclass
class Change:
    """What one unit of work is doing: its session, instance, workflow and actor."""

    session: Any
    instance: Record  # the locked row (engine/store/record.py)
    actor: Any
    now: datetime
    loaded: Any = None  # LoadedSpec
    workflow: Any = None
    waits_before: dict[str, Any] | None = None  # the waiting events as loaded (see waiting_events)
    # the user tasks ready as loaded: exactly the instance's open task rows (every change keeps them so)
    ready_before: set[str] = field(default_factory=set)
    ready_after: set[str] = field(default_factory=set)  # and after the change (sync)
    is_new: bool = False  # the instance is created by this change: it has no projection rows yet
    finished: set[str] = field(default_factory=set)  # task rows already closed by this change
    tasks: dict[str, Record] = field(default_factory=dict)  # task rows read by this change, by id
    instance_values: dict[str, Any] = field(default_factory=dict)  # the instance row's new values (sync)
    # new projection rows, inserted with one statement per table when the change is written (Core)
    task_rows: list[dict[str, Any]] = field(default_factory=list)
    created_tasks: list[dict[str, Any]] = field(default_factory=list)  # the task rows this change inserted
    candidate_rows: list[dict[str, Any]] = field(default_factory=list)
    timer_rows: list[dict[str, Any]] = field(default_factory=list)
    personal_rows: list[dict[str, Any]] = field(default_factory=list)  # sealed (engine/personal.py)
    wait_rows: list[dict[str, Any]] = field(default_factory=list)  # waiting message events
    new_timers: list[tuple[int, datetime]] = field(default_factory=list)  # (id, due): for the job runner
    # audit and outbox rows, written in one multi-row INSERT each just before commit (in this order)
    audit_rows: list[dict[str, Any]] = field(default_factory=list)
    outbox_rows: list[dict[str, Any]] = field(default_factory=list)

    def task_row(self, task_id: str) -> Record | None:
        """One of the instance's task rows: the one this change holds, or read (and then held)."""
        row = self.tasks.get(task_id)
        if row is None:
            found = self.hold(
                _TASK_ROW.all(self.session.connection(), {"task_id": task_id, "instance_id": self.instance.id})
            )
            row = found[0] if found else None
        return row

    def hold(self, rows) -> list[Record]:
        """Records of task rows read on the driver, held by this change: one object per row for the
        whole change (a row it holds already stays the one it has)."""
        return [self.tasks.get(row.id) or self.tasks.setdefault(row.id, Record(_T, row._asdict())) for row in rows]

    def audit(self, action: str, task_id: str | None = None, **details: Any) -> None:
        self.audit_rows.append(
            audit_row(self.now, self.actor, action, instance_id=self.instance.id, task_id=task_id, details=details)
        )

    def emit(self, event_type: str, task_id: str | None = None, **payload: Any) -> None:
        payload.setdefault("instance_id", self.instance.id)
        payload.setdefault("business_key", self.instance.business_key)
        if task_id is not None:
            payload.setdefault("task_id", task_id)
        self.outbox_rows.append(
            outbox_row(self.now, event_type, instance_id=self.instance.id, task_id=task_id, payload=payload)
        )

    def add_timer(self, task_id: str, element_id: str | None, kind: str, due_at: datetime) -> None:
        self.timer_rows.append(
            {
                "instance_id": self.instance.id,
                "task_id": task_id,
                "element_id": element_id,
                "kind": kind,
                "due_at": due_at,
                "status": TimerStatus.PENDING,
                "attempts": 0,
                "claim_token": None,
                "locked_until": None,
                "last_error": None,
                "fired_at": None,
            }
        )

    def set_instance(self, **values: Any) -> None:
        """Change columns of the instance row: seen at once on the object, written with the change's
        one versioned UPDATE (the session never sees the object dirty, so its flush has nothing to do)."""
        self.instance.__dict__.update(values)
        self.instance_values.update(values)

    def write_instance(self) -> None:
        """Write the instance row: a new one with one INSERT, a loaded one's changes with one
        versioned UPDATE (cheaper than the session's flush, and as strict)."""
        values = dict(self.instance_values)
        self.instance_values = {}
        if self.is_new:
            row = {c.key: getattr(self.instance, c.key) for c in ProcessInstance.__table__.columns}
            _INSERT_INSTANCE.execute(self.session, row | values)
            self.instance.__dict__.update(values)
            return
        if values:
            write_row(self.session, self.instance, values, versioned=True)

    def write_projections(self) -> None:
        """Insert the new task rows, queue entries and timers (after the instance row they reference)."""
        self.write_instance()
        self.session.flush()
        self.created_tasks += self.task_rows
        self._insert("task_rows", _INSERT_TASKS)
        self._insert("candidate_rows", _INSERT_CANDIDATES)
        self._insert("personal_rows", _INSERT_PERSONAL)
        self._insert("wait_rows", _INSERT_WAITS)
        if self.timer_rows:
            rows, self.timer_rows = self.timer_rows, []
            self.new_timers += [(timer_id, due_at) for timer_id, due_at in _INSERT_TIMERS.returning(self.session, rows)]

    def write_events(self) -> None:
        """Write the buffered audit and outbox rows: multi-row statements, one per table unless
        PostgreSQL's 50-value limit splits them (`DriverStatement`)."""
        self._insert("audit_rows", _INSERT_AUDIT)
        self._insert("outbox_rows", _INSERT_OUTBOX)

    def _insert(self, buffer: str, statement: DriverStatement) -> None:
        """Insert a buffer's rows in one statement (these rows are never held by the session)."""
        rows = getattr(self, buffer)
        if rows:
            setattr(self, buffer, [])
            statement.execute(self.session, rows)


class UnitOfWork:
    def __init__(self, ctx):
        self.ctx = ctx

    # --- running ---------------------------------------------------------------------------------
    def run(self, instance_id, actor, fn, *, load_workflow: bool = True, then=None):
        """Run `fn(change)` on the locked instance, retrying when another writer won the race.

        `instance_id` is an instance id or `OfTask(task_id)` (the instance of a task, found while
        locking it); `then(change)`, if given, runs after the change is written, before commit,
        and its value is returned instead of fn's (a view read in the same transaction).
        """
        for attempt in range(MAX_ATTEMPTS):
            try:  # a lost connection is retried once (nothing was written), like a start or a token check
                return self.ctx.db.retrying(lambda: self._run_once(instance_id, actor, fn, load_workflow, then))
            except (StaleDataError, ConcurrentModification):
                if attempt == MAX_ATTEMPTS - 1:
                    raise ConcurrentModification("the instance kept changing; try again") from None
        raise AssertionError("unreachable")

    def _run_once(self, instance_id, actor, fn, load_workflow: bool, then):
        with clock_module.bind(self.ctx.clock), self.ctx.db.transaction() as session:
            instance, task_row = self._lock(session, instance_id, load_workflow)
            loaded_version = instance.version
            change = Change(session, instance, actor, self.ctx.clock.now())
            if task_row is not None:
                change.tasks[task_row.id] = task_row
            if load_workflow:
                change.loaded = self.ctx.repository.load(session, instance.definition_id)
                change.workflow, change.ready_before = self._workflow(session, instance, change.loaded)
                change.waits_before = waiting_events(change.workflow)
            result = _guard(fn, change)
            if change.workflow is not None:
                self.sync(change)
            else:
                change.write_projections()  # rows a change without the workflow buffered
            change.write_events()
            session.flush()
            if then is not None:
                result = then(change)
        self._after_commit(change, loaded_version)
        return result

    def _lock(self, session, instance_id, load_workflow: bool) -> tuple[Record, Record | None]:
        """Read and lock the instance row by id, or with the task row by a task: one statement."""
        by_task = isinstance(instance_id, OfTask)
        params = {"task_id": instance_id.task_id} if by_task else {"id": instance_id}
        if load_workflow:
            version = self.ctx.workflows.version_of(params.get("id"), params.get("task_id"))
            params["cached_version"] = -1 if version is None else version
        found = _LOCKS[by_task, load_workflow].all(session.connection(), params)
        if not found:
            raise (
                TaskNotFound(f"task '{params['task_id']}' does not exist")
                if by_task
                else InstanceNotFound(f"process instance '{instance_id}' does not exist")
            )
        row, keys = found[0], _INSTANCE_KEYS + (["stale_state"] if load_workflow else [])
        instance = Record(_P, dict(zip(keys, row, strict=False)))
        task = Record(_T, dict(zip(_TASK_KEYS, row[len(keys) :], strict=True))) if by_task else None
        return instance, task

    def _workflow(self, session, instance: ProcessInstance, loaded) -> tuple[Any, set[str]]:
        """The instance's workflow and its ready user tasks: this process's cached ones if of the row's
        version, else loaded from the state (sent with the lock when stale; read here if the cached
        entry went meanwhile)."""
        cached = self.ctx.workflows.take(instance.id, instance.version, instance.definition_id)
        if cached is not None:
            return cached
        state = getattr(instance, "stale_state", None)
        if state is None:
            state = session.scalar(_STATE_OF, {"id": instance.id})
        workflow = self.ctx.serializer.loads(state, loaded.spec, loaded.subprocess_specs)
        return workflow, {str(t.id) for t in workflow.get_tasks(state=TaskState.READY, manual=True)}

    def start(self, fn, then=None):
        """Run `fn(session, now)` that creates a new instance and returns its Change.

        Returns the Change, or what `then(change)` returns (a view read in the same transaction).
        """
        return self.ctx.db.retrying(lambda: self._start(fn, then))

    def _start(self, fn, then):
        with clock_module.bind(self.ctx.clock), self.ctx.db.transaction() as session:
            now = self.ctx.clock.now()
            change = _guard(lambda _c: fn(session, now), None)
            change.is_new = True
            self.sync(change)
            change.write_events()
            result = then(change) if then is not None else change
        self._after_commit(change)
        return result

    def _after_commit(self, change: Change, loaded_version: int | None = None) -> None:
        """Wake the job runner for timers this change created (the database already has them), and
        keep the committed workflow for the instance's next change (engine/workflow_cache.py)."""
        jobs = getattr(self.ctx, "jobs", None)
        if jobs is not None:
            jobs.schedule(change.new_timers)
        instance = change.instance  # its attributes outlive the session (expire_on_commit=False)
        if change.workflow is not None:
            self.ctx.workflows.put(
                instance.id, instance.version, instance.definition_id, change.workflow, change.ready_after
            )
        elif instance.version != loaded_version:  # the row moved on, its state did not
            self.ctx.workflows.advance(instance.id, loaded_version, instance.version)

    # --- projections -----------------------------------------------------------------------------
    def sync(self, change: Change) -> None:
        """Rebuild projections from the workflow and write the state (step 4 and 5)."""
        wf, instance = change.workflow, change.instance
        self._thrown_events(change)  # takes the thrown events out of the workflow: before it is saved
        active = wf.get_tasks(state=TaskState.READY | TaskState.WAITING)
        completed = instance.status == InstanceStatus.RUNNING and wf.is_completed()
        values = {"variables": snapshot(wf, active), "state": self.ctx.serializer.dumps(wf)}
        if completed:
            values.update(status=InstanceStatus.COMPLETED, ended_at=change.now)
        change.instance_values.update(values)
        self._sync_human_tasks(change, [t for t in active if t.state == TaskState.READY and t.task_spec.manual])
        self._sync_waits(change)
        if completed:
            change.audit(Event.INSTANCE_COMPLETED)
            change.emit(Event.INSTANCE_COMPLETED, process_key=instance.process_key)
        change.write_projections()

    def _thrown_events(self, change: Change) -> None:
        for event in change.workflow.get_events():
            definition = event.event_definition
            kind = type(definition).__name__.replace("EventDefinition", "").lower() or "event"
            payload = event.payload if isinstance(event.payload, dict) else {}
            details = {"name": definition.name, "code": getattr(definition, "code", None)}
            if kind == "escalation":
                details["departments"] = payload.get("departments")
            change.audit(Event.raised(kind), **details)
            change.emit(Event.raised(kind), **details)

    def _sync_human_tasks(self, change: Change, ready_manual: list) -> None:
        ready = {str(t.id): t for t in ready_manual}
        change.ready_after = set(ready)
        known = change.ready_before  # the open rows, without reading them
        for task_id in sorted(known - set(ready) - change.finished):  # gone from the workflow: cancelled
            row = change.task_row(task_id)
            close_task(change, row, HumanTaskState.CANCELLED)
            change.audit(Event.TASK_CANCELLED, task_id=row.id, element_id=row.element_id)
            change.emit(Event.TASK_CANCELLED, task_id=row.id, element_id=row.element_id)
        for task_id, task in ready.items():
            if task_id not in known and task_id not in change.finished:
                self._create_task(change, task)

    def _create_task(self, change: Change, task) -> None:
        session, instance = change.session, change.instance
        process_key = owning_process(task, change.loaded.meta)
        element_id = task.task_spec.bpmn_id or task.task_spec.name
        meta = change.loaded.task_meta(process_key, element_id) or {}
        variables = task.data
        evaluate = self.ctx.evaluator.evaluate
        process_meta = change.loaded.meta.get(process_key, {})
        try:
            due_at = resolve_due(meta.get("due"), variables, change.now, evaluate)
            warn_at = warning_time(
                meta.get("warn") or process_meta.get("sla_warning"),
                change.now,
                due_at,
                self.ctx.settings.sla_warn_fraction,
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
        groups = list(meta.get("groups", []))
        users = list(meta.get("users", []))
        owner_task = self.ctx.settings.ownership_role in groups
        assignee_id = None
        if owner_task and instance.case_owner_id is not None:
            assignee_id = instance.case_owner_id
        elif assignee_name:
            assignee_id = session.scalars(select(User.id).where(User.username == str(assignee_name))).first()
        state = HumanTaskState.CLAIMED if assignee_id else HumanTaskState.OPEN
        task_id = str(task.id)
        change.task_rows.append(
            {
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
                "state": state,
                "assignee_id": assignee_id,
                "form_key": meta.get("form_key"),
                "priority": priority,
                "created_at": change.now,
                "claimed_at": change.now if assignee_id else None,
                "ended_at": None,
                "completed_by_id": None,
                "completed_via": None,
                "due_at": due_at,
                "warn_at": warn_at,
                "follow_up_at": follow_up_at,
                "sla_state": SlaState.ON_TIME if due_at is not None else None,
                "outcome": None,
            }
        )
        for kind, when in ((TimerKind.SLA_WARNING, warn_at), (TimerKind.SLA_BREACH, due_at)):
            if when is not None:
                change.add_timer(task_id, element_id, kind, when)
        if assignee_id is None:
            change.candidate_rows += candidate_rows(task_id, groups, users, due_at)
        change.audit(
            Event.TASK_CREATED,
            task_id=task_id,
            element_id=element_id,
            assignee_id=assignee_id,
            due_at=due_at.isoformat() if due_at else None,
        )
        change.emit(
            Event.TASK_CREATED,
            task_id=task_id,
            element_id=element_id,
            name=change.task_rows[-1]["name"],
            process_key=process_key,
            candidate_groups=groups,
            assignee_id=assignee_id,
            due_at=due_at.isoformat() if due_at else None,
        )

    def _sync_waits(self, change: Change) -> None:
        session, instance, wf = change.session, change.instance, change.workflow
        # The projection rows are exactly the events that waited when the workflow was loaded (every
        # change keeps them so): what to settle and what to add is known without reading them.
        before = change.waits_before or {}
        waits = waiting_events(wf) if instance.status == InstanceStatus.RUNNING else {}
        if _wait_keys(waits) == _wait_keys(before):
            return  # the same events wait as when loaded: their projections are current
        timers = {task_id: (due, task) for task_id, (kind, due, task) in waits.items() if kind == "timer"}
        messages = {task_id: task for task_id, (kind, _key, task) in waits.items() if kind == "message"}
        fired, cancelled = [], []
        for task_id, (kind, due, _task) in before.items():
            if kind != "timer" or due is None:
                continue
            now_due, task = timers.get(task_id, (None, None))
            if now_due == due:
                continue  # still waiting for the same moment
            # gone or moved on (a cycle): did it fire here (a user action refreshed timers) or was it cancelled?
            spiff_task = task or wf.get_task_from_id(uuid.UUID(task_id))
            ran = task is not None or (spiff_task is not None and spiff_task.state == TaskState.COMPLETED)
            (fired if ran and due <= change.now else cancelled).append((task_id, due, spiff_task))
        if fired or cancelled:
            session.flush()  # a timer fired by this change's own timer service is settled: it must not match
        for task_id, due, spiff_task in fired:
            if _SETTLE_BPMN_TIMER.execute(
                session,
                {"instance_id": instance.id, "task_id": task_id, "status": TimerStatus.FIRED, "fired_at": change.now},
            ):  # 0: settled already, no second audit
                element_id = spiff_task.task_spec.bpmn_id if spiff_task is not None else None
                change.audit(
                    Event.TIMER_FIRED,
                    task_id=task_id,
                    element_id=element_id,
                    due_at=due.isoformat(),
                    fired_at=change.now.isoformat(),
                )
                change.emit(
                    Event.TIMER_FIRED, element_id=element_id, due_at=due.isoformat(), fired_at=change.now.isoformat()
                )
        if cancelled:
            _SETTLE_BPMN_TIMER.execute(
                session,
                [
                    {"instance_id": instance.id, "task_id": task_id, "status": TimerStatus.CANCELLED, "fired_at": None}
                    for task_id, _due, _task in cancelled
                ],
            )
        for task_id, (due, task) in timers.items():
            if due is not None and before.get(task_id, (None, None))[:2] != ("timer", due):
                # a new wait (a row there already, pending or an incident still standing for it, is kept)
                change.add_timer(task_id, task.task_spec.bpmn_id, TimerKind.BPMN_TIMER, due)
        existing_waits = {task_id for task_id, (kind, _key, _task) in before.items() if kind == "message"}
        gone = existing_waits - set(messages)
        if gone:
            _DELETE_WAIT.execute(session, [{"task_id": task_id} for task_id in sorted(gone)])
        for task_id, task in messages.items():
            if task_id in existing_waits:
                continue
            process_meta = change.loaded.meta.get(owning_process(task, change.loaded.meta), {})
            attached = process_meta.get("boundaries", {}).get(task.task_spec.bpmn_id)
            groups = process_meta.get("tasks", {}).get(attached, {}).get("groups", []) if attached else []
            change.wait_rows.append(
                {
                    "task_id": task_id,
                    "instance_id": instance.id,
                    "message_name": task.task_spec.event_definition.name,
                    "element_id": task.task_spec.bpmn_id,
                    "attached_to": attached,
                    "groups": groups,
                }
            )


def candidate_rows(task_id: str, groups: list, users: list, due_at: datetime | None) -> list[dict[str, Any]]:
    """The queue entries of an open task: one per candidate group and user."""
    keys = list(groups) + [f"user:{u}" for u in users]
    if not keys:
        keys = [Role.SUPERVISOR]  # nobody named: the station's supervisors assign it
    return [{"task_id": task_id, "group_key": key, "due_at": due_at} for key in dict.fromkeys(keys)]


def add_candidates(session, row: HumanTask) -> None:
    _INSERT_CANDIDATES.execute(session, candidate_rows(row.id, row.candidate_groups, row.candidate_users, row.due_at))


def drop_candidates(session, task_id: str) -> None:
    """Take a task out of every queue (claimed, assigned or closed); queue entries are never held."""
    _DELETE_CANDIDATES.execute(session, {"task_id": task_id})


def is_candidate(actor, row: HumanTask) -> bool:
    """May `actor` claim `row`? Role groups are scoped to the case's station."""
    keys = set(row.candidate_groups) | {f"user:{u}" for u in row.candidate_users}
    if not keys:
        keys = {Role.SUPERVISOR}
    for key in keys & actor.groups:
        if key in STATION_ROLES and row.station_id is not None and actor.station_id != row.station_id:
            continue
        return True
    return False


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
        if isinstance(definition, TimerEventDefinition):
            waits[str(task.id)] = ("timer", timer_due(task), task)
        elif isinstance(definition, MessageEventDefinition):
            waits[str(task.id)] = ("message", definition.name, task)
    return waits


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
    value = task.task_spec.event_definition.details(task).value
    if isinstance(value, str):
        return TimerEventDefinition.get_datetime(value)
    return None


_UPDATES: dict[tuple, Any] = {}  # (table, columns) -> UPDATE by primary key, built once per column set


def write_row(session, obj: Record, values: dict[str, Any], *, versioned: bool = False) -> None:
    """Write `values` to a held row with one Core UPDATE by primary key; the record then agrees with
    the database. `versioned`:
    the row's `version` must still be the one loaded, and is incremented (optimistic concurrency).
    """
    table = obj.__table__
    columns = tuple(sorted(values))
    key = (table.name, columns, versioned)
    statement = _UPDATES.get(key)
    if statement is None:
        statement = update(table).where(table.c.id == bindparam("pk"))
        assignments = {c: bindparam(f"v_{c}", type_=table.c[c].type) for c in columns}
        if versioned:
            statement = statement.where(table.c.version == bindparam("loaded_version"))
            assignments["version"] = table.c.version + 1
        statement = _UPDATES[key] = DriverStatement(statement.values(assignments))
    params = {f"v_{c}": values[c] for c in columns}
    params["pk"] = obj.id
    if versioned:
        params["loaded_version"] = obj.version
    if statement.execute(session, params) != 1:
        raise ConcurrentModification(f"{table.name} row {obj.id} changed meanwhile; try again")
    obj.__dict__.update(values)
    if versioned:
        obj.version += 1


def close_task(
    change: Change,
    row: HumanTask,
    state: str,
    *,
    via: str | None = None,
    actor=None,
    outcome: dict[str, Any] | None = None,
) -> None:
    """Close a task row (completed or cancelled): queue entries and pending SLA marks go with it."""
    was_open = row.state == HumanTaskState.OPEN
    values: dict[str, Any] = {"state": state, "ended_at": change.now}
    if state == HumanTaskState.COMPLETED:
        values.update(completed_via=via, completed_by_id=getattr(actor, "id", None), outcome=outcome)
    if row.due_at is not None:
        late = change.now > row.due_at
        if state == HumanTaskState.COMPLETED:
            values["sla_state"] = SlaState.MISSED if late else SlaState.MET
        elif late:
            values["sla_state"] = SlaState.MISSED
    write_row(change.session, row, values)
    change.finished.add(row.id)
    # Core statements: neither table's rows are held by this session (queue entries never are; the
    # SLA marks of a task being closed are not loaded by the unit of work). Only an open task is in
    # queues, and only a task with a due time has SLA marks (its warning comes before it).
    if was_open:
        drop_candidates(change.session, row.id)
    if row.due_at is not None:
        _CANCEL_SLA_TIMERS.execute(change.session, {"instance_id": row.instance_id, "of_task": row.id})


def warning_time(spec: Any, created: datetime, due: datetime | None, default_fraction: float) -> datetime | None:
    """When to warn: a fraction of the allowed time (0.75, '75%') or an ISO duration after creation."""
    if due is None or due <= created:
        return None
    allowed = due - created
    text = str(spec).strip() if spec not in (None, "") else None
    try:
        if text is None:
            fraction = default_fraction
        elif text.upper().startswith("P"):
            warn = parse_instant_or_duration(text, created)
            return warn if warn is not None and warn < due else None
        else:
            fraction = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except (ValueError, EngineError):
        raise WorkflowFailed(
            f"invalid SLA warning '{text}'", [{"element_id": None, "message": "bad slaWarning"}]
        ) from None
    if not 0 < fraction < 1:
        return None
    return created + allowed * fraction


def snapshot(workflow, active: list) -> dict[str, Any]:
    """The instance's current non-personal variables, merged from its active (ready or waiting) tasks."""
    data: dict[str, Any] = {}
    source = active if active else ([workflow.last_task] if workflow.last_task is not None else [])
    for task in source:
        data.update(task.data)
    return data


def _guard(fn, change):
    """Turn failures of the model itself into WorkflowFailed; engine errors pass through."""
    try:
        return fn(change)
    except EngineError:
        raise
    except SpiffWorkflowException as exc:
        task_spec = getattr(exc, "task_spec", None)
        element = getattr(task_spec, "bpmn_id", None) or getattr(task_spec, "name", None)
        message = str(exc).split("\n")[0][:500]
        raise WorkflowFailed(
            f"the process failed at '{element}': {message}", [{"element_id": element, "message": message}]
        ) from None
