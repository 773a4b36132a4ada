"""Webhook deliveries under real worker processes and real Redis: an RQ job delivers; a worker
SIGKILLed mid-request only delays the event (same webhook-id, recorded delivered once); an event
written while Redis is down is delivered once Redis and a worker are back."""

from __future__ import annotations

import dataclasses
import signal
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

import webhooks
from engine import Engine
from engine.store.models import DeliveryAttempt, NotificationDelivery
from engine.vocabulary import DeliveryState
from tests.conftest import REDIS_URL
from tests.helpers import escalate, report_case
from tests.test_notifications import free_port, wait_until
from tests.test_timer_processes import fengqiao, worker_env
from tests.test_webhooks import Receiver, event_id_of
from tests.test_webhooks import settings as settings  # noqa: F401 - allow-lists loopback

pytestmark = pytest.mark.backends("sqlite")  # processes share the file; PostgreSQL runs the same code


def _states(engine) -> list[str]:
    with engine.db.read() as scope:
        return list(scope.scalars(select(NotificationDelivery.state).order_by(NotificationDelivery.id)))


def _delivered_attempts(engine) -> int:
    with engine.db.read() as scope:
        return len(scope.scalars(select(DeliveryAttempt.id).where(DeliveryAttempt.ok.is_(True))).all())


def _stop(process) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(15)
    except Exception:
        process.kill()
        process.wait(5)


def _escalation_subscribed(engine, world, receiver: Receiver) -> None:
    created = webhooks.install(engine).subscriptions.create(
        {"department": "civil_affairs", "url": receiver.url, "events": ["escalation.raised"]}, world["admin"]
    )
    receiver.trust(created["secret"])


def test_the_rq_worker_delivers_a_signed_event(engine, world, settings, clock, tmp_path, redis_db):
    clock.set(datetime.now(UTC))  # the worker runs on the real clock
    receiver = Receiver(tmp_path)
    _escalation_subscribed(engine, world, receiver)
    worker = fengqiao(
        "worker", env=worker_env(settings, FENGQIAO_REDIS_URL=REDIS_URL, FENGQIAO_NOTIFY_ALLOW_HOSTS="127.0.0.1")
    )
    try:
        case = report_case(engine, world["wang"])
        escalate(engine, world["wang"], case, ["civil_affairs"])
        assert wait_until(lambda: _states(engine) == [DeliveryState.DELIVERED], timeout=60)
        (request,) = receiver.received()
        assert request["ok"] and request["id"] == event_id_of(engine, "escalation.raised")
    finally:
        _stop(worker)
        receiver.stop()


def test_a_worker_killed_mid_delivery_delivers_later_with_the_same_webhook_id(engine, world, settings, clock, tmp_path):
    clock.set(datetime.now(UTC))
    receiver = Receiver(tmp_path, "--hang-first", "120")
    _escalation_subscribed(engine, world, receiver)
    env = worker_env(settings, FENGQIAO_NOTIFY_ALLOW_HOSTS="127.0.0.1", FENGQIAO_NOTIFY_TIMEOUT="5")
    first = fengqiao("worker", env=env)  # no Redis: the sweeper sends; lease 3 x 5 + 30 = 45 s
    try:
        case = report_case(engine, world["wang"])
        escalate(engine, world["wang"], case, ["civil_affairs"])
        hanging = receiver.log
        assert wait_until(lambda: "hanging" in hanging.read_text(), timeout=60)
        first.kill()
        first.wait(10)
        assert _states(engine) == [DeliveryState.PENDING]
        second = fengqiao("worker", env=env)
        try:
            assert wait_until(lambda: _states(engine) == [DeliveryState.DELIVERED], timeout=120)
            (request,) = receiver.received()
            assert request["ok"] and request["id"] == event_id_of(engine, "escalation.raised")
            assert event_id_of(engine, "escalation.raised") in hanging.read_text().splitlines()[0]
            assert _delivered_attempts(engine) == 1
        finally:
            _stop(second)
    finally:
        if first.poll() is None:
            first.kill()
        receiver.stop()


def test_an_event_written_while_redis_is_down_is_delivered_after_it_returns(
    engine, world, settings, clock, tmp_path, redis_db
):
    clock.set(datetime.now(UTC) - timedelta(minutes=5))  # the write happened five minutes ago
    receiver = Receiver(tmp_path)
    _escalation_subscribed(engine, world, receiver)
    down = Engine(dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0"), clock)
    try:
        case = report_case(down, world["wang"])
        escalate(down, world["wang"], case, ["civil_affairs"])  # the change commits all the same
        hooks = webhooks.install(down)
        hooks.sweep()  # relayed; its RQ job cannot be queued; not overdue yet for the sweep
        assert _states(engine) == [DeliveryState.PENDING] and receiver.received() == []
    finally:
        down.close()
    worker = fengqiao(
        "worker", env=worker_env(settings, FENGQIAO_REDIS_URL=REDIS_URL, FENGQIAO_NOTIFY_ALLOW_HOSTS="127.0.0.1")
    )
    try:
        assert wait_until(lambda: _states(engine) == [DeliveryState.DELIVERED], timeout=60)
        (request,) = receiver.received()
        assert request["ok"] and request["id"] == event_id_of(engine, "escalation.raised")
    finally:
        _stop(worker)
        receiver.stop()
