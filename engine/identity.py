"""IdentityService: users, roles, departments (stations and agencies) and memberships."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any
from zoneinfo import available_timezones

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from .audit import record
from .errors import AlreadyExists, DepartmentNotFound, InvalidInput, UserNotFound
from .store.models import Department, Membership, ProcessInstance, ReportDirty, User
from .vocabulary import STATION_ROLES, USER_ROLES, DepartmentKind, Event, Role

if TYPE_CHECKING:
    from . import Engine


# plain strings (click's choices, messages): the roles a user can have and the kinds of department
ROLES = tuple(role.value for role in USER_ROLES)
KINDS = tuple(kind.value for kind in DepartmentKind)
_KEY = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$")


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user, a department system, or the engine itself."""

    id: int | None
    username: str
    role: str
    departments: frozenset[str] = field(default_factory=frozenset)  # department keys
    station_id: int | None = None
    topics: frozenset[str] | None = None  # an external-task worker's topics (engine/external_tasks.py)

    @property
    def groups(self) -> frozenset[str]:
        """Group keys this actor answers to: its role, its departments and `user:<name>`."""
        return frozenset({self.role, f"user:{self.username}", *self.departments})

    @classmethod
    def system(
        cls, name: str = Role.SYSTEM, department: str | None = None, topics: frozenset[str] | None = None
    ) -> Actor:
        return cls(
            id=None,
            username=name,
            role=Role.SYSTEM,
            departments=frozenset({department}) if department else frozenset(),
            topics=topics,
        )


