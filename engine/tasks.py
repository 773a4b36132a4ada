"""TaskService: inbox queries, claim, unclaim, complete, reassign, and case ownership.

First-contact responsibility (首接负责制) lives here: the officer who first claims one of a case's
officer tasks becomes its case owner; later officer tasks go to the owner automatically; nobody else
may take them; only a supervisor moves ownership, with a reason, audited.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import BigInteger, and_, bindparam, or_, select, union, update

from .errors import (
    Forbidden,
    InvalidInput,
    InvalidQuery,
    NotAssignee,
    NotCandidate,
    OwnedByAnother,
    TaskAlreadyClaimed,
    TaskNotClaimed,
    TaskNotFound,
    TaskNotOpen,
    UserNotFound,
)
from .identity import STATION_ROLES, Actor
from .runtime import _reason, lookup_names
from .store.db import DriverQuery, DriverStatement
from .store.models import TASK_OPEN, HumanTask, ProcessInstance, TaskCandidate, User
from .store.record import Record
from .unit_of_work import (
    OPEN_STATES,
    Change,
    OfTask,
    add_candidates,
    close_task,
    drop_candidates,
    is_candidate,
    refresh_timers,
    write_row,
)

STATES = ("open", "claimed", "completed", "cancelled")
# Reads run as Core statements on the tables (rows, not ORM objects: no identity map, no
# instrumentation), built once where they can be: building costs more than running on SQLite.
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
_CLAIM = DriverStatement(
    update(HumanTask.__table__)
    .where(_T.id == bindparam("task_id"), _T.state == "open")
    .values(state="claimed", assignee_id=bindparam("assignee_id"), claimed_at=bindparam("at"))
)
_OWNER_TASKS = DriverQuery(
    select(HumanTask.__table__).where(_T.instance_id == bindparam("instance_id"), _T.owner_task.is_(True), TASK_OPEN)
)
SLA_STATES = ("on_time", "warning", "breached", "met", "missed")
SORTS = {"due": "due_at", "priority": "priority", "created": "created_at"}
_NO_DUE = datetime.min.replace(tzinfo=UTC)  # sorts tasks without a due time (last) against the others
MAX_LIMIT = 200


class TaskService:
    def __init__(self, ctx):
        self.ctx = ctx

    # --- commands --------------------------------------------------------------------------------
    def claim(self, task_id: str, actor: Actor, visible=None) -> dict[str, Any]:
        """Atomically take an open task; the loser of a race gets TaskAlreadyClaimed.

        `visible(view)`, given to any command, is the caller's access check on the task as it is
        before the change; it raises to refuse (a web layer's 404), inside the same transaction.
        """

        def op(change: Change):
            row = self._row(change, task_id, visible)
            if row.state == "claimed" and row.assignee_id == actor.id:
                return  # claiming what you hold already changes nothing
            self._claim(change, row, actor)

        return self.ctx.uow.run(self._instance_of(task_id), actor, op, load_workflow=False, then=self._view_of(task_id))

    def unclaim(self, task_id: str, actor: Actor, visible=None) -> dict[str, Any]:
        def op(change: Change):
            row = self._row(change, task_id, visible)
            if row.state != "claimed":
                raise TaskNotClaimed("the task is not claimed")
            if row.assignee_id != actor.id and not self._supervises(actor, row):
                raise NotAssignee("only the assignee or a supervisor of the station may release the task")
            write_row(change.session, row, {"state": "open", "assignee_id": None, "claimed_at": None})
            add_candidates(change.session, row)
            change.audit("task.unclaimed", task_id=row.id, element_id=row.element_id)
            change.emit("task.unclaimed", task_id=row.id, element_id=row.element_id)

        return self.ctx.uow.run(self._instance_of(task_id), actor, op, load_workflow=False, then=self._view_of(task_id))

    def complete(self, task_id: str, actor: Actor, data: dict[str, Any] | None, visible=None) -> dict[str, Any]:
        """Complete with form data: validated, declared fields only, personal fields sealed.

        An open task the actor may claim is claimed in the same transaction.
        """
        data = {} if data is None else data

        def op(change: Change):
            row = self._row(change, task_id, visible)
            if row.state not in OPEN_STATES:
                raise TaskNotOpen(f"the task is already {row.state}")
            if row.state == "open":
                self._claim(change, row, actor)
            elif row.assignee_id != actor.id:
                raise NotAssignee("the task is assigned to someone else")
            if row.form_key and row.form_key in self.ctx.forms:
                plain, personal = self.ctx.forms.get(row.form_key).validate(data)
            else:
                if not isinstance(data, dict):
                    raise InvalidInput("data must be a JSON object", [{"field": None, "message": "not an object"}])
                if data:
                    raise InvalidInput(
                        "this task has no form: send no data",
                        [{"field": k, "message": "unknown field"} for k in sorted(data)[:20]],
                    )
                plain, personal = {}, {}
            workflow = change.workflow
            refresh_timers(workflow)  # a timer that fell due first wins (boundary at breach)
            task = workflow.get_task_from_id(uuid.UUID(task_id))
            if task is None or task.state != TaskState.READY or not task.task_spec.manual:
                raise TaskNotOpen("the task is no longer ready (a timer or message closed it)")
            task.set_data(**plain)
            workflow.run_task_from_id(task.id)
            workflow.do_engine_steps()
            close_task(change, row, "completed", via="form", actor=actor, outcome=plain)
            if personal:
                self.ctx.personal.store(change, row.id, row.form_key, personal)
            change.audit(
                "task.completed",
                task_id=row.id,
                element_id=row.element_id,
                fields=sorted(plain),
                personal_fields=sorted(personal),
            )
            change.emit("task.completed", task_id=row.id, element_id=row.element_id, via="form")

        def view(change: Change) -> dict[str, Any]:
            result = self._view_of(task_id)(change)
            result["next_tasks"] = self.opened_by(change)
            return result

        return self.ctx.uow.run(self._instance_of(task_id), actor, op, then=view)

    def reassign(self, task_id: str, actor: Actor, username: str, reason: str, visible=None) -> dict[str, Any]:
        """A supervisor gives a task to someone else. An officer task moves the case's ownership."""
        reason = _reason(reason)

        def op(change: Change):
            row = self._row(change, task_id, visible)
            if row.state not in OPEN_STATES:
                raise TaskNotOpen(f"the task is already {row.state}")
            if not self._supervises(actor, row):
                raise Forbidden("only a supervisor of the case's station may reassign its tasks")
            target = self._user(change.session, username)
            if row.owner_task:
                self._change_owner(change, target, reason)
                return
            if not is_candidate(target, row):
                raise InvalidInput(
                    f"'{username}' is not a candidate for this task",
                    [{"field": "user", "message": "not in the task's groups"}],
                )
            self._assign(change, row, target.id)
            change.audit(
                "task.reassigned", task_id=row.id, element_id=row.element_id, assignee=target.username, reason=reason
            )
            change.emit("task.reassigned", task_id=row.id, element_id=row.element_id, assignee_id=target.id)

        return self.ctx.uow.run(self._instance_of(task_id), actor, op, load_workflow=False, then=self._view_of(task_id))

    def reassign_case_owner(self, instance_id: str, actor: Actor, username: str, reason: str) -> dict[str, Any]:
        """Move first-contact responsibility to another officer of the station (supervisor only)."""
        reason = _reason(reason)

        def op(change: Change):
            if actor.role != "supervisor" or change.instance.station_id not in (None, actor.station_id):
                raise Forbidden("only a supervisor of the case's station may reassign its owner")
            if change.instance.status != "running":
                raise TaskNotOpen(f"the case is {change.instance.status}")
            self._change_owner(change, self._user(change.session, username), reason)

        self.ctx.uow.run(instance_id, actor, op, load_workflow=False)
        return self.ctx.runtime.get_instance(instance_id, history=False)

    # --- rules -----------------------------------------------------------------------------------
    def _claim(self, change: Change, row: HumanTask, actor: Actor) -> None:
        if row.state == "claimed":
            raise TaskAlreadyClaimed("the task was claimed by someone else")
        if row.state != "open":
            raise TaskNotOpen(f"the task is already {row.state}")
        owner_id = change.instance.case_owner_id
        if row.owner_task and owner_id is not None and owner_id != actor.id:
            raise OwnedByAnother("this case has an owner; its officer tasks are theirs")
        if not is_candidate(actor, row):
            raise NotCandidate("you are not a candidate for this task")
        # conditional update: exactly one transaction moves the row out of 'open'
        won = _CLAIM.execute(change.session, {"task_id": row.id, "assignee_id": actor.id, "at": change.now})
        if won != 1:
            raise TaskAlreadyClaimed("the task was claimed by someone else")
        row.state, row.assignee_id, row.claimed_at = "claimed", actor.id, change.now  # as written
        drop_candidates(change.session, row.id)
        change.audit("task.claimed", task_id=row.id, element_id=row.element_id)
        change.emit("task.claimed", task_id=row.id, element_id=row.element_id, assignee_id=actor.id)
        if row.owner_task and owner_id is None:
            change.set_instance(case_owner_id=actor.id)
            change.audit("case.owner_assigned", owner=actor.username, rule="first_contact")
            change.emit("case.owner_changed", owner_id=actor.id, previous_owner_id=None)
            self._owner_tasks_to(change, actor.id, exclude=row.id)

    def _change_owner(self, change: Change, target: Actor, reason: str) -> None:
        role = self.ctx.settings.ownership_role
        if target.role != role or target.station_id != change.instance.station_id:
            raise InvalidInput(
                f"the new owner must be an {role} of the case's station",
                [{"field": "user", "message": "not an officer of this station"}],
            )
        previous = change.instance.case_owner_id
        if previous == target.id:
            return
        change.set_instance(case_owner_id=target.id)
        self._owner_tasks_to(change, target.id)
        change.audit("case.owner_reassigned", owner=target.username, previous_owner_id=previous, reason=reason)
        change.emit("case.owner_changed", owner_id=target.id, previous_owner_id=previous)

    def _owner_tasks_to(self, change: Change, user_id: int, exclude: str | None = None) -> None:
        """Give the case's open officer tasks (but `exclude`) to `user_id`. The workflow this process
        saved at the locked version names the open tasks: none besides `exclude` (a first claim,
        usually), no query."""
        known = self.ctx.workflows.open_tasks(change.instance.id, change.instance.version)
        if known is not None and not set(known) - {exclude}:
            return
        for row in change.hold(_OWNER_TASKS.all(change.session.connection(), {"instance_id": change.instance.id})):
            if row.id != exclude and row.assignee_id != user_id:
                self._assign(change, row, user_id)
                change.emit("task.reassigned", task_id=row.id, element_id=row.element_id, assignee_id=user_id)

    @staticmethod
    def _assign(change: Change, row: Record, user_id: int) -> None:
        write_row(change.session, row, {"state": "claimed", "assignee_id": user_id, "claimed_at": change.now})
        drop_candidates(change.session, row.id)

    @staticmethod
    def _supervises(actor: Actor, row: HumanTask) -> bool:
        return actor.role == "supervisor" and (row.station_id is None or row.station_id == actor.station_id)

    def _user(self, session, username: str) -> Actor:
        user_id = session.scalar(select(User.id).where(User.username == username, User.active.is_(True)))
        if user_id is None:
            raise UserNotFound(f"user '{username}' does not exist")
        return self.ctx.identity.actor_by_id(session, user_id)

    def _row(self, change: Change, task_id: str, visible=None) -> HumanTask:
        row = change.task_row(task_id)
        if row is None:
            raise TaskNotFound(f"task '{task_id}' does not exist")
        if visible is not None:
            visible(self._row_view(change, row))
        return row

    def opened_by(self, change: Change) -> list[dict[str, Any]]:
        """The task rows `change` created, as `get_task` shows them, in the inbox's order (due time,
        then id): known to the change, so not read back."""
        rows = sorted(change.created_tasks, key=lambda r: (r["due_at"] is None, r["due_at"] or _NO_DUE, r["id"]))
        return self._rows_view(change, [Record(HumanTask.__table__, row) for row in rows])

    @classmethod
    def _row_view(cls, change: Change, row: HumanTask) -> dict[str, Any]:
        """The task as `get_task` shows it, from the row the unit of work holds (users named by id)."""
        return cls._rows_view(change, [row])[0]

    @staticmethod
    def _rows_view(change: Change, rows: list) -> list[dict[str, Any]]:
        """Task rows as `get_task` shows them; their users named with one lookup (none for the actor)."""
        names = {change.actor.id: change.actor.username}
        others = {user_id for row in rows for user_id in (row.assignee_id, row.completed_by_id)} - set(names) - {None}
        if others:
            names.update(lookup_names(change.session, {"u": others})["u"])
        return [task_view(row, names.get(row.assignee_id), names.get(row.completed_by_id), change.now) for row in rows]

    @staticmethod
    def _instance_of(task_id: str) -> OfTask:
        return OfTask(str(task_id))

    def _view_of(self, task_id: str):
        """The task as `get_task` shows it, after the change, from the row the unit of work holds."""

        def view(change: Change) -> dict[str, Any]:
            row = change.task_row(task_id)  # held by the change already: no statement
            result = self._row_view(change, row)
            result["form"] = self._form(row.form_key)
            return result

        return view

    def get_task(self, task_id: str) -> dict[str, Any]:
        with self.ctx.db.read_statement() as session:
            return self._task_view(session, task_id)

    def _task_view(self, session, task_id: str) -> dict[str, Any]:
        rows = self.query_rows(session, task_id=str(task_id))
        if not rows:
            raise TaskNotFound(f"task '{task_id}' does not exist")
        view = rows[0]
        view["form"] = self._form(view["form_key"])
        return view

    def _form(self, form_key: str | None) -> dict[str, Any] | None:
        return self.ctx.forms.get(form_key).schema if form_key in self.ctx.forms else None

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
    ) -> dict[str, Any]:
        """Inbox query. `assignee`/`candidate` take 'me' or a username; pages by keyset cursor.

        `station_id` keeps a station's tasks; `involving` keeps the open tasks in the actor's queues and
        the tasks the actor holds or completed (how the API scopes a caller's view).
        """
        if sort not in SORTS:
            raise InvalidInput(f"sort must be one of {', '.join(SORTS)}", [{"field": "sort", "message": "invalid"}])
        states = [state] if isinstance(state, str) else list(state or [])
        if any(s not in STATES for s in states):
            raise InvalidInput(f"state must be one of {', '.join(STATES)}", [{"field": "state", "message": "invalid"}])
        if sla_state is not None and sla_state not in SLA_STATES:
            raise InvalidInput(
                f"sla_state must be one of {', '.join(SLA_STATES)}", [{"field": "sla_state", "message": "invalid"}]
            )
        limit = min(max(int(limit), 1), MAX_LIMIT)
        with self.ctx.db.read_statement() as session:  # a user named by username: one lookup first
            assignee_id = candidate_actor = None
            if assignee:
                assignee_id = self._resolve(session, actor, assignee).id
            if candidate:
                candidate_actor = self._resolve(session, actor, candidate)
            rows = self.query_rows(
                session,
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
                cursor=_decode_cursor(cursor, sort),
                station_id=station_id,
                involving=involving,
                sla_state=sla_state,
            )
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _encode_cursor(rows[-1], sort) if more and rows else None
        return {"items": rows, "next_cursor": next_cursor}

    def _resolve(self, session, actor: Actor | None, who: str) -> Actor:
        if who == "me":
            if actor is None:
                raise InvalidInput("'me' needs an actor", [{"field": "assignee", "message": "no actor"}])
            return actor
        return self._user(session, who)

    def query_rows(
        self,
        session,
        *,
        task_id: str | None = None,
        assignee_id: int | None = None,
        candidate: Actor | None = None,
        group: str | None = None,
        states=None,
        instance_id: str | None = None,
        business_key: str | None = None,
        due_before: datetime | None = None,
        due_after: datetime | None = None,
        sort: str = "due",
        limit: int = 200,
        cursor: list | None = None,
        station_id: int | None = None,
        involving: Actor | None = None,
        sla_state: str | None = None,
    ) -> list[dict[str, Any]]:
        now = self.ctx.clock.now()
        if (
            candidate is not None
            and sort == "due"
            and sla_state in (None, "breached")
            and task_id is None
            and assignee_id is None
            and instance_id is None
            and business_key is None
            and (not states or "open" in states)
            and (involving is None or involving.id == candidate.id)
        ):
            # the candidate's claimable queue, read from the queue index: one ordered scan per group
            rows = session.connection().execute(
                _claimable_queue(candidate, group, now, due_before, due_after, sla_state, cursor, station_id, limit)
            )
            return [task_view(row, row.assignee_name, row.completer_name, now) for row in rows]
        equal = {
            name: list(v) if name == "states" else v
            for name, v in (
                ("id", task_id),
                ("assignee_id", assignee_id),
                ("states", states),
                ("instance_id", instance_id),
                ("business_key", business_key),
                ("station_id", station_id),
            )
            if (v if name == "states" else v is not None)
        }
        if (
            candidate is None
            and group is None
            and involving is None
            and sla_state is None
            and not cursor
            and due_before is None
            and due_after is None
        ):
            # equality filters only (a task, a case's tasks, my tasks): built once per shape, read on the driver
            states = equal.pop("states", [])
            params = {**equal, **{f"state_{i}": s for i, s in enumerate(states)}, "limit": limit}
            query = _plain_query(tuple(equal), len(states), sort)
            return [
                task_view(row, row.assignee_name, row.completer_name, now)
                for row in query.all(session.connection(), params)
            ]
        query = _TASK_ROWS.where(*[_equals(name, value) for name, value in equal.items()])
        if candidate is not None:
            query = query.where(_in_queue(candidate, group), _T.state == "open")
        elif group is not None:
            # driven from the queue index (group_key, due_at, task_id): the first page is read in order
            query = query.join(_QUEUE, and_(_Q.task_id == _T.id, _Q.group_key == group)).where(_T.state == "open")
        if due_before is not None:
            query = query.where(_T.due_at < due_before)
        if due_after is not None:
            query = query.where(_T.due_at >= due_after)
        if involving is not None:  # the actor's open queues, and what the actor holds or completed
            mine = (
                [_T.assignee_id == involving.id, _T.completed_by_id == involving.id] if involving.id is not None else []
            )
            query = query.where(or_(and_(_T.state == "open", _in_queue(involving, None)), *mine))
        if sla_state is not None:
            query = query.where(_sla_condition(sla_state, now))
        order = _order(sort)
        if group is not None and candidate is None:
            # a queue entry carries its task's due time: the same conditions on it let the queue index
            # (group_key, due_at, task_id) serve them, and its order is the task's order
            query = query.where(*_queue_due_conditions(sla_state, now, due_before, due_after))
            if sort == "due":
                order = _QUEUE_ORDER
        if cursor:
            query = query.where(_after(order, cursor))
        query = query.order_by(*[(c.desc() if desc else c.asc()).nulls_last() for c, desc in order])
        query = query.limit(limit)
        return [
            task_view(row, row.assignee_name, row.completer_name, now) for row in session.connection().execute(query)
        ]


