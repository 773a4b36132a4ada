"""Timers under real processes: racing sweepers, a worker killed mid-fire, workers with Redis (whose
sweepers fire timers: no RQ job per timer), timer jobs an older version queued, and the embedded
sweeper inside `fengqiao serve`.

Cases are created by the test's engine on a clock set in the past, so their timers are already due
in real time: the worker processes (on the real clock) fire them at once, and no test waits for a
timer's duration.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import Engine, ManualClock, Settings
from engine.store.models import AuditEntry, ProcessInstance, StartTimer, Timer
from tests import models
from tests.conftest import REDIS_URL
from tests.helpers import REPORT

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def past_clock(clock: ManualClock) -> ManualClock:
    clock.set(datetime.now(UTC) - timedelta(hours=3))
    return clock


def due_cases(engine, world, count: int) -> list[str]:
    """`count` cases whose one-hour boundary timer fell due two hours ago (in real time)."""
    engine.repository.deploy([("timed.bpmn", models.timed("PT1H", attached="task"))])
    return [engine.runtime.start_instance("timed", world["wang"], {})["id"] for _ in range(count)]


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "FENGQIAO_DATABASE_URL": settings.database_url,
        "FENGQIAO_INSTANCE_PATH": str(settings.instance_path),
        "FENGQIAO_SWEEP_INTERVAL": "0.1",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("FENGQIAO_REDIS_URL", None)
    env.update(extra)
    return env


def fengqiao(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: a kill takes RQ's forked scheduler with it
    )


def stop(*processes: subprocess.Popen) -> None:
    """SIGTERM, then wait for a warm shutdown (a job in hand finishes first). One that has not exited
    after a minute is killed before the test fails, so that it never takes the next test's jobs."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    stuck = []
    for process in processes:
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            stuck.append(process.args)
    assert not stuck, f"did not stop on SIGTERM within 60 s: {stuck}"


def fired_per_case(engine, case_ids: list[str]) -> dict[str, int]:
    with engine.db.read() as session:  # never queues behind the worker's writes (SQLite: BEGIN DEFERRED)
        rows = session.execute(
            select(AuditEntry.instance_id, func.count())
            .where(AuditEntry.action == "timer.fired", AuditEntry.instance_id.in_(case_ids))
            .group_by(AuditEntry.instance_id)
        ).all()
    counts = dict.fromkeys(case_ids, 0)
    counts.update(dict(rows))
    return counts


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def assert_each_fired_once(engine, case_ids: list[str]) -> None:
    counts = fired_per_case(engine, case_ids)
    assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}
    for case_id in case_ids[:5]:
        view = engine.runtime.get_instance(case_id, history=False)
        assert [t["element_id"] for t in view["open_tasks"]] == ["escalated"]
    with engine.db.transaction() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(Timer)
                .where(Timer.instance_id.in_(case_ids), Timer.kind == "bpmn_timer", Timer.status == "pending")
            )
            == 0
        )


def test_two_sweeper_processes_fire_each_timer_once(engine, world, settings, past_clock):
    case_ids = due_cases(engine, world, 60)
    env = worker_env(settings, FENGQIAO_SWEEP_BATCH="7")
    procs = [fengqiao("worker", "--burst", env=env) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    fired = [int(out.split()[1]) for out, _ in outputs]
    assert sum(fired) == 60
    assert_each_fired_once(engine, case_ids)


@pytest.mark.parametrize("with_redis", [False, True], ids=["sweeper-alone", "redis"])
def test_a_worker_killed_mid_fire_loses_and_doubles_nothing(engine, world, settings, past_clock, request, with_redis):
    case_ids = due_cases(engine, world, 600)  # enough that the worker is still busy when it is killed
    redis = {"FENGQIAO_REDIS_URL": REDIS_URL} if with_redis else {}
    if with_redis:
        request.getfixturevalue("redis_db")  # an empty Redis database, flushed afterwards
    env = worker_env(settings, FENGQIAO_TIMER_LEASE_SECONDS="2", FENGQIAO_SWEEP_BATCH="25", **redis)
    first = fengqiao("worker", env=env)
    assert wait_until(lambda: sum(fired_per_case(engine, case_ids).values()) >= 10, timeout=60, interval=0.02)
    os.killpg(first.pid, signal.SIGKILL)  # the worker and, with Redis, its scheduler process: a crash
    first.communicate(timeout=30)
    done_before_restart = sum(fired_per_case(engine, case_ids).values())
    assert done_before_restart < len(case_ids), "the worker finished before it could be killed"
    second = fengqiao("worker", env=env)
    try:
        assert wait_until(lambda: min(fired_per_case(engine, case_ids).values()) >= 1, timeout=120)
    finally:
        stop(second)
    assert_each_fired_once(engine, case_ids)


def redis_engine(settings: Settings, clock: ManualClock) -> Engine:
    env = {
        "FENGQIAO_DATABASE_URL": settings.database_url,
        "FENGQIAO_INSTANCE_PATH": str(settings.instance_path),
        "FENGQIAO_REDIS_URL": REDIS_URL,
        "FENGQIAO_ARGON2_TIME_COST": "1",
        "FENGQIAO_ARGON2_MEMORY_KIB": "1024",
    }
    return Engine(Settings.from_env(env), clock)


def test_new_timers_queue_nothing_in_redis(engine, world, settings, past_clock, redis_db):
    with_redis = redis_engine(settings, past_clock)
    try:
        case = with_redis.runtime.start_instance("dispute_resolution", world["wang"], dict(REPORT))
        with_redis.repository.deploy([("timed.bpmn", models.timed("PT1H", attached="task"))])
        with_redis.runtime.start_instance("timed", world["wang"], {})
    finally:
        with_redis.close()
    with engine.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Timer).where(Timer.instance_id == case["id"])) >= 2
    assert redis_db.keys("*") == []  # neither the SLA marks nor the BPMN timer became RQ jobs


