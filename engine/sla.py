"""SLA rules (docs/sla.md): when a task warns, how it stands against its due time, what closing it records.

An open task is judged against the clock whenever it is read (never stale); the timers table carries
its warning and breach marks so that events fire on time (engine/timers.py); a closed task keeps what
was recorded when it closed (`met` or `missed`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_

from .errors import EngineError, WorkflowFailed
from .schedule import parse_instant_or_duration
from .store.models import IS_OPEN_TASK, HumanTask, TaskCandidate
from .vocabulary import OPEN_TASK_STATES, HumanTaskState, SlaState

SLA_STATES = tuple(SlaState)
_T = HumanTask.__table__.c
_Q = TaskCandidate.__table__.c


def warning_time(spec: Any, created: datetime, due: datetime | None, default_fraction: float) -> datetime | None:
    """When to warn: a fraction of the allowed time (0.75, '75%') or an ISO duration after creation."""
    if due is None or due <= created:
        return None
    allowed = due - created
    text = str(spec).strip() if spec not in (None, "") else None
    try:
        if text is None:
            fraction = default_fraction
        elif text.upper().startswith("P"):
            warn = parse_instant_or_duration(text, created)
            return warn if warn is not None and warn < due else None
        else:
            fraction = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except (ValueError, EngineError):
        raise WorkflowFailed(
            f"invalid SLA warning '{text}'", [{"element_id": None, "message": "bad slaWarning"}]
        ) from None
    if not 0 < fraction < 1:
        return None
    return created + allowed * fraction


def initial_sla_state(due_at: datetime | None) -> SlaState | None:
    """A new task's recorded standing: on time if it has a due time at all."""
    return SlaState.ON_TIME if due_at is not None else None


def live_sla_state(row: HumanTask, now: datetime) -> str | None:
    """How a task stands now: open tasks against the clock, closed ones as recorded when they closed."""
    if row.state not in OPEN_TASK_STATES or row.due_at is None:
        return row.sla_state if row.state not in OPEN_TASK_STATES else None
    if now >= row.due_at:
        return SlaState.BREACHED
    if row.warn_at is not None and now >= row.warn_at:
        return SlaState.WARNING
    return SlaState.ON_TIME


def closing_sla_state(state: str, now: datetime, due_at: datetime | None) -> SlaState | None:
    """What closing a task in `state` records (None: leave the recorded state as it is)."""
    if due_at is None:
        return None
    late = now > due_at
    if state == HumanTaskState.COMPLETED:
        return SlaState.MISSED if late else SlaState.MET
    return SlaState.MISSED if late else None


def sla_condition(sla_state: str, now: datetime):
    """Tasks in `sla_state`, as SQL: open tasks judged against the clock, closed ones by what was recorded."""
    is_open = IS_OPEN_TASK
    if sla_state == SlaState.BREACHED:
        return and_(is_open, _T.due_at <= now)
    if sla_state == SlaState.WARNING:
        return and_(is_open, _T.warn_at <= now, _T.due_at > now)
    if sla_state == SlaState.ON_TIME:
        return and_(is_open, _T.due_at > now, or_(_T.warn_at.is_(None), _T.warn_at > now))
    return _T.sla_state == sla_state  # met | missed


def queue_due_conditions(
    sla_state: str | None, now: datetime, due_before: datetime | None, due_after: datetime | None
) -> list:
    """The due-time filters of a group queue, restated on the queue entries (redundant, index-friendly)."""
    conditions = []
    if sla_state == SlaState.BREACHED:
        conditions.append(_Q.due_at <= now)
    elif sla_state in (SlaState.WARNING, SlaState.ON_TIME):
        conditions.append(_Q.due_at > now)
    if due_before is not None:
        conditions.append(_Q.due_at < due_before)
    if due_after is not None:
        conditions.append(_Q.due_at >= due_after)
    return conditions
