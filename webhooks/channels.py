"""Channels: where a user, or a department's group, wants to be told. CRUD with audit rows.

A channel belongs to one user (`/api/v1/me/channels`) or one department (admin). Its target (robot
URL, whose `key=` is a credential, or e-mail address, personal data) and DingTalk secret are sealed
with the vault; views show `hint` only.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from engine.audit import record
from engine.errors import ChannelNotFound, DepartmentNotFound, InvalidInput
from engine.store.models import Department, NotificationChannel
from engine.vocabulary import ChannelKind, Event

from . import safety
from .messages import LANGUAGES
from .routing import NOTIFIABLE

if TYPE_CHECKING:
    from engine import Engine
    from engine.identity import Actor

MAX_CHANNELS = 10  # per user or department
_EMAIL = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}$")
_SECRET = re.compile(r"^[\x21-\x7e]{1,200}$")


@dataclass(frozen=True)
class Owner:
    """A user (by id) or a department (by key)."""

    user_id: int | None = None
    department: str | None = None


class ChannelService:
    def __init__(self, ctx: Engine):
        self.ctx = ctx

    def list(self, owner: Owner) -> list[dict[str, Any]]:
        with self.ctx.db.read() as scope:
            self._department_id(scope, owner)  # an unknown department is a 404, not an empty list
            query = self._owned(scope, owner).order_by(NotificationChannel.created_at, NotificationChannel.id)
            return [view(c, owner) for c in scope.scalars(query)]

    def create(self, owner: Owner, data: dict[str, Any], actor: Actor) -> dict[str, Any]:
        kind = data.get("kind")
        if kind not in tuple(ChannelKind):
            raise _invalid("kind", "kind must be wecom, dingtalk or email")
        target, secret, hint = self._target(kind, data)
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as scope:
            department_id = self._department_id(scope, owner)
            count = scope.scalar(self._owned(scope, owner).with_only_columns(func.count()))
            if count >= MAX_CHANNELS:
                raise _invalid("kind", f"at most {MAX_CHANNELS} channels")
            channel = NotificationChannel(
                id=str(uuid.uuid4()),
                user_id=owner.user_id,
                department_id=department_id,
                kind=kind,
                hint=hint,
                events=_events(data.get("events")),
                language=_language(data.get("language")),
                active=True,
                consecutive_failures=0,
                created_at=now,
                updated_at=now,
            )
            self._seal(channel, target, secret)
            scope.add(channel)
            scope.flush()
            self._audit(scope, actor, Event.CHANNEL_CREATED, channel, owner)
            return view(channel, owner)

    def update(self, owner: Owner, channel_id: str, data: dict[str, Any], actor: Actor) -> dict[str, Any]:
        with self.ctx.db.transaction() as scope:
            channel = self._get(scope, owner, channel_id)
            if "url" in data or "address" in data or "secret" in data:
                current = self.target_of(channel)
                merged = {**current, **{k: v for k, v in data.items() if k in ("url", "address", "secret")}}
                target, secret, hint = self._target(channel.kind, merged)
                self._seal(channel, target, secret)
                channel.hint = hint
            if "events" in data:
                channel.events = _events(data["events"])
            if "language" in data:
                channel.language = _language(data["language"])
            if "active" in data:
                channel.active = bool(data["active"])
                if channel.active:  # re-enabled by its owner: a fresh start
                    channel.consecutive_failures, channel.disabled_reason = 0, None
            channel.updated_at = self.ctx.clock.now()
            self._audit(scope, actor, Event.CHANNEL_UPDATED, channel, owner)
            return view(channel, owner)

    def delete(self, owner: Owner, channel_id: str, actor: Actor) -> None:
        with self.ctx.db.transaction() as scope:
            channel = self._get(scope, owner, channel_id)
            self._audit(scope, actor, Event.CHANNEL_DELETED, channel, owner)
            scope.delete(channel)

    def target_of(self, channel: NotificationChannel) -> dict[str, Any]:
        """The sealed target: `{"url"|"address": ..., "secret": ...}`."""
        return self.ctx.vault.open(f"channel/{channel.id}", "target", channel.nonce, channel.ciphertext)

    # --- helpers ---------------------------------------------------------------------------------
    def _target(self, kind: str, data: dict[str, Any]) -> tuple[dict[str, Any], str | None, str]:
        allow = self.ctx.settings.notify_allow_hosts
        if kind == ChannelKind.EMAIL:
            address = data.get("address")
            if not isinstance(address, str) or len(address) > 254 or not _EMAIL.fullmatch(address):
                raise _invalid("address", "an e-mail address is required")
            local, domain = address.split("@", 1)
            return {"address": address}, None, f"{local[:1]}***@{domain}"
        url = data.get("url")
        if not isinstance(url, str):
            raise _invalid("url", "the robot's webhook URL is required")
        parts = safety.parse_url(url, allow)
        secret = data.get("secret")
        if kind == ChannelKind.DINGTALK:
            if not isinstance(secret, str) or not _SECRET.fullmatch(secret):
                raise _invalid("secret", "the robot's signing secret (加签, SEC...) is required")
        elif secret is not None:
            raise _invalid("secret", "only DingTalk robots take a secret")
        return {"url": url, "secret": secret}, secret, parts.hostname or ""

    def _seal(self, channel: NotificationChannel, target: dict[str, Any], secret: str | None) -> None:
        nonce, ciphertext = self.ctx.vault.seal(f"channel/{channel.id}", "target", {**target, "secret": secret})
        channel.key_id, channel.nonce, channel.ciphertext = self.ctx.vault.key_id, nonce, ciphertext

    def _owned(self, scope, owner: Owner):
        query = select(NotificationChannel)
        if owner.user_id is not None:
            return query.where(NotificationChannel.user_id == owner.user_id)
        return query.join(Department, Department.id == NotificationChannel.department_id).where(
            Department.key == owner.department
        )

    def _department_id(self, scope, owner: Owner) -> int | None:
        if owner.department is None:
            return None
        found = scope.scalar(select(Department.id).where(Department.key == owner.department))
        if found is None:
            raise DepartmentNotFound(f"department '{owner.department}' does not exist")
        return found

    def _get(self, scope, owner: Owner, channel_id: str) -> NotificationChannel:
        channel = scope.scalars(self._owned(scope, owner).where(NotificationChannel.id == channel_id)).first()
        if channel is None:  # another owner's channel is not known to exist
            raise ChannelNotFound("no such channel")
        return channel

    def _audit(self, scope, actor: Actor, action: str, channel: NotificationChannel, owner: Owner) -> None:
        details = {"channel_id": channel.id, "kind": channel.kind, "active": channel.active}
        if owner.department:
            details["department"] = owner.department
        record(scope, self.ctx.clock.now(), actor, action, details=details)


def view(channel: NotificationChannel, owner: Owner | None = None) -> dict[str, Any]:
    return {
        "id": channel.id,
        "kind": channel.kind,
        "hint": channel.hint,
        "events": list(channel.events or []),
        "language": channel.language,
        "active": channel.active,
        "consecutive_failures": channel.consecutive_failures,
        "disabled_reason": channel.disabled_reason,
        "created_at": channel.created_at.isoformat(),
        "updated_at": channel.updated_at.isoformat(),
    }


def _events(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or any(v not in NOTIFIABLE for v in value):
        raise _invalid("events", f"events must be a list of: {', '.join(NOTIFIABLE)}")
    return sorted(set(value))


def _language(value: Any) -> str | None:
    if value is not None and value not in LANGUAGES:
        raise _invalid("language", "language must be zh or en")
    return value


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, [{"field": field, "message": message}])
