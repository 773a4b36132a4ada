"""Notifications through the outbox: channels, the relay, delivery with retries (docs/notifications.md).

    notifications = webhooks.install(engine)   # idempotent; create_app and `fengqiao worker` call it
    notifications.channels.create(Owner(user_id=7), {"kind": "wecom", "url": ...}, actor)

The engine never imports this package: `install` adds one duty to the engine's sweeper, which runs
the relay (outbox events past a cursor become deliveries) and sends the deliveries that are due.
Without Redis the sweeper sends them itself; with Redis the relayed deliveries are RQ jobs of up to
`FENGQIAO_DELIVERY_BATCH` deliveries each (a retry: a job at its due time), and the sweeper sends only
those overdue by `LOST_JOB_GRACE` (a job Redis lost, a killed worker).
Issue 18's Standard Webhooks subscriptions plug into the same relay and deliverer (docs/notifications.md).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select

from engine.audit import record
from engine.errors import DeliveryNotFound
from engine.store.models import (
    DeliveryAttempt,
    Department,
    NotificationChannel,
    NotificationDelivery,
    User,
    WebhookSubscription,
)
from engine.vocabulary import DeliveryState, Event

from .channels import ChannelService, Owner
from .delivery import FAILING_AFTER, Deliverer
from .outbound import WebhookRelay
from .relay import Relay
from .subscriptions import SubscriptionService

if TYPE_CHECKING:
    from engine import Engine
    from engine.identity import Actor

__all__ = ["Notifications", "Owner", "install"]

log = logging.getLogger("fengqiao.notifications")
KEY = "notifications"
LOST_JOB_GRACE = timedelta(seconds=60)
DELIVERY_STATES = ("pending", "delivered", "failed", "failing")


class Notifications:
    def __init__(self, ctx: Engine):
        self.ctx = ctx
        self.channels = ChannelService(ctx)
        self.relay = Relay(ctx)
        self.subscriptions = SubscriptionService(ctx)  # issue 18: Standard Webhooks on the same core
        self.webhook_relay = WebhookRelay(ctx)
        self.deliverer = Deliverer(ctx, self.channels, self.subscriptions)
        self._busy = threading.Lock()

    def background_sweep(self) -> None:
        """The sweeper's duty: one round in a thread of its own, so that a slow receiver (up to the
        request timeout per delivery) never delays the timers the sweeper fires."""
        if not self._busy.acquire(blocking=False):
            return  # the previous round is still sending

        def run() -> None:
            try:
                self.sweep()
            except Exception:  # the database may be briefly away; the next round tries again
                log.exception("notification sweep failed")
            finally:
                self._busy.release()

        threading.Thread(target=run, name="fengqiao-notify", daemon=True).start()

    # --- the sweep duty --------------------------------------------------------------------------
    def sweep(self) -> int:
        """Relay new events, then send what is due (or hand it to RQ); returns attempts made here."""
        created = self.relay.run_once() + self.webhook_relay.run_once()
        if self._redis():
            self.schedule(created)
            return self.deliverer.deliver_due(overdue=LOST_JOB_GRACE)
        return self.deliverer.deliver_due()

    def schedule(self, delivery_ids: list[int], at=None) -> None:
        """RQ jobs for these deliveries (at `at`, else now), `delivery_batch` per job, in one Redis
        round trip; the sweep covers a job Redis loses."""
        size = self.ctx.settings.delivery_batch
        self._enqueue([(delivery_ids[i : i + size], at) for i in range(0, len(delivery_ids), size)])

    def _enqueue(self, batches: list[tuple[list[int], Any]]) -> None:
        jobs = self.ctx.jobs
        if not batches or not self._redis():
            return
        from redis.exceptions import RedisError

        settings = self.ctx.settings
        # a job sends at most its batch, `delivery_concurrency` at a time, each within three timeouts
        rounds = -(-settings.delivery_batch // settings.delivery_concurrency)
        options = {
            "job_timeout": int(120 + rounds * 3 * settings.notify_timeout_seconds),
            "result_ttl": 60,
            "failure_ttl": 3600,
        }
        try:
            with jobs.connection.pipeline() as pipe:
                for delivery_ids, at in batches:
                    if at is None:
                        jobs.queue.enqueue(deliver_batch_job, delivery_ids, pipeline=pipe, **options)
                    else:
                        jobs.queue.enqueue_at(at, deliver_batch_job, delivery_ids, pipeline=pipe, **options)
                pipe.execute()
        except RedisError:  # the sweep finds them in the database
            pass

    def _redis(self) -> bool:
        return hasattr(self.ctx.jobs, "queue")

    # --- the admin's view ------------------------------------------------------------------------
    def list_deliveries(self, state: str = "failing", limit: int = 100) -> list[dict[str, Any]]:
        """Deliveries by state; `failing`: given up, or still retrying after FAILING_AFTER failures."""
        with self.ctx.db.read() as scope:
            query = select(NotificationDelivery, NotificationChannel, User.username, Department.key).join(
                NotificationChannel, NotificationChannel.id == NotificationDelivery.channel_id
            )
            query = query.outerjoin(User, User.id == NotificationChannel.user_id).outerjoin(
                Department, Department.id == NotificationChannel.department_id
            )
            if state == "failing":
                query = query.where(
                    or_(
                        NotificationDelivery.state == DeliveryState.FAILED,
                        and_(
                            NotificationDelivery.state == DeliveryState.PENDING,
                            NotificationDelivery.attempts >= FAILING_AFTER,
                        ),
                    )
                )
            else:
                query = query.where(NotificationDelivery.state == state)
            rows = scope.execute(query.order_by(NotificationDelivery.id.desc()).limit(limit)).all()
            return [delivery_view(d, c, username, department) for d, c, username, department in rows]

    def get_delivery(self, delivery_id: int) -> dict[str, Any]:
        with self.ctx.db.read() as scope:
            row = scope.execute(
                select(NotificationDelivery, NotificationChannel, User.username, Department.key)
                .join(NotificationChannel, NotificationChannel.id == NotificationDelivery.channel_id)
                .outerjoin(User, User.id == NotificationChannel.user_id)
                .outerjoin(Department, Department.id == NotificationChannel.department_id)
                .where(NotificationDelivery.id == delivery_id)
            ).first()
            if row is None:
                raise DeliveryNotFound("no such delivery")
            view = delivery_view(*row)
            attempts = scope.scalars(
                select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id).order_by(DeliveryAttempt.id)
            )
            view["attempt_log"] = [attempt_view(a) for a in attempts]
            return view

    def resend(self, delivery_id: int, actor: Actor) -> dict[str, Any]:
        """Due now with a fresh round of attempts (its attempt rows stay); re-enables nothing."""
        self._reset(delivery_id, actor, webhook=False)
        return self.get_delivery(delivery_id)

    def _reset(self, delivery_id: int, actor: Actor, webhook: bool) -> None:
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as scope:
            delivery = scope.get(NotificationDelivery, delivery_id)
            if delivery is None or (delivery.subscription_id is not None) != webhook:
                raise DeliveryNotFound("no such delivery")
            delivery.state, delivery.attempts = DeliveryState.PENDING, 0
            delivery.next_attempt_at, delivery.locked_until, delivery.delivered_at = now, None, None
            record(
                scope,
                now,
                actor,
                Event.DELIVERY_RESENT,
                instance_id=delivery.instance_id,
                task_id=delivery.task_id,
                details={
                    "delivery_id": delivery.id,
                    "channel_id": delivery.channel_id,
                    "subscription_id": delivery.subscription_id,
                },
            )
        self.schedule([delivery_id])

    # --- webhook deliveries (issue 18) -------------------------------------------------------------
    def webhook_deliveries(
        self, subscription_id: str | None = None, event_id: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """A subscription's deliveries, or one event's, newest first, each with its attempts."""
        with self.ctx.db.read() as scope:
            query = select(NotificationDelivery, WebhookSubscription).join(
                WebhookSubscription, WebhookSubscription.id == NotificationDelivery.subscription_id
            )
            if subscription_id is not None:
                if scope.get(WebhookSubscription, subscription_id) is None:
                    self.subscriptions.get(subscription_id)  # raises SubscriptionNotFound
                query = query.where(NotificationDelivery.subscription_id == subscription_id)
            if event_id is not None:
                query = query.where(NotificationDelivery.event_id == event_id)
            rows = scope.execute(query.order_by(NotificationDelivery.id.desc()).limit(limit)).all()
            attempts: dict[int, list[dict[str, Any]]] = {d.id: [] for d, _ in rows}
            if attempts:
                for attempt in scope.scalars(
                    select(DeliveryAttempt)
                    .where(DeliveryAttempt.delivery_id.in_(list(attempts)))
                    .order_by(DeliveryAttempt.id)
                ):
                    attempts[attempt.delivery_id].append(attempt_view(attempt))
            return [webhook_delivery_view(d, s, attempts[d.id]) for d, s in rows]

    def webhook_delivery(self, delivery_id: int) -> dict[str, Any]:
        with self.ctx.db.read() as scope:
            delivery = scope.get(NotificationDelivery, delivery_id)
            if delivery is None or delivery.subscription_id is None:
                raise DeliveryNotFound("no such delivery")
            subscription = scope.get(WebhookSubscription, delivery.subscription_id)
            attempts = scope.scalars(
                select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id).order_by(DeliveryAttempt.id)
            )
            return webhook_delivery_view(delivery, subscription, [attempt_view(a) for a in attempts])

    def resend_webhook(self, delivery_id: int, actor: Actor) -> dict[str, Any]:
        """Due now with a fresh round of attempts and the same webhook-id; re-enables nothing."""
        self._reset(delivery_id, actor, webhook=True)
        return self.webhook_delivery(delivery_id)


def delivery_view(
    delivery: NotificationDelivery, channel: NotificationChannel, username: str | None, department: str | None
) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "instance_id": delivery.instance_id,
        "task_id": delivery.task_id,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at.isoformat() if delivery.state == DeliveryState.PENDING else None,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at.isoformat(),
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
        "channel": {
            "id": channel.id,
            "kind": channel.kind,
            "hint": channel.hint,
            "user": username,
            "department": department,
            "active": channel.active,
            "consecutive_failures": channel.consecutive_failures,
            "disabled_reason": channel.disabled_reason,
        },
    }


def webhook_delivery_view(
    delivery: NotificationDelivery, subscription: WebhookSubscription, attempts: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "webhook_id": delivery.event_id,
        "event_type": delivery.event_type,
        "instance_id": delivery.instance_id,
        "task_id": delivery.task_id,
        "subscription": {"id": subscription.id, "name": subscription.name, "active": subscription.active},
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at.isoformat() if delivery.state == DeliveryState.PENDING else None,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at.isoformat(),
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
        "attempt_log": attempts,
    }


def attempt_view(attempt: DeliveryAttempt) -> dict[str, Any]:
    return {
        "at": attempt.at.isoformat(),
        "ok": attempt.ok,
        "status_code": attempt.status_code,
        "duration_ms": attempt.duration_ms,
        "error": attempt.error,
    }


def install(engine: Engine) -> Notifications:
    """The engine's Notifications, created once; its sweep joins the engine's sweeper."""
    found = engine.extensions.get(KEY)
    if found is None:
        found = engine.extensions[KEY] = Notifications(engine)
        engine.sweep_duties.append(found.background_sweep)
    return found


def deliver_batch_job(delivery_ids: list[int]) -> dict[int, str]:
    """RQ job: one attempt at each of these deliveries, and at other due ones up to a batch (when the
    workers are behind, a job takes what is due and the later jobs find theirs done); each retry is
    a job at its own due time."""
    from engine.jobs import worker_engine

    notifications = install(worker_engine())
    batch = max(notifications.ctx.settings.delivery_batch, len(delivery_ids))
    outcomes = notifications.deliverer.deliver_many(delivery_ids, top_up=batch)
    retrying = [delivery_id for delivery_id, outcome in outcomes.items() if outcome == "retry"]
    if retrying:
        with notifications.ctx.db.read() as scope:
            due = scope.execute(
                select(NotificationDelivery.id, NotificationDelivery.next_attempt_at).where(
                    NotificationDelivery.id.in_(retrying)
                )
            ).all()
        notifications._enqueue([([delivery_id], at) for delivery_id, at in due])
    return outcomes


def deliver_job(delivery_id: int) -> str:
    """RQ job of one delivery, as queued before deliveries were batched (a job waiting in Redis
    across an upgrade still runs)."""
    return deliver_batch_job([delivery_id])[delivery_id]
