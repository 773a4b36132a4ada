"""Notifications under real worker processes: `fengqiao worker` with Redis delivers through RQ jobs,
and a delivery whose job Redis never had (or lost) is sent by the worker's sweep all the same."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

import webhooks
from engine.store.models import NotificationDelivery
from engine.vocabulary import DeliveryState
from tests.conftest import REDIS_URL
from tests.helpers import report_case
from tests.test_notifications import Robot, wait_until
from tests.test_notifications import settings as settings  # noqa: F401 - allow-lists loopback, SMTP
from tests.test_notifications import smtp as smtp  # noqa: F401
from tests.test_timer_processes import fengqiao, worker_env
from webhooks import Owner

pytestmark = pytest.mark.backends("sqlite")  # processes share the file; PostgreSQL runs the same code


def _states(engine) -> list[str]:
    with engine.db.read() as scope:
        return list(scope.scalars(select(NotificationDelivery.state).order_by(NotificationDelivery.id)))


def _worker(settings, tmp_path):
    env = worker_env(
        settings,
        FENGQIAO_REDIS_URL=REDIS_URL,
        FENGQIAO_NOTIFY_ALLOW_HOSTS="127.0.0.1",
        FENGQIAO_PUBLIC_URL="https://fengqiao.example",
    )
    return fengqiao("worker", env=env)


def _stop(process) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(15)
    except Exception:
        process.kill()
        process.wait(5)


def test_the_rq_worker_relays_and_delivers_new_events(engine, world, settings, clock, tmp_path, redis_db):
    clock.set(datetime.now(UTC))  # the worker runs on the real clock
    robot = Robot(tmp_path)
    wang = world["wang"]
    webhooks.install(engine).channels.create(Owner(user_id=wang.id), {"kind": "wecom", "url": robot.wecom_url()}, wang)
    worker = _worker(settings, tmp_path)
    try:
        report_case(engine, world["chen"])
        assert wait_until(lambda: _states(engine) == [DeliveryState.DELIVERED], timeout=60), worker.stderr
        (message,) = robot.received()
        assert message["ok"] and "fengqiao.example/tasks/" in message["body"]["markdown"]["content"]
    finally:
        _stop(worker)
        robot.stop()


def test_a_delivery_without_a_job_is_sent_by_the_workers_sweep(engine, world, settings, clock, tmp_path, redis_db):
    clock.set(datetime.now(UTC) - timedelta(minutes=5))  # created five minutes ago, its job lost
    robot = Robot(tmp_path)
    wang = world["wang"]
    notifications = webhooks.install(engine)
    notifications.channels.create(Owner(user_id=wang.id), {"kind": "wecom", "url": robot.wecom_url()}, wang)
    report_case(engine, world["chen"])
    assert len(notifications.relay.run_once()) == 1  # this engine has no Redis: no job was queued
    assert redis_db.dbsize() == 0
    worker = _worker(settings, tmp_path)
    try:
        assert wait_until(lambda: _states(engine) == [DeliveryState.DELIVERED], timeout=60)
        assert len(robot.received()) == 1
    finally:
        _stop(worker)
        robot.stop()


def test_a_worker_killed_while_sending_only_delays_the_delivery(engine, world, settings, clock, tmp_path):
    """SIGKILL mid-request: the delivery's lease runs out and the next worker sends it."""
    clock.set(datetime.now(UTC))
    robot = Robot(tmp_path, "--hang-first", "120")
    wang = world["wang"]
    notifications = webhooks.install(engine)
    notifications.channels.create(Owner(user_id=wang.id), {"kind": "wecom", "url": robot.wecom_url()}, wang)
    env = worker_env(
        settings, FENGQIAO_NOTIFY_ALLOW_HOSTS="127.0.0.1", FENGQIAO_NOTIFY_TIMEOUT="5"
    )  # no Redis: the sweeper sends; lease 3 x 5 + 30 = 45 s
    first = fengqiao("worker", env=env)
    try:
        report_case(engine, world["chen"])
        assert wait_until(lambda: any(r.get("hanging") for r in robot.received()), timeout=60)
        first.kill()
        first.wait(10)
        assert _states(engine) == [DeliveryState.PENDING]
        second = fengqiao("worker", env=env)
        try:
            assert wait_until(lambda: _states(engine) == [DeliveryState.DELIVERED], timeout=120)
            delivered = [r for r in robot.received() if r.get("ok")]
            assert len(delivered) == 1
        finally:
            _stop(second)
    finally:
        if first.poll() is None:
            first.kill()
        robot.stop()
