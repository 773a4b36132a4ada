"""SLA: every human task with a due time is tracked: on time, warning, breached; met or missed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine.store.models import OutboxEvent
from tests import models
from tests.helpers import DEPARTMENT_RESULT, escalate, report_case, task_of


def events(engine, case, prefix="sla."):
    with engine.db.transaction() as session:
        rows = session.scalars(
            select(OutboxEvent).where(OutboxEvent.instance_id == case["id"]).order_by(OutboxEvent.id)
        ).all()
        return [(e.type, e.payload) for e in rows if e.type.startswith(prefix)]


def test_warning_at_three_quarters_then_breach_then_late_completion_is_missed(engine, world, clock):
    wang = world["wang"]
    case = report_case(engine, wang, risk_level="yellow")  # 12 hours to respond
    task = task_of(engine, case, "assess_case")
    assert task["sla_state"] == "on_time"
    assert task["warn_at"] == (clock.now() + timedelta(hours=9)).isoformat()
    clock.advance(hours=9, seconds=1)
    assert engine.timers.fire_due() == 1
    assert task_of(engine, case, "assess_case")["sla_state"] == "warning"
    clock.advance(hours=3)
    assert engine.timers.fire_due() == 1
    assert task_of(engine, case, "assess_case")["sla_state"] == "breached"
    done = engine.tasks.complete(task["id"], wang, {"resolution": "on_spot"})
    assert done["sla_state"] == "missed"
    assert [t for t, _ in events(engine, case)] == ["sla.warning", "sla.breached"]
    history = [h["action"] for h in engine.runtime.get_instance(case["id"])["history"]]
    assert history.count("sla.warning") == 1 and history.count("sla.breached") == 1


def test_completion_before_the_deadline_is_met_and_nothing_fires_later(engine, world, clock):
    wang = world["wang"]
    case = report_case(engine, wang, risk_level="red")
    clock.advance(hours=1)
    done = engine.tasks.complete(task_of(engine, case, "assess_case")["id"], wang, {"resolution": "on_spot"})
    assert done["sla_state"] == "met"
    clock.advance(hours=1, minutes=30)  # past the assessment's warning and due times
    engine.timers.fire_due()
    assert [p["element_id"] for _, p in events(engine, case)] == []


def test_a_warning_that_the_sweeper_missed_is_still_visible_on_read(engine, world, clock):
    case = report_case(engine, world["wang"], risk_level="red")
    clock.advance(hours=3)  # no sweeper ran
    assert task_of(engine, case, "assess_case")["sla_state"] == "breached"


def test_inbox_filters_breached_tasks_of_a_department_queue_oldest_first(engine, world, clock):
    wang = world["wang"]
    late = []
    for _ in range(3):
        case = report_case(engine, wang)
        escalate(engine, wang, case, ["civil_affairs"])
        late.append(task_of(engine, case, "handle_civil_affairs")["id"])
        clock.advance(hours=1)
    clock.advance(hours=70)  # the first two are past 72 hours, the third is in its warning window
    breached = engine.tasks.query(world["li"], group="civil_affairs", sla_state="breached")["items"]
    assert [t["id"] for t in breached] == late[:2]
    warning = engine.tasks.query(world["li"], group="civil_affairs", sla_state="warning")["items"]
    assert [t["id"] for t in warning] == late[2:]
    assert engine.tasks.query(world["li"], group="civil_affairs", sla_state="on_time")["items"] == []


def test_department_breach_notifies_the_case_owner_and_station_supervisors(engine, world, clock):
    wang = world["wang"]
    case = report_case(engine, wang)
    escalate(engine, wang, case, ["health"])
    clock.advance(hours=72, seconds=1)
    engine.timers.fire_due()
    breach = [p for t, p in events(engine, case) if t == "sla.breached"]
    assert len(breach) == 1
    assert breach[0]["element_id"] == "handle_health"
    assert breach[0]["notify_user_ids"] == [wang.id, world["zhou"].id]


def test_warning_fraction_is_configurable_per_task(engine, world, clock):
    engine.repository.deploy([("sla.bpmn", models.sla_task("sla_custom", "PT10H", "50%"))])
    case = engine.runtime.start_instance("sla_custom", world["wang"], {})
    assert task_of(engine, case, "review")["warn_at"] == (clock.now() + timedelta(hours=5)).isoformat()


def test_department_reminder_and_overdue_escalations_come_from_the_model(engine, world, clock):
    wang = world["wang"]
    case = report_case(engine, wang)
    escalate(engine, wang, case, ["civil_affairs"])
    clock.advance(hours=54, seconds=1)
    engine.timers.fire_due()
    clock.advance(hours=18)
    engine.timers.fire_due()
    codes = [p["code"] for t, p in events(engine, case, "escalation.") if t == "escalation.raised"]
    assert codes == ["to_departments", "department_reminder", "department_overdue"]
    # non-interrupting: the department can still report, and the loop closes normally
    engine.tasks.complete(task_of(engine, case, "handle_civil_affairs")["id"], world["li"], DEPARTMENT_RESULT)
    assert task_of(engine, case, "feedback_to_resident")["assignee"] == "wang"
