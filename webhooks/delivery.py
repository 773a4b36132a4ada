"""Delivering: claim a due delivery, send it, record the attempt, schedule the retry.

The database is the source of truth, as for timers: a delivery is claimed by a conditional UPDATE
(a lease in `locked_until`), so a job and a sweep, or two workers, never send it at once; a worker
killed mid-send leaves a lease that runs out, and the next sweep sends it again (delayed, never
dropped; the receiver may see it twice). Retries back off exponentially with jitter over about three
days (`BACKOFF`), or later when the receiver asks (`Retry-After`); a 410 disables the channel.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import literal_column, select, update

from engine.store.models import DeliveryAttempt, NotificationChannel, NotificationDelivery, WebhookSubscription
from engine.vocabulary import ChannelKind, DeliveryState

from . import formats, outbound, transport

if TYPE_CHECKING:
    from engine import Engine

    from .channels import ChannelService
    from .subscriptions import SubscriptionService

Target = NotificationChannel | WebhookSubscription  # a delivery goes to a channel or a subscription (issue 18)

# delays before the 2nd, 3rd, ... attempt: 1 min x 3^n, at most 20 h; 11 attempts span ~3 days (78 h)
BACKOFF = [timedelta(seconds=min(60 * 3**n, 20 * 3600)) for n in range(10)]
MAX_ATTEMPTS = len(BACKOFF) + 1
JITTER = 0.2  # +-20 %: retries of one outage spread out
MAX_RETRY_AFTER = timedelta(hours=24)
FAILING_AFTER = 3  # consecutive failed attempts that make a channel "failing" for the admin
IS_PENDING = NotificationDelivery.__table__.c.state == literal_column(f"'{DeliveryState.PENDING}'")


def next_delay(attempts: int, retry_after: float | None, rng: random.Random | None = None) -> timedelta:
    """The wait after `attempts` failed tries: the backoff step with jitter, or a longer Retry-After."""
    step = BACKOFF[min(attempts - 1, len(BACKOFF) - 1)]
    jittered = step * (1 + (rng or random).uniform(-JITTER, JITTER))
    if retry_after is not None:
        return max(jittered, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return jittered


class Deliverer:
    def __init__(self, ctx: Engine, channels: ChannelService, subscriptions: SubscriptionService):
        self.ctx = ctx
        self.channels = channels
        self.subscriptions = subscriptions

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.ctx.settings.notify_timeout_seconds * 3 + 30)

    def due(self, limit: int = 100, overdue: timedelta = timedelta(0)) -> list[int]:
        now = self.ctx.clock.now() - overdue
        with self.ctx.db.read() as scope:
            query = (
                select(NotificationDelivery.id)
                .where(IS_PENDING, NotificationDelivery.next_attempt_at <= now)
                .order_by(NotificationDelivery.next_attempt_at)
                .limit(limit)
            )
            return list(scope.scalars(query))

    def deliver_due(self, limit: int = 100, overdue: timedelta = timedelta(0)) -> int:
        """Send what has been due for `overdue` (the sweep); returns how many attempts were made."""
        return sum(1 for delivery_id in self.due(limit, overdue) if self.deliver(delivery_id) != "skipped")

    def deliver(self, delivery_id: int) -> str:
        """One attempt at one delivery, if it is due and nobody else holds it: delivered | retry | failed | skipped."""
        claimed = self._claim(delivery_id)
        if claimed is None:
            return "skipped"
        channel, message, attempts, event_id = claimed
        if not channel.active:
            outcome = transport.Outcome(False, error=f"channel disabled: {channel.disabled_reason or 'by its owner'}")
        elif isinstance(channel, WebhookSubscription):
            outcome = outbound.send(self.ctx, self.subscriptions, channel, event_id, message)
        else:
            outcome = self._send(channel, message)
        return self._record(delivery_id, channel, attempts, outcome)

    def _claim(self, delivery_id: int) -> tuple[Target, dict[str, Any], int, str] | None:
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as scope:
            taken = scope.execute(
                update(NotificationDelivery)
                .where(
                    NotificationDelivery.id == delivery_id,
                    IS_PENDING,
                    NotificationDelivery.next_attempt_at <= now,
                    (NotificationDelivery.locked_until.is_(None)) | (NotificationDelivery.locked_until < now),
                )
                .values(locked_until=now + self.lease)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:
                return None
            delivery = scope.get(NotificationDelivery, delivery_id)
            channel = _target(scope, delivery)
            scope.expunge(channel)
            return channel, dict(delivery.message), delivery.attempts, delivery.event_id

    def _send(self, channel: NotificationChannel, message: dict[str, Any]) -> transport.Outcome:
        settings = self.ctx.settings
        try:
            target = self.channels.target_of(channel)
        except Exception:  # sealed under another key
            return transport.Outcome(False, error="cannot open the channel's target (data key changed?)")
        if channel.kind == ChannelKind.EMAIL:
            mail = formats.email(message, settings.smtp_from, target["address"])
            return transport.send_mail(mail, settings.smtp_host, settings.smtp_port, settings.notify_timeout_seconds)
        if channel.kind == ChannelKind.DINGTALK:
            url = formats.dingtalk_url(target["url"], target.get("secret"), int(time.time() * 1000))
            body = formats.dingtalk_body(message)
        else:
            url, body = target["url"], formats.wecom_body(message)
        return transport.post_json(
            url, body, settings.notify_allow_hosts, settings.notify_timeout_seconds, app_errors=True
        )

    def _record(self, delivery_id: int, target: Target | str, attempts: int, outcome: transport.Outcome) -> str:
        """Record one attempt; `target` is the claimed channel or subscription (a bare id: a channel's)."""
        now = self.ctx.clock.now()
        attempts += 1
        with self.ctx.db.transaction() as scope:
            scope.add(
                DeliveryAttempt(
                    delivery_id=delivery_id,
                    at=now,
                    duration_ms=outcome.duration_ms,
                    status_code=outcome.status_code,
                    ok=outcome.ok,
                    error=outcome.error,
                )
            )
            delivery = scope.get(NotificationDelivery, delivery_id)
            if isinstance(target, str):
                channel = scope.get(NotificationChannel, target)
            else:
                channel = scope.get(type(target), target.id)
            delivery.attempts, delivery.locked_until = attempts, None
            if outcome.ok:
                delivery.state, delivery.delivered_at, delivery.last_error = DeliveryState.DELIVERED, now, None
                if channel is not None:
                    channel.consecutive_failures = 0
                return "delivered"
            delivery.last_error = outcome.error
            if channel is not None:
                channel.consecutive_failures += 1
                if outcome.gone:
                    channel.active, channel.disabled_reason = False, "the receiver answered 410 Gone"
                    channel.updated_at = now
            if outcome.gone or attempts >= MAX_ATTEMPTS or (channel is not None and not channel.active):
                delivery.state = DeliveryState.FAILED
                return "failed"
            delivery.next_attempt_at = now + next_delay(attempts, outcome.retry_after)
            return "retry"


def _target(scope, delivery: NotificationDelivery) -> Target:
    if delivery.subscription_id is not None:
        return scope.get(WebhookSubscription, delivery.subscription_id)
    return scope.get(NotificationChannel, delivery.channel_id)
