"""A task as the engine shows it (`get_task`, the inbox, a command's answer): a plain dict."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..sla import live_sla_state
from ..store.models import HumanTask


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def task_view(row: HumanTask, assignee: str | None, completed_by: str | None, now: datetime) -> dict[str, Any]:
    """A task row as the API shows it; its SLA state judged at `now`."""
    return {
        "id": row.id,
        "instance_id": row.instance_id,
        "business_key": row.business_key,
        "process_key": row.process_key,
        "element_id": row.element_id,
        "name": row.name,
        "lane": row.lane,
        "station_id": row.station_id,
        "state": row.state,
        "assignee": assignee,
        "candidate_groups": row.candidate_groups,
        "candidate_users": row.candidate_users,
        "owner_task": row.owner_task,
        "form_key": row.form_key,
        "priority": row.priority,
        "created_at": _iso(row.created_at),
        "claimed_at": _iso(row.claimed_at),
        "ended_at": _iso(row.ended_at),
        "due_at": _iso(row.due_at),
        "warn_at": _iso(row.warn_at),
        "sla_state": live_sla_state(row, now),
        "follow_up_at": _iso(row.follow_up_at),
        "completed_by": completed_by,
        "completed_via": row.completed_via,
        "outcome": row.outcome,
        "urge_count": row.urge_count,
        "urged_at": _iso(row.urged_at),
        "extension_due_at": _iso(row.extension_due_at),
        "extended_from": _iso(row.extended_from),
        "delegated": row.delegated_by_id is not None,  # 委派: its assignee works for the holder who delegated it
    }
