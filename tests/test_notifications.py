"""Notifications through the outbox: the relay, each app's format and signature checked by real
receiver processes on loopback (tests/robot_receiver.py; aiosmtpd for e-mail), retries, 410, SSRF."""

from __future__ import annotations

import json
import mailbox
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

import webhooks
from engine import Settings
from engine.outbox import GAP_WAIT
from engine.store.models import DeliveryAttempt, NotificationChannel, NotificationDelivery, OutboxEvent, RelayCursor
from engine.vocabulary import DeliveryState
from tests.helpers import database_rows, escalate, report_case, task_of
from webhooks import Owner, delivery, safety, transport

ROOT = Path(__file__).resolve().parent.parent
SECRET = "SECtest0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Robot:
    """A robot receiver process (WeCom and DingTalk paths) and what it received."""

    def __init__(self, tmp_path: Path, *args: str):
        self.port = free_port()
        self.log = tmp_path / f"robot-{self.port}.jsonl"
        self.log.touch()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.robot_receiver", str(self.port), str(self.log), *args], cwd=ROOT
        )
        assert wait_until(lambda: _listening(self.port)), "robot receiver did not start"

    def wecom_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cgi-bin/webhook/send?key=wecom-robot-key"

    def dingtalk_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/robot/send?access_token=ding-token"

    def received(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def robots(tmp_path):
    started: list[Robot] = []

    def start(*args: str) -> Robot:
        robot = Robot(tmp_path, *args)
        started.append(robot)
        return robot

    yield start
    for robot in started:
        robot.stop()


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    """aiosmtpd as a process, keeping every message in a maildir."""
    port, folder = free_port(), tmp_path_factory.mktemp("maildir") / "mail"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Mailbox",
            str(folder),
        ]
    )
    assert wait_until(lambda: _listening(port)), "aiosmtpd did not start"
    yield port, folder
    process.terminate()
    process.wait(10)


@pytest.fixture
def settings(database_url, tmp_path, smtp) -> Settings:
    return Settings.from_env(
        {
            "FENGQIAO_DATABASE_URL": database_url,
            "FENGQIAO_INSTANCE_PATH": str(tmp_path / "instance"),
            "FENGQIAO_ARGON2_TIME_COST": "1",
            "FENGQIAO_ARGON2_MEMORY_KIB": "1024",
            "FENGQIAO_NOTIFY_ALLOW_HOSTS": "127.0.0.1",
            "FENGQIAO_SMTP_HOST": "127.0.0.1",
            "FENGQIAO_SMTP_PORT": str(smtp[0]),
            "FENGQIAO_PUBLIC_URL": "https://fengqiao.example",
            "FENGQIAO_NOTIFY_TIMEOUT": "5",
        }
    )


@pytest.fixture
def notifications(engine):
    return webhooks.install(engine)


def mail_keys(folder: Path) -> set[str]:
    return set(mailbox.Maildir(folder, create=False).keys()) if folder.exists() else set()


def deliveries(engine) -> list[NotificationDelivery]:
    with engine.db.read() as scope:
        return list(scope.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id)))


def attempts(engine) -> list[DeliveryAttempt]:
    with engine.db.read() as scope:
        return list(scope.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)))


PERSONAL = ("刘桂兰", "11010119450101123X", "13912345678", "新桥社区7栋101室")


# --- end to end: queue → department robot, members' channels, e-mail ----------------------------
def test_a_task_in_a_department_queue_reaches_its_robot_and_its_members_in_each_apps_format(
    engine, world, notifications, robots, smtp, clock
):
    wecom, ding = robots(), robots("--secret", SECRET)
    admin, li = world["admin"], world["li"]
    notifications.channels.create(Owner(department="civil_affairs"), {"kind": "wecom", "url": wecom.wecom_url()}, admin)
    notifications.channels.create(
        Owner(user_id=li.id), {"kind": "dingtalk", "url": ding.dingtalk_url(), "secret": SECRET}, li
    )
    before_mail = mail_keys(smtp[1])  # the receiver's folder holds other tests' mails too
    notifications.channels.create(Owner(user_id=li.id), {"kind": "email", "address": "li@civil.example"}, li)
    case = report_case(engine, world["wang"])
    notifications.sweep()  # the officers' task: nobody here listens to the officers' queue
    assert deliveries(engine) == []
    escalate(engine, world["wang"], case, ["civil_affairs"])
    notifications.sweep()
    task = task_of(engine, case, "handle_civil_affairs")

    assert [d.state for d in deliveries(engine)] == [DeliveryState.DELIVERED] * 3
    (to_group,) = wecom.received()
    assert to_group["ok"], to_group["error"]
    content = to_group["body"]["markdown"]["content"]
    assert case["business_key"] in content and "民政处置" in content and "新桥派出所" in content
    assert f"https://fengqiao.example/tasks/{task['id']}" in content
    (to_li,) = ding.received()
    assert to_li["ok"], to_li["error"]  # the receiver verified timestamp and sign
    assert to_li["body"]["markdown"]["title"].startswith("新任务")
    assert wait_until(lambda: len(mail_keys(smtp[1]) - before_mail) == 1)
    [key] = mail_keys(smtp[1]) - before_mail  # a folder's listing has no order: the new one by its key
    mail = mailbox.Maildir(smtp[1], create=False)[key]
    assert mail["To"] == "li@civil.example"
    assert f"/tasks/{task['id']}" in mail.get_payload(decode=True).decode()
    everything = json.dumps([wecom.received(), ding.received()], ensure_ascii=False) + str(mail)
    assert not any(value in everything for value in PERSONAL)