_PLAIN: dict[tuple, Any] = {}


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


def _plain_query(filters: tuple[str, ...], states: int, sort: str) -> DriverQuery:
    """The task rows matching equality filters on the named columns and one of `states` states
    (parameters state_0, state_1, ...), sorted; parameters by name."""
    key = (filters, states, sort)
    query = _PLAIN.get(key)
    if query is None:
        conditions = [_equals(name, bindparam(name)) for name in filters]
        if states:
            conditions.append(_T.state.in_([bindparam(f"state_{i}") for i in range(states)]))
        statement = (
            _TASK_ROWS.where(*conditions)
            .order_by(*[(c.desc() if desc else c.asc()).nulls_last() for c, desc in _order(sort)])
            .limit(bindparam("limit"))
        )
        query = _PLAIN[key] = DriverQuery(statement)
    return query


def _in_queue(actor: Actor, group: str | None):
    """Rows in the claimable queues of `actor` (optionally one group); role groups reach only its station."""
    keys = [k for k in actor.groups if group is None or k == group]
    role_keys = [k for k in keys if k in STATION_ROLES]
    other_keys = [k for k in keys if k not in STATION_ROLES]
    in_queue = [_T.id.in_(select(_Q.task_id).where(_Q.group_key.in_(other_keys)))]
    if role_keys:
        in_queue.append(
            and_(
                _T.id.in_(select(_Q.task_id).where(_Q.group_key.in_(role_keys))),
                or_(_T.station_id.is_(None), _T.station_id == actor.station_id),
            )
        )
    return or_(*in_queue)


