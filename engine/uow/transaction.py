"""The transaction around every change to an instance (docs/architecture.md, "The unit of work").

1. lock the instance row (FOR UPDATE on PostgreSQL; SQLite transactions begin IMMEDIATE) and check
   its version on write;
2. load the workflow (this process's cached one if of the row's version, else from the state);
3. apply the change (`fn(change)`; commands refresh timers first and check the target task is READY);
4. rebuild the projections (engine/uow/projections.py, waits.py), collect thrown events;
5. write state, projections, outbox and audit rows (engine/uow/change.py); commit.
Any exception rolls everything back and the in-memory workflow is discarded; a lost race is retried.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, case, null, select
from sqlalchemy.orm.exc import StaleDataError

from .. import clock as clock_module
from .. import conditions
from ..errors import ConcurrentModification, EngineError, InstanceNotFound, TaskNotFound, WorkflowFailed
from ..store.driver import DriverQuery
from ..store.models import HumanTask, ProcessInstance
from ..store.record import Record
from ..vocabulary import InstanceStatus
from .change import Change, OfTask
from .projections import case_fields_of, sync
from .waits import waiting_events

if TYPE_CHECKING:
    from .. import Engine


MAX_ATTEMPTS = 5

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
_STATE_OF = select(ProcessInstance.state).where(ProcessInstance.id == bindparam("id"))


class UnitOfWork:
    """Runs changes to instances, each in one transaction (`run`), and starts new ones (`start`)."""

    def __init__(self, ctx: Engine):
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
        started = time.perf_counter()
        with clock_module.bind(self.ctx.clock), self.ctx.db.transaction() as scope:
            instance, task_row = self._lock(scope, instance_id, load_workflow)
            loaded_version = instance.version
            change = Change(scope, instance, actor, self.ctx.clock.now())
            if task_row is not None:
                change.tasks[task_row.id] = task_row
            if load_workflow:
                change.loaded = self.ctx.repository.load(scope, instance.definition_id)
                change.workflow, change.ready_before = self._workflow(scope, instance, change.loaded)
                change.waits_before = waiting_events(change.workflow)
                change.conditions_seen = conditions.baseline(change.workflow)
                change.fields_before = case_fields_of(change.workflow)  # the variables row is not read
            result = _guard(fn, change)
            if change.workflow is not None:
                self.sync(change)
            else:
                change.write_projections()  # rows a change without the workflow buffered
            written = change.audit_rows  # what the change did, for the observers (metrics)
            change.write_events()
            if change.instance.version != loaded_version:  # the case moved: the KPI rollups recompute it
                change.queue_for_reports()
            scope.flush()
            if then is not None:
                result = then(change)
        self._after_commit(change, loaded_version)
        self._observe(started, written)
        return result

    def _lock(self, scope, instance_id, load_workflow: bool) -> tuple[Record, Record | None]:
        """Read and lock the instance row by id, or with the task row by a task: one statement."""
        by_task = isinstance(instance_id, OfTask)
        params = {"task_id": instance_id.task_id} if by_task else {"id": instance_id}
        if load_workflow:
            version = self.ctx.workflows.version_of(params.get("id"), params.get("task_id"))
            params["cached_version"] = -1 if version is None else version
        found = _LOCKS[by_task, load_workflow].all(scope.connection(), params)
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

    def _workflow(self, scope, instance: Record, loaded) -> tuple[Any, set[str]]:
        """The instance's workflow and its ready user tasks: this process's cached ones if of the row's
        version, else loaded from the state (sent with the lock when stale; read here if the cached
        entry went meanwhile)."""
        cached = self.ctx.workflows.take(instance.id, instance.version, instance.definition_id)
        if cached is not None:
            return cached
        state = getattr(instance, "stale_state", None)
        if state is None:
            state = scope.scalar(_STATE_OF, {"id": instance.id})
        workflow = self.ctx.serializer.loads(state, loaded.spec, loaded.subprocess_specs)
        return workflow, {str(t.id) for t in workflow.get_tasks(state=TaskState.READY, manual=True)}

    def start(self, fn, then=None):
        """Run `fn(scope, now)` that creates a new instance and returns its Change.

        Returns the Change, or what `then(change)` returns (a view read in the same transaction).
        """
        return self.ctx.db.retrying(lambda: self._start(fn, then))

    def _start(self, fn, then):
        started = time.perf_counter()
        with clock_module.bind(self.ctx.clock), self.ctx.db.transaction() as scope:
            now = self.ctx.clock.now()
            change = _guard(lambda _c: fn(scope, now), None)
            change.is_new = True
            self.sync(change)
            written = change.audit_rows
            change.write_events()
            change.queue_for_reports()
            result = then(change) if then is not None else change
        self._after_commit(change)
        self._observe(started, written)
        return result

    def _observe(self, started: float, audit_rows: list[dict[str, Any]]) -> None:
        """Tell the observers (web/metrics.py) a unit of work committed: its seconds and audit rows.
        An observer's failure never fails a committed change."""
        observers = getattr(self.ctx, "observers", None)
        if not observers:
            return
        seconds = time.perf_counter() - started
        for observe in observers:
            with contextlib.suppress(Exception):  # metrics must not break the engine
                observe(seconds, audit_rows)

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
        elif loaded_version is not None and instance.version != loaded_version:  # the row moved on, its state did not
            self.ctx.workflows.advance(instance.id, loaded_version, instance.version)

    def sync(self, change: Change) -> None:
        """Fire the conditional events the change satisfied, then rebuild projections from the workflow
        and write the state (steps 4 and 5)."""
        if change.instance.status == InstanceStatus.RUNNING:
            _guard(conditions.settle, change)
        sync(self.ctx, change)


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