def test_an_officer_task_reaches_the_officers_of_its_station_only(engine, world, notifications, robots):
    robot = robots()
    for name in ("wang", "liu"):  # liu is an officer of another station
        user = world[name]
        notifications.channels.create(Owner(user_id=user.id), {"kind": "wecom", "url": robot.wecom_url()}, user)
    report_case(engine, world["chen"])
    notifications.sweep()
    (only,) = deliveries(engine)
    with engine.db.read() as scope:
        assert scope.get(NotificationChannel, only.channel_id).user_id == world["wang"].id


def test_channel_language_english_and_event_filter(engine, world, notifications, robots):
    robot = robots()
    wang = world["wang"]
    notifications.channels.create(
        Owner(user_id=wang.id), {"kind": "wecom", "url": robot.wecom_url(), "language": "en"}, wang
    )
    notifications.channels.create(
        Owner(user_id=wang.id), {"kind": "wecom", "url": robot.wecom_url(), "events": ["sla.breached"]}, wang
    )
    report_case(engine, world["chen"])
    notifications.sweep()
    (message,) = robot.received()
    assert message["body"]["markdown"]["content"].startswith("**New task: ")


# --- the relay ----------------------------------------------------------------------------------
def _emit(engine, event_type: str, payload: dict, event_id: int | None = None, task_id: str | None = None):
    with engine.db.transaction() as scope:
        row = OutboxEvent(
            event_id=f"00000000-0000-4000-8000-{event_type.__hash__() & 0xFFFFFFFFFFFF:012x}",
            type=event_type,
            occurred_at=engine.clock.now(),
            task_id=task_id,
            payload=payload,
            published_at=None,
        )
        if event_id is not None:
            row.id = event_id
        scope.add(row)


def test_an_unknown_event_type_is_ignored_and_read_past(engine, world, notifications, robots):
    robot = robots()
    li = world["li"]
    notifications.channels.create(Owner(user_id=li.id), {"kind": "wecom", "url": robot.wecom_url()}, li)
    _emit(engine, "task.teleported", {"assignee_id": li.id})
    assert notifications.relay.run_once() == []
    with engine.db.read() as scope:
        last = scope.scalar(select(func.max(OutboxEvent.id)))
        assert scope.get(RelayCursor, "notifications").last_id == last


def test_the_handling_operations_event_types_notify_by_name(engine, world, notifications, robots):
    """urge and copy (抄送) notify by their names in the table: a copy each of its recipients."""
    robot = robots()
    li, wang = world["li"], world["wang"]
    for user in (li, wang):
        notifications.channels.create(Owner(user_id=user.id), {"kind": "wecom", "url": robot.wecom_url()}, user)
    _emit(engine, "task.urged", {"assignee_id": li.id})
    _emit(engine, "case.copied", {"copied_to_ids": [wang.id, li.id], "business_key": "JF-1"})
    notifications.sweep()
    assert sorted(d.event_type for d in deliveries(engine)) == ["case.copied", "case.copied", "task.urged"]
    titles = sorted(r["body"]["markdown"]["content"].split("\n")[0] for r in robot.received())
    assert titles == ["**催办：任务**", "**抄送：案件 JF-1**", "**抄送：案件 JF-1**"]


def test_the_handling_operations_notify_the_holder_and_the_case_owner(engine, world, notifications, robots):
    """urge tells the liaison holding the task; return tells the case owner, not the department."""
    robot = robots()
    wang, li = world["wang"], world["li"]
    case = report_case(engine, wang, risk_level="yellow")
    escalate(engine, wang, case, ["civil_affairs"])
    civil = task_of(engine, case, "handle_civil_affairs")
    engine.tasks.claim(civil["id"], li)
    notifications.sweep()  # nobody has a channel yet: the escalation notifies nobody
    for user in (wang, li):
        notifications.channels.create(Owner(user_id=user.id), {"kind": "wecom", "url": robot.wecom_url()}, user)
    engine.tasks.urge(civil["id"], wang, "the resident called twice")
    notifications.sweep()
    engine.tasks.return_task(civil["id"], li, "not a civil-affairs matter")
    notifications.sweep()
    told = [(d.event_type, d.channel_id) for d in deliveries(engine)]
    channel = {c.user_id: c.id for c in _channels(engine)}
    assert told == [("task.urged", channel[li.id]), ("task.returned", channel[wang.id])]
    assert all("not a civil-affairs matter" not in json.dumps(r["body"]) for r in robot.received())


