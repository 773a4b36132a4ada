"""Inbox queries: a task, a case's tasks, my tasks, a group's queue, an actor's claimable queue.

Reads run as Core statements on the tables (rows, not ORM objects), built once where they can be.
A query takes one of three paths, chosen by its filters (`InboxFilter`):
- an actor's claimable queue in due order: a UNION of ordered scans of the queue index;
- equality filters only: a statement built once per filter shape, read on the driver;
- anything else: a statement built for the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, or_, select, union

from ..case_fields import CASE_FIELDS
from ..errors import InvalidInput, TaskNotFound
from ..identity import Actor
from ..queues import in_queue
from ..sla import SLA_STATES, queue_due_conditions, sla_condition
from ..store.driver import DriverQuery
from ..store.models import HumanTask, ProcessInstance, TaskCandidate, User
from ..vocabulary import STATION_ROLES, HumanTaskState, SlaState
from .commands import active_actor, form_schema
from .cursor import after, decode_cursor, encode_cursor, sort_order
from .views import task_view

if TYPE_CHECKING:
    from .. import Engine


STATES = tuple(HumanTaskState)
SORTS = {"due": "due_at", "priority": "priority", "created": "created_at"}
MAX_LIMIT = 200
_T = HumanTask.__table__.c
_QUEUE = TaskCandidate.__table__
_Q = _QUEUE.c
_ASSIGNEE, _COMPLETER = User.__table__.alias("assignee"), User.__table__.alias("completer")
_TASK_ROWS = select(
    HumanTask.__table__, _ASSIGNEE.c.username.label("assignee_name"), _COMPLETER.c.username.label("completer_name")
).select_from(
    HumanTask.__table__.outerjoin(_ASSIGNEE, _ASSIGNEE.c.id == _T.assignee_id).outerjoin(
        _COMPLETER, _COMPLETER.c.id == _T.completed_by_id
    )
)
_QUEUE_ORDER = [(_Q.due_at, False), (_Q.task_id, False)]
_QUEUE_TASK = HumanTask.__table__.alias("queue_task")
_BY_EQUALITIES: dict[tuple, DriverQuery] = {}


@dataclass
class InboxFilter:
    """What an inbox query asks for (all optional; `states` and `cursor` empty mean any)."""

    task_id: str | None = None
    assignee_id: int | None = None
    candidate: Actor | None = None  # tasks this actor may claim
    group: str | None = None  # one queue
    states: tuple[str, ...] | list[str] | None = None
    instance_id: str | None = None
    business_key: str | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    sort: str = "due"
    limit: int = 200
    cursor: list | None = None  # a decoded cursor: the sort key of the last row of the previous page
    station_id: int | None = None
    involving: Actor | None = None  # open tasks in this actor's queues, and what it holds or completed
    sla_state: str | None = None
    # the case's business fields (risk_level, category, community): equalities on the task rows'
    # copies of them, each with an index in due order (engine/case_fields.py)
    case_fields: dict[str, str] | None = None

    def reads_claimable_queue(self) -> bool:
        """An actor's claimable tasks by due time, nothing more: read from the queue index in order."""
        return (
            self.candidate is not None
            and self.sort == "due"
            and self.sla_state in (None, SlaState.BREACHED)
            and self.task_id is None
            and self.assignee_id is None
            and self.instance_id is None
            and self.business_key is None
            and not self.case_fields
            and (not self.states or HumanTaskState.OPEN in self.states)
            and (self.involving is None or self.involving.id == self.candidate.id)
        )

    def equalities(self) -> dict[str, Any]:
        """The filters that are column equalities (`states`: one of several), by name."""
        fields = sorted((self.case_fields or {}).items())
        return {
            name: list(value) if name == "states" and isinstance(value, tuple | list) else value
            for name, value in (
                ("id", self.task_id),
                ("assignee_id", self.assignee_id),
                ("states", self.states),
                ("instance_id", self.instance_id),
                ("business_key", self.business_key),
                ("station_id", self.station_id),
                *fields,
            )
            if (value if name == "states" else value is not None)
        }

    def equalities_only(self) -> bool:
        """No filter but equalities (a task, a case's tasks, my tasks): one statement per shape."""
        return (
            self.candidate is None
            and self.group is None
            and self.involving is None
            and self.sla_state is None
            and not self.cursor
            and self.due_before is None
            and self.due_after is None
        )


