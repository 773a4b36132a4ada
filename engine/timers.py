"""TimerService: fire due BPMN timers and SLA marks exactly once, whatever crashes; incidents.

The `timers` table is the source of truth. A sweeper claims due rows with a lease (a conditional
UPDATE; `FOR UPDATE SKIP LOCKED` on PostgreSQL so sweepers never wait on each other) and fires them
one unit of work per case. Firing re-reads the row under the instance lock and does nothing unless it
is still pending, so a timer enqueued twice, raced by two sweepers or retried after a crash fires
once. A firing that fails is rolled back and retried with backoff; after `timer_max_attempts` it
becomes an incident and the instance keeps its last consistent state.

The incidents are listed, retried and resolved here whatever gave up: a timer, an external task
(engine/external_tasks.py), or a scheduled start that started no case (engine/start_timers.py: no
case to cancel, so such an incident is dismissed instead).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import aliased

from . import clock as clock_module
from .audit import record
from .errors import Conflict, EngineError, Forbidden, InvalidInput, NotFound
from .identity import Actor
from .outbox import emit
from .store.models import (
    TIMER_PENDING,
    Department,
    Incident,
    Membership,
    ProcessDefinition,
    ProcessInstance,
    StartTimer,
    Timer,
    User,
)
from .uow import Change, refresh_timers, timer_due, write_row
from .validation import checked_reason
from .vocabulary import (
    OPEN_TASK_STATES,
    Event,
    IncidentResolution,
    IncidentStatus,
    InstanceStatus,
    Role,
    SlaState,
    TimerKind,
    TimerStatus,
)

if TYPE_CHECKING:
    from . import Engine


log = logging.getLogger("fengqiao.timers")
SYSTEM = Actor.system("timer")
MAX_BACKOFF_SECONDS = 300
# a case's pending timers, through the index of its unsettled timers (ix_timers_instance_task)
PENDING_OF_CASE = (
    select(Timer).where(Timer.instance_id == bindparam("instance_id"), TIMER_PENDING).order_by(Timer.due_at)
)


class IncidentNotFound(NotFound):
    code = "incident_not_found"


START_TIMER_INCIDENT = "start_timer"  # engine/start_timers.py: a scheduled start that made no case


class TimerService:
    def __init__(self, ctx: Engine):
        self.ctx = ctx

    # --- sweeping --------------------------------------------------------------------------------
    def fire_due(self, limit: int | None = None) -> int:
        """Claim due timers and fire them; returns how many fired."""
        return self._fire_batch(self._claim(limit or self.ctx.settings.sweep_batch))

    def fire_all_due(self) -> int:
        """Sweep batch after batch until nothing due is left to claim; returns how many fired."""
        total = 0
        while True:
            claimed = self._claim(self.ctx.settings.sweep_batch)
            if not claimed:
                return total
            total += self._fire_batch(claimed)

    def _claim(self, limit: int) -> list[tuple[int, str, str]]:
        """Lease due timers; returns (timer id, instance id, kind), so firing needs no extra read."""
        return claim_due(self.ctx, Timer, Timer.due_at, TIMER_PENDING, limit, (Timer.id, Timer.instance_id, Timer.kind))

    def fire(self, timer_id: int) -> str:
        """Fire one timer if it is due and nobody else holds it (what a queued job calls)."""
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as scope:
            won = scope.execute(
                update(Timer)
                .where(
                    Timer.id == timer_id,
                    TIMER_PENDING,
                    Timer.due_at < now,
                    or_(Timer.locked_until.is_(None), Timer.locked_until < now),
                )
                .values(
                    attempts=Timer.attempts + 1,
                    locked_until=now + timedelta(seconds=self.ctx.settings.timer_lease_seconds),
                )
                .execution_options(synchronize_session=False)
            ).rowcount
        if won != 1:
            return "skipped"
        return self._fire_claimed(timer_id)

    # --- firing ----------------------------------------------------------------------------------
    def _fire_batch(self, claimed: list[tuple[int, str, str]]) -> int:
        """Fire claimed timers, all of one instance in one unit of work; returns how many fired.

        A case's reminders and SLA marks usually fall due together (a backlog after an outage is
        mostly such groups): one lock, one load and one save of the workflow serve them all. If the
        group fails, its timers are fired one by one, so only the failing one backs off or becomes
        an incident.
        """
        groups: dict[str, list[tuple[int, str]]] = {}
        for timer_id, instance_id, kind in claimed:
            groups.setdefault(instance_id, []).append((timer_id, kind))
        fired = 0
        for instance_id, timers in groups.items():
            if len(timers) > 1:
                try:
                    fired += self._fire_together(instance_id, timers).count("fired")
                    continue
                except Exception:  # isolate the failing timer: fire them one by one below
                    log.info("timers of instance %s failed together; firing them one by one", instance_id)
            fired += sum(1 for timer_id, kind in timers if self._fire_claimed(timer_id, instance_id, kind) == "fired")
        return fired

    def _fire_together(self, instance_id: str, timers: list[tuple[int, str]]) -> list[str]:
        """Fire timers of one instance in one unit of work (the workflow is loaded if any is a BPMN timer)."""
        return self.ctx.uow.run(
            instance_id,
            SYSTEM,
            lambda change: [self._apply(change, t) for t, _kind in timers],
            load_workflow=any(kind == TimerKind.BPMN_TIMER for _t, kind in timers),
        )

    def _fire_claimed(self, timer_id: int, instance_id: str | None = None, kind: str | None = None) -> str:
        if instance_id is None or kind is None:
            with self.ctx.db.read() as scope:
                timer = scope.get(Timer, timer_id)
                if timer is None or timer.status != TimerStatus.PENDING:
                    return "skipped"
                instance_id, kind = timer.instance_id, timer.kind
        try:
            return self._fire_together(instance_id, [(timer_id, kind)])[0]
        except EngineError as exc:
            return self._failed(timer_id, exc.message)
        except Exception as exc:  # a bug or a lost connection: never lose the timer, retry later
            log.exception("timer %s failed", timer_id)
            return self._failed(timer_id, f"{type(exc).__name__}: {exc}"[:1000])

    def _apply(self, change: Change, timer_id: int) -> str:
        timer = change.scope.get(Timer, timer_id)
        if timer is None or timer.status != TimerStatus.PENDING:
            return "skipped"  # fired or cancelled by whoever held the instance lock before us
        if timer.due_at > change.now:
            timer.locked_until = None
            return "not_due"
        if change.instance.status != InstanceStatus.RUNNING:
            timer.status = TimerStatus.CANCELLED
            return "skipped"
        if timer.kind == TimerKind.BPMN_TIMER:
            return self._fire_bpmn_timer(change, timer)
        return self._fire_sla(change, timer)

    def _fire_bpmn_timer(self, change: Change, timer: Timer) -> str:
        workflow = change.workflow
        refresh_timers(workflow)  # a timer fired earlier in this unit of work (same case) is done already
        task = workflow.get_task_from_id(uuid.UUID(timer.task_id))
        still_waiting = task is not None and task.state == TaskState.WAITING and timer_due(task) == timer.due_at
        if still_waiting:  # SpiffWorkflow did not consider it due (clock edge): try again shortly
            timer.locked_until = None
            return "not_due"
        if task is None or task.state == TaskState.CANCELLED:
            timer.status = TimerStatus.CANCELLED
            return "skipped"
        timer.status, timer.fired_at = TimerStatus.FIRED, change.now
        change.audit(
            Event.TIMER_FIRED,
            task_id=timer.task_id,
            element_id=timer.element_id,
            due_at=timer.due_at.isoformat(),
            fired_at=change.now.isoformat(),
        )
        change.emit(
            Event.TIMER_FIRED,
            element_id=timer.element_id,
            due_at=timer.due_at.isoformat(),
            fired_at=change.now.isoformat(),
        )
        return "fired"

    def _fire_sla(self, change: Change, timer: Timer) -> str:
        row = change.task_row(timer.task_id)
        if row is None or row.state not in OPEN_TASK_STATES:
            timer.status = TimerStatus.CANCELLED
            return "skipped"
        state = SlaState.WARNING if timer.kind == TimerKind.SLA_WARNING else SlaState.BREACHED
        if state == SlaState.WARNING and row.sla_state == SlaState.BREACHED:
            timer.status = TimerStatus.CANCELLED
            return "skipped"
        write_row(change.scope, row, {"sla_state": state})
        timer.status, timer.fired_at = TimerStatus.FIRED, change.now
        times = {
            "due_at": row.due_at.isoformat() if row.due_at else None,
            "warn_at": row.warn_at.isoformat() if row.warn_at else None,
            "fired_at": change.now.isoformat(),
        }
        payload: dict[str, Any] = {
            "element_id": row.element_id,
            "candidate_groups": row.candidate_groups,
            "assignee_id": row.assignee_id,
            **times,
        }
        if state == SlaState.BREACHED and not row.owner_task:
            # a department (or supervisor) task is late: tell the case owner and the station's supervisors
            payload["notify_user_ids"] = self._owner_and_supervisors(change)
        event = Event.SLA_WARNING if state == SlaState.WARNING else Event.SLA_BREACHED
        change.audit(event, task_id=row.id, element_id=row.element_id, **times)
        change.emit(event, task_id=row.id, **payload)
        return "fired"

    @staticmethod
    def _owner_and_supervisors(change: Change) -> list[int]:
        ids = [change.instance.case_owner_id] if change.instance.case_owner_id else []
        if change.instance.station_id is not None:
            ids += list(
                change.scope.scalars(
                    select(User.id)
                    .join(Membership, Membership.user_id == User.id)
                    .join(Department, Department.id == Membership.department_id)
                    .where(
                        Department.id == change.instance.station_id, User.role == Role.SUPERVISOR, User.active.is_(True)
                    )
                    .order_by(User.id)
                )
            )
        return list(dict.fromkeys(ids))

    def _failed(self, timer_id: int, error: str) -> str:
        """Record a failed attempt: back off, or open an incident after the last attempt."""
        with clock_module.bind(self.ctx.clock), self.ctx.db.transaction() as scope:
            timer = scope.get(Timer, timer_id)
            if timer is None or timer.status != TimerStatus.PENDING:
                return "skipped"
            now = self.ctx.clock.now()
            timer.last_error = error[:2000]
            if timer.attempts >= self.ctx.settings.timer_max_attempts:
                timer.status, timer.locked_until = TimerStatus.INCIDENT, None
                incident = Incident(
                    instance_id=timer.instance_id,
                    timer_id=timer.id,
                    element_id=timer.element_id,
                    kind=timer.kind,
                    error=timer.last_error,
                    attempts=timer.attempts,
                    status=IncidentStatus.OPEN,
                    created_at=now,
                )
                scope.add(incident)
                scope.flush()
                details = {"incident_id": incident.id, "element_id": timer.element_id, "error": error[:500]}
                record(scope, now, SYSTEM, Event.INCIDENT_OPENED, instance_id=timer.instance_id, details=details)
                emit(
                    scope,
                    now,
                    Event.INCIDENT_OPENED,
                    instance_id=timer.instance_id,
                    payload={
                        "instance_id": timer.instance_id,
                        "incident_id": incident.id,
                        "element_id": timer.element_id,
                    },
                )
                log.warning("timer %s became incident %s: %s", timer_id, incident.id, error)
                return "incident"
            timer.locked_until = now + timedelta(seconds=min(2**timer.attempts, MAX_BACKOFF_SECONDS))
            return "retry"

    # --- incidents -------------------------------------------------------------------------------
    def list_incidents(
        self, status: str | None = IncidentStatus.OPEN, instance_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Incidents of every kind, oldest first: with their case, or (a scheduled start that started
        no case) with the process, version and start event of their schedule."""
        query = _INCIDENTS
        if status:
            query = query.where(Incident.status == status)
        if instance_id:
            query = query.where(Incident.instance_id == instance_id)
        with self.ctx.db.read() as scope:
            rows = scope.execute(query.order_by(Incident.id).limit(min(max(limit, 1), 500))).all()
            return [incident_view(*row) for row in rows]

    def incident(self, incident_id: int) -> dict[str, Any]:
        with self.ctx.db.read() as scope:
            row = scope.execute(_INCIDENTS.where(Incident.id == incident_id)).first()
        if row is None:
            raise IncidentNotFound(f"incident {incident_id} does not exist")
        return incident_view(*row)

    def retry_incident(self, incident_id: int, actor: Actor) -> dict[str, Any]:
        """Give the timer a fresh set of attempts, due now (after the admin fixed data or the model);
        a scheduled start's incident starts its case now (engine/start_timers.py)."""
        self._require_admin(actor)
        with self.ctx.db.read() as scope:
            kind = self._open_incident(scope, incident_id).kind
        if kind == START_TIMER_INCIDENT:
            self.ctx.start_timers.retry_incident(incident_id, actor)
            return self.incident(incident_id)
        with clock_module.bind(self.ctx.clock), self.ctx.db.transaction() as scope:
            incident = self._open_incident(scope, incident_id)
            now = self.ctx.clock.now()
            timer = scope.get(Timer, incident.timer_id) if incident.timer_id else None
            if timer is not None:
                timer.status, timer.attempts, timer.locked_until, timer.claim_token = TimerStatus.PENDING, 0, None, None
            if incident.external_task_id:  # an external task's retries ran out: fetchable again
                self.ctx.external_tasks.reset_after_incident(scope, incident.external_task_id)
            incident.status, incident.resolution = IncidentStatus.RESOLVED, IncidentResolution.RETRIED
            incident.resolved_at = now
            record(
                scope,
                now,
                actor,
                Event.INCIDENT_RETRIED,
                instance_id=incident.instance_id,
                details={"incident_id": incident.id},
            )
            due = (timer.id, timer.due_at) if timer is not None else None
        if due:
            self.ctx.jobs.schedule([due])
        return self.list_incidents(status=None, instance_id=incident.instance_id)[-1]

    def cancel_incident(self, incident_id: int, actor: Actor, reason: str) -> dict[str, Any]:
        """Give up: cancel the case the failing timer belongs to, with a reason."""
        self._require_admin(actor)
        with self.ctx.db.transaction() as scope:
            incident = self._open_incident(scope, incident_id)
            instance_id = incident.instance_id
        if instance_id is None:
            raise Conflict(f"incident {incident_id} started no case, so there is none to cancel: dismiss it")
        self.ctx.runtime.cancel_instance(instance_id, actor, reason)
        with clock_module.bind(self.ctx.clock), self.ctx.db.transaction() as scope:
            incident = scope.get(Incident, incident_id)
            incident.status, incident.resolution = IncidentStatus.RESOLVED, IncidentResolution.CANCELLED
            incident.resolved_at = self.ctx.clock.now()
        return self.list_incidents(status=None, instance_id=instance_id)[-1]

    def dismiss_incident(self, incident_id: int, actor: Actor, reason: str) -> dict[str, Any]:
        """Give up a scheduled start that started no case (nothing to cancel), with a reason: audited."""
        self._require_admin(actor)
        reason = checked_reason(reason)
        with clock_module.bind(self.ctx.clock), self.ctx.db.transaction() as scope:
            query = select(Incident).where(Incident.id == incident_id)
            if not self.ctx.db.is_sqlite:
                query = query.with_for_update()
            incident = self._open_incident(scope, incident_id, query)
            if incident.instance_id is not None:
                raise Conflict(
                    f"incident {incident_id} belongs to a case: retry it, or give it up by cancelling the case"
                )
            now = self.ctx.clock.now()
            incident.status, incident.resolution = IncidentStatus.RESOLVED, IncidentResolution.DISMISSED
            incident.resolved_at = now
            details = {
                "incident_id": incident.id,
                "kind": incident.kind,
                "element_id": incident.element_id,
                "due_at": incident.due_at.isoformat() if incident.due_at else None,
                "reason": reason,
            }
            record(scope, now, actor, Event.INCIDENT_DISMISSED, details=details)
        return self.incident(incident_id)

    @staticmethod
    def _open_incident(scope, incident_id: int, query=None) -> Incident:
        incident = scope.get(Incident, incident_id) if query is None else scope.scalars(query).first()
        if incident is None:
            raise IncidentNotFound(f"incident {incident_id} does not exist")
        if incident.status != IncidentStatus.OPEN:
            raise InvalidInput(
                f"incident {incident_id} is already {incident.status}", [{"field": "incident", "message": "not open"}]
            )
        return incident

    @staticmethod
    def _require_admin(actor: Actor) -> None:
        if actor.role not in (Role.ADMIN, Role.SYSTEM):
            raise Forbidden("only an admin resolves incidents")

    def pending(self, instance_id: str) -> list[dict[str, Any]]:
        with self.ctx.db.read() as scope:
            rows = scope.scalars(PENDING_OF_CASE, {"instance_id": instance_id}).all()
            return [
                {
                    "id": t.id,
                    "kind": t.kind,
                    "element_id": t.element_id,
                    "task_id": t.task_id,
                    "due_at": t.due_at.isoformat(),
                    "attempts": t.attempts,
                }
                for t in rows
            ]


