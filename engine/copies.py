"""Copy (抄送): a read-only notice of a case to users or groups, a "copied to me" list, read marks.

A copy changes nothing of the case: it tells people (the community committee, a grid worker) that it
exists and why. Groups are expanded to their active users when the copy is sent (one row per user),
so a later change of a department's members does not change who was told. Who may send one: the
case owner and a supervisor of the case's station. A copy never widens what its recipient may read:
the web layer decides whether the case itself opens for them (web/access.py), the engine only says
which of the copied cases a liaison's tasks reach (`reachable_through_tasks`).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, insert, or_, select, update

from .errors import CopyNotFound, Forbidden, InstanceNotRunning, InvalidInput
from .identity import Actor
from .queues import in_queue
from .store.models import CaseCopy, Department, HumanTask, Membership, ProcessInstance, User
from .uow import Change
from .validation import checked_reason
from .vocabulary import STATION_ROLES, Event, HumanTaskState, InstanceStatus, Role

if TYPE_CHECKING:
    from . import Engine

MAX_NAMES = 50  # users or groups named in one copy
MAX_RECIPIENTS = 500  # users one copy reaches once groups are expanded
COPYABLE = (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED)  # a closed case has nobody left to tell
_C = CaseCopy.__table__
_INSERT = insert(_C)
_T = HumanTask.__table__.c


class CopyService:
    def __init__(self, ctx: Engine):
        self.ctx = ctx

    def send(
        self, instance_id: str, actor: Actor, reason: str, users: Any = None, groups: Any = None
    ) -> dict[str, Any]:
        """Copy a running (or suspended) case to users and groups, with a reason: one unit of work
        (the copy rows, an audit row, `case.copied` with the recipients' ids)."""
        reason = checked_reason(reason)
        names = _names(users, "users")
        group_keys = _names(groups, "groups")
        if not names and not group_keys:
            raise InvalidInput(
                "name at least one user or group to copy to", [{"field": "users", "message": "no recipient"}]
            )

        def op(change: Change) -> dict[str, Any]:
            instance = change.instance
            if instance.status not in COPYABLE:
                raise InstanceNotRunning(f"the case is {instance.status}: it can no longer be copied")
            if not _may_copy(actor, instance):
                raise Forbidden("only the case owner or a supervisor of the station may copy a case")
            recipients = self._recipients(change.scope, names, group_keys, instance.station_id, actor)
            rows = [
                {
                    "id": str(uuid.uuid4()),
                    "instance_id": instance.id,
                    "recipient_id": user_id,
                    "copied_by_id": actor.id,
                    "copied_by": actor.username,
                    "reason": reason,
                    "created_at": change.now,
                    "read_at": None,
                }
                for user_id in recipients
            ]
            change.scope.execute(_INSERT, rows)
            usernames = sorted(recipients.values())
            change.audit(Event.CASE_COPIED, reason=reason, users=names, groups=group_keys, recipients=usernames)
            change.emit(Event.CASE_COPIED, station_id=instance.station_id, copied_to_ids=sorted(recipients))
            return {
                "instance_id": instance.id,
                "business_key": instance.business_key,
                "recipients": usernames,
                "copied_at": change.now.isoformat(),
            }

        return self.ctx.uow.run(instance_id, actor, op, load_workflow=False)

    def _recipients(
        self, scope, names: list[str], group_keys: list[str], station_id: int | None, actor: Actor
    ) -> dict[int, str]:
        """The active users named and the active members of the groups, by id (the sender not
        copied to themself through a group). Role groups (`officer`, `supervisor`) mean that role
        at the case's station; any other group is a department key."""
        found: dict[int, str] = {}
        if names:
            rows = scope.execute(select(User.id, User.username, User.active).where(User.username.in_(names))).all()
            by_name = {r.username: r for r in rows}
            bad = [n for n in names if n not in by_name or not by_name[n].active]
            if bad:
                raise InvalidInput(
                    f"no active user named {', '.join(bad)}", [{"field": "users", "message": f"unknown: {bad[0]}"}]
                )
            if actor.username in by_name:
                raise InvalidInput("you cannot copy a case to yourself", [{"field": "users", "message": "yourself"}])
            found.update((r.id, r.username) for r in rows)
        for key in group_keys:
            members = self._members(scope, key, station_id)
            members.pop(actor.id, None)  # type: ignore[arg-type]
            if not members:
                raise InvalidInput(
                    f"group '{key}' has nobody to copy to", [{"field": "groups", "message": f"empty or unknown: {key}"}]
                )
            found.update(members)
        if len(found) > MAX_RECIPIENTS:
            raise InvalidInput(
                f"a copy reaches at most {MAX_RECIPIENTS} users", [{"field": "groups", "message": "too many users"}]
            )
        return found

    @staticmethod
    def _members(scope, key: str, station_id: int | None) -> dict[int, str]:
        query = select(User.id, User.username).join(Membership, Membership.user_id == User.id)
        if key in STATION_ROLES:
            query = query.where(User.role == key, Membership.department_id == station_id)
        else:
            query = query.join(Department, Department.id == Membership.department_id).where(Department.key == key)
        return {r.id: r.username for r in scope.execute(query.where(User.active.is_(True))).all()}

    def list_for(self, actor: Actor, unread: bool = False, limit: int = 50) -> list[dict[str, Any]]:
        """The copies sent to `actor`, newest first (through ix_copies_recipient), with their case's
        business key, status and station key."""
        query = (
            select(
                _C,
                ProcessInstance.business_key,
                ProcessInstance.status,
                Department.key.label("station"),
            )
            .join(ProcessInstance, ProcessInstance.id == _C.c.instance_id)
            .outerjoin(Department, Department.id == ProcessInstance.station_id)
            .where(_C.c.recipient_id == actor.id)
            .order_by(_C.c.created_at.desc(), _C.c.id.desc())
            .limit(limit)
        )
        if unread:
            query = query.where(_C.c.read_at.is_(None))
        with self.ctx.db.read() as scope:
            return [_view(r._asdict()) for r in scope.execute(query).all()]

    def unread_count(self, actor: Actor) -> int:
        with self.ctx.db.read() as scope:
            query = select(func.count()).where(_C.c.recipient_id == actor.id, _C.c.read_at.is_(None))
            return int(scope.scalar(query) or 0)

    def reachable_through_tasks(self, actor: Actor, instance_ids: list[str]) -> set[str]:
        """Which of these cases have a task in `actor`'s queues or one they hold or completed (how a
        liaison sees a case): one query for the whole list."""
        if not instance_ids or actor.id is None:
            return set()
        mine = or_(
            and_(_T.state == HumanTaskState.OPEN, in_queue(actor, None)),
            _T.assignee_id == actor.id,
            _T.completed_by_id == actor.id,
        )
        query = select(_T.instance_id).where(_T.instance_id.in_(instance_ids), mine).distinct()
        with self.ctx.db.read() as scope:
            return set(scope.scalars(query))

    def mark_read(self, copy_id: str, actor: Actor) -> dict[str, Any]:
        """The recipient marks their copy read (the first time counts; again changes nothing). Another
        user's copy is not found."""
        with self.ctx.db.read() as scope:
            found = scope.execute(select(_C.c.instance_id, _C.c.recipient_id).where(_C.c.id == copy_id)).first()
        if found is None or actor.id is None or found.recipient_id != actor.id:
            raise CopyNotFound(f"no copy '{copy_id}' for you")

        def op(change: Change) -> None:
            row = change.scope.execute(select(_C.c.read_at).where(_C.c.id == copy_id)).first()
            if row is None or row.read_at is not None:
                return
            change.scope.execute(update(_C).where(_C.c.id == copy_id).values(read_at=change.now))
            change.audit(Event.CASE_COPY_READ, copy_id=copy_id)
            change.emit(Event.CASE_COPY_READ, copy_id=copy_id, recipient_id=actor.id)

        self.ctx.uow.run(found.instance_id, actor, op, load_workflow=False)
        return self.get(copy_id, actor)

    def get(self, copy_id: str, actor: Actor) -> dict[str, Any]:
        query = (
            select(_C, ProcessInstance.business_key, ProcessInstance.status, Department.key.label("station"))
            .join(ProcessInstance, ProcessInstance.id == _C.c.instance_id)
            .outerjoin(Department, Department.id == ProcessInstance.station_id)
            .where(_C.c.id == copy_id, _C.c.recipient_id == actor.id)
        )
        with self.ctx.db.read() as scope:
            row = scope.execute(query).first()
        if row is None:
            raise CopyNotFound(f"no copy '{copy_id}' for you")
        return _view(row._asdict())


def _may_copy(actor: Actor, instance) -> bool:
    if actor.id is not None and actor.id == instance.case_owner_id:
        return True
    return actor.role == Role.SUPERVISOR and instance.station_id is not None and instance.station_id == actor.station_id


def _names(value: Any, field: str) -> list[str]:
    """A list of up to MAX_NAMES names, trimmed, without repeats (None: none)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidInput(f"{field} must be a list of names", [{"field": field, "message": "not a list of names"}])
    if len(value) > MAX_NAMES:
        raise InvalidInput(f"at most {MAX_NAMES} {field}", [{"field": field, "message": "too many"}])
    return list(dict.fromkeys(v.strip() for v in value))


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "instance_id": row["instance_id"],
        "business_key": row["business_key"],
        "case_status": row["status"],
        "station": row["station"],
        "copied_by": row["copied_by"],
        "reason": row["reason"],
        "copied_at": row["created_at"].isoformat(),
        "read_at": row["read_at"].isoformat() if row["read_at"] is not None else None,
    }
