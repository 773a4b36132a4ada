"""Delivering: claim a batch of due deliveries, send them, record the attempts, schedule the retries.

The database is the source of truth, as for timers: deliveries are claimed by a conditional UPDATE
(a lease in `locked_until`), so a job and a sweep, or two workers, never send one at once; a worker
killed mid-send leaves leases that run out, and the next sweep sends them again (delayed, never
dropped; the receiver may see one twice). A batch costs one claim and one record transaction, its
requests go out a few at a time over kept-alive connections (docs/webhooks.md, "How a batch is
delivered"). Retries back off exponentially with jitter over about three
days (`BACKOFF`), or later when the receiver asks (`Retry-After`); a 410 disables the channel.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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
SEND_WINDOW = timedelta(seconds=30)  # after a claim, requests start within this; the rest is claimed again
IS_PENDING = NotificationDelivery.__table__.c.state == literal_column(f"'{DeliveryState.PENDING}'")


def next_delay(attempts: int, retry_after: float | None, rng: random.Random | None = None) -> timedelta:
    """The wait after `attempts` failed tries: the backoff step with jitter, or a longer Retry-After."""
    step = BACKOFF[min(attempts - 1, len(BACKOFF) - 1)]
    jittered = step * (1 + (rng or random).uniform(-JITTER, JITTER))
    if retry_after is not None:
        return max(jittered, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return jittered


@dataclass
class Claimed:
    """A delivery this process holds the lease of, with what sending it needs."""

    delivery_id: int
    target: Target
    message: dict[str, Any]
    attempts: int
    event_id: str


class Deliverer:
    def __init__(self, ctx: Engine, channels: ChannelService, subscriptions: SubscriptionService):
        self.ctx = ctx
        self.channels = channels
        self.subscriptions = subscriptions

    @property
    def lease(self) -> timedelta:
        """How long a claim holds: requests start within SEND_WINDOW, each then takes at most three
        timeouts (connect, send, answer)."""
        return timedelta(seconds=self.ctx.settings.notify_timeout_seconds * 3) + SEND_WINDOW

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
        return sum(1 for outcome in self.deliver_many(self.due(limit, overdue)).values() if outcome != "skipped")

    def deliver(self, delivery_id: int) -> str:
        """One attempt at one delivery, if it is due and nobody else holds it: delivered | retry | failed | skipped."""
        return self.deliver_many([delivery_id])[delivery_id]

    def deliver_many(self, delivery_ids: list[int], top_up: int = 0) -> dict[int, str]:
        """One attempt at each of these deliveries that is due and free, by id (as `deliver` answers),
        and at other due ones up to `top_up` in all (a job behind its queue takes what is due).

        One transaction claims them all and one records them all; requests go out
        `delivery_concurrency` at a time. Requests start only within SEND_WINDOW of the claim (its
        lease must cover them): what a slow receiver leaves unsent is released and claimed again."""
        outcomes = dict.fromkeys(delivery_ids, "skipped")
        remaining = list(delivery_ids)
        while remaining or top_up:
            claimed = self._claim_many(remaining, top_up)
            top_up = 0
            if not claimed:
                break
            window_ends = time.monotonic() + SEND_WINDOW.total_seconds()
            sent = self._send_all(claimed, window_ends)
            outcomes.update(
                self._record_many(
                    [(c.delivery_id, c.target, c.attempts, o) for c, o in zip(claimed, sent, strict=True)]
                )
            )
            remaining = [c.delivery_id for c, o in zip(claimed, sent, strict=True) if o is None]
            if len(remaining) == len(claimed):  # the claim took the whole window: the sweep retries them
                break
        return outcomes

    def _claim(self, delivery_id: int) -> Claimed | None:
        claimed = self._claim_many([delivery_id])
        return claimed[0] if claimed else None

    def _claim_many(self, delivery_ids: list[int], top_up: int = 0) -> list[Claimed]:
        """Lease these deliveries if due and free, then other due ones up to `top_up` in all (a
        conditional UPDATE: two workers never both win; PostgreSQL skips rows another claim holds)."""
        now = self.ctx.clock.now()
        claimable = (
            IS_PENDING,
            NotificationDelivery.next_attempt_at <= now,
            (NotificationDelivery.locked_until.is_(None)) | (NotificationDelivery.locked_until < now),
        )
        with self.ctx.db.transaction() as scope:

            def claim(which) -> list[NotificationDelivery]:
                return list(
                    scope.scalars(
                        update(NotificationDelivery)
                        .where(which, *claimable)
                        .values(locked_until=now + self.lease)
                        .returning(NotificationDelivery),
                        execution_options={"synchronize_session": False},
                    )
                )

            deliveries = claim(NotificationDelivery.id.in_(delivery_ids)) if delivery_ids else []
            if top_up > len(deliveries):
                due = (
                    select(NotificationDelivery.id)
                    .where(*claimable)
                    .order_by(NotificationDelivery.next_attempt_at)
                    .limit(top_up - len(deliveries))
                )
                if not self.ctx.db.is_sqlite:  # SQLite's write transaction already serialises claims
                    due = due.with_for_update(skip_locked=True)
                deliveries += claim(NotificationDelivery.id.in_(due.scalar_subquery()))
            if not deliveries:
                return []
            targets = _targets(scope, deliveries)
            for target in targets.values():
                scope.expunge(target)
            return [
                Claimed(d.id, targets[_target_id(d)], dict(d.message), d.attempts, d.event_id)
                for d in sorted(deliveries, key=lambda d: d.id)
            ]

    def _send_all(self, claimed: list[Claimed], window_ends: float) -> list[transport.Outcome | None]:
        """Each claimed delivery's outcome, or None for one not sent because the window closed.

        Each target's first delivery goes out before its others: after a 410 the rest of the batch
        is not sent to that target (requests already in flight beside it are recorded as answered)."""
        now = self.ctx.clock.now()
        opened = {c.target.id: self._open(c.target, now) for c in claimed if c.target.active}
        gone: set[str] = set()

        def one(delivery: Claimed) -> transport.Outcome | None:
            if time.monotonic() > window_ends:
                return None
            target = delivery.target
            if not target.active or target.id in gone:
                reason = "the receiver answered 410 Gone" if target.id in gone else target.disabled_reason
                return transport.Outcome(False, error=f"channel disabled: {reason or 'by its owner'}")
            keys = opened[target.id]
            if keys is None:  # sealed under another key
                kind = "subscription" if isinstance(target, WebhookSubscription) else "channel"
                return transport.Outcome(False, error=f"cannot open the {kind}'s target (data key changed?)")
            if isinstance(target, WebhookSubscription):
                outcome = outbound.send(self.ctx, keys, delivery.event_id, delivery.message)
            else:
                outcome = self._send(target, delivery.message, keys)
            if outcome.gone:
                gone.add(target.id)
            return outcome

        firsts: dict[str, int] = {}
        for index, delivery in enumerate(claimed):
            firsts.setdefault(delivery.target.id, index)
        heads = list(firsts.values())
        rest = sorted(set(range(len(claimed))) - set(heads))
        outcomes: dict[int, transport.Outcome | None] = {}
        workers = min(self.ctx.settings.delivery_concurrency, len(claimed))
        if workers <= 1:
            for i in heads + rest:
                outcomes[i] = one(claimed[i])
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="fengqiao-deliver") as pool:
                for part in (heads, rest):
                    outcomes.update(zip(part, pool.map(one, [claimed[i] for i in part]), strict=True))
        return [outcomes[i] for i in range(len(claimed))]

    def _open(self, target: Target, now) -> dict[str, Any] | None:
        """The target's sealed address (a subscription's with its signing secrets), once per batch."""
        try:
            if isinstance(target, WebhookSubscription):
                found = self.subscriptions.target_of(target)
                return {**found, "signing": self.subscriptions.signing_secrets(target, now, found)}
            return self.channels.target_of(target)
        except Exception:
            return None

    def _send(self, channel: NotificationChannel, message: dict[str, Any], target: dict[str, Any]) -> transport.Outcome:
        settings = self.ctx.settings
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
        return self._record_many([(delivery_id, target, attempts, outcome)])[delivery_id]

    def _record_many(self, results: list[tuple[int, Target | str, int, transport.Outcome | None]]) -> dict[int, str]:
        """Record the attempts of one claim in one transaction; an unsent delivery (None) is released."""
        now = self.ctx.clock.now()
        outcomes: dict[int, str] = {}
        with self.ctx.db.transaction() as scope:
            ids = [delivery_id for delivery_id, *_ in results]
            deliveries = {
                d.id: d for d in scope.scalars(select(NotificationDelivery).where(NotificationDelivery.id.in_(ids)))
            }
            for delivery_id, target, attempts, outcome in results:
                delivery = deliveries[delivery_id]
                if outcome is None:
                    delivery.locked_until = None
                    continue
                if isinstance(target, str):
                    channel = scope.get(NotificationChannel, target)
                else:
                    channel = scope.get(type(target), target.id)
                outcomes[delivery_id] = _apply(scope, now, delivery, channel, attempts + 1, outcome)
        return outcomes


def _apply(scope, now, delivery: NotificationDelivery, channel: Target | None, attempts: int, outcome) -> str:
    """One attempt's row and its consequences: delivered, the retry's due time, or given up."""
    scope.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            at=now,
            duration_ms=outcome.duration_ms,
            status_code=outcome.status_code,
            ok=outcome.ok,
            error=outcome.error,
        )
    )
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


def _target_id(delivery: NotificationDelivery) -> str:
    """A delivery goes to its subscription (issue 18) or else to its channel."""
    return str(delivery.subscription_id or delivery.channel_id)


def _targets(scope, deliveries) -> dict[str, Target]:
    """The channels and subscriptions of these deliveries, by id (one query each)."""
    found: dict[str, Target] = {}
    subscription_ids = {d.subscription_id for d in deliveries if d.subscription_id is not None}
    channel_ids = {d.channel_id for d in deliveries if d.subscription_id is None}
    if subscription_ids:
        found.update(
            (s.id, s)
            for s in scope.scalars(select(WebhookSubscription).where(WebhookSubscription.id.in_(subscription_ids)))
        )
    if channel_ids:
        found.update(
            (c.id, c) for c in scope.scalars(select(NotificationChannel).where(NotificationChannel.id.in_(channel_ids)))
        )
    return found
