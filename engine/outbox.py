"""The transactional outbox: events written with the change that caused them.

Payloads are thin (ids, keys, states, times) and never carry personal data; a relay delivers them
to webhooks and notifications after commit.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from .store.models import OutboxEvent


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
