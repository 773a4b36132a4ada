"""Timer start events start cases on schedule, as Camunda 7 and Flowable mean them (issue 19).

Deploying a process whose (top-level) start event is a timer writes a `start_timers` row per timer
start event of the new version, with the time its next case starts, and retires the rows of the
versions before it: the newest version's schedule replaces the older one's. A timeDate starts one
case at that time, a timeDuration one case that long after the deployment, a timeCycle (`R3/PT1H`,
`R/…`, an evenly spaced cron) a case at each occurrence. A non-executable version has no schedule.

The sweeper claims due rows with a lease exactly as it claims `timers` (a conditional UPDATE over
`FOR UPDATE SKIP LOCKED` on PostgreSQL) and starts each case in a unit of work that also locks the
row, checks that it still waits for the claimed occurrence and moves it on: the case and the advance
of the schedule commit together, so a sweeper killed mid-start starts nothing and the next one
starts that occurrence; two sweepers never start it twice. After downtime, one case is started for
the latest missed occurrence (Camunda does the same); the earlier missed ones count as passed.

The case belongs to a station (docs/workflows.md, "Timer start events"): the one station named in
the process's `camunda:candidateStarterGroups`, else the deployer's station, else the only station
there is. With none, or when the start keeps failing, the occurrence is not started: it becomes an
incident of kind `start_timer` with no case (listed with the others: API, console, CLI), audited and
announced, and the schedule moves on (the error is also shown on the definition page). An admin
retries it after fixing the cause (a case is started now for it, with the version whose schedule
stands for that start event, so a new version naming a station fixes it) or dismisses it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import select, update

from . import clock as clock_module
from .audit import audit_row, record
from .errors import Conflict, EngineError, ExpressionError, InvalidInput
from .expressions import Evaluator
from .identity import Actor
from .outbox import emit
from .schedule import parse_instant_or_duration
from .store.models import (
    START_TIMER_PENDING,
    Department,
    Deployment,
    Incident,
    Membership,
    ProcessDefinition,
    StartTimer,
    User,
)
from .timers import START_TIMER_INCIDENT as INCIDENT_KIND
from .timers import claim_due
from .vocabulary import DepartmentKind, Event, IncidentResolution, IncidentStatus, TimerStatus

if TYPE_CHECKING:
    from . import Engine
    from .uow import Change

log = logging.getLogger("fengqiao.start_timers")
TIMER = "timer"  # the actor of the cases a schedule starts
DONE, REPLACED = "done", "replaced"
MAX_BACKOFF_SECONDS = 300


@dataclasses.dataclass(frozen=True)
class Plan:
    """When a timer start event first starts a case, how many it starts (-1: no end), and how far apart."""

    first: datetime
    remaining: int
    step: timedelta | None


def plan(kind: str, expression: str, now: datetime) -> Plan:
    """The schedule a timer start event's expression gives when deployed at `now`; raises
    ExpressionError with a sentence when it gives none. No case exists yet, so it sees no variables."""
    with clock_module.bind(clock_module.ManualClock(now)):  # a cron cycle starts at its next occurrence
        value = Evaluator().evaluate(expression, {})
        if not isinstance(value, str) or not value.strip():
            raise ExpressionError(f"the timer gives {value!r}, not an ISO 8601 {_WORD[kind]}")
        text = value.strip()
        if kind == "timeCycle":
            return _cycle(text)
        if text.upper().startswith("R"):
            raise ExpressionError(f"'{text[:60]}' is a cycle: write it as timeCycle")
        due = parse_instant_or_duration(text, now)
        assert due is not None  # the text is not empty
        return Plan(due, 1, None)


_WORD = {"timeDate": "date-time", "timeDuration": "duration", "timeCycle": "repeating interval"}


def _cycle(text: str) -> Plan:
    try:
        count, start, step = TimerEventDefinition.parse_iso_recurring_interval(text)
    except Exception:  # SpiffWorkflow raises bare exceptions for a malformed interval
        raise ExpressionError(f"'{text[:60]}' is not an ISO 8601 repeating interval such as R3/PT1H") from None
    if count == 0:
        raise ExpressionError(f"'{text[:60]}' repeats zero times: it would never start a case")
    if step <= timedelta(0):
        raise ExpressionError(f"'{text[:60]}' has no positive spacing between its occurrences")
    return Plan(start.astimezone(UTC), count, step)


def check(kind: str, expression: str) -> str | None:
    """Deploy's check: a sentence saying why the timer cannot schedule cases, or None."""
    try:
        plan(kind, expression, datetime.now(UTC))
    except ExpressionError as exc:
        return (
            f"the timer start event cannot be scheduled (it is read at deploy, without case variables): {exc.message}"
        )
    return None