class IdentityService:
    def __init__(self, ctx: Engine):
        self.ctx = ctx
        self._hasher = PasswordHasher(
            time_cost=ctx.settings.argon2_time_cost, memory_cost=ctx.settings.argon2_memory_kib
        )
        self._equaliser_hash: str | None = None  # verified against unknown users so both paths cost the same

    def create_department(
        self, key: str, name: str, kind: str, actor: Actor | None = None, time_zone: str | None = None
    ) -> dict[str, Any]:
        """A station or an agency; a station may name its IANA time zone (None: FENGQIAO_TIME_ZONE)."""
        if not _KEY.fullmatch(key or "") or key in ROLES:
            raise InvalidInput(
                "department key must be 2-64 characters of a-z, 0-9, _ and not a role name",
                [{"field": "key", "message": "invalid key"}],
            )
        if kind not in KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", [{"field": "kind", "message": "invalid"}])
        if not (name or "").strip():
            raise InvalidInput("name is required", [{"field": "name", "message": "required"}])
        zone = _time_zone(kind, time_zone)
        try:
            with self.ctx.db.transaction() as scope:
                now = self.ctx.clock.now()
                dept = Department(key=key, name=name.strip(), kind=kind, time_zone=zone, created_at=now)
                scope.add(dept)
                scope.flush()
                details = {"key": key, "kind": kind, **({"time_zone": zone} if zone else {})}
                record(scope, dept.created_at, actor, Event.DEPARTMENT_CREATED, details=details)
                return department_view(dept)
        except IntegrityError:
            raise AlreadyExists(f"department '{key}' already exists") from None

    def set_time_zone(self, key: str, time_zone: str | None, actor: Actor | None = None) -> dict[str, Any]:
        """Set (or, with None, clear) a station's time zone. Its cases' report days move with it: every case
        of the station is queued for the rollups in the same transaction (one INSERT … SELECT), so the
        sweeper, or the next report, re-buckets them; until they are taken in, a report whose queue is too
        long reads the task rows (docs/reports.md)."""
        with self.ctx.db.transaction() as scope:
            dept = self._department(scope, key)
            zone = _time_zone(dept.kind, time_zone)
            if zone != dept.time_zone:
                before, dept.time_zone = dept.time_zone, zone
                queued = scope.connection().execute(
                    insert(ReportDirty.__table__).from_select(
                        ["instance_id"], select(ProcessInstance.id).where(ProcessInstance.station_id == dept.id)
                    )
                )
                details = {"key": key, "time_zone": zone, "before": before, "cases_requeued": queued.rowcount}
                record(scope, self.ctx.clock.now(), actor, Event.DEPARTMENT_UPDATED, details=details)
            return department_view(dept)

    def create_user(
        self,
        username: str,
        role: str,
        password: str | None,
        departments: list[str] | None = None,
        display_name: str | None = None,
        actor: Actor | None = None,
    ) -> dict[str, Any]:
        departments = list(dict.fromkeys(departments or []))
        if not _USERNAME.fullmatch(username or ""):
            raise InvalidInput(
                "username must be 2-64 characters of letters, digits and _.@-",
                [{"field": "username", "message": "invalid username"}],
            )
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}", [{"field": "role", "message": "invalid"}])
        if password is not None and len(password) < 8:
            raise InvalidInput(
                "password must have at least 8 characters", [{"field": "password", "message": "too short"}]
            )
        try:
            with self.ctx.db.transaction() as scope:
                depts = [self._department(scope, key) for key in departments]
                _check_departments(role, depts)
                user = User(
                    username=username,
                    display_name=(display_name or username).strip()[:200],
                    role=role,
                    password_hash=self._hasher.hash(password) if password else None,
                    active=True,
                    created_at=self.ctx.clock.now(),
                )
                scope.add(user)
                scope.flush()
                for dept in depts:
                    scope.add(Membership(user_id=user.id, department_id=dept.id))
                record(
                    scope,
                    user.created_at,
                    actor,
                    Event.USER_CREATED,
                    details={"username": username, "role": role, "departments": departments},
                )
                return {
                    "id": user.id,
                    "username": user.username,
                    "display_name": user.display_name,
                    "role": role,
                    "departments": departments,
                    "active": True,
                }
        except IntegrityError:
            raise AlreadyExists(f"user '{username}' already exists") from None

    def authenticate(self, username: str, password: str) -> Actor | None:
        """The actor for valid credentials of an active user, else None (same cost either way)."""
        with self.ctx.db.read() as scope:
            user = scope.scalars(select(User).where(User.username == username)).first()
            stored = user.password_hash if user is not None and user.active else None
            if self._equaliser_hash is None:
                self._equaliser_hash = self._hasher.hash("fengqiao-timing-equaliser")
            try:
                self._hasher.verify(stored or self._equaliser_hash, password)
            except (VerificationError, InvalidHashError):
                return None
            if stored is None:
                return None
            return self._actor(scope, user)

    def actor(self, username: str) -> Actor:
        with self.ctx.db.read() as scope:
            user = scope.scalars(select(User).where(User.username == username)).first()
            if user is None or not user.active:
                raise UserNotFound(f"user '{username}' does not exist")
            return self._actor(scope, user)

    def actor_by_id(self, scope, user_id: int) -> Actor:
        user = scope.get(User, user_id)
        if user is None:
            raise UserNotFound(f"user {user_id} does not exist")
        return self._actor(scope, user)

    @staticmethod
    def _actor(scope, user: User) -> Actor:
        rows = scope.execute(
            select(Department.key, Department.kind, Department.id)
            .join(Membership, Membership.department_id == Department.id)
            .where(Membership.user_id == user.id)
        ).all()
        return member_actor(user.id, user.username, user.role, rows)

    @staticmethod
    def _department(scope, key: str) -> Department:
        dept = scope.scalars(select(Department).where(Department.key == key)).first()
        if dept is None:
            raise DepartmentNotFound(f"department '{key}' does not exist")
        return dept

    def list_departments(self) -> list[dict[str, Any]]:
        with self.ctx.db.read() as scope:
            return [department_view(d) for d in scope.scalars(select(Department).order_by(Department.key))]

    def user_view(self, scope, user: User) -> dict[str, Any]:
        keys = sorted(
            scope.scalars(
                select(Department.key)
                .join(Membership, Membership.department_id == Department.id)
                .where(Membership.user_id == user.id)
            )
        )
        return {
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "role": user.role,
            "departments": keys,
            "active": user.active,
        }

    def get_user(self, username: str) -> dict[str, Any]:
        with self.ctx.db.read() as scope:
            return self.user_view(scope, self._user_row(scope, username))

    def update_user(
        self,
        username: str,
        *,
        active: bool | None = None,
        password: str | None = None,
        display_name: str | None = None,
        actor: Actor | None = None,
    ) -> dict[str, Any]:
        """Deactivate or reactivate, reset the password, rename. Deactivation and a new password end sessions."""
        if password is not None and len(password) < 8:
            raise InvalidInput(
                "password must have at least 8 characters", [{"field": "password", "message": "too short"}]
            )
        if display_name is not None and not display_name.strip():
            raise InvalidInput("display name must not be empty", [{"field": "display_name", "message": "required"}])
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as scope:
            user = self._user_row(scope, username)
            changed = []
            if display_name is not None and display_name.strip()[:200] != user.display_name:
                user.display_name = display_name.strip()[:200]
                changed.append("display_name")
            if password is not None:
                user.password_hash = self._hasher.hash(password)
                changed.append("password")
            if active is not None and active != user.active:
                user.active = active
                changed.append("active")
            if "password" in changed or user.active is False:
                self.ctx.tokens.revoke_sessions(scope, user.id, now)
            if changed:
                record(
                    scope,
                    now,
                    actor,
                    Event.USER_UPDATED,
                    details={"username": user.username, "changed": changed, "active": user.active},
                )
            return self.user_view(scope, user)

    def add_membership(self, username: str, department: str, actor: Actor | None = None) -> dict[str, Any]:
        return self._membership(username, department, True, actor)

    def remove_membership(self, username: str, department: str, actor: Actor | None = None) -> dict[str, Any]:
        return self._membership(username, department, False, actor)

    def _membership(self, username: str, department: str, add: bool, actor: Actor | None) -> dict[str, Any]:
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as scope:
            user = self._user_row(scope, username)
            dept = self._department(scope, department)
            current = list(
                scope.scalars(
                    select(Department)
                    .join(Membership, Membership.department_id == Department.id)
                    .where(Membership.user_id == user.id)
                )
            )
            member = any(d.id == dept.id for d in current)
            if add and not member:
                _check_departments(user.role, current + [dept])
                scope.add(Membership(user_id=user.id, department_id=dept.id))
            elif not add and member:
                _check_departments(user.role, [d for d in current if d.id != dept.id])
                scope.execute(
                    delete(Membership).where(Membership.user_id == user.id, Membership.department_id == dept.id)
                )
            else:
                return self.user_view(scope, user)
            scope.flush()
            record(
                scope,
                now,
                actor,
                Event.MEMBERSHIP_ADDED if add else Event.MEMBERSHIP_REMOVED,
                details={"username": user.username, "department": dept.key},
            )
            return self.user_view(scope, user)

    @staticmethod
    def _user_row(scope, username: str) -> User:
        user = scope.scalars(select(User).where(User.username == username)).first()
        if user is None:
            raise UserNotFound(f"user '{username}' does not exist")
        return user

    def list_users(self) -> list[dict[str, Any]]:
        with self.ctx.db.read() as scope:
            users = scope.scalars(select(User).order_by(User.username)).all()
            memberships = scope.execute(
                select(Membership.user_id, Department.key).join(Department, Department.id == Membership.department_id)
            ).all()
            by_user: dict[int, list[str]] = {}
            for user_id, key in memberships:
                by_user.setdefault(user_id, []).append(key)
            return [
                {
                    "id": u.id,
                    "username": u.username,
                    "display_name": u.display_name,
                    "role": u.role,
                    "departments": sorted(by_user.get(u.id, [])),
                    "active": u.active,
                }
                for u in users
            ]


