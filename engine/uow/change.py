"""A change: what one unit of work is doing, and the rows it writes.

The change holds the locked instance row and the task rows it read (plain records, engine/store/record.py),
buffers the projection, audit and outbox rows the unit of work produces, and writes them with one
multi-row statement per table just before commit (`write_projections`, `write_events`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from ..audit import audit_row
from ..errors import ConcurrentModification
from ..outbox import outbox_row
from ..queues import INSERT_QUEUE_ENTRIES
from ..store.driver import DriverQuery, DriverStatement
from ..store.models import (
    AuditEntry,
    HumanTask,
    MessageWait,
    OutboxEvent,
    PersonalRecord,
    ProcessInstance,
    ReportDirty,
    Timer,
)
from ..store.record import Record
from ..vocabulary import TimerStatus

_T = HumanTask.__table__
_TASK_ROW = DriverQuery(select(_T).where(_T.c.id == bindparam("task_id"), _T.c.instance_id == bindparam("instance_id")))
# Writes run on the driver (engine/store/driver.py DriverStatement): the rows are never held by an ORM session.
_INSERT_WAITS = DriverStatement(insert(MessageWait.__table__))
_INSERT_AUDIT = DriverStatement(insert(AuditEntry.__table__))
_INSERT_TASKS = DriverStatement(insert(HumanTask.__table__))
_INSERT_PERSONAL = DriverStatement(insert(PersonalRecord.__table__))
_INSERT_OUTBOX = DriverStatement(insert(OutboxEvent.__table__))
_INSERT_INSTANCE = DriverStatement(insert(ProcessInstance.__table__))
# the case goes in the KPI rollups' queue (engine/reports/rollups.py): one row, no conflict to check
_QUEUE_FOR_REPORTS = DriverStatement(insert(ReportDirty.__table__))
# RETURNING (id, due_at) pairs: no row order needed, so SQLite inserts them in one statement too
_INSERT_TIMERS = DriverStatement(insert(Timer.__table__).returning(Timer.__table__.c.id, Timer.__table__.c.due_at))


@dataclass(frozen=True)
class OfTask:
    """Names the instance a unit of work changes by one of its tasks."""

    task_id: str


@dataclass
class Change:
    """What one unit of work is doing: its scope (the transaction), instance, workflow and actor."""

    scope: Any
    instance: Record  # the locked row (engine/store/record.py)
    actor: Any
    now: datetime
    loaded: Any = None  # LoadedSpec
    workflow: Any = None
    waits_before: dict[str, Any] | None = None  # the waiting events as loaded (see waiting_events)
    # the variables the conditional events last saw (engine/conditions.py); None: no such event waited
    conditions_seen: dict[str, Any] | None = None
    # the user tasks ready as loaded: exactly the instance's open task rows (every change keeps them so)
    ready_before: set[str] = field(default_factory=set)
    ready_after: set[str] = field(default_factory=set)  # and after the change (sync)
    is_new: bool = False  # the instance is created by this change: it has no projection rows yet
    # the case's business fields as loaded (engine/case_fields.py): its task rows carry these
    fields_before: dict[str, str | None] | None = None
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
                _TASK_ROW.all(self.scope.connection(), {"task_id": task_id, "instance_id": self.instance.id})
            )
            row = found[0] if found else None
        return row

    def held_task_row(self, task_id: str) -> Record:
        """One of the instance's task rows that must exist (an open task the workflow named)."""
        row = self.task_row(task_id)
        if row is None:
            raise AssertionError(f"task row {task_id} of instance {self.instance.id} is missing")
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
            _INSERT_INSTANCE.execute(self.scope, row | values)
            self.instance.__dict__.update(values)
            return
        if values:
            write_row(self.scope, self.instance, values, versioned=True)

    def write_projections(self) -> None:
        """Insert the new task rows, queue entries and timers (after the instance row they reference)."""
        self.write_instance()
        self.scope.flush()
        self.created_tasks += self.task_rows
        self._insert("task_rows", _INSERT_TASKS)
        self._insert("candidate_rows", INSERT_QUEUE_ENTRIES)
        self._insert("personal_rows", _INSERT_PERSONAL)
        self._insert("wait_rows", _INSERT_WAITS)
        if self.timer_rows:
            rows, self.timer_rows = self.timer_rows, []
            self.new_timers += [(timer_id, due_at) for timer_id, due_at in _INSERT_TIMERS.returning(self.scope, rows)]

    def write_events(self) -> None:
        """Write the buffered audit and outbox rows: multi-row statements, one per table unless
        PostgreSQL's 50-value limit splits them (`DriverStatement`)."""
        self._insert("audit_rows", _INSERT_AUDIT)
        self._insert("outbox_rows", _INSERT_OUTBOX)

    def queue_for_reports(self) -> None:
        """Queue the case for the KPI rollups, which recompute it from its rows (a change that wrote
        nothing to the case, such as claiming what one holds or a copy, queues nothing)."""
        _QUEUE_FOR_REPORTS.execute(self.scope, {"instance_id": self.instance.id})

    def _insert(self, buffer: str, statement: DriverStatement) -> None:
        """Insert a buffer's rows in one statement (these rows are never held by the session)."""
        rows = getattr(self, buffer)
        if rows:
            setattr(self, buffer, [])
            statement.execute(self.scope, rows)


_UPDATES: dict[tuple, Any] = {}  # (table, columns) -> UPDATE by primary key, built once per column set


def write_row(scope, obj: Record, values: dict[str, Any], *, versioned: bool = False) -> None:
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
    if statement.execute(scope, params) != 1:
        raise ConcurrentModification(f"{table.name} row {obj.id} changed meanwhile; try again")
    obj.__dict__.update(values)
    if versioned:
        obj.version += 1