def test_two_workers_with_redis_fire_each_timer_once(engine, world, settings, past_clock, redis_db):
    case_ids = due_cases(engine, world, 60)
    env = worker_env(settings, FENGQIAO_REDIS_URL=REDIS_URL, FENGQIAO_SWEEP_BATCH="7")
    workers = [fengqiao("worker", env=env) for _ in range(2)]
    try:
        assert wait_until(lambda: min(fired_per_case(engine, case_ids).values()) >= 1, timeout=120)
    finally:
        stop(*workers)
    assert_each_fired_once(engine, case_ids)


def timer_ids(engine, case_ids: list[str]) -> list[int]:
    with engine.db.read() as session:
        return list(
            session.scalars(select(Timer.id).where(Timer.instance_id.in_(case_ids), Timer.kind == "bpmn_timer"))
        )


def queue_jobs_as_an_older_version(redis, timers: list[tuple[int, datetime]], suffix: str = "") -> None:
    """What versions before the sweeper-only decision queued for each new timer: `fire_timer_job` at
    the timer's due time, job id `timer-<id>`."""
    from rq import Queue

    from engine.jobs import QUEUE_NAME, fire_timer_job

    queue = Queue(QUEUE_NAME, connection=redis)
    for timer_id, due_at in timers:
        queue.enqueue_at(due_at, fire_timer_job, timer_id, job_id=f"timer-{timer_id}{suffix}", result_ttl=600)


def job_results(redis, job_ids: list[str]) -> dict[str, str | None]:
    """What each RQ job returned ('fired', 'skipped', ...); None while it has not run."""
    from rq.job import Job

    return {i: Job.fetch(i, connection=redis).return_value(refresh=True) for i in job_ids}


def test_a_timer_job_an_older_version_queued_still_fires_its_timer_once(engine, world, settings, clock, redis_db):
    # the worker's sweeper sweeps once at start, then sleeps for an hour: timers that fall due seconds
    # after the worker registered can only be fired by the queued jobs, which then return 'fired'
    worker = fengqiao("worker", env=worker_env(settings, FENGQIAO_REDIS_URL=REDIS_URL, FENGQIAO_SWEEP_INTERVAL="3600"))
    try:
        assert wait_until(lambda: bool(redis_db.keys("rq:worker:*")), timeout=30)  # registered
        # due 3 s from now, on a whole second: RQ schedules whole seconds, and a job run before its
        # timer's due time finds nothing to fire
        clock.set((datetime.now(UTC) - timedelta(hours=1) + timedelta(seconds=3)).replace(microsecond=0))
        case_ids = due_cases(engine, world, 3)
        with engine.db.read() as session:
            timers = [
                (t.id, t.due_at)
                for t in session.execute(
                    select(Timer.id, Timer.due_at).where(Timer.instance_id.in_(case_ids), Timer.kind == "bpmn_timer")
                )
            ]
        queue_jobs_as_an_older_version(redis_db, timers)
        assert fired_per_case(engine, case_ids) == dict.fromkeys(case_ids, 0)
        first = [f"timer-{i}" for i, _due in timers]
        assert wait_until(lambda: None not in job_results(redis_db, first).values(), timeout=30)
        # a second job for the same timers (a duplicate an older version could leave) fires nothing
        queue_jobs_as_an_older_version(redis_db, [(i, datetime.now(UTC)) for i, _due in timers], suffix="-again")
        again = [f"timer-{i}-again" for i, _due in timers]
        assert wait_until(lambda: None not in job_results(redis_db, again).values(), timeout=30)
    finally:
        stop(worker)
    assert job_results(redis_db, first) == dict.fromkeys(first, "fired")
    assert set(job_results(redis_db, again).values()) == {"skipped"}
    assert_each_fired_once(engine, case_ids)


