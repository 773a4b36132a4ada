"""BPMN timers fire as modelled, exactly once; time moves by the clock, nobody sleeps."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.store.models import AuditEntry, Timer
from tests import models
from tests.helpers import REPORT


def start(engine, world, xml, variables=None, key="timed"):
    engine.repository.deploy([(f"{key}.bpmn", xml)])
    return engine.runtime.start_instance(key, world["wang"], variables or {})


def open_elements(engine, case):
    return sorted(t["element_id"] for t in engine.runtime.get_instance(case["id"], history=False)["open_tasks"])


def fired_count(engine, case, element_id=None) -> int:
    with engine.db.transaction() as session:
        query = (
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.instance_id == case["id"], AuditEntry.action == "timer.fired")
        )
        rows = session.scalar(query)
        if element_id is None:
            return rows
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.instance_id == case["id"], AuditEntry.action == "timer.fired")
        ).all()
        return sum(1 for e in entries if e.details.get("element_id") == element_id)


def bpmn_timers(engine, case, status="pending"):
    with engine.db.transaction() as session:
        return session.scalars(
            select(Timer).where(Timer.instance_id == case["id"], Timer.kind == "bpmn_timer", Timer.status == status)
        ).all()


def test_intermediate_timer_waits_then_fires(engine, world, clock):
    case = start(engine, world, models.timed("PT2H", attached="catch"))
    assert open_elements(engine, case) == []
    [timer] = bpmn_timers(engine, case)
    assert timer.due_at == clock.now() + timedelta(hours=2)
    clock.advance(hours=1, minutes=59)
    assert engine.timers.fire_due() == 0
    clock.advance(minutes=2)
    assert engine.timers.fire_due() == 1
    assert open_elements(engine, case) == ["review"]
    assert engine.timers.fire_due() == 0


def test_interrupting_boundary_on_a_user_task_cancels_it_and_takes_the_escalation_path(engine, world, clock):
    case = start(engine, world, models.timed("PT1H", attached="task"))
    clock.advance(hours=2)
    assert engine.timers.fire_due() == 1
    assert open_elements(engine, case) == ["escalated"]
    cancelled = engine.tasks.query(state="cancelled", instance_id=case["id"])["items"]
    assert [t["element_id"] for t in cancelled] == ["review"]


def test_non_interrupting_boundary_leaves_the_task_open_and_fires_once(engine, world, clock):
    case = start(engine, world, models.timed("PT30M", attached="task", boundary_interrupting=False))
    clock.advance(hours=1)
    assert engine.timers.fire_due() == 1
    assert open_elements(engine, case) == ["review"]
    clock.advance(hours=5)
    assert engine.timers.fire_due() == 0
    assert fired_count(engine, case) == 1


def test_interrupting_boundary_on_a_sub_process(engine, world, clock):
    case = start(engine, world, models.timed("PT1H", attached="subprocess"))
    assert open_elements(engine, case) == ["review"]
    clock.advance(hours=1, seconds=1)
    engine.timers.fire_due()
    assert open_elements(engine, case) == ["escalated"]


def test_non_interrupting_boundary_on_a_sub_process(engine, world, clock):
    case = start(engine, world, models.timed("PT1H", attached="subprocess", boundary_interrupting=False))
    clock.advance(hours=1, seconds=1)
    assert engine.timers.fire_due() == 1
    assert open_elements(engine, case) == ["review"]
    engine.tasks.complete(engine.runtime.get_instance(case["id"])["open_tasks"][0]["id"], world["wang"], {})
    assert engine.runtime.get_instance(case["id"])["status"] == "completed"


def test_cycle_timer_fires_each_repetition_then_stops(engine, world, clock):
    case = start(
        engine, world, models.timed("R3/PT1H", attached="task", boundary_interrupting=False, definition="timeCycle")
    )
    for _ in range(3):
        clock.advance(hours=1, seconds=1)
        assert engine.timers.fire_due() == 1
    clock.advance(hours=5)
    assert engine.timers.fire_due() == 0
    assert fired_count(engine, case) == 3
    assert open_elements(engine, case) == ["review"]


def test_time_date_with_an_offset_is_due_at_that_instant(engine, world, clock):
    case = start(engine, world, models.timed("2026-12-01T09:00:00+08:00", attached="catch", definition="timeDate"))
    [timer] = bpmn_timers(engine, case)
    assert timer.due_at.isoformat() == "2026-12-01T01:00:00+00:00"
    clock.set(timer.due_at + timedelta(seconds=1))
    assert engine.timers.fire_due() == 1


def test_timer_expression_depends_on_variables(engine, world, clock):
    expression = "${'PT2H' if risk_level == 'red' else 'PT24H'}"
    xml = models.timed(expression, attached="catch")
    engine.repository.deploy([("timed.bpmn", xml)])
    red = engine.runtime.start_instance("timed", world["wang"], {"risk_level": "red"})
    blue = engine.runtime.start_instance("timed", world["wang"], {"risk_level": "blue"})
    assert bpmn_timers(engine, red)[0].due_at == clock.now() + timedelta(hours=2)
    assert bpmn_timers(engine, blue)[0].due_at == clock.now() + timedelta(hours=24)


def test_completing_the_task_first_cancels_its_timer_and_nothing_fires_later(engine, world, clock):
    case = start(engine, world, models.timed("PT1H", attached="task"))
    task = engine.runtime.get_instance(case["id"])["open_tasks"][0]
    engine.tasks.complete(task["id"], world["wang"], {})
    assert bpmn_timers(engine, case) == [] and len(bpmn_timers(engine, case, "cancelled")) == 1
    clock.advance(hours=3)
    assert engine.timers.fire_due() == 0
    assert engine.runtime.get_instance(case["id"])["status"] == "completed"


def test_a_timer_due_before_a_user_completes_wins(engine, world, clock):
    from engine.errors import TaskNotOpen

    case = start(engine, world, models.timed("PT1H", attached="task"))
    task = engine.runtime.get_instance(case["id"])["open_tasks"][0]
    clock.advance(hours=2)  # the sweeper has not run yet
    with pytest.raises(TaskNotOpen):
        engine.tasks.complete(task["id"], world["wang"], {})
    engine.timers.fire_due()
    assert open_elements(engine, case) == ["escalated"]


def test_the_same_timer_fired_twice_transitions_once(engine, world, clock):
    case = start(engine, world, models.timed("PT1H", attached="task"))
    [timer] = bpmn_timers(engine, case)
    clock.advance(hours=2)
    assert engine.timers.fire(timer.id) == "fired"
    assert engine.timers.fire(timer.id) == "skipped"
    assert engine.timers.fire_due() == 0
    assert fired_count(engine, case) == 1 and open_elements(engine, case) == ["escalated"]


def test_racing_sweepers_fire_each_timer_once(engine, world, clock):
    engine.repository.deploy([("timed.bpmn", models.timed("PT1H", attached="task"))])
    cases = [engine.runtime.start_instance("timed", world["wang"], {}) for _ in range(12)]
    clock.advance(hours=2)
    barrier = threading.Barrier(4)
    results = []

    def sweep():
        barrier.wait()
        results.append(engine.timers.fire_due())

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(results) == 12
    for case in cases:
        assert fired_count(engine, case) == 1 and open_elements(engine, case) == ["escalated"]


def test_a_timer_that_fell_due_while_everything_was_down_keeps_its_true_times(engine, world, clock):
    case = start(engine, world, models.timed("PT1H", attached="catch"))
    due = clock.now() + timedelta(hours=1)
    clock.advance(days=2)  # the whole system was down
    engine.timers.fire_due()
    [timer] = bpmn_timers(engine, case, "fired")
    assert timer.due_at == due and timer.fired_at == clock.now()
    entry = [h for h in engine.runtime.get_instance(case["id"])["history"] if h["action"] == "timer.fired"][0]
    assert entry["details"]["due_at"] == due.isoformat() and entry["details"]["fired_at"] == clock.now().isoformat()


def failing_case(engine, world):
    return start(engine, world, models.failing_timer())


def exhaust_attempts(engine, clock):
    clock.advance(hours=1, seconds=1)
    for _ in range(engine.settings.timer_max_attempts):
        assert engine.timers.fire_due() == 0
        clock.advance(minutes=10)  # past any backoff


def test_a_failing_timer_backs_off_then_becomes_an_incident_then_is_retried(engine, world, clock):
    case = failing_case(engine, world)
    version = engine.runtime.get_instance(case["id"])["version"]
    clock.advance(hours=1, seconds=1)
    assert engine.timers.fire_due() == 0
    assert engine.timers.fire_due() == 0  # backing off: not even attempted again yet
    [timer] = bpmn_timers(engine, case)
    assert timer.attempts == 1 and "approved" in timer.last_error
    exhaust_attempts(engine, clock)
    [incident] = engine.timers.list_incidents()
    assert incident["element_id"] == "wait" and incident["instance_id"] == case["id"]
    assert "approved" in incident["error"]
    assert engine.runtime.get_instance(case["id"])["version"] == version  # last consistent state kept
    admin = world["admin"]
    engine.runtime.update_variables(case["id"], admin, {"approved": True}, reason="补录审批结果")
    engine.timers.retry_incident(incident["id"], admin)
    assert engine.timers.fire_due() == 1
    assert open_elements(engine, case) == ["review"]
    assert engine.timers.list_incidents() == []
    assert fired_count(engine, case) == 1  # fixing the variables did not schedule a second timer


def test_an_incident_can_be_given_up_by_cancelling_the_case(engine, world, clock):
    case = failing_case(engine, world)
    exhaust_attempts(engine, clock)
    [incident] = engine.timers.list_incidents()
    resolved = engine.timers.cancel_incident(incident["id"], world["admin"], "模型错误，撤销 model error")
    assert (resolved["status"], resolved["resolution"]) == ("resolved", "cancelled")
    assert engine.runtime.get_instance(case["id"])["status"] == "cancelled"
    clock.advance(days=1)
    assert engine.timers.fire_due() == 0


def test_only_admins_resolve_incidents(engine, world):
    from engine.errors import Forbidden

    with pytest.raises(Forbidden):
        engine.timers.retry_incident(1, world["zhou"])


def test_timers_of_one_case_due_together_fire_in_one_unit_of_work(engine, world, clock):
    from tests.helpers import escalate, report_case

    wang = world["wang"]
    case = report_case(engine, wang)
    escalate(engine, wang, case, ["civil_affairs", "health"])
    version = engine.runtime.get_instance(case["id"])["version"]
    clock.advance(hours=54, seconds=1)  # both departments' reminders and SLA warnings
    assert engine.timers.fire_due() == 4
    assert engine.runtime.get_instance(case["id"])["version"] == version + 1
    assert fired_count(engine, case) == 2
    states = {t["element_id"]: t["sla_state"] for t in engine.runtime.get_instance(case["id"])["open_tasks"]}
    assert set(states.values()) == {"warning"}
    assert engine.timers.fire_due() == 0


def test_a_failing_timer_does_not_hold_back_the_other_timers_of_its_case(engine, world, clock):
    # a parallel branch waits on the failing timer while a user task with a 1-hour limit is open
    xml = models.failing_timer().replace(
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>',
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split"/><bpmn:parallelGateway id="split"/>'
        '<bpmn:sequenceFlow id="fs1" sourceRef="split" targetRef="wait"/>'
        '<bpmn:sequenceFlow id="fs2" sourceRef="split" targetRef="assess"/>'
        '<bpmn:userTask id="assess" camunda:candidateGroups="officer" camunda:dueDate="PT1H"/>'
        '<bpmn:sequenceFlow id="fs3" sourceRef="assess" targetRef="end_a"/><bpmn:endEvent id="end_a"/>',
    )
    case = start(engine, world, xml)
    clock.advance(hours=1, seconds=1)  # the failing timer, the task's warning and its breach
    assert engine.timers.fire_due() == 2
    [assess] = engine.runtime.get_instance(case["id"])["open_tasks"]
    assert assess["sla_state"] == "breached"
    [timer] = bpmn_timers(engine, case)
    assert timer.attempts == 1 and "approved" in timer.last_error
    assert engine.timers.list_incidents() == []


@pytest.mark.backends("sqlite")
def test_an_idle_sweep_does_not_wait_for_the_write_lock(engine, world, clock, database_url):
    import sqlite3

    engine.runtime.start_instance("dispute_resolution", world["wang"], dict(REPORT))  # SLA marks hours away
    writer = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock
    try:
        swept = []
        sweep = threading.Thread(target=lambda: swept.append(engine.timers.fire_all_due()), daemon=True)
        sweep.start()
        sweep.join(5)
        assert swept == [0]
    finally:
        writer.execute("ROLLBACK")
        writer.close()


class _Sweeper:
    interval = 0.5

    def __init__(self):
        self.woken = 0

    def wake(self):
        self.woken += 1


def test_new_timers_wake_the_embedded_sweeper_only_when_due_before_its_next_sweep(engine, clock):
    from engine.jobs import EmbeddedJobs

    jobs = EmbeddedJobs(engine)
    jobs.sweeper = sweeper = _Sweeper()
    jobs.schedule([(1, clock.now() + timedelta(hours=18)), (2, clock.now() + timedelta(hours=24))])
    assert sweeper.woken == 0
    jobs.schedule([(3, clock.now() + timedelta(hours=18)), (4, clock.now() + timedelta(milliseconds=200))])
    assert sweeper.woken == 1