def member_actor(user_id: int, username: str, role: str, departments: Iterable[tuple[str, str, int]]) -> Actor:
    """The actor of a user from their memberships' (department key, kind, id); a station is its station."""
    departments = list(departments)
    station = next((dept_id for _key, kind, dept_id in departments if kind == DepartmentKind.STATION), None)
    return Actor(
        id=user_id,
        username=username,
        role=role,
        departments=frozenset(key for key, _kind, _id in departments),
        station_id=station,
    )


def _check_departments(role: str, depts: list[Department]) -> None:
    """The membership rules of a role (the same create_user applies)."""
    kinds = {d.kind for d in depts}
    if role in STATION_ROLES and (len(depts) != 1 or kinds != {DepartmentKind.STATION}):
        raise InvalidInput(
            f"{'an' if role[0] in 'aeiou' else 'a'} {role} belongs to exactly one station",
            [{"field": "department", "message": "name one station"}],
        )
    if role == Role.LIAISON and (not depts or kinds != {DepartmentKind.AGENCY}):
        raise InvalidInput(
            "a liaison belongs to one or more agencies", [{"field": "department", "message": "name an agency"}]
        )
    if role in (Role.ADMIN, Role.AUDITOR) and depts:
        raise InvalidInput(f"an {role} belongs to no department", [{"field": "department", "message": "not allowed"}])


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _time_zone(kind: str, time_zone: str | None) -> str | None:
    """A department's time zone as stored: an IANA name of the system's zone database, on a station only;
    None (or empty) for the deployment's FENGQIAO_TIME_ZONE."""
    zone = (time_zone or "").strip() or None
    if zone is None:
        return None
    if kind != DepartmentKind.STATION:
        raise InvalidInput("only a station has a time zone", [{"field": "time_zone", "message": "a station's only"}])
    if zone not in _zone_names():
        raise InvalidInput(
            f"'{zone[:64]}' is not a known time zone (an IANA name such as Asia/Shanghai)",
            [{"field": "time_zone", "message": "unknown time zone"}],
        )
    return zone


def department_view(dept: Department) -> dict[str, Any]:
    return {"id": dept.id, "key": dept.key, "name": dept.name, "kind": dept.kind, "time_zone": dept.time_zone}
