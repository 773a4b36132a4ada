"""Who is told about which event: the one table of notifiable event types.

An event reaches the channels of the users its payload names (an assignee, users to notify) and,
while its task waits in a queue, of that queue's groups: a department's own channels (its group
robot) and the channels of its members; a role group (`officer`, `supervisor`) within the task's
station; `user:<name>`. Event types missing here are not notified. Types written by the handling
operations notify their new holder (transfer, delegate), the holder or queue (urge), or the case
owner (return); a copy (抄送) notifies each of its recipients (groups were expanded when it was sent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from engine.store.models import Department, Membership, NotificationChannel, User
from engine.vocabulary import USER_ROLES, Event


@dataclass(frozen=True)
class Rule:
    users: tuple[str, ...]  # payload keys holding a user id or a list of them
    queue: bool = False  # no assignee: the task's candidate groups are told


NOTIFIABLE: dict[str, Rule] = {
    Event.TASK_CREATED: Rule(("assignee_id",), queue=True),  # in my queue, or assigned to me
    Event.TASK_REASSIGNED: Rule(("assignee_id",)),  # someone else gave it to me
    Event.SLA_WARNING: Rule(("assignee_id",), queue=True),
    Event.SLA_BREACHED: Rule(("assignee_id", "notify_user_ids"), queue=True),
    Event.TASK_URGED: Rule(("assignee_id",), queue=True),  # the holder, or the queue it waits in
    Event.TASK_RETURNED: Rule(("owner_id",)),  # the case owner re-routes it
    Event.TASK_TRANSFERRED: Rule(("assignee_id",)),  # a colleague handed it to me
    Event.TASK_DELEGATED: Rule(("assignee_id",)),  # asked to do the work for its holder
    Event.CASE_COPIED: Rule(("copied_to_ids",)),  # copy (抄送): each recipient, groups expanded when sent
}
ROLE_GROUPS = frozenset(str(role) for role in USER_ROLES)


def user_ids(rule: Rule, payload: dict[str, Any]) -> set[int]:
    found: set[int] = set()
    for key in rule.users:
        value = payload.get(key)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, int) and not isinstance(item, bool):
                found.add(item)
    return found


def channels_for(
    scope, ids: set[int], groups: list[str], station_id: int | None, event_type: str
) -> list[NotificationChannel]:
    """The active channels of these users and groups that want this event type (two queries)."""
    names = [g.removeprefix("user:") for g in groups if g.startswith("user:")]
    roles = [g for g in groups if g in ROLE_GROUPS]
    departments = [g for g in groups if not g.startswith("user:") and g not in ROLE_GROUPS]
    who: list[ColumnElement[bool]] = [User.id.in_(ids)] if ids else []
    if names:
        who.append(User.username.in_(names))
    if departments:
        members = select(Membership.user_id).join(Department, Department.id == Membership.department_id)
        who.append(User.id.in_(members.where(Department.key.in_(departments))))
    if roles and station_id is not None:
        at_station = select(Membership.user_id).where(Membership.department_id == station_id)
        who.append(and_(User.role.in_(roles), User.id.in_(at_station)))
    found: dict[str, NotificationChannel] = {}
    if who:
        query = (
            select(NotificationChannel)
            .join(User, User.id == NotificationChannel.user_id)
            .where(NotificationChannel.active.is_(True), User.active.is_(True), or_(*who))
        )
        found.update((c.id, c) for c in scope.scalars(query))
    if departments:
        query = (
            select(NotificationChannel)
            .join(Department, Department.id == NotificationChannel.department_id)
            .where(NotificationChannel.active.is_(True), Department.key.in_(departments))
        )
        found.update((c.id, c) for c in scope.scalars(query))
    return [c for c in found.values() if not c.events or event_type in c.events]