_QUEUE_ORDER = [(_Q.due_at, False), (_Q.task_id, False)]
_QUEUE_TASK = HumanTask.__table__.alias("queue_task")


def _claimable_queue(
    actor: Actor,
    group: str | None,
    now: datetime,
    due_before,
    due_after,
    sla_state,
    cursor,
    station_id: int | None,
    limit: int,
):
    """An actor's claimable tasks in due order, as a UNION of ordered scans of the queue index, one
    per group the actor answers to (an OR over groups cannot be read in order from one index).

    Each scan stops after `limit` entries (a role group's scan skips other stations' tasks as it
    walks); queue entries exist only for open tasks and carry their task's due time, so the
    conditions hold on them and no page comes out short.
    """
    scans = []
    for key in sorted(k for k in actor.groups if group is None or k == group):
        scan = select(_Q.task_id.label("task_id"), _Q.due_at.label("due_at")).where(
            _Q.group_key == key, *_queue_due_conditions(sla_state, now, due_before, due_after)
        )
        if cursor:
            scan = scan.where(_after(_QUEUE_ORDER, cursor))
        if key in STATION_ROLES or station_id is not None:
            scan = scan.join(_QUEUE_TASK, _QUEUE_TASK.c.id == _Q.task_id)
            if key in STATION_ROLES:
                scan = scan.where(or_(_QUEUE_TASK.c.station_id.is_(None), _QUEUE_TASK.c.station_id == actor.station_id))
            if station_id is not None:
                scan = scan.where(_QUEUE_TASK.c.station_id == station_id)
        scan = scan.order_by(_Q.due_at.asc().nulls_last(), _Q.task_id).limit(limit)
        scans.append(select(scan.subquery()))
    queue = union(*scans).subquery("queue") if len(scans) > 1 else scans[0].subquery("queue")
    query = _TASK_ROWS.join(queue, queue.c.task_id == _T.id).where(_T.state == "open")
    if sla_state is not None:
        query = query.where(_sla_condition(sla_state, now))
    order = [(queue.c.due_at, False), (queue.c.task_id, False)]
    return query.order_by(*[c.asc().nulls_last() for c, _desc in order]).limit(limit)