class InboxQueries:
    """The queries of the TaskService (engine/tasks/__init__.py)."""

    ctx: Engine

    def get_task(self, task_id: str) -> dict[str, Any]:
        """One task as the API shows it, with its form's schema."""
        with self.ctx.db.read_statement() as scope:
            rows = self.query_rows(scope, task_id=str(task_id))
        if not rows:
            raise TaskNotFound(f"task '{task_id}' does not exist")
        view = rows[0]
        if view["form_key"]:
            with self.ctx.db.read_statement() as scope:
                definition_id = scope.scalar(
                    select(ProcessInstance.definition_id).where(ProcessInstance.id == view["instance_id"])
                )
                view["form"] = form_schema(self.ctx, scope, definition_id, view["form_key"])
        else:
            view["form"] = None
        return view

    def query(
        self,
        actor: Actor | None = None,
        *,
        assignee: str | None = None,
        candidate: str | None = None,
        group: str | None = None,
        state: str | list[str] | None = None,
        instance_id: str | None = None,
        business_key: str | None = None,
        due_before: datetime | None = None,
        due_after: datetime | None = None,
        sort: str = "due",
        limit: int = 50,
        cursor: str | None = None,
        station_id: int | None = None,
        involving: Actor | None = None,
        sla_state: str | None = None,
        case_fields: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Inbox query. `assignee`/`candidate` take 'me' or a username; pages by keyset cursor.

        `station_id` keeps a station's tasks; `involving` keeps the open tasks in the actor's queues and
        the tasks the actor holds or completed (how the API scopes a caller's view).
        """
        states = _checked_states(state, sort, sla_state)
        limit = min(max(int(limit), 1), MAX_LIMIT)
        with self.ctx.db.read_statement() as scope:  # a user named by username: one lookup first
            assignee_id = candidate_actor = None
            if assignee:
                assignee_id = self._resolve(scope, actor, assignee).id
            if candidate:
                candidate_actor = self._resolve(scope, actor, candidate)
            rows = self.query_rows(
                scope,
                assignee_id=assignee_id,
                candidate=candidate_actor,
                group=group,
                states=tuple(states) or None,
                instance_id=instance_id,
                business_key=business_key,
                due_before=due_before,
                due_after=due_after,
                sort=sort,
                limit=limit + 1,
                cursor=decode_cursor(cursor, sort),
                station_id=station_id,
                involving=involving,
                sla_state=sla_state,
                case_fields={k: v for k, v in (case_fields or {}).items() if k in CASE_FIELDS} or None,
            )
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1], sort) if more and rows else None
        return {"items": rows, "next_cursor": next_cursor}

    def _resolve(self, scope, actor: Actor | None, who: str) -> Actor:
        if who == "me":
            if actor is None:
                raise InvalidInput("'me' needs an actor", [{"field": "assignee", "message": "no actor"}])
            return actor
        return active_actor(self.ctx, scope, who)

    def query_rows(self, scope, **filters: Any) -> list[dict[str, Any]]:
        """Task views matching `filters` (the fields of `InboxFilter`), read by the path that serves them."""
        found = InboxFilter(**filters)
        now = self.ctx.clock.now()
        connection = scope.connection()
        if found.reads_claimable_queue():
            rows = connection.execute(_claimable_queue(found, now))
        elif found.equalities_only():
            rows = _read_by_equalities(connection, found)
        else:
            rows = connection.execute(_filtered(found, now))
        return [task_view(row, row.assignee_name, row.completer_name, now) for row in rows]


def _checked_states(state: str | list[str] | None, sort: str, sla_state: str | None) -> list[str]:
    """The states asked for, after checking them, the sort and the SLA state against the vocabulary."""
    if sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}", [{"field": "sort", "message": "invalid"}])
    states = [state] if isinstance(state, str) else list(state or [])
    if any(s not in STATES for s in states):
        raise InvalidInput(f"state must be one of {', '.join(STATES)}", [{"field": "state", "message": "invalid"}])
    if sla_state is not None and sla_state not in SLA_STATES:
        raise InvalidInput(
            f"sla_state must be one of {', '.join(SLA_STATES)}", [{"field": "sla_state", "message": "invalid"}]
        )
    return states


# --- path 1: an actor's claimable queue --------------------------------------------------------------
def _claimable_queue(found: InboxFilter, now: datetime):
    """An actor's claimable tasks in due order, as a UNION of ordered scans of the queue index, one
    per group the actor answers to (an OR over groups cannot be read in order from one index).

    Each scan stops after `limit` entries (a role group's scan skips other stations' tasks as it
    walks); queue entries exist only for open tasks and carry their task's due time, so the
    conditions hold on them and no page comes out short.
    """
    actor, group = found.candidate, found.group
    assert actor is not None
    scans = []
    for key in sorted(k for k in actor.groups if group is None or k == group):
        due = queue_due_conditions(found.sla_state, now, found.due_before, found.due_after)
        scan = select(_Q.task_id.label("task_id"), _Q.due_at.label("due_at")).where(_Q.group_key == key, *due)
        if found.cursor:
            scan = scan.where(after(_QUEUE_ORDER, found.cursor))
        if key in STATION_ROLES or found.station_id is not None:
            scan = scan.join(_QUEUE_TASK, _QUEUE_TASK.c.id == _Q.task_id)
            if key in STATION_ROLES:
                scan = scan.where(or_(_QUEUE_TASK.c.station_id.is_(None), _QUEUE_TASK.c.station_id == actor.station_id))
            if found.station_id is not None:
                scan = scan.where(_QUEUE_TASK.c.station_id == found.station_id)
        scan = scan.order_by(_Q.due_at.asc().nulls_last(), _Q.task_id).limit(found.limit)
        scans.append(select(scan.subquery()))
    queue = union(*scans).subquery("queue") if len(scans) > 1 else scans[0].subquery("queue")
    query = _TASK_ROWS.join(queue, queue.c.task_id == _T.id).where(_T.state == HumanTaskState.OPEN)
    if found.sla_state is not None:
        query = query.where(sla_condition(found.sla_state, now))
    order = [(queue.c.due_at, False), (queue.c.task_id, False)]
    return query.order_by(*[c.asc().nulls_last() for c, _desc in order]).limit(found.limit)


# --- path 2: equality filters only --------------------------------------------------------------------
def _read_by_equalities(connection, found: InboxFilter) -> list[tuple]:
    equal = found.equalities()
    states = equal.pop("states", [])
    params = {**equal, **{f"state_{i}": s for i, s in enumerate(states)}, "limit": found.limit}
    return _by_equalities_query(tuple(equal), len(states), found.sort).all(connection, params)


def _by_equalities_query(filters: tuple[str, ...], states: int, sort: str) -> DriverQuery:
    """The task rows matching equality filters on the named columns and one of `states` states
    (parameters state_0, state_1, ...), sorted; parameters by name; built once per shape."""
    key = (filters, states, sort)
    query = _BY_EQUALITIES.get(key)
    if query is None:
        conditions = [_equals(name, bindparam(name)) for name in filters]
        if states:
            conditions.append(_T.state.in_([bindparam(f"state_{i}") for i in range(states)]))
        statement = (
            _TASK_ROWS.where(*conditions)
            .order_by(*[(c.desc() if desc else c.asc()).nulls_last() for c, desc in sort_order(sort)])
            .limit(bindparam("limit"))
        )
        query = _BY_EQUALITIES[key] = DriverQuery(statement)
    return query


def _equals(name: str, value):
    """An equality filter of the inbox: a column (`states`: the state among several) equal to `value`.

    A business key is looked up on the cases (where it is unique) and read through the tasks' instance
    index: an index of its own on the tasks cost every task insert a page (migration 0006)."""
    if name == "states":
        return _T.state.in_(value)
    if name == "business_key":
        return (
            _T.instance_id == select(ProcessInstance.id).where(ProcessInstance.business_key == value).scalar_subquery()
        )
    return _T[name] == value


# --- path 3: any other filters ---------------------------------------------------------------------
def _filtered(found: InboxFilter, now: datetime):
    """A statement for any combination of filters, built for the request."""
    query = _TASK_ROWS.where(*[_equals(name, value) for name, value in found.equalities().items()])
    if found.candidate is not None:
        query = query.where(in_queue(found.candidate, found.group), _T.state == HumanTaskState.OPEN)
    elif found.group is not None:
        # driven from the queue index (group_key, due_at, task_id): the first page is read in order
        in_group = and_(_Q.task_id == _T.id, _Q.group_key == found.group)
        query = query.join(_QUEUE, in_group).where(_T.state == HumanTaskState.OPEN)
    if found.due_before is not None:
        query = query.where(_T.due_at < found.due_before)
    if found.due_after is not None:
        query = query.where(_T.due_at >= found.due_after)
    if found.involving is not None:  # the actor's open queues, and what the actor holds or completed
        involving = found.involving
        mine = [_T.assignee_id == involving.id, _T.completed_by_id == involving.id] if involving.id is not None else []
        query = query.where(or_(and_(_T.state == HumanTaskState.OPEN, in_queue(involving, None)), *mine))
    if found.sla_state is not None:
        query = query.where(sla_condition(found.sla_state, now))
    order = sort_order(found.sort)
    if found.group is not None and found.candidate is None:
        # a queue entry carries its task's due time: the same conditions on it let the queue index
        # (group_key, due_at, task_id) serve them, and its order is the task's order
        query = query.where(*queue_due_conditions(found.sla_state, now, found.due_before, found.due_after))
        if found.sort == "due":
            order = _QUEUE_ORDER
    if found.cursor:
        query = query.where(after(order, found.cursor))
    query = query.order_by(*[(c.desc() if desc else c.asc()).nulls_last() for c, desc in order])
    return query.limit(found.limit)
