"""Standard Webhooks out and signed results in, with real receiver processes on loopback that verify
with the independent `standardwebhooks` package (tests/webhook_receiver.py): the round trip on the
bundled workflow, thin payloads, retries (down then up, 500, 429 + Retry-After), 410, a hung
receiver, secret rotation, department routing."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

import webhooks
from engine import Settings
from engine.store.models import DeliveryAttempt, NotificationDelivery, OutboxEvent, WebhookSubscription
from engine.vocabulary import DeliveryState
from tests.helpers import PASSWORD, REPORT, escalate, open_tasks, report_case, task_of
from tests.test_notifications import PERSONAL, free_port, wait_until
from tests.test_notifications import _listening as listening
from web import create_app

ROOT = Path(__file__).resolve().parent.parent


class Receiver:
    """A department system's webhook endpoint (a process) and what it received."""

    def __init__(self, tmp_path: Path, *args: str, port: int | None = None):
        self.port = port or free_port()
        self.log = tmp_path / f"hooks-{self.port}.jsonl"
        self.log.touch()
        self.secret_file = tmp_path / f"secret-{self.port}"
        self.secret_file.touch()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.webhook_receiver",
                str(self.port),
                str(self.log),
                str(self.secret_file),
                *args,
            ],
            cwd=ROOT,
        )
        assert wait_until(lambda: listening(self.port)), "webhook receiver did not start"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/fengqiao"

    def trust(self, secret: str) -> None:
        self.secret_file.write_text(secret)

    def received(self) -> list[dict]:
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [r for r in map(json.loads, lines) if not r.get("reply") and not r.get("hanging")]

    def replies(self) -> list[dict]:
        return [r for r in map(json.loads, self.log.read_text(encoding="utf-8").splitlines()) if r.get("reply")]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def receivers(tmp_path):
    started: list[Receiver] = []

    def start(*args: str, port: int | None = None) -> Receiver:
        receiver = Receiver(tmp_path, *args, port=port)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings.from_env(
        {
            "FENGQIAO_DATABASE_URL": database_url,
            "FENGQIAO_INSTANCE_PATH": str(tmp_path / "instance"),
            "FENGQIAO_ARGON2_TIME_COST": "1",
            "FENGQIAO_ARGON2_MEMORY_KIB": "1024",
            "FENGQIAO_NOTIFY_ALLOW_HOSTS": "127.0.0.1",
            "FENGQIAO_NOTIFY_TIMEOUT": "2",
        }
    )


@pytest.fixture
def hooks(engine):
    return webhooks.install(engine)


def subscribe(hooks, world, receiver: Receiver, events: list[str], department: str | None = "civil_affairs") -> dict:
    data = {"url": receiver.url, "events": events}
    data |= {"department": department} if department else {"name": "city-dashboard"}
    created = hooks.subscriptions.create(data, world["admin"])
    receiver.trust(created["secret"])
    return created


def deliveries(engine) -> list[NotificationDelivery]:
    with engine.db.read() as scope:
        return list(scope.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id)))


def attempts(engine) -> list[DeliveryAttempt]:
    with engine.db.read() as scope:
        return list(scope.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)))


def event_id_of(engine, event_type: str) -> str:
    with engine.db.read() as scope:
        return scope.scalars(select(OutboxEvent.event_id).where(OutboxEvent.type == event_type)).one()


