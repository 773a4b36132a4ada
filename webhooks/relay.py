"""The relay: committed outbox events become notification deliveries, past a persisted cursor.

It reads events with ids above its cursor in `relay_cursors`, creates one delivery per concerned
channel and moves the cursor, in one transaction (the cursor row is locked, so relays in several
processes take turns and never create a delivery twice; a unique (event, channel) pair backs that).
A crash before commit leaves the cursor where it was: the events are read again, never dropped.

The relay stops before a gap in the ids until it is old (engine/outbox.py, `GAP_WAIT`). Events
older than `MAX_AGE` are skipped: a notification about yesterday's queue is noise (a relay that was
down for a day, or a database that predates it).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from engine import outbox
from engine.store.models import Department, HumanTask, NotificationDelivery, OutboxEvent
from engine.vocabulary import DeliveryState

from . import messages, routing

if TYPE_CHECKING:
    from engine import Engine

CURSOR = "notifications"
BATCH = 200
MAX_AGE = timedelta(hours=24)


class Relay:
    def __init__(self, ctx: Engine, name: str = CURSOR):
        self.ctx = ctx
        self.name = name

    def pending(self) -> bool:
        """Whether events wait past the cursor: a read, so an idle sweep takes no write lock."""
        return outbox.unread(self.ctx.db, self.name)

    def run_once(self, batch: int = BATCH) -> list[int]:
        """Turn the next events into deliveries; returns the ids of the deliveries created."""
        if not self.pending():
            return []
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as scope:
            cursor = outbox.locked_cursor(scope, self.ctx.db.is_sqlite, self.name, now)
            ready = outbox.ready_after(scope, cursor.last_id, now, batch)
            if not ready:
                return []
            created = self.route(scope, [e for e in ready if now - e.occurred_at < MAX_AGE], now)
            cursor.last_id, cursor.updated_at = ready[-1].id, now
            scope.add_all(created)
            scope.flush()
            return [d.id for d in created]

    def route(self, scope, events: list[OutboxEvent], now) -> list[NotificationDelivery]:
        """The deliveries these events make (the channels' routing; webhooks/outbound.py has its own)."""
        created: list[NotificationDelivery] = []
        concerned = [e for e in events if e.type in routing.NOTIFIABLE]
        tasks = self._tasks(scope, {e.task_id for e in concerned if e.task_id})
        stations = self._stations(scope, {t.station_id for t in tasks.values() if t.station_id})
        for event in concerned:
            created += self._deliveries(scope, event, tasks.get(event.task_id or ""), stations, now)
        return created

    def _deliveries(self, scope, event: OutboxEvent, task: HumanTask | None, stations, now) -> list[Any]:
        rule = routing.NOTIFIABLE[event.type]
        payload = event.payload or {}
        ids = routing.user_ids(rule, payload)
        groups: list[str] = []
        if rule.queue and not payload.get("assignee_id") and task is not None and task.assignee_id is None:
            groups = list(task.candidate_groups or [])
        station_id = task.station_id if task is not None else None
        rows = []
        for channel in routing.channels_for(scope, ids, groups, station_id, event.type):
            message = messages.render(
                event.type,
                channel.language,
                task_id=event.task_id,
                task_name=task.name if task else None,
                business_key=task.business_key if task else payload.get("business_key"),  # a case's event
                station=stations.get(station_id),
                due_at=task.due_at if task else None,
                public_url=self.ctx.settings.public_url,
                time_zone=self.ctx.settings.time_zone,
            )
            rows.append(
                NotificationDelivery(
                    channel_id=channel.id,
                    event_id=event.event_id,
                    event_type=event.type,
                    instance_id=event.instance_id,
                    task_id=event.task_id,
                    message=message,
                    state=DeliveryState.PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        return rows

    @staticmethod
    def _tasks(scope, ids: set[str]) -> dict[str, HumanTask]:
        if not ids:
            return {}
        return {t.id: t for t in scope.scalars(select(HumanTask).where(HumanTask.id.in_(ids)))}

    @staticmethod
    def _stations(scope, ids: set[int]) -> dict[int | None, str]:
        if not ids:
            return {}
        return dict(scope.execute(select(Department.id, Department.name).where(Department.id.in_(ids))).all())