def _order(sort: str):
    """Sort columns as (column, descending); the id always breaks ties."""
    if sort == "priority":
        return [(_T.priority, True), (_T.due_at, False), (_T.id, False)]
    if sort == "created":
        return [(_T.created_at, False), (_T.id, False)]
    return [(_T.due_at, False), (_T.id, False)]


def _after(order, values):
    """Keyset condition 'strictly after `values`' (from `_decode_cursor`) for an ORDER BY with NULLS LAST."""
    clauses = []
    for i, (column, desc) in enumerate(order[: len(values)]):
        equal = [(c == v) if v is not None else c.is_(None) for (c, _d), v in zip(order[:i], values[:i], strict=True)]
        value = values[i]
        if value is None:
            continue  # nothing sorts after NULL within this column (NULLS LAST)
        beyond = column < value if desc else column > value
        clauses.append(and_(*equal, or_(beyond, column.is_(None))))
    return or_(*clauses) if clauses else _T.id.is_(None)


# what the column's integer type holds on both SQLite and PostgreSQL (PostgreSQL binds an Integer as int4)
_INTEGER_RANGES = {True: range(-(2**63), 2**63), False: range(-(2**31), 2**31)}


def _cursor_value(column, value):
    """One decoded cursor value as its sort column's Python type; ValueError unless it could be one."""
    if value is None:
        if not column.nullable:
            raise ValueError
        return None
    kind = column.type.python_type
    if kind is datetime and isinstance(value, str):
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError
        try:
            return moment.astimezone(UTC)
        except OverflowError:  # a moment outside the years 1 to 9999 in UTC
            raise ValueError from None
    if kind is int and type(value) is int and value in _INTEGER_RANGES[isinstance(column.type, BigInteger)]:
        return value
    if kind is str and isinstance(value, str) and len(value) <= 64 and value.isascii() and value.isprintable():
        return value
    raise ValueError


