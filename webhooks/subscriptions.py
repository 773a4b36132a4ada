"""Standard Webhooks subscriptions and departments' inbound secrets: admin CRUD with audit rows.

A subscription belongs to a department (it hears the events that concern that department) or to an
integration by name (it hears every event of the types it wants). Its URL and signing secrets are
sealed with the vault; the secret (`whsec_…`) is shown once, on create and on rotate. A rotation
keeps the previous secret for a grace period, during which both signatures are sent, so a receiver
can switch without losing a request. A department's inbound secret signs the results its system
posts back (webhooks/inbound.py), rotated the same way.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from engine.audit import record
from engine.errors import DepartmentNotFound, InvalidInput, SubscriptionNotFound
from engine.store.models import Department, WebhookInboundSecret, WebhookSubscription
from engine.vocabulary import Event

from . import events, safety, signing

if TYPE_CHECKING:
    from engine import Engine
    from engine.identity import Actor

ROTATION_GRACE = timedelta(hours=24)
MAX_GRACE = timedelta(days=7)
MAX_SUBSCRIPTIONS = 100
_NAME = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff ]{1,100}$")


class SubscriptionService:
    def __init__(self, ctx: Engine):
        self.ctx = ctx

    # --- subscriptions ---------------------------------------------------------------------------
    def listing(self) -> list[dict[str, Any]]:
        with self.ctx.db.read() as scope:
            rows = scope.execute(
                select(WebhookSubscription, Department.key)
                .outerjoin(Department, Department.id == WebhookSubscription.department_id)
                .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
            ).all()
            return [view(s, key) for s, key in rows]

    def get(self, subscription_id: str) -> dict[str, Any]:
        with self.ctx.db.read() as scope:
            subscription = self._get(scope, subscription_id)
            return view(subscription, self._department_key(scope, subscription.department_id))

    def create(self, data: dict[str, Any], actor: Actor) -> dict[str, Any]:
        url = self._url(data.get("url"))
        wanted = _events(data.get("events"))
        department, name = data.get("department"), data.get("name")
        if department is None and name is None:
            raise _invalid("department", "name a department or an integration")
        if name is not None and (not isinstance(name, str) or not _NAME.fullmatch(name)):
            raise _invalid("name", "name must be 1-100 letters, digits, spaces or _.-")
        secret = signing.new_secret()
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as scope:
            department_id = self._department_id(scope, department) if department is not None else None
            count = len(scope.scalars(select(WebhookSubscription.id).limit(MAX_SUBSCRIPTIONS)).all())
            if count >= MAX_SUBSCRIPTIONS:
                raise _invalid("url", f"at most {MAX_SUBSCRIPTIONS} subscriptions")
            subscription = WebhookSubscription(
                id=str(uuid.uuid4()),
                name=name or department,
                department_id=department_id,
                hint=url.hostname or "",
                events=wanted,
                active=True,
                consecutive_failures=0,
                created_at=now,
                updated_at=now,
            )
            self._seal(subscription, {"url": data["url"], "secret": secret, "previous": None})
            scope.add(subscription)
            scope.flush()
            self._audit(scope, actor, Event.WEBHOOK_SUBSCRIPTION_CREATED, subscription)
            return {**view(subscription, department), "secret": secret}

    def update(self, subscription_id: str, data: dict[str, Any], actor: Actor) -> dict[str, Any]:
        with self.ctx.db.transaction() as scope:
            subscription = self._get(scope, subscription_id)
            if "url" in data:
                parts = self._url(data["url"])
                self._seal(subscription, {**self.target_of(subscription), "url": data["url"]})
                subscription.hint = parts.hostname or ""
            if "events" in data:
                subscription.events = _events(data["events"])
            if "active" in data:
                if not isinstance(data["active"], bool):
                    raise _invalid("active", "active must be true or false")
                subscription.active = data["active"]
                if subscription.active:  # re-enabled by an admin: a fresh start
                    subscription.consecutive_failures, subscription.disabled_reason = 0, None
            subscription.updated_at = self.ctx.clock.now()
            self._audit(scope, actor, Event.WEBHOOK_SUBSCRIPTION_UPDATED, subscription)
            return view(subscription, self._department_key(scope, subscription.department_id))

    def delete(self, subscription_id: str, actor: Actor) -> None:
        with self.ctx.db.transaction() as scope:
            subscription = self._get(scope, subscription_id)
            self._audit(scope, actor, Event.WEBHOOK_SUBSCRIPTION_DELETED, subscription)
            scope.delete(subscription)

    def rotate(self, subscription_id: str, actor: Actor, grace_seconds: Any = None) -> dict[str, Any]:
        """A new secret (shown once); the old one signs too until the grace period ends."""
        grace = _grace(grace_seconds)
        now = self.ctx.clock.now()
        secret = signing.new_secret()
        with self.ctx.db.transaction() as scope:
            subscription = self._get(scope, subscription_id)
            target = self.target_of(subscription)
            self._seal(subscription, {**target, "secret": secret, "previous": target["secret"] if grace else None})
            subscription.previous_until = now + grace if grace else None
            subscription.updated_at = now
            self._audit(scope, actor, Event.WEBHOOK_SECRET_ROTATED, subscription)
            view_ = view(subscription, self._department_key(scope, subscription.department_id))
            return {**view_, "secret": secret}

    def target_of(self, subscription: WebhookSubscription) -> dict[str, Any]:
        """The sealed target: `{"url", "secret", "previous"}`."""
        return self.ctx.vault.open(f"webhook/{subscription.id}", "target", subscription.nonce, subscription.ciphertext)

    def signing_secrets(
        self, subscription: WebhookSubscription, now: datetime, target: dict[str, Any] | None = None
    ) -> list[str]:
        """The secrets a request is signed with now (`target`: the sealed target, if already opened)."""
        target = target or self.target_of(subscription)
        found = [target["secret"]]
        if target.get("previous") and subscription.previous_until and now < subscription.previous_until:
            found.append(target["previous"])
        return found

    # --- inbound secrets -------------------------------------------------------------------------
    def inbound_list(self) -> list[dict[str, Any]]:
        with self.ctx.db.read() as scope:
            rows = scope.execute(
                select(WebhookInboundSecret, Department.key)
                .join(Department, Department.id == WebhookInboundSecret.department_id)
                .order_by(Department.key)
            ).all()
            return [inbound_view(row, key) for row, key in rows]

    def inbound_rotate(self, department: str, actor: Actor, grace_seconds: Any = None) -> dict[str, Any]:
        """Set a department's inbound secret (the first one, or a rotation keeping the old one a while)."""
        grace = _grace(grace_seconds)
        now = self.ctx.clock.now()
        secret = signing.new_secret()
        with self.ctx.db.transaction() as scope:
            department_id = self._department_id(scope, department)
            row = scope.get(WebhookInboundSecret, department_id)
            previous = None
            if row is None:
                row = WebhookInboundSecret(department_id=department_id, created_at=now)
                scope.add(row)
            else:
                previous = self._open_inbound(row)["secret"] if grace else None
            nonce, ciphertext = self.ctx.vault.seal(
                f"webhook-inbound/{department_id}", "secret", {"secret": secret, "previous": previous}
            )
            row.key_id, row.nonce, row.ciphertext = self.ctx.vault.key_id, nonce, ciphertext
            row.previous_until = now + grace if previous else None
            row.updated_at = now
            record(scope, now, actor, Event.WEBHOOK_INBOUND_SECRET_SET, details={"department": department})
            scope.flush()
            return {**inbound_view(row, department), "secret": secret}

    def inbound_secrets(self, department: str, now: datetime) -> list[str]:
        """The secrets a department's result may be signed with (none: the department cannot post)."""
        with self.ctx.db.read() as scope:
            row = scope.scalars(
                select(WebhookInboundSecret)
                .join(Department, Department.id == WebhookInboundSecret.department_id)
                .where(Department.key == department)
            ).first()
            if row is None:
                return []
            opened = self._open_inbound(row)
            found = [opened["secret"]]
            if opened.get("previous") and row.previous_until and now < row.previous_until:
                found.append(opened["previous"])
            return found

    def _open_inbound(self, row: WebhookInboundSecret) -> dict[str, Any]:
        return self.ctx.vault.open(f"webhook-inbound/{row.department_id}", "secret", row.nonce, row.ciphertext)

    # --- helpers ---------------------------------------------------------------------------------
    def _url(self, url: Any):
        if not isinstance(url, str):
            raise _invalid("url", "the receiver's URL is required")
        return safety.parse_url(url, self.ctx.settings.notify_allow_hosts)

    def _seal(self, subscription: WebhookSubscription, target: dict[str, Any]) -> None:
        nonce, ciphertext = self.ctx.vault.seal(f"webhook/{subscription.id}", "target", target)
        subscription.key_id, subscription.nonce, subscription.ciphertext = self.ctx.vault.key_id, nonce, ciphertext

    @staticmethod
    def _get(scope, subscription_id: str) -> WebhookSubscription:
        subscription = scope.get(WebhookSubscription, subscription_id)
        if subscription is None:
            raise SubscriptionNotFound("no such webhook subscription")
        return subscription

    @staticmethod
    def _department_id(scope, department: Any) -> int:
        if not isinstance(department, str):
            raise _invalid("department", "department must be a department key")
        found = scope.scalar(select(Department.id).where(Department.key == department))
        if found is None:
            raise DepartmentNotFound(f"department '{department}' does not exist")
        return found

    @staticmethod
    def _department_key(scope, department_id: int | None) -> str | None:
        if department_id is None:
            return None
        return scope.scalar(select(Department.key).where(Department.id == department_id))

    def _audit(self, scope, actor: Actor, action: str, subscription: WebhookSubscription) -> None:
        details = {"subscription_id": subscription.id, "name": subscription.name, "active": subscription.active}
        record(scope, self.ctx.clock.now(), actor, action, details=details)


def view(subscription: WebhookSubscription, department: str | None) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "name": subscription.name,
        "department": department,
        "hint": subscription.hint,
        "events": list(subscription.events or []),
        "active": subscription.active,
        "consecutive_failures": subscription.consecutive_failures,
        "disabled_reason": subscription.disabled_reason,
        "previous_secret_until": subscription.previous_until.isoformat() if subscription.previous_until else None,
        "created_at": subscription.created_at.isoformat(),
        "updated_at": subscription.updated_at.isoformat(),
    }


def inbound_view(row: WebhookInboundSecret, department: str) -> dict[str, Any]:
    return {
        "department": department,
        "previous_secret_until": row.previous_until.isoformat() if row.previous_until else None,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def _events(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or any(v not in events.TYPES for v in value):
        raise _invalid("events", f"events must be a non-empty list of: {', '.join(events.TYPES)}")
    return sorted(set(value))


def _grace(value: Any) -> timedelta:
    if value is None:
        return ROTATION_GRACE
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_GRACE.total_seconds():
        raise _invalid("grace_seconds", f"grace_seconds must be 0-{int(MAX_GRACE.total_seconds())}")
    return timedelta(seconds=value)


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, [{"field": field, "message": message}])
