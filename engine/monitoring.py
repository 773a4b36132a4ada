"""Monitoring: what the admin console shows of running cases, without personal data (issue 17).

- `cases`: cases by definition, version, status, station and business key (no owner, no variables);
- `element_counts`: per element of a definition version, how many running cases wait there and how
  many of those are breached: grouped counts over the open task rows, the waiting-timer rows and the
  message waits (three grouped statements whatever the number of cases: no query per case);
- `case`: one case's diagram state (active, completed, failed elements), its pending timers, its
  incidents and its non-personal variables (the snapshot the repair form edits);
- `gauges`: counts the Prometheus endpoint computes from the database at scrape time (web/metrics.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, literal_column, select

from .errors import DefinitionNotFound, InstanceNotFound
from .names import lookup_names
from .store.models import (
    IS_OPEN_TASK,
    TIMER_PENDING,
    Department,
    HumanTask,
    Incident,
    MessageWait,
    OutboxEvent,
    ProcessDefinition,
    ProcessInstance,
    Timer,
)
from .vocabulary import IncidentStatus, InstanceStatus, TimerKind

if TYPE_CHECKING:
    from . import Engine

MAX_CASES = 200


class MonitoringService:
    def __init__(self, ctx: Engine):
        self.ctx = ctx

    def cases(
        self,
        *,
        process_key: str | None = None,
        version: int | None = None,
        status: str | None = None,
        station: str | None = None,
        business_key: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Newest first; each row: id, business key, process, version, status, station, start and end."""
        p, d = ProcessInstance, ProcessDefinition
        query = select(
            p.id, p.business_key, p.process_key, d.version, p.status, p.station_id, p.started_at, p.ended_at
        ).join(d, d.id == p.definition_id)
        if process_key:
            query = query.where(p.process_key == process_key)
        if version is not None:
            query = query.where(d.version == version)
        if status:
            query = query.where(p.status == status)
        if business_key:
            query = query.where(p.business_key == business_key)
        if station:
            query = query.join(Department, Department.id == p.station_id).where(Department.key == station)
        query = query.order_by(p.started_at.desc(), p.id).limit(min(max(limit, 1), MAX_CASES)).offset(max(offset, 0))
        with self.ctx.db.read() as scope:
            rows = scope.execute(query).all()
            stations = lookup_names(scope, {"d": {r.station_id for r in rows} - {None}})["d"]
        return [
            {
                "id": r.id,
                "business_key": r.business_key,
                "process_key": r.process_key,
                "definition_version": r.version,
                "status": r.status,
                "station": stations.get(r.station_id),
                "started_at": r.started_at.isoformat(),
                "ended_at": r.ended_at.isoformat() if r.ended_at else None,
            }
            for r in rows
        ]

    def element_counts(self, key: str, version: int) -> dict[str, Any]:
        """{element id: {waiting, breached}} over the running cases of one version."""
        now = self.ctx.clock.now()
        with self.ctx.db.read() as scope:
            definition_id = scope.scalar(
                select(ProcessDefinition.id).where(ProcessDefinition.key == key, ProcessDefinition.version == version)
            )
            if definition_id is None:
                raise DefinitionNotFound(f"process definition '{key}' version {version} does not exist")
            running = (ProcessInstance.definition_id == definition_id) & (
                ProcessInstance.status == InstanceStatus.RUNNING
            )
            breached = func.sum(case((HumanTask.due_at < now, 1), else_=0))
            tasks = scope.execute(
                select(HumanTask.element_id, func.count(), breached)
                .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                .where(running, IS_OPEN_TASK)
                .group_by(HumanTask.element_id)
            ).all()
            timers = scope.execute(
                select(Timer.element_id, func.count())
                .join(ProcessInstance, ProcessInstance.id == Timer.instance_id)
                .where(running, TIMER_PENDING, Timer.kind == literal_column(f"'{TimerKind.BPMN_TIMER}'"))
                .group_by(Timer.element_id)
            ).all()
            waits = scope.execute(
                select(MessageWait.element_id, func.count())
                .join(ProcessInstance, ProcessInstance.id == MessageWait.instance_id)
                .where(running)
                .group_by(MessageWait.element_id)
            ).all()
        counts: dict[str, dict[str, int]] = {}
        for element, waiting, late in tasks:
            counts[element] = {"waiting": int(waiting), "breached": int(late or 0)}
        for element, waiting in [*timers, *waits]:
            entry = counts.setdefault(element, {"waiting": 0, "breached": 0})
            entry["waiting"] += int(waiting)
        return {"key": key, "version": version, "elements": dict(sorted(counts.items()))}

    def case(self, instance_id: str) -> dict[str, Any]:
        """One case for the repair page: no owner, no personal fields."""
        with self.ctx.db.read() as scope:
            found = scope.execute(
                select(ProcessInstance, ProcessDefinition.version)
                .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
                .where(ProcessInstance.id == instance_id)
            ).first()
            if found is None:
                raise InstanceNotFound(f"process instance '{instance_id}' does not exist")
            instance, version = found
            stations = lookup_names(scope, {"d": {instance.station_id} - {None}})["d"]
            timers = scope.execute(
                select(Timer.id, Timer.element_id, Timer.kind, Timer.due_at, Timer.attempts)
                .where(Timer.instance_id == instance_id, TIMER_PENDING)
                .order_by(Timer.due_at)
            ).all()
            view = {
                "id": instance.id,
                "business_key": instance.business_key,
                "process_key": instance.process_key,
                "definition_version": version,
                "status": instance.status,
                "station": stations.get(instance.station_id),
                "started_at": instance.started_at.isoformat(),
                "ended_at": instance.ended_at.isoformat() if instance.ended_at else None,
                "variables": dict(instance.variables or {}),
            }
        incidents = self.ctx.timers.list_incidents(status=None, instance_id=instance_id, limit=500)
        diagram = self.ctx.runtime.diagram_state(instance_id)
        failed = sorted({i["element_id"] for i in incidents if i["status"] == IncidentStatus.OPEN and i["element_id"]})
        return view | {
            "active": diagram["active"],
            "completed": diagram["completed"],
            "failed": failed,
            "timers": [
                {"id": t.id, "element_id": t.element_id, "kind": t.kind, "due_at": t.due_at.isoformat()} for t in timers
            ],
            "incidents": incidents,
        }

    def gauges(self) -> dict[str, Any]:
        """Counts read at scrape time: open incidents by kind, the outbox backlog, open and breached
        tasks, pending timers and the oldest overdue one's lag in seconds."""
        now = self.ctx.clock.now()
        with self.ctx.db.read() as scope:
            incidents = dict(
                scope.execute(
                    select(Incident.kind, func.count())
                    .where(Incident.status == IncidentStatus.OPEN)
                    .group_by(Incident.kind)
                ).all()
            )
            backlog = scope.scalar(select(func.count()).select_from(OutboxEvent).where(_UNPUBLISHED)) or 0
            open_tasks, breached = scope.execute(
                select(func.count(), func.sum(case((HumanTask.due_at < now, 1), else_=0))).where(IS_OPEN_TASK)
            ).one()
            pending, oldest_due = scope.execute(select(func.count(), func.min(Timer.due_at)).where(TIMER_PENDING)).one()
        lag = max((now - oldest_due).total_seconds(), 0.0) if oldest_due is not None else 0.0
        return {
            "incidents_open": {str(kind): int(n) for kind, n in incidents.items()},
            "outbox_backlog": int(backlog),
            "tasks_open": int(open_tasks or 0),
            "tasks_breached": int(breached or 0),
            "timers_pending": int(pending or 0),
            "timer_lag_seconds": lag,
        }


_UNPUBLISHED = OutboxEvent.published_at.is_(None)