def advance(due: datetime, remaining: int, step_seconds: float | None, now: datetime) -> tuple[datetime, int]:
    """After starting the case of the latest occurrence at or before `now`: the next occurrence and
    the occurrences left (0: the schedule is done). Missed occurrences before it count as passed."""
    if step_seconds is None:
        return due, 0
    passed = 1 + max(0, math.floor((now - due).total_seconds() / step_seconds))
    left = -1 if remaining < 0 else max(remaining - passed, 0)
    return due + timedelta(seconds=passed * step_seconds), left


class Moved(EngineError):
    """The schedule no longer waits for the occurrence this sweeper claimed (another one started it)."""

    code = "start_timer_moved"
    kind = "conflict"


class NoStation(EngineError):
    code = "no_station"
    kind = "conflict"


NO_STATION_FIX = (
    "name one station in the process's camunda:candidateStarterGroups (a new version), "
    "or deploy it as a member of a station"
)


class StartTimerService:
    def __init__(self, ctx: Engine):
        self.ctx = ctx

    # --- deploy ----------------------------------------------------------------------------------
    def schedule(self, scope, definition, now: datetime) -> list[dict[str, Any]]:
        """Retire the schedules of `definition.key`'s earlier versions and write this version's
        (called in the deploying transaction, for a new version); returns deploy warnings (no station
        to start the cases in)."""
        scope.execute(
            update(StartTimer)
            .where(StartTimer.process_key == definition.key, START_TIMER_PENDING)
            .values(status=REPLACED, claim_token=None, locked_until=None)
            .execution_options(synchronize_session=False)
        )
        meta = definition.meta.get(definition.key, {})
        starts = meta.get("timer_starts", []) if meta.get("executable", True) is not False else []
        for start in starts:
            found = plan(start["kind"], start["expression"], now)
            scope.add(
                StartTimer(
                    definition_id=definition.id,
                    process_key=definition.key,
                    element_id=start["element_id"],
                    next_due_at=found.first,
                    remaining=found.remaining,
                    step_seconds=found.step.total_seconds() if found.step else None,
                    status=TimerStatus.PENDING,
                    attempts=0,
                    started=0,
                    created_at=now,
                )
            )
        if not starts or self._station(scope, definition) is not None:
            return []
        return [
            {
                "element_id": start["element_id"],
                "message": f"no station to start its cases in: each start will be an incident; {NO_STATION_FIX}",
            }
            for start in starts
        ]

    def backfill(self) -> int:
        """Schedule the current version of each process deployed before deploys scheduled timer start
        events (its meta has no `timer_starts`): once, recorded in its meta. Returns how many were
        scheduled. Each row is locked and read again, so two sweepers starting at once do it once."""
        from .bpmn import timer_starts_of  # engine/bpmn.py imports this module

        with self.ctx.db.read() as scope:
            rows = scope.execute(select(ProcessDefinition.id, ProcessDefinition.key, ProcessDefinition.version)).all()
        current: dict[str, tuple[int, int]] = {}
        for definition_id, key, version in rows:
            if key not in current or version > current[key][1]:
                current[key] = (definition_id, version)
        scheduled = 0
        for definition_id, _version in current.values():
            with self.ctx.db.transaction() as scope:
                row = scope.execute(
                    select(ProcessDefinition).where(ProcessDefinition.id == definition_id).with_for_update()
                ).scalar_one()
                own = dict((row.meta or {}).get(row.key, {}))
                if "timer_starts" in own:
                    continue  # deployed with its schedule, or filled in already
                own["timer_starts"] = timer_starts_of(row.xml, row.key)
                row.meta = {**row.meta, row.key: own}
                self.ctx.repository.forget(row.id)
                if own["timer_starts"]:
                    self.schedule(scope, row, self.ctx.clock.now())
                    scheduled += 1
                    log.info("scheduled the timer start events of %s version %s", row.key, row.version)
        return scheduled

    def schedule_of(self, key: str) -> list[dict[str, Any]]:
        """The schedules of `key` not replaced by a newer version (the definition page), by version."""
        with self.ctx.db.read() as scope:
            rows = scope.execute(
                select(StartTimer, ProcessDefinition.version)
                .join(ProcessDefinition, ProcessDefinition.id == StartTimer.definition_id)
                .where(StartTimer.process_key == key, StartTimer.status != REPLACED)
                .order_by(StartTimer.id)
            ).all()
        return [
            {
                "element_id": r.element_id,
                "version": version,
                "status": r.status,
                "next_due_at": r.next_due_at if r.status == TimerStatus.PENDING else None,
                "remaining": r.remaining,
                "step_seconds": r.step_seconds,
                "started": r.started,
                "last_started_at": r.last_started_at,
                "last_error": r.last_error,
            }
            for r, version in rows
        ]

    # --- sweeping --------------------------------------------------------------------------------
    def fire_all_due(self) -> int:
        """Start the cases of every due occurrence; returns how many started."""
        started = 0
        while True:
            claimed = self._claim(self.ctx.settings.sweep_batch)
            if not claimed:
                return started
            started += sum(1 for row in claimed if self._start(*row) == "started")

    def _claim(self, limit: int) -> list[tuple[int, datetime]]:
        """Lease due schedules as the timer sweeper leases timers; returns (id, claimed due time)."""
        columns = (StartTimer.id, StartTimer.next_due_at)
        return claim_due(self.ctx, StartTimer, StartTimer.next_due_at, START_TIMER_PENDING, limit, columns)

    def _start(self, schedule_id: int, due: datetime) -> str:
        with self.ctx.db.read() as scope:
            row = scope.get(StartTimer, schedule_id)
            definition = scope.get(ProcessDefinition, row.definition_id)
            key, element_id, version = row.process_key, row.element_id, definition.version
            station_id = self._station(scope, definition)
        if station_id is None:
            return self._no_station(schedule_id, due)
        actor = dataclasses.replace(Actor.system(TIMER), station_id=station_id)

        def take(change: Change, workflow) -> None:
            self._take(change, schedule_id, due)

        try:
            self.ctx.runtime.start_instance(key, actor, {}, version=version, start_event=element_id, then_catch=take)
        except Moved:
            return "skipped"
        except EngineError as exc:
            return self._failed(schedule_id, due, exc.message)
        except Exception as exc:  # a bug or a lost connection: keep the occurrence, retry later
            log.exception("start timer %s failed", schedule_id)
            return self._failed(schedule_id, due, f"{type(exc).__name__}: {exc}"[:1000])
        return "started"

    def _take(self, change: Change, schedule_id: int, due: datetime) -> None:
        """In the starting transaction: lock the schedule, check it still waits for `due`, move it on."""
        query = select(StartTimer).where(StartTimer.id == schedule_id)
        if not self.ctx.db.is_sqlite:
            query = query.with_for_update()
        row = change.scope.scalars(query).one()
        if row.status != TimerStatus.PENDING or row.next_due_at != due:
            raise Moved(f"start timer {schedule_id} already started its case for {due.isoformat()}")
        self._move_on(row, change.now)
        row.started += 1
        row.last_started_at = change.now
        change.audit(
            Event.TIMER_FIRED, element_id=row.element_id, due_at=due.isoformat(), fired_at=change.now.isoformat()
        )

    @staticmethod
    def _move_on(row: StartTimer, now: datetime) -> None:
        row.next_due_at, row.remaining = advance(row.next_due_at, row.remaining, row.step_seconds, now)
        row.status = TimerStatus.PENDING if row.remaining != 0 else DONE
        row.attempts, row.claim_token, row.locked_until, row.last_error = 0, None, None, None

    def _station(self, scope, definition) -> int | None:
        """The station a scheduled case belongs to: the one station among the process's starter groups,
        else the deployer's station (one of those named, if any are), else the only station there is."""
        stations = dict(
            scope.execute(select(Department.key, Department.id).where(Department.kind == DepartmentKind.STATION)).all()
        )
        groups = definition.meta.get(definition.key, {}).get("starter_groups", [])
        named = [stations[g] for g in groups if g in stations]
        if len(named) == 1:
            return named[0]
        deployer = scope.scalar(select(Deployment.deployed_by).where(Deployment.id == definition.deployment_id))
        own = (
            scope.scalar(
                select(Department.id)
                .join(Membership, Membership.department_id == Department.id)
                .join(User, User.id == Membership.user_id)
                .where(User.username == deployer, Department.kind == DepartmentKind.STATION)
            )
            if deployer
            else None
        )
        if own is not None and (not named or own in named):
            return own
        return next(iter(stations.values())) if len(stations) == 1 and not named else None

    def _no_station(self, schedule_id: int, due: datetime) -> str:
        """No station to start the case in: the occurrence is an incident (audited), the schedule moves on."""
        with self.ctx.db.transaction() as scope:
            query = select(StartTimer).where(StartTimer.id == schedule_id)
            if not self.ctx.db.is_sqlite:
                query = query.with_for_update()
            row = scope.scalars(query).one()
            if row.status != TimerStatus.PENDING or row.next_due_at != due:
                return "skipped"
            error = (
                f"timer start event '{row.element_id}' of '{row.process_key}' did not start a case due "
                f"{due.isoformat()}: no station to put it in; {NO_STATION_FIX}, then retry the incident"
            )
            return self._incident(scope, row, due, error)

    def _failed(self, schedule_id: int, due: datetime, error: str) -> str:
        """A start that failed: retry with backoff; after the last attempt the occurrence is an incident."""
        with self.ctx.db.transaction() as scope:
            row = scope.get(StartTimer, schedule_id)
            if row is None or row.status != TimerStatus.PENDING or row.next_due_at != due:
                return "skipped"
            now = self.ctx.clock.now()
            if row.attempts < self.ctx.settings.timer_max_attempts:
                row.last_error = error[:2000]
                row.locked_until = now + timedelta(seconds=min(2**row.attempts, MAX_BACKOFF_SECONDS))
                return "retry"
            return self._incident(scope, row, due, error)

    def _incident(self, scope, row: StartTimer, due: datetime, error: str) -> str:
        """The occurrence is given up: an incident without a case, audited and announced; the schedule moves on."""
        now = self.ctx.clock.now()
        incident = Incident(
            instance_id=None,
            start_timer_id=row.id,
            element_id=row.element_id,
            kind=INCIDENT_KIND,
            error=error[:2000],
            attempts=row.attempts,
            status=IncidentStatus.OPEN,
            created_at=now,
            due_at=due,
        )
        scope.add(incident)
        scope.flush()
        details = {
            "incident_id": incident.id,
            "process_key": row.process_key,
            "element_id": row.element_id,
            "due_at": due.isoformat(),
        }
        record(scope, now, Actor.system(TIMER), Event.INCIDENT_OPENED, details={**details, "error": error[:500]})
        emit(scope, now, Event.INCIDENT_OPENED, payload={**details, "kind": INCIDENT_KIND, "error": error[:500]})
        self._move_on(row, now)
        row.last_error = error[:2000]
        log.warning("start timer %s: %s", row.id, error)
        return "incident"

    # --- incidents (engine/timers.py lists them with the others and hands them here) ---------------
    def retry_incident(self, incident_id: int, actor: Actor) -> dict[str, Any]:
        """Start the case the incident's occurrence did not start, now, with the version whose schedule
        stands for that start event (a new version may have named a station); the incident is resolved
        in the starting transaction. Refused, changing nothing, while there is still no station, or
        when no deployed version has that start event any more. Returns the case."""
        with self.ctx.db.read() as scope:
            incident = scope.get(Incident, incident_id)
            row = scope.get(StartTimer, incident.start_timer_id) if incident.start_timer_id else None
            standing = (
                scope.scalars(
                    select(StartTimer)
                    .where(
                        StartTimer.process_key == row.process_key,
                        StartTimer.element_id == row.element_id,
                        StartTimer.status != REPLACED,
                    )
                    .order_by(StartTimer.id.desc())
                    .limit(1)
                ).first()
                if row is not None
                else None
            )
            if standing is None:
                raise Conflict(
                    f"incident {incident_id}: no deployed version of "
                    f"'{row.process_key if row else '?'}' has the timer start event "
                    f"'{incident.element_id}' now; there is nothing to retry: dismiss the incident"
                )
            definition = scope.get(ProcessDefinition, standing.definition_id)
            key, element_id, version = definition.key, standing.element_id, definition.version
            station_id = self._station(scope, definition)
        if station_id is None:
            raise NoStation(
                f"incident {incident_id}: still no station to start the case of '{key}' version {version} in: "
                f"{NO_STATION_FIX}; or create the station; then retry"
            )
        starter = dataclasses.replace(Actor.system(TIMER), station_id=station_id)
        due_at = incident.due_at.isoformat() if incident.due_at else None

        def resolve(change: Change, workflow) -> None:
            query = select(Incident).where(Incident.id == incident_id)
            if not self.ctx.db.is_sqlite:
                query = query.with_for_update()  # two admins retrying at once: one case, not two
            held = change.scope.scalars(query).one()
            if held.status != IncidentStatus.OPEN:
                raise InvalidInput(
                    f"incident {incident_id} is already {held.status}", [{"field": "incident", "message": "not open"}]
                )
            held.status, held.resolution = IncidentStatus.RESOLVED, IncidentResolution.RETRIED
            held.resolved_at = change.now
            held.instance_id = change.instance.id  # the case the retry started
            details = {"incident_id": incident_id, "process_key": key, "version": version, "element_id": element_id}
            change.audit_rows.append(
                audit_row(
                    change.now,
                    actor,
                    Event.INCIDENT_RETRIED,
                    instance_id=change.instance.id,
                    details={**details, "due_at": due_at},
                )
            )

        return self.ctx.runtime.start_instance(
            key, starter, {}, version=version, start_event=element_id, then_catch=resolve
        )