def test_old_timer_jobs_and_the_sweepers_racing_fire_each_timer_once(engine, world, settings, past_clock, redis_db):
    case_ids = due_cases(engine, world, 30)
    ids = timer_ids(engine, case_ids)
    queue_jobs_as_an_older_version(redis_db, [(i, datetime.now(UTC)) for i in ids])
    env = worker_env(settings, FENGQIAO_REDIS_URL=REDIS_URL)
    workers = [fengqiao("worker", env=env) for _ in range(2)]
    job_ids = [f"timer-{i}" for i in ids]
    try:
        # every job ran (not a fixed window: until each has its result), after or against the sweepers
        assert wait_until(lambda: None not in job_results(redis_db, job_ids).values(), timeout=120)
        assert set(job_results(redis_db, job_ids).values()) <= {"fired", "skipped"}
    finally:
        stop(*workers)
    assert_each_fired_once(engine, case_ids)


def test_redis_down_when_timers_are_created_loses_no_timer(engine, world, settings, past_clock):
    env = {
        "FENGQIAO_DATABASE_URL": settings.database_url,
        "FENGQIAO_INSTANCE_PATH": str(settings.instance_path),
        "FENGQIAO_REDIS_URL": "redis://127.0.0.1:1/0",
    }  # nothing listens there
    broken = Engine(Settings.from_env(env), past_clock)
    try:
        broken.repository.deploy([("timed.bpmn", models.timed("PT1H", attached="task"))])
        case = broken.runtime.start_instance("timed", world["wang"], {})
    finally:
        broken.close()
    assert engine.timers.fire_due() == 0  # the test engine's clock is in the past: not due for it
    past_clock.set(datetime.now(UTC))
    assert engine.timers.fire_due() == 1
    assert fired_per_case(engine, [case["id"]]) == {case["id"]: 1}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.backends("sqlite")  # the embedded default; PostgreSQL deployments run workers
def test_embedded_mode_fires_timers_inside_fengqiao_serve(engine, world, settings, past_clock):
    case_ids = due_cases(engine, world, 5)
    port = free_port()
    server = fengqiao("serve", "--port", str(port), env=worker_env(settings))
    try:
        assert wait_until(lambda: _healthy(port), timeout=60)
        assert wait_until(lambda: min(fired_per_case(engine, case_ids).values()) >= 1, timeout=60)
    finally:
        stop(server)
    assert_each_fired_once(engine, case_ids)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def scheduled_processes(engine, world, count: int) -> list[str]:
    """`count` processes with an hourly timer start, deployed three hours ago (the test's clock): in
    real time each schedule's latest occurrence is due, and one case each is to be started."""
    keys = [f"hourly_{n}" for n in range(count)]
    documents = [(f"{k}.bpmn", models.timed("R/PT1H", attached="start", definition="timeCycle", key=k)) for k in keys]
    engine.repository.deploy(documents, world["zhou"])
    return keys


def cases_per_process(engine, keys: list[str]) -> dict[str, int]:
    with engine.db.read() as session:
        rows = session.execute(
            select(ProcessInstance.process_key, func.count())
            .where(ProcessInstance.process_key.in_(keys))
            .group_by(ProcessInstance.process_key)
        ).all()
    counts = dict.fromkeys(keys, 0)
    counts.update(dict(rows))
    return counts


def test_two_sweeper_processes_start_each_scheduled_case_once(engine, world, settings, past_clock):
    keys = scheduled_processes(engine, world, 40)
    env = worker_env(settings, FENGQIAO_SWEEP_BATCH="3")
    procs = [fengqiao("worker", "--burst", env=env) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    started = [int(out.splitlines()[1].split()[1]) for out, _ in outputs]  # "started N case(s) on schedule"
    assert sum(started) == 40
    assert set(cases_per_process(engine, keys).values()) == {1}
    with engine.db.read() as session:
        assert set(session.scalars(select(StartTimer.started).where(StartTimer.process_key.in_(keys)))) == {1}


def test_a_sweeper_killed_mid_start_starts_no_scheduled_case_twice_nor_skips_one(engine, world, settings, past_clock):
    keys = scheduled_processes(engine, world, 150)  # enough that the worker is still busy when it is killed
    env = worker_env(settings, FENGQIAO_TIMER_LEASE_SECONDS="2", FENGQIAO_SWEEP_BATCH="10")
    first = fengqiao("worker", env=env)
    assert wait_until(lambda: sum(cases_per_process(engine, keys).values()) >= 5, timeout=60, interval=0.02)
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate(timeout=30)
    assert sum(cases_per_process(engine, keys).values()) < len(keys), "the worker finished before it could be killed"
    second = fengqiao("worker", env=env)
    try:
        assert wait_until(lambda: min(cases_per_process(engine, keys).values()) >= 1, timeout=120)
    finally:
        stop(second)
    assert set(cases_per_process(engine, keys).values()) == {1}
