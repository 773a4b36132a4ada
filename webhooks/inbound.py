"""Inbound results: a department's system posts its result for a case, signed like our webhooks.

The order is the contract: the signature is checked before anything else is read (401 for a missing
or wrong signature, a stale timestamp, another department's secret, a department without a secret);
then the body (400 for non-UTF-8 or non-JSON); then the case (404), the waiting event (409) and the
result form (422). The receipt (department, webhook-id) is written in the transaction of the result's
effect, so a replay, or two copies racing, answer 2xx and change nothing.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine import correlation
from engine.errors import ConcurrentModification, EngineError, InstanceNotFound, InstanceNotRunning, InvalidInput
from engine.identity import Actor
from engine.store.models import ProcessInstance, WebhookReceipt
from engine.vocabulary import InstanceStatus

from . import signing

if TYPE_CHECKING:
    from engine import Engine
    from engine.uow import Change

    from .subscriptions import SubscriptionService

MESSAGE = "department_result"
MAX_KEY = 200


class _Replayed(EngineError):
    """Raised inside the unit of work to roll it back when the receipt is already there."""


def receive(
    ctx: Engine, subscriptions: SubscriptionService, department: str, headers: dict[str, str | None], raw: bytes
) -> dict[str, Any]:
    """Verify, then correlate; `{"instance_id", "business_key", "replayed"}`."""
    secrets_ = subscriptions.inbound_secrets(department, ctx.clock.now())
    if not secrets_:  # an unknown department looks like a wrong secret: nothing is revealed
        raise signing.Unverified("no signature matches")
    webhook_id = signing.verify(secrets_, headers, raw, time.time())
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise signing.Malformed("the body is not UTF-8") from None
    except ValueError:
        raise signing.Malformed("the body is not JSON") from None
    if not isinstance(data, dict):
        raise signing.Malformed("the body must be a JSON object")
    instance_id, key = _case(data)
    payload = data.get("payload", {})
    if not isinstance(payload, dict):
        raise InvalidInput("payload must be a JSON object", [{"field": "payload", "message": "not an object"}])
    found = _receipt(ctx, department, webhook_id)
    if found is not None:
        return _answer(ctx, found, True)
    with ctx.db.read() as scope:
        column = ProcessInstance.id if instance_id is not None else ProcessInstance.business_key
        instance_id = scope.scalar(select(ProcessInstance.id).where(column == (instance_id or key)))
    if instance_id is None:
        raise InstanceNotFound("no such case")
    actor = Actor.system(f"webhook:{department}", department)

    def deliver(change: Change) -> str:
        if change.scope.get(WebhookReceipt, (department, webhook_id)) is not None:
            raise _Replayed("already received")  # a copy committed while this one waited for the lock
        if change.instance.status != InstanceStatus.RUNNING:
            raise InstanceNotRunning(f"instance {change.instance.business_key} is {change.instance.status}")
        wait = correlation.waiting_event(change, MESSAGE, department, actor)
        correlation.deliver(ctx, change, wait, payload, actor, department)
        change.scope.add(
            WebhookReceipt(
                department=department, webhook_id=webhook_id, instance_id=change.instance.id, received_at=change.now
            )
        )
        return change.instance.id

    try:
        ctx.uow.run(instance_id, actor, deliver)
    except (_Replayed, IntegrityError, ConcurrentModification):
        found = _receipt(ctx, department, webhook_id)
        if found is None:
            raise
        return _answer(ctx, found, True)
    return _answer(ctx, instance_id, False)


def _case(data: dict[str, Any]) -> tuple[str | None, str | None]:
    instance_id, key = data.get("instance_id"), data.get("business_key")
    if (instance_id is None) == (key is None):
        raise InvalidInput(
            "name exactly one of business_key and instance_id",
            [{"field": "business_key", "message": "business_key or instance_id"}],
        )
    value = instance_id if instance_id is not None else key
    if not isinstance(value, str) or not 0 < len(value) <= MAX_KEY:
        field = "instance_id" if instance_id is not None else "business_key"
        raise InvalidInput(f"{field} must be a string", [{"field": field, "message": "1-200 characters"}])
    return instance_id, key


def _receipt(ctx: Engine, department: str, webhook_id: str) -> str | None:
    with ctx.db.read() as scope:
        found = scope.get(WebhookReceipt, (department, webhook_id))
        return found.instance_id if found is not None else None


def _answer(ctx: Engine, instance_id: str, replayed: bool) -> dict[str, Any]:
    with ctx.db.read() as scope:
        instance = scope.get(ProcessInstance, instance_id)
        return {
            "instance_id": instance_id,
            "business_key": instance.business_key if instance else None,
            "status": instance.status if instance else None,
            "replayed": replayed,
        }