def _channels(engine) -> list[NotificationChannel]:
    with engine.db.read() as scope:
        return list(scope.scalars(select(NotificationChannel)))


def test_a_reassigned_task_notifies_its_new_assignee(engine, world, notifications, robots):
    robot = robots()
    chen = world["chen"]
    notifications.channels.create(Owner(user_id=chen.id), {"kind": "wecom", "url": robot.wecom_url()}, chen)
    case = report_case(engine, world["wang"])
    task = task_of(engine, case, "assess_case")
    notifications.sweep()  # chen is an officer of the station: the queue
    engine.tasks.claim(task["id"], world["wang"])
    engine.tasks.reassign(task["id"], world["zhou"], "chen", "wang is on leave")
    notifications.sweep()
    titles = [r["body"]["markdown"]["content"].split("\n")[0] for r in robot.received()]
    assert titles[0].startswith("**新任务") and titles[1].startswith("**任务已交给您")


def test_the_relay_reads_each_event_once(engine, world, notifications, robots):
    robot = robots()
    wang = world["wang"]
    notifications.channels.create(Owner(user_id=wang.id), {"kind": "wecom", "url": robot.wecom_url()}, wang)
    report_case(engine, world["chen"])
    first = notifications.relay.run_once()
    assert len(first) == 1 and notifications.relay.run_once() == []
    assert len(deliveries(engine)) == 1


def test_the_relay_waits_at_a_gap_in_outbox_ids_until_it_is_old(engine, world, notifications, clock):
    li = world["li"]
    notifications.channels.create(Owner(user_id=li.id), {"kind": "email", "address": "li@civil.example"}, li)
    notifications.relay.run_once()
    with engine.db.read() as scope:
        last = scope.scalar(select(func.max(OutboxEvent.id)))
    _emit(engine, "task.reassigned", {"assignee_id": li.id}, event_id=last + 2)  # last + 1 not committed yet
    assert notifications.relay.run_once() == []
    clock.advance(GAP_WAIT + timedelta(seconds=1))
    assert len(notifications.relay.run_once()) == 1


# --- retries, Retry-After, 410, giving up --------------------------------------------------------
def test_a_failing_receiver_is_retried_with_backoff_honouring_retry_after(engine, world, notifications, robots, clock):
    robot = robots("--answers", "503,503", "--retry-after", "900")
    wang = world["wang"]
    notifications.channels.create(Owner(user_id=wang.id), {"kind": "wecom", "url": robot.wecom_url()}, wang)
    report_case(engine, world["chen"])
    start = clock.now()
    notifications.sweep()
    (pending,) = deliveries(engine)
    assert pending.state == DeliveryState.PENDING and pending.attempts == 1
    assert pending.next_attempt_at >= start + timedelta(seconds=900)  # Retry-After beats the 1-minute step
    notifications.sweep()  # not due yet: nothing sent
    assert len(robot.received()) == 1
    clock.advance(timedelta(seconds=901))
    notifications.sweep()
    clock.advance(timedelta(seconds=901))
    notifications.sweep()
    (done,) = deliveries(engine)
    assert done.state == DeliveryState.DELIVERED and done.attempts == 3
    assert [(a.status_code, a.ok) for a in attempts(engine)] == [(503, False), (503, False), (200, True)]
    assert all(a.duration_ms >= 0 for a in attempts(engine))


def test_a_wrong_dingtalk_secret_fails_the_signature_and_is_retried(engine, world, notifications, robots, clock):
    robot = robots("--secret", SECRET)
    li = world["li"]
    notifications.channels.create(
        Owner(user_id=li.id), {"kind": "dingtalk", "url": robot.dingtalk_url(), "secret": "SECwrong"}, li
    )
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    notifications.sweep()
    (message,) = robot.received()
    assert message["error"] == "sign not match"
    (pending,) = deliveries(engine)
    assert pending.state == DeliveryState.PENDING and "sign not match" in pending.last_error
    delay = pending.next_attempt_at - clock.now()
    assert timedelta(seconds=47) <= delay <= timedelta(seconds=73)  # 1 minute +-20 %


