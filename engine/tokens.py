"""TokenService: the bearer tokens of the HTTP API, stored only as SHA-256 hashes.

A *session* token comes from a login and expires after `Settings.token_ttl_seconds`. An *API* token
belongs to a department system: an admin creates it, it is shown once, it does not expire by
itself, and it acts as `Actor.system(name, department=KEY)`. Both kinds can be revoked. A token is
32 random bytes; hashing without a salt is enough because it is not guessable like a password.
Expired and revoked login tokens are deleted by the timer sweeper when it is idle (engine/jobs.py).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, or_, select, update

from .audit import record
from .errors import InvalidInput, TokenNotFound
from .identity import Actor, IdentityService, member_actor
from .store.driver import DriverQuery
from .store.models import AuthToken, Department, Membership, User
from .vocabulary import Event

if TYPE_CHECKING:
    from . import Engine


SESSION_PREFIX = "fqs_"
API_PREFIX = "fqa_"
MAX_TOKEN_LENGTH = 100
PURGE_BATCH = 500  # dead login tokens deleted per idle sweep: a short transaction
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$")


def _resolve_statement():
    """A token with its API department, or its user and the user's departments (one row per membership).

    Core tables, not ORM entities: every authenticated request runs this, and nothing else, to know who
    is asking; compiled once and read on the driver (engine/store/driver.py DriverQuery).
    """
    token, user, membership = AuthToken.__table__, User.__table__, Membership.__table__
    api_department, department = Department.__table__.alias("api_department"), Department.__table__
    return (
        select(
            token.c.kind,
            token.c.name,
            token.c.revoked_at,
            token.c.expires_at,
            token.c.topics,
            api_department.c.key.label("api_department"),
            user.c.id.label("user_id"),
            user.c.username,
            user.c.role,
            user.c.active,
            department.c.key.label("department_key"),
            department.c.kind.label("department_kind"),
            department.c.id.label("department_id"),
        )
        .select_from(
            token.outerjoin(api_department, api_department.c.id == token.c.department_id)
            .outerjoin(user, user.c.id == token.c.user_id)
            .outerjoin(membership, membership.c.user_id == user.c.id)
            .outerjoin(department, department.c.id == membership.c.department_id)
        )
        .where(token.c.token_hash == bindparam("token_hash"))
    )


_RESOLVE = DriverQuery(_resolve_statement())


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


class TokenService:
    def __init__(self, ctx: Engine):
        self.ctx = ctx

    # --- sessions --------------------------------------------------------------------------------
    def login(self, username: str, password: str) -> dict[str, Any] | None:
        """A new session token for valid credentials of an active user, else None (audited either way)."""
        actor = self.ctx.identity.authenticate(username, password)
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as scope:
            if actor is None:
                name = username if isinstance(username, str) and _NAME.fullmatch(username) else None
                record(scope, now, None, Event.AUTH_LOGIN_FAILED, details={"username": name})
                return None
            token = _new_token(SESSION_PREFIX)
            expires_at = now + timedelta(seconds=self.ctx.settings.token_ttl_seconds)
            scope.add(
                AuthToken(
                    token_hash=_hash(token),
                    kind="session",
                    name=actor.username,
                    user_id=actor.id,
                    department_id=None,
                    created_by=actor.username,
                    created_at=now,
                    expires_at=expires_at,
                    revoked_at=None,
                )
            )
            record(scope, now, actor, Event.AUTH_LOGIN, details={"expires_at": expires_at.isoformat()})
            user = self.ctx.identity.user_view(scope, scope.get(User, actor.id))
        return {"token": token, "token_type": "Bearer", "expires_at": expires_at.isoformat(), "user": user}

    def resolve(self, token: str | None) -> Actor | None:
        """The actor a bearer token stands for; None when unknown, expired, revoked or its user inactive."""
        if not token or len(token) > MAX_TOKEN_LENGTH or not token.startswith((SESSION_PREFIX, API_PREFIX)):
            return None
        now = self.ctx.clock.now()

        # no cache, so a revocation counts at once; the first request after a database restart still gets in
        rows = self.ctx.db.retrying(lambda: self.ctx.db.read_rows(_RESOLVE, {"token_hash": _hash(token)}))
        if not rows:
            return None
        row = rows[0]
        if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
            return None
        if row.kind == "api":
            if row.api_department is None:
                return None
            topics = frozenset(row.topics) if row.topics else None  # an external-task worker's token
            return Actor.system(row.name, department=row.api_department, topics=topics)
        if row.user_id is None or not row.active:
            return None
        return member_actor(
            row.user_id,
            row.username,
            row.role,
            [(r.department_key, r.department_kind, r.department_id) for r in rows if r.department_id is not None],
        )

    def purge_expired(self, limit: int = PURGE_BATCH) -> int:
        """Delete up to `limit` login tokens that are expired or revoked (logins and logouts stay in the
        audit trail); department systems' API tokens stay, revoked ones listed. Returns how many went.

        A read looks first, so a purge with nothing to delete takes no write lock (on SQLite,
        requests would queue behind it)."""
        dead = (
            select(AuthToken.id)
            .where(
                AuthToken.kind == "session",
                or_(AuthToken.expires_at <= self.ctx.clock.now(), AuthToken.revoked_at.is_not(None)),
            )
            .limit(limit)
        )
        with self.ctx.db.read_statement() as scope:
            ids = list(scope.scalars(dead))
        if not ids:
            return 0
        with self.ctx.db.transaction() as scope:
            return scope.execute(delete(AuthToken).where(AuthToken.id.in_(ids))).rowcount

    def revoke(self, token: str, actor: Actor | None = None) -> None:
        """Revoke a token (logout); unknown tokens are ignored."""
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as scope:
            row = scope.scalars(select(AuthToken).where(AuthToken.token_hash == _hash(token or ""))).first()
            if row is not None and row.revoked_at is None:
                row.revoked_at = now
                record(
                    scope,
                    now,
                    actor,
                    Event.AUTH_LOGOUT if row.kind == "session" else Event.API_TOKEN_REVOKED,
                    details={"token_id": row.id},
                )

    def revoke_sessions(self, scope, user_id: int, now) -> int:
        """Revoke every live session token of a user (inside the caller's transaction)."""
        return scope.execute(
            update(AuthToken)
            .where(AuthToken.user_id == user_id, AuthToken.kind == "session", AuthToken.revoked_at.is_(None))
            .values(revoked_at=now)
        ).rowcount

    # --- department systems ----------------------------------------------------------------------
    def create_api_token(
        self, department: str, name: str | None = None, actor: Actor | None = None, topics: list[str] | None = None
    ) -> dict[str, Any]:
        """A long-lived token for a department system; the token is in the result and nowhere else.
        With `topics`, it may fetch and complete the external tasks of those topics (engine/external_tasks.py)."""
        topics = _checked_topics(topics)
        name = (name or f"{department}-system").strip()
        if not _NAME.fullmatch(name):
            raise InvalidInput(
                "name must be 2-64 characters of letters, digits and _.@-",
                [{"field": "name", "message": "invalid name"}],
            )
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as scope:
            dept = IdentityService._department(scope, department)
            token = _new_token(API_PREFIX)
            row = AuthToken(
                token_hash=_hash(token),
                kind="api",
                name=name,
                user_id=None,
                department_id=dept.id,
                created_by=getattr(actor, "username", None),
                created_at=now,
                expires_at=None,
                revoked_at=None,
                topics=topics,
            )
            scope.add(row)
            scope.flush()
            record(
                scope,
                now,
                actor,
                Event.API_TOKEN_CREATED,
                details={"token_id": row.id, "name": name, "department": dept.key, "topics": topics},
            )
            return {**_api_token_view(row, dept.key), "token": token}

    def list_api_tokens(self) -> list[dict[str, Any]]:
        with self.ctx.db.read() as scope:
            rows = scope.execute(
                select(AuthToken, Department.key)
                .join(Department, Department.id == AuthToken.department_id)
                .where(AuthToken.kind == "api")
                .order_by(AuthToken.id)
            ).all()
            return [_api_token_view(row, key) for row, key in rows]

    def revoke_api_token(self, token_id: int, actor: Actor | None = None) -> dict[str, Any]:
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as scope:
            found = scope.execute(
                select(AuthToken, Department.key)
                .join(Department, Department.id == AuthToken.department_id)
                .where(AuthToken.id == token_id, AuthToken.kind == "api")
            ).first()
            if found is None:
                raise TokenNotFound(f"API token {token_id} does not exist")
            row, key = found
            if row.revoked_at is None:
                row.revoked_at = now
                record(scope, now, actor, Event.API_TOKEN_REVOKED, details={"token_id": row.id, "department": key})
            return _api_token_view(row, key)


def _api_token_view(row: AuthToken, department: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "department": department,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "topics": row.topics,
    }


def _checked_topics(topics: list[str] | None) -> list[str] | None:
    """An external-task worker token's topics: 1-50 topic names, or None for a plain API token."""
    if topics is None:
        return None
    from .external_tasks import TOPIC

    if not isinstance(topics, list) or not 1 <= len(topics) <= 50:
        raise InvalidInput("topics must list 1-50 topic names", [{"field": "topics", "message": "1 to 50 topics"}])
    for topic in topics:
        if not isinstance(topic, str) or not TOPIC.fullmatch(topic):
            raise InvalidInput("a topic name is invalid", [{"field": "topics", "message": "invalid topic"}])
    return sorted(set(topics))
