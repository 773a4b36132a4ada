"""The append-only audit trail: who changed what, when. Never personal data."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from .store.models import AuditEntry

if TYPE_CHECKING:
    from . import Engine


def record(
    scope,
    at: datetime,
    actor,
    action: str,
    *,
    instance_id: str | None = None,
    task_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    scope.add(AuditEntry(**audit_row(at, actor, action, instance_id=instance_id, task_id=task_id, details=details)))


def audit_row(
    at: datetime,
    actor,
    action: str,
    *,
    instance_id: str | None = None,
    task_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The column values of one audit entry (the unit of work inserts its entries in one statement)."""
    return {
        "at": at,
        "actor_id": getattr(actor, "id", None),
        "actor": getattr(actor, "username", None) or "system",
        "action": action,
        "instance_id": instance_id,
        "task_id": task_id,
        "details": details or {},
    }


class HistoryService:
    """Reads the audit trail."""

    def __init__(self, ctx: Engine):
        self.ctx = ctx

    def audit_trail(
        self,
        instance_id: str | None = None,
        limit: int = 500,
        after_id: int | None = None,
        actor: str | None = None,
        action: str | None = None,
    ) -> list[dict[str, Any]]:
        """Entries oldest first, optionally of one case, one actor (username) or one action."""
        with self.ctx.db.read() as scope:
            query = select(AuditEntry).order_by(AuditEntry.id).limit(min(max(limit, 1), 1000))
            if instance_id is not None:
                query = query.where(AuditEntry.instance_id == instance_id)
            if actor is not None:
                query = query.where(AuditEntry.actor == actor)
            if action is not None:
                query = query.where(AuditEntry.action == action)
            if after_id is not None:
                query = query.where(AuditEntry.id > after_id)
            return [audit_view(e) for e in scope.scalars(query)]


def audit_view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "by_system": entry.actor_id is None,  # the engine itself (timers, signals) or a department system
        "action": entry.action,
        "instance_id": entry.instance_id,
        "task_id": entry.task_id,
        "details": entry.details,
    }
