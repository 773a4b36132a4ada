"""The claimable queues: who may claim an open task, and the queue entries the inbox reads.

An open task has one queue entry (`task_candidates`) per candidate group and user; a task naming
nobody goes to the station's supervisors. Role groups (officer, supervisor) reach only the case's
station. The rule is stated twice, once per place it is checked: in Python on a task row the
unit of work holds (`is_candidate`) and in SQL for the inbox (`in_queue`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, insert, or_, select

from .identity import Actor
from .store.driver import DriverStatement
from .store.models import HumanTask, TaskCandidate
from .store.record import Record
from .vocabulary import STATION_ROLES, Role

_T = HumanTask.__table__.c
_Q = TaskCandidate.__table__.c
INSERT_QUEUE_ENTRIES = DriverStatement(insert(TaskCandidate.__table__))
_DELETE_QUEUE_ENTRIES = DriverStatement(delete(TaskCandidate).where(TaskCandidate.task_id == bindparam("task_id")))


def candidate_rows(task_id: str, groups: list, users: list, due_at: datetime | None) -> list[dict[str, Any]]:
    """The queue entries of an open task: one per candidate group and user."""
    keys = list(groups) + [f"user:{u}" for u in users]
    if not keys:
        keys = [Role.SUPERVISOR]  # nobody named: the station's supervisors assign it
    return [{"task_id": task_id, "group_key": key, "due_at": due_at} for key in dict.fromkeys(keys)]


def add_candidates(scope, row: Record) -> None:
    """Put a task (back) into its candidates' queues."""
    INSERT_QUEUE_ENTRIES.execute(scope, candidate_rows(row.id, row.candidate_groups, row.candidate_users, row.due_at))


def drop_candidates(scope, task_id: str) -> None:
    """Take a task out of every queue (claimed, assigned or closed); queue entries are never held."""
    _DELETE_QUEUE_ENTRIES.execute(scope, {"task_id": task_id})


def is_candidate(actor: Actor, row: Record | HumanTask) -> bool:
    """May `actor` claim `row`? Role groups are scoped to the case's station."""
    keys = set(row.candidate_groups) | {f"user:{u}" for u in row.candidate_users}
    if not keys:
        keys = {Role.SUPERVISOR}
    for key in keys & actor.groups:
        if key in STATION_ROLES and row.station_id is not None and actor.station_id != row.station_id:
            continue
        return True
    return False


def in_queue(actor: Actor, group: str | None):
    """Task rows in the claimable queues of `actor` (optionally one group), as SQL; role groups reach
    only its station."""
    keys = [k for k in actor.groups if group is None or k == group]
    role_keys = [k for k in keys if k in STATION_ROLES]
    other_keys = [k for k in keys if k not in STATION_ROLES]
    conditions: list[ColumnElement[bool]] = [_T.id.in_(select(_Q.task_id).where(_Q.group_key.in_(other_keys)))]
    if role_keys:
        conditions.append(
            and_(
                _T.id.in_(select(_Q.task_id).where(_Q.group_key.in_(role_keys))),
                or_(_T.station_id.is_(None), _T.station_id == actor.station_id),
            )
        )
    return or_(*conditions)