def _encode_cursor(view: dict[str, Any], sort: str) -> str:
    keys = {"priority": ["priority", "due_at", "id"], "created": ["created_at", "id"]}.get(sort, ["due_at", "id"])
    return base64.urlsafe_b64encode(json.dumps([view[k] for k in keys]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None, sort: str) -> list | None:
    """The sort columns' values a cursor carries, checked one by one: it comes back from the client."""
    if not cursor:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        order = _order(sort)
        if not isinstance(values, list) or len(values) != len(order):
            raise ValueError
        return [_cursor_value(column, value) for (column, _desc), value in zip(order, values, strict=True)]
    except (ValueError, TypeError):
        raise InvalidQuery("invalid cursor", [{"field": "cursor", "message": "invalid"}]) from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _queue_due_conditions(
    sla_state: str | None, now: datetime, due_before: datetime | None, due_after: datetime | None
) -> list:
    """The due-time filters of a group queue, restated on the queue entries (redundant, index-friendly)."""
    conditions = []
    if sla_state == "breached":
        conditions.append(_Q.due_at <= now)
    elif sla_state in ("warning", "on_time"):
        conditions.append(_Q.due_at > now)
    if due_before is not None:
        conditions.append(_Q.due_at < due_before)
    if due_after is not None:
        conditions.append(_Q.due_at >= due_after)
    return conditions


def _sla_condition(sla_state: str, now: datetime):
    """Open tasks are judged against the clock (never stale); closed ones by what was recorded."""
    is_open = TASK_OPEN
    if sla_state == "breached":
        return and_(is_open, _T.due_at <= now)
    if sla_state == "warning":
        return and_(is_open, _T.warn_at <= now, _T.due_at > now)
    if sla_state == "on_time":
        return and_(is_open, _T.due_at > now, or_(_T.warn_at.is_(None), _T.warn_at > now))
    return _T.sla_state == sla_state  # met | missed


def live_sla_state(row: HumanTask, now: datetime) -> str | None:
    if row.state not in OPEN_STATES or row.due_at is None:
        return row.sla_state if row.state not in OPEN_STATES else None
    if now >= row.due_at:
        return "breached"
    if row.warn_at is not None and now >= row.warn_at:
        return "warning"
    return "on_time"


def task_view(row: HumanTask, assignee: str | None, completed_by: str | None, now: datetime) -> dict[str, Any]:
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
    }


__all__ = ["TaskService", "ProcessInstance"]
