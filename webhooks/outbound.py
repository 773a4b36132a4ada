"""Standard Webhooks out: the webhook relay and the request each delivery becomes.

The relay is the notifications' relay with its own cursor (`webhooks`) and its own routing: an
event goes to each active subscription that wants its type, created before it, and (for a
department's subscription) concerning that department. Deliveries share the notification tables,
so claim, lease, backoff, Retry-After, 410, RQ jobs and resend are the same code (webhooks/delivery.py).

The request body is `{"type", "timestamp", "data"}`; `webhook-id` is the outbox event's id, the same
on every retry and every resend (the receiver's idempotency key); `webhook-timestamp` is the time of
the attempt. Per-subscription ordering is not promised: a retried event arrives after later ones.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from engine.store.models import Department, NotificationDelivery, OutboxEvent, WebhookSubscription
from engine.vocabulary import DeliveryState

from . import events, signing, transport
from .relay import Relay

if TYPE_CHECKING:
    from engine import Engine

CURSOR = "webhooks"


class WebhookRelay(Relay):
    def __init__(self, ctx: Engine):
        super().__init__(ctx, CURSOR)

    def route(self, scope, found: list[OutboxEvent], now) -> list[NotificationDelivery]:
        wanted = [e for e in found if e.type in events.NAMES]
        if not wanted:
            return []
        subscriptions = list(scope.scalars(select(WebhookSubscription).where(WebhookSubscription.active.is_(True))))
        if not subscriptions:
            return []
        keys = dict(scope.execute(select(Department.id, Department.key)).all())
        tasks = self._tasks(scope, {e.task_id for e in wanted if e.task_id})
        created = []
        for event in wanted:
            name = events.NAMES[event.type]
            payload = event.payload or {}
            task = tasks.get(event.task_id or "")
            concerned = events.departments(payload, list(task.candidate_groups or []) if task else None)
            body = {
                "type": name,
                "timestamp": event.occurred_at.isoformat(),
                "data": events.data(payload, task.name if task else None),
            }
            for subscription in subscriptions:
                if name not in (subscription.events or []) or event.occurred_at < subscription.created_at:
                    continue
                if subscription.department_id is not None and keys.get(subscription.department_id) not in concerned:
                    continue
                created.append(
                    NotificationDelivery(
                        subscription_id=subscription.id,
                        event_id=event.event_id,
                        event_type=name,
                        instance_id=event.instance_id,
                        task_id=event.task_id,
                        message=body,
                        state=DeliveryState.PENDING,
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
        return created


def send(ctx: Engine, target: dict[str, Any], event_id: str, message: Any) -> transport.Outcome:
    """One signed POST of a delivery's body to the opened `target` (its url and `signing` secrets);
    2xx is success (the body of the answer is not read)."""
    settings = ctx.settings
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
    headers = signing.headers(target["signing"], event_id, int(time.time()), body)
    return transport.post_json(
        target["url"], body, settings.notify_allow_hosts, settings.notify_timeout_seconds, False, headers
    )