@pytest.fixture
def server(engine):
    """The web app serving this engine on loopback (the receiver posts its result back here)."""
    httpd = make_server("127.0.0.1", 0, create_app(engine), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


# --- the round trip -----------------------------------------------------------------------------
def test_an_escalation_reaches_civil_affairs_and_its_signed_result_moves_the_case_to_feedback(
    engine, world, hooks, receivers, server, tmp_path
):
    inbound = hooks.subscriptions.inbound_rotate("civil_affairs", world["admin"])
    reply_secret = tmp_path / "reply-secret"
    reply_secret.write_text(inbound["secret"])
    receiver = receivers(
        "--reply-to", f"{server}/api/v1/webhooks/inbound/civil_affairs", "--reply-secret-file", str(reply_secret)
    )
    subscribe(hooks, world, receiver, ["escalation.raised"])
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    hooks.sweep()

    (request,) = receiver.received()
    assert request["ok"], request["error"]  # verified by the standardwebhooks package
    assert request["id"] == event_id_of(engine, "escalation.raised")
    assert request["body"]["type"] == "escalation.raised"
    assert request["body"]["data"]["business_key"] == case["business_key"]
    assert request["body"]["data"]["departments"] == ["civil_affairs"]
    assert wait_until(lambda: receiver.replies() != [], timeout=60)
    (reply,) = receiver.replies()
    assert reply["status"] == 200, reply["answer"]
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["feedback_to_resident"]
    assert [d.state for d in deliveries(engine)] == [DeliveryState.DELIVERED]


def test_a_payload_never_holds_personal_data_or_sealed_values(engine, world, hooks, receivers):
    receiver = receivers()
    subscribe(hooks, world, receiver, list(webhooks.events.TYPES), department=None)
    wang = world["wang"]
    case = report_case(engine, wang)
    engine.tasks.urge(task_of(engine, case, "assess_case")["id"], world["zhou"], "刘桂兰 13912345678 催")
    escalate(engine, wang, case, ["civil_affairs", "health"])
    civil = task_of(engine, case, "handle_civil_affairs")
    engine.tasks.claim(civil["id"], world["li"])
    engine.tasks.complete(civil["id"], world["li"], {"outcome": "resolved", "summary": "刘桂兰 已办结"})
    hooks.sweep()
    received = receiver.received()
    types = {r["body"]["type"] for r in received}
    assert {"instance.started", "task.created", "task.urged", "escalation.raised", "task.completed"} <= types
    assert all(r["ok"] for r in received)
    everything = json.dumps(received, ensure_ascii=False)
    sealed = [*PERSONAL, REPORT["household"], "已办结", "催", PASSWORD]
    assert not [value for value in sealed if value in everything]


def test_a_department_subscription_hears_only_events_concerning_its_department(engine, world, hooks, receivers):
    civil, health = receivers(), receivers()
    subscribe(hooks, world, civil, ["escalation.raised", "task.created"])
    subscribe(hooks, world, health, ["escalation.raised", "task.created"], department="health")
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    hooks.sweep()
    assert sorted(r["body"]["type"] for r in civil.received()) == ["escalation.raised", "task.created"]
    assert health.received() == []
    created = next(r for r in civil.received() if r["body"]["type"] == "task.created")
    assert created["body"]["data"]["task_name"].startswith("民政处置")


# --- retries -------------------------------------------------------------------------------------
def test_a_receiver_down_then_up_gets_the_event_later_with_the_same_webhook_id(
    engine, world, hooks, receivers, clock, tmp_path
):
    port = free_port()
    secret_holder = Receiver.__new__(Receiver)  # the URL and secret before the process exists
    secret_holder.port = port
    created = hooks.subscriptions.create(
        {"url": secret_holder.url, "events": ["escalation.raised"], "department": "civil_affairs"}, world["admin"]
    )
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    hooks.sweep()
    (first,) = attempts(engine)
    assert not first.ok and "Connection" in (first.error or "")
    assert [d.state for d in deliveries(engine)] == [DeliveryState.PENDING]

    receiver = receivers(port=port)
    receiver.trust(created["secret"])
    clock.advance(timedelta(minutes=2))  # past the first backoff step (1 min +-20 %)
    hooks.sweep()
    (request,) = receiver.received()
    assert request["ok"] and request["id"] == event_id_of(engine, "escalation.raised")
    assert [a.ok for a in attempts(engine)] == [False, True]
    assert [d.state for d in deliveries(engine)] == [DeliveryState.DELIVERED]


def test_500_then_429_with_retry_after_then_2xx(engine, world, hooks, receivers, clock):
    receiver = receivers("--answers", "500,429", "--retry-after", "7200")
    subscribe(hooks, world, receiver, ["escalation.raised"])
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    hooks.sweep()
    clock.advance(timedelta(minutes=2))
    hooks.sweep()  # the 429: the receiver asks for two hours
    (delivery,) = deliveries(engine)
    assert delivery.state == DeliveryState.PENDING
    assert delivery.next_attempt_at >= clock.now() + timedelta(hours=2) - timedelta(seconds=1)
    clock.advance(timedelta(minutes=30))
    hooks.sweep()
    assert len(receiver.received()) == 2  # not before the Retry-After
    clock.advance(timedelta(hours=2))
    hooks.sweep()
    assert [a.status_code for a in attempts(engine)] == [500, 429, 200]
    assert [r["status"] for r in receiver.received()] == [500, 429, 200]
    assert len({r["id"] for r in receiver.received()}) == 1  # one webhook-id on every retry
    assert deliveries(engine)[0].state == DeliveryState.DELIVERED


def test_410_disables_the_subscription(engine, world, hooks, receivers):
    receiver = receivers("--answers", "410")
    created = subscribe(hooks, world, receiver, ["escalation.raised", "task.created"])
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    hooks.sweep()
    with engine.db.read() as scope:
        subscription = scope.get(WebhookSubscription, created["id"])
        assert not subscription.active and "410" in subscription.disabled_reason
    assert {d.state for d in deliveries(engine)} == {DeliveryState.FAILED}
    before = len(deliveries(engine))
    other = report_case(engine, world["wang"])
    escalate(engine, world["wang"], other, ["civil_affairs"])
    hooks.sweep()
    assert len(deliveries(engine)) == before  # a disabled subscription hears nothing new


def test_a_hung_receiver_hits_the_request_timeout(engine, world, hooks, receivers):
    receiver = receivers("--hang-first", "30")
    subscribe(hooks, world, receiver, ["escalation.raised"])
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    hooks.sweep()
    (attempt,) = attempts(engine)
    assert not attempt.ok and "timed out" in (attempt.error or "")
    assert deliveries(engine)[0].state == DeliveryState.PENDING


def test_an_admin_resends_a_delivered_event_with_the_same_webhook_id(engine, world, hooks, receivers):
    receiver = receivers()
    subscribe(hooks, world, receiver, ["escalation.raised"])
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    hooks.sweep()
    (delivery,) = deliveries(engine)
    view = hooks.resend_webhook(delivery.id, world["admin"])
    assert view["state"] == DeliveryState.PENDING and len(view["attempt_log"]) == 1
    hooks.sweep()
    first, second = receiver.received()
    assert first["id"] == second["id"] and second["ok"]


# --- secrets -------------------------------------------------------------------------------------
def test_a_rotation_signs_with_both_secrets_until_the_grace_period_ends(engine, world, hooks, receivers, clock):
    receiver = receivers()
    created = subscribe(hooks, world, receiver, ["task.created"], department=None)
    old = created["secret"]
    rotated = hooks.subscriptions.rotate(created["id"], world["admin"], 3600)
    assert rotated["secret"] != old and rotated["previous_secret_until"] is not None
    report_case(engine, world["wang"])
    hooks.sweep()  # the receiver still trusts the old secret
    (during,) = receiver.received()
    assert during["ok"] and len(during["signature"].split(" ")) == 2
    receiver.trust(rotated["secret"])
    clock.advance(timedelta(hours=2))
    report_case(engine, world["wang"])
    hooks.sweep()
    after = receiver.received()[-1]
    assert after["ok"] and len(after["signature"].split(" ")) == 1
    receiver.trust(old)
    report_case(engine, world["wang"])
    hooks.sweep()
    assert not receiver.received()[-1]["ok"]  # the old secret signs no more


def test_secrets_are_sealed_at_rest_and_shown_only_once(engine, world, hooks, receivers):
    receiver = receivers()
    created = subscribe(hooks, world, receiver, ["task.created"])
    inbound = hooks.subscriptions.inbound_rotate("health", world["admin"])
    assert created["secret"].startswith("whsec_") and inbound["secret"].startswith("whsec_")
    assert "secret" not in hooks.subscriptions.get(created["id"])
    assert all("secret" not in row for row in hooks.subscriptions.listing() + hooks.subscriptions.inbound_list())
    from tests.helpers import database_rows

    everything = repr(database_rows(engine))
    for secret in (created["secret"], inbound["secret"]):
        assert secret not in everything and secret.removeprefix("whsec_") not in everything
    assert receiver.url not in everything


# --- the command -------------------------------------------------------------------------------
@pytest.mark.backends("sqlite")
def test_the_command_creates_lists_rotates_disables_and_shows_attempts(engine, world, settings):
    import os

    env = {**os.environ, "FENGQIAO_DATABASE_URL": settings.database_url}
    env["FENGQIAO_INSTANCE_PATH"] = str(settings.instance_path)

    def run(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "cli.main", "webhooks", *args]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    created = run("create", "--url", "https://minzheng.example/hooks", "--event", "escalation.raised",
                  "--department", "civil_affairs")  # fmt: skip
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("whsec_") and "not shown again" in created.stderr
    (subscription,) = webhooks.install(engine).subscriptions.listing()
    listed = run("list")
    assert subscription["id"] in listed.stdout and secret not in listed.stdout
    rotated = run("rotate", subscription["id"], "--grace", "60")
    assert rotated.returncode == 0 and rotated.stdout.strip().startswith("whsec_") and secret not in rotated.stdout
    assert run("rotate", "--inbound", "health").returncode == 0
    assert run("disable", subscription["id"]).returncode == 0
    assert not webhooks.install(engine).subscriptions.get(subscription["id"])["active"]
    assert run("attempts", subscription["id"]).returncode == 0
    refused = run("create", "--url", "https://10.0.0.8/x", "--event", "task.created", "--name", "x")
    assert refused.returncode == 1 and "field: url" in refused.stderr
    assert len(webhooks.install(engine).subscriptions.listing()) == 1
