"""Suspend (挂起) / resume (激活) / terminate (终止) a case: tasks wait, deadlines pause and keep the time
they had left, timers do not fire; every refusal leaves the database as it was (docs/operations.md)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.errors import (
    Forbidden,
    InstanceNotRunning,
    InstanceNotSuspended,
    InstanceSuspended,
    InvalidInput,
)
from tests.helpers import (
    DEPARTMENT_RESULT,
    database_rows,
    escalate,
    queue_of,
    report_case,
    rows_added,
    status,
    task_of,
)
from tests.test_permission_refusals import refused


def task_row(engine, task_id: str) -> dict:
    return engine.tasks.get_task(task_id)


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def case(engine, world):
    return report_case(engine, world["wang"], risk_level="yellow")  # assessment due in 12 hours, warning at 9


@pytest.fixture
def suspended(engine, world, case, clock):
    clock.advance(hours=1)
    engine.runtime.suspend_instance(case["id"], world["zhou"], "等待法院开庭 waiting for the court date")
    return case


def test_suspending_parks_the_tasks_out_of_every_queue_and_audits_the_reason(engine, world, case, clock):
    task = task_of(engine, case, "assess_case")
    before = database_rows(engine)
    view = engine.runtime.suspend_instance(case["id"], world["zhou"], " 等待法院开庭 court date ")
    assert view["status"] == "suspended" and view["open_tasks"] == []
    parked = task_row(engine, task["id"])
    assert parked["state"] == "suspended" and parked["due_at"] == task["due_at"]
    assert queue_of(engine, task["id"]) == set()
    audit = [(r["actor"], r["action"], r["details"]) for r in rows_added(engine, before, "audit_log")]
    assert audit == [("zhou", "instance.suspended", {"reason": "等待法院开庭 court date", "tasks": 1})]
    events = [(e["type"], e["payload"].get("reason")) for e in rows_added(engine, before, "outbox")]
    assert events == [("instance.suspended", None)]  # reasons stay out of events (free text)


def test_timers_do_not_fire_while_suspended_and_deadlines_keep_the_time_they_had_left(engine, world, suspended, clock):
    task = task_of_any(engine, suspended, "assess_case")
    clock.advance(hours=30)  # far past the 12-hour deadline
    assert engine.timers.fire_due() == 0
    assert task_row(engine, task["id"])["sla_state"] == "on_time"  # paused, not overdue
    resumed = engine.runtime.resume_instance(suspended["id"], world["zhou"], "法院已排期 court date set")
    assert resumed["status"] == "running"
    back = task_of(engine, suspended, "assess_case")
    assert back["state"] == "open" and queue_of(engine, back["id"]) == {"officer"}
    assert when(back["due_at"]) == when(task["due_at"]) + timedelta(hours=30)
    assert when(back["warn_at"]) == when(task["warn_at"]) + timedelta(hours=30)
    assert back["sla_state"] == "on_time"
    clock.advance(hours=8, minutes=1)  # suspended 1 hour in: the warning was 8 hours away
    assert engine.timers.fire_due() == 1
    assert task_of(engine, suspended, "assess_case")["sla_state"] == "warning"
    clock.advance(hours=3)
    assert engine.timers.fire_due() == 1
    assert task_of(engine, suspended, "assess_case")["sla_state"] == "breached"
    history = engine.runtime.get_instance(suspended["id"])["history"]
    resumed_entry = [h for h in history if h["action"] == "instance.resumed"][0]
    assert resumed_entry["details"] == {"reason": "法院已排期 court date set", "paused_seconds": 30 * 3600}


def test_a_held_task_comes_back_to_its_assignee(engine, world, case):
    task = engine.tasks.claim(task_of(engine, case, "assess_case")["id"], world["wang"])
    engine.runtime.suspend_instance(case["id"], world["zhou"], "court")
    engine.runtime.resume_instance(case["id"], world["zhou"], "court date set")
    back = task_row(engine, task["id"])
    assert (back["state"], back["assignee"]) == ("claimed", "wang") and queue_of(engine, task["id"]) == set()


def test_the_models_timers_pause_too(engine, world, case, clock):
    wang = world["wang"]
    escalate(engine, wang, case, ["civil_affairs"])
    clock.advance(hours=10)
    engine.runtime.suspend_instance(case["id"], world["zhou"], "court")
    clock.advance(hours=100)  # past the 54-hour reminder and the 72-hour overdue mark
    assert engine.timers.fire_due() == 0
    engine.runtime.resume_instance(case["id"], world["zhou"], "court date set")
    clock.advance(hours=43, minutes=59)  # 10 + 43:59 < 54 hours of running time
    engine.timers.fire_due()
    assert raised_codes(engine, case) == ["to_departments"]
    clock.advance(minutes=2)
    engine.timers.fire_due()
    assert raised_codes(engine, case) == ["to_departments", "department_reminder"]
    # the department still reports, and the loop goes on
    engine.tasks.complete(task_of(engine, case, "handle_civil_affairs")["id"], world["li"], DEPARTMENT_RESULT)
    assert task_of(engine, case, "feedback_to_resident")["assignee"] == "wang"


def test_terminating_a_suspended_case_closes_its_tasks_and_its_paused_timers(engine, world, suspended, clock):
    task = task_of_any(engine, suspended, "assess_case")
    view = engine.runtime.terminate_instance(suspended["id"], world["zhou"], "当事人撤回 withdrawn by the parties")
    assert view["status"] == "cancelled"
    assert task_row(engine, task["id"])["state"] == "cancelled"
    assert engine.timers.pending(suspended["id"]) == []
    clock.advance(days=10)
    assert engine.timers.fire_due() == 0
    with engine.db.read() as scope:
        from sqlalchemy import func, select

        from engine.store.models import Timer

        paused = scope.scalar(
            select(func.count()).where(Timer.instance_id == suspended["id"], Timer.status == "paused")
        )
    assert paused == 0


# --- refusals ---------------------------------------------------------------------------------------
def test_nobody_claims_or_completes_a_task_of_a_suspended_case(engine, world, suspended):
    task = task_of_any(engine, suspended, "assess_case")
    says = "the case is suspended: its tasks wait until a supervisor resumes it"
    refused(engine, InstanceSuspended, says, engine.tasks.claim, task["id"], world["wang"])
    refused(
        engine, InstanceSuspended, says, engine.tasks.complete, task["id"], world["wang"], {"resolution": "on_spot"}
    )
    refused(engine, InstanceSuspended, says, engine.tasks.reassign, task["id"], world["zhou"], "chen", "busy")


def test_a_department_result_waits_while_the_case_is_suspended(engine, world, case):
    escalate(engine, world["wang"], case, ["civil_affairs"])
    engine.runtime.suspend_instance(case["id"], world["zhou"], "court")
    refused(
        engine,
        InstanceNotRunning,
        "instance .+ is suspended",
        engine.runtime.correlate_message,
        "civil_affairs_result",
        world["li"],
        instance_id=case["id"],
        payload=DEPARTMENT_RESULT,
    )


@pytest.mark.parametrize("who", ["wang", "chen", "li", "sun", "qian"])
def test_only_an_admin_or_a_supervisor_of_the_station_suspends_a_case(engine, world, case, who):
    refused(
        engine,
        Forbidden,
        "only a supervisor or an admin may suspend a case|a supervisor suspends only the cases of their station",
        engine.runtime.suspend_instance,
        case["id"],
        world[who],
        "court",
    )


@pytest.mark.parametrize("who", ["wang", "li", "sun", "qian"])
def test_only_an_admin_or_a_supervisor_of_the_station_resumes_a_case(engine, world, suspended, who):
    refused(
        engine,
        Forbidden,
        "only a supervisor or an admin may resume a case|a supervisor resumes only the cases of their station",
        engine.runtime.resume_instance,
        suspended["id"],
        world[who],
        "go on",
    )


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_suspending_and_resuming_need_a_reason(engine, world, suspended, reason):
    refused(
        engine,
        InvalidInput,
        "a reason is required",
        engine.runtime.resume_instance,
        suspended["id"],
        world["zhou"],
        reason,
    )
    refused(
        engine,
        InvalidInput,
        "a reason is required",
        engine.runtime.suspend_instance,
        suspended["id"],
        world["zhou"],
        reason,
    )


def test_a_suspended_case_is_not_suspended_again_and_a_running_one_not_resumed(engine, world, case):
    zhou = world["zhou"]
    refused(
        engine,
        InstanceNotSuspended,
        "instance .+ is running, not suspended",
        engine.runtime.resume_instance,
        case["id"],
        zhou,
        "r",
    )
    engine.runtime.suspend_instance(case["id"], zhou, "court")
    refused(
        engine,
        InstanceNotRunning,
        "instance .+ is suspended",
        engine.runtime.suspend_instance,
        case["id"],
        zhou,
        "again",
    )


def test_a_closed_case_is_neither_suspended_nor_resumed(engine, world, case):
    zhou = world["zhou"]
    engine.runtime.terminate_instance(case["id"], zhou, "duplicate")
    refused(
        engine, InstanceNotRunning, "instance .+ is cancelled", engine.runtime.suspend_instance, case["id"], zhou, "r"
    )
    refused(
        engine,
        InstanceNotSuspended,
        "instance .+ is cancelled, not suspended",
        engine.runtime.resume_instance,
        case["id"],
        zhou,
        "r",
    )
    assert status(engine, case) == "cancelled"


# --- helpers ----------------------------------------------------------------------------------------
def task_of_any(engine, case, element_id: str) -> dict:
    """A task of the case in any state (a suspended case has no open tasks)."""
    found = [t for t in engine.tasks.query(instance_id=case["id"], limit=50)["items"] if t["element_id"] == element_id]
    assert len(found) == 1, found
    return found[0]


def raised_codes(engine, case) -> list[str]:
    history = engine.runtime.get_instance(case["id"])["history"]
    return [h["details"]["code"] for h in history if h["action"] == "escalation.raised"]


def test_resuming_is_audited_as_the_supervisor_with_the_paused_time_and_clears_the_mark(engine, world, case, clock):
    from sqlalchemy import select

    from engine.store.models import ProcessInstance

    before = database_rows(engine)
    engine.runtime.suspend_instance(case["id"], world["zhou"], "等待法院开庭 court date")
    clock.advance(hours=2)
    engine.runtime.resume_instance(case["id"], world["zhou"], "法院已排期 scheduled")
    audit = [(r["actor"], r["actor_id"], r["action"], r["details"]) for r in rows_added(engine, before, "audit_log")]
    zhou = world["zhou"].id
    assert audit == [
        ("zhou", zhou, "instance.suspended", {"reason": "等待法院开庭 court date", "tasks": 1}),
        ("zhou", zhou, "instance.resumed", {"reason": "法院已排期 scheduled", "paused_seconds": 7200}),
    ]
    events = [(e["type"], e["payload"]) for e in rows_added(engine, before, "outbox")]
    ids = {"instance_id": case["id"], "business_key": case["business_key"]}
    assert events == [
        ("instance.suspended", {"process_key": "dispute_resolution", **ids}),
        ("instance.resumed", {"process_key": "dispute_resolution", "paused_seconds": 7200, **ids}),
    ]
    with engine.db.read() as session:
        row = session.scalars(select(ProcessInstance).where(ProcessInstance.id == case["id"])).one()
        assert (row.status, row.suspended_at) == ("running", None)