def claim_due(ctx, model, due_at, pending, limit: int, columns) -> list[tuple]:
    """Lease up to `limit` due rows of `model` (timers, start timers) to this sweeper; returns their
    `columns`, in due order. A read looks first: an idle sweep then takes no write lock (on SQLite,
    requests would queue behind it). `FOR UPDATE SKIP LOCKED` on PostgreSQL: sweepers never wait
    on each other."""
    now = ctx.clock.now()
    token = str(uuid.uuid4())
    due = (
        select(model.id)
        .where(pending, due_at < now, or_(model.locked_until.is_(None), model.locked_until < now))
        .order_by(due_at)
    )
    with ctx.db.read_statement() as scope:
        if scope.execute(due.limit(1)).first() is None:
            return []
    with ctx.db.transaction() as scope:
        due = due.limit(limit)
        if not ctx.db.is_sqlite:
            due = due.with_for_update(skip_locked=True)
        scope.execute(
            update(model)
            .where(model.id.in_(due.scalar_subquery()))
            .values(
                claim_token=token,
                attempts=model.attempts + 1,
                locked_until=now + timedelta(seconds=ctx.settings.timer_lease_seconds),
            )
            .execution_options(synchronize_session=False)
        )
        leased = select(*columns).where(model.claim_token == token, pending).order_by(due_at)
        return [tuple(row) for row in scope.execute(leased)]


