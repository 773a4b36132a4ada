"""The transactional outbox: events written with the change that caused them.

Payloads are thin (ids, keys, states, times) and never carry personal data; a relay delivers them
to webhooks and notifications after commit.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .store.models import OutboxEvent, RelayCursor

# PostgreSQL hands out ids before commit, so a slow transaction may commit id 7 after id 8 was read:
# a reader stops before a gap in the ids until the event after it is this old (a rolled-back
# transaction leaves a gap for ever)
GAP_WAIT = timedelta(seconds=30)


def emit(
    scope,
    at: datetime,
    event_type: str,
    *,
    instance_id: str | None = None,
    task_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    scope.add(OutboxEvent(**outbox_row(at, event_type, instance_id=instance_id, task_id=task_id, payload=payload)))


def outbox_row(
    at: datetime,
    event_type: str,
    *,
    instance_id: str | None = None,
    task_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The column values of one outbox event (the unit of work inserts its events in one statement)."""
    return {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "occurred_at": at,
        "instance_id": instance_id,
        "task_id": task_id,
        "payload": payload or {},
        "published_at": None,
    }


def unread(db, name: str) -> bool:
    """Whether events wait past cursor `name`: a read, so an idle sweep takes no write lock."""
    with db.read() as scope:
        last = scope.scalar(select(RelayCursor.last_id).where(RelayCursor.name == name)) or 0
        return scope.scalar(select(OutboxEvent.id).where(OutboxEvent.id > last).limit(1)) is not None


def locked_cursor(scope, is_sqlite: bool, name: str, now: datetime) -> RelayCursor:
    """Cursor `name`, locked for this transaction (relays in several processes take turns)."""
    query = select(RelayCursor).where(RelayCursor.name == name)
    if not is_sqlite:  # SQLite's write transaction already serialises relays
        query = query.with_for_update()
    cursor = scope.scalars(query).first()
    if cursor is None:  # two relays may find none at once: one row is made, the other waits for it
        insert = sqlite_insert if is_sqlite else postgresql_insert
        row = {"name": name, "last_id": 0, "updated_at": now}
        scope.execute(insert(RelayCursor).values(row).on_conflict_do_nothing(index_elements=["name"]))
        cursor = scope.scalars(query).one()
    return cursor


def ready_after(scope, last_id: int, now: datetime, batch: int) -> list[OutboxEvent]:
    """The committed events after `last_id`, in order, up to the first gap younger than GAP_WAIT."""
    events = scope.scalars(select(OutboxEvent).where(OutboxEvent.id > last_id).order_by(OutboxEvent.id).limit(batch))
    ready = []
    expected = last_id + 1
    for event in events:
        if event.id != expected and now - event.occurred_at < GAP_WAIT:
            break  # an earlier id may still commit
        ready.append(event)
        expected = event.id + 1
    return ready
