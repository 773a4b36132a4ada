"""Tallies for the SLA board: returns (退回) and urges (催办) per department, and extensions (延期) waiting
for a supervisor's decision. Read from the task rows, which keep both: a returned task stays
`returned` with its department (`candidate_groups`), an urged one its `urge_count`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import aliased

from .store.models import IS_OPEN_TASK, HumanTask, User
from .vocabulary import HumanTaskState

if TYPE_CHECKING:
    from . import Engine

_T = HumanTask.__table__.c


def department_tallies(ctx: Engine, station_id: int | None) -> dict[str, dict[str, int]]:
    """{department key: {"returns": n, "urges": n}} over the tasks of a station's cases (every
    station's for None), open or closed: a department's record keeps its returns and urges."""
    query = select(_T.candidate_groups, _T.state, _T.urge_count).where(
        _T.owner_task.is_(False), or_(_T.state == HumanTaskState.RETURNED, _T.urge_count > 0)
    )
    if station_id is not None:
        query = query.where(_T.station_id == station_id)
    found: dict[str, dict[str, int]] = {}
    with ctx.db.read() as scope:
        for groups, state, urges in scope.execute(query):
            for group in groups or []:
                tally = found.setdefault(group, {"returns": 0, "urges": 0})
                tally["returns"] += 1 if state == HumanTaskState.RETURNED else 0
                tally["urges"] += urges or 0
    return found


def pending_extensions(ctx: Engine, station_id: int | None, limit: int = 100) -> list[dict[str, Any]]:
    """Open tasks whose holder asked for more time and no supervisor has decided yet, soonest due first."""
    holder = aliased(User)
    query = (
        select(
            _T.id,
            _T.business_key,
            _T.name,
            _T.candidate_groups,
            _T.due_at,
            _T.extension_due_at,
            holder.username,
        )
        .join(holder, holder.id == _T.assignee_id, isouter=True)
        .where(IS_OPEN_TASK, _T.extension_due_at.is_not(None))
        .order_by(_T.due_at, _T.id)
        .limit(limit)
    )
    if station_id is not None:
        query = query.where(_T.station_id == station_id)
    with ctx.db.read() as scope:
        return [
            {
                "id": row.id,
                "business_key": row.business_key,
                "name": row.name,
                "candidate_groups": row.candidate_groups or [],
                "due_at": row.due_at,
                "extension_due_at": row.extension_due_at,
                "assignee": row.username,
            }
            for row in scope.execute(query)
        ]