_SCHEDULE = aliased(StartTimer)
# an incident with its case, or with the schedule of the start that made no case; either gives the version
_INCIDENTS = (
    select(Incident, ProcessInstance.business_key, ProcessDefinition.key, ProcessDefinition.version)
    .outerjoin(ProcessInstance, ProcessInstance.id == Incident.instance_id)
    .outerjoin(_SCHEDULE, _SCHEDULE.id == Incident.start_timer_id)
    .outerjoin(
        ProcessDefinition, ProcessDefinition.id == func.coalesce(ProcessInstance.definition_id, _SCHEDULE.definition_id)
    )
)


def incident_view(
    incident: Incident, business_key: str | None, process_key: str | None = None, version: int | None = None
) -> dict[str, Any]:
    return {
        "id": incident.id,
        "instance_id": incident.instance_id,
        "business_key": business_key,
        "process_key": process_key,
        "definition_version": version,
        "start_timer_id": incident.start_timer_id,
        "due_at": incident.due_at.isoformat() if incident.due_at else None,
        "timer_id": incident.timer_id,
        "element_id": incident.element_id,
        "kind": incident.kind,
        "error": incident.error,
        "attempts": incident.attempts,
        "status": incident.status,
        "resolution": incident.resolution,
        "created_at": incident.created_at.isoformat(),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "external_task_id": incident.external_task_id,
    }