def test_gone_disables_the_channel_and_fails_the_delivery(engine, world, notifications, robots):
    robot = robots("--answers", "410")
    wang = world["wang"]
    channel = notifications.channels.create(Owner(user_id=wang.id), {"kind": "wecom", "url": robot.wecom_url()}, wang)
    report_case(engine, world["chen"])
    notifications.sweep()
    (failed,) = deliveries(engine)
    assert failed.state == DeliveryState.FAILED
    (mine,) = notifications.channels.list(Owner(user_id=wang.id))
    assert mine["id"] == channel["id"] and not mine["active"] and "410" in mine["disabled_reason"]


def test_retries_span_about_three_days_then_give_up(engine, world, notifications, robots, clock):
    total = sum(delivery.BACKOFF, timedelta())
    assert timedelta(days=2.5) <= total * (1 - delivery.JITTER) and total * (1 + delivery.JITTER) <= timedelta(days=4)
    robot = robots("--answers", ",".join(["500"] * delivery.MAX_ATTEMPTS))
    wang = world["wang"]
    notifications.channels.create(Owner(user_id=wang.id), {"kind": "wecom", "url": robot.wecom_url()}, wang)
    report_case(engine, world["chen"])
    for _ in range(delivery.MAX_ATTEMPTS):
        notifications.sweep()
        clock.advance(timedelta(hours=25))
    (given_up,) = deliveries(engine)
    assert given_up.state == DeliveryState.FAILED and given_up.attempts == delivery.MAX_ATTEMPTS
    assert len(robot.received()) == delivery.MAX_ATTEMPTS


def test_a_delivery_held_by_a_killed_worker_is_sent_after_its_lease(engine, world, notifications, robots, clock):
    robot = robots()
    wang = world["wang"]
    notifications.channels.create(Owner(user_id=wang.id), {"kind": "wecom", "url": robot.wecom_url()}, wang)
    report_case(engine, world["chen"])
    (delivery_id,) = notifications.relay.run_once()
    assert notifications.deliverer._claim(delivery_id) is not None  # a worker took it, then died
    assert notifications.sweep() == 0 and robot.received() == []
    clock.advance(notifications.deliverer.lease + timedelta(seconds=1))
    notifications.sweep()
    assert [d.state for d in deliveries(engine)] == [DeliveryState.DELIVERED] and len(robot.received()) == 1


# --- SSRF -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "https://10.1.2.3/cgi-bin/webhook/send",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://localhost/x",
        "https://user:pw@qyapi.weixin.qq.com/cgi-bin/webhook/send",
        "http://qyapi.weixin.qq.com/cgi-bin/webhook/send",
        "ftp://qyapi.weixin.qq.com/x",
        "https:///nohost",
    ],
)
def test_unsafe_robot_urls_are_refused(url):
    with pytest.raises(Exception) as refused:
        safety.parse_url(url, allow=())
    assert getattr(refused.value, "code", None) == "invalid_input"


@pytest.mark.backends("sqlite")
def test_a_loopback_target_is_refused_at_send_time_unless_allow_listed(robots):
    robot = robots()
    outcome = transport.post_json(robot.wecom_url(), b"{}", allow=(), timeout=2, app_errors=True)
    assert not outcome.ok and outcome.error.startswith("refused") and robot.received() == []
    with pytest.raises(safety.Refused):
        safety.resolve_checked("localhost", 80, ())
    assert safety.resolve_checked("127.0.0.1", 80, ("127.0.0.0/8",)) == "127.0.0.1"


def test_targets_and_secrets_are_sealed_at_rest(engine, world, notifications, robots):
    li = world["li"]
    robot = robots()
    notifications.channels.create(
        Owner(user_id=li.id), {"kind": "dingtalk", "url": robot.dingtalk_url(), "secret": SECRET}, li
    )
    notifications.channels.create(Owner(user_id=li.id), {"kind": "email", "address": "li@civil.example"}, li)
    dump = repr(database_rows(engine))
    assert SECRET not in dump and "ding-token" not in dump and "li@civil.example" not in dump


@pytest.mark.backends("sqlite")
def test_the_timer_sweeper_does_not_wait_for_a_slow_receiver(engine, world, notifications, robots):
    from engine.jobs import Sweeper

    robot = robots("--hang-first", "30")
    wang = world["wang"]
    notifications.channels.create(Owner(user_id=wang.id), {"kind": "wecom", "url": robot.wecom_url()}, wang)
    report_case(engine, world["chen"])
    Sweeper(engine).sweep()  # returns while the notification round still waits for the robot
    assert wait_until(lambda: any(r.get("hanging") for r in robot.received()))
    assert [d.state for d in deliveries(engine)] == [DeliveryState.PENDING]
    assert notifications._busy.locked()  # that round is still running: the next duty call starts none
    Sweeper(engine).sweep()
    assert len(robot.received()) == 1
