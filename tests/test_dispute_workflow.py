"""The bundled dispute workflow, end to end through the engine facades (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.errors import MessageNotCorrelated, NotCandidate
from tests.helpers import DEPARTMENT_RESULT, complete_as, escalate, open_tasks, report_case, status, task_of


def elements(engine, case):
    return sorted(t["element_id"] for t in open_tasks(engine, case))


def test_on_spot_resolution_closes_the_case(engine, world):
    wang = world["wang"]
    case = report_case(engine, wang)
    assert case["business_key"].startswith("JF-2026-")
    assert elements(engine, case) == ["assess_case"]
    complete_as(engine, wang, case, "assess_case", {"resolution": "on_spot"})
    complete_as(engine, wang, case, "handle_on_spot", {"result": "resolved", "measures": "调解"})
    complete_as(engine, wang, case, "feedback_to_resident", {"satisfaction": "satisfied"})
    final = engine.runtime.get_instance(case["id"])
    assert final["status"] == "completed"
    assert final["case_owner"] == "wang"
    assert [h["action"] for h in final["history"]][-1] == "instance.completed"


def test_escalation_to_civil_affairs_only_creates_one_department_task(engine, world):
    wang, li = world["wang"], world["li"]
    case = report_case(engine, wang)
    escalate(engine, wang, case, ["civil_affairs"])
    assert elements(engine, case) == ["handle_civil_affairs"]
    task = task_of(engine, case, "handle_civil_affairs")
    assert task["candidate_groups"] == ["civil_affairs"]
    complete_as(engine, li, case, "handle_civil_affairs", DEPARTMENT_RESULT)
    assert elements(engine, case) == ["feedback_to_resident"]
    complete_as(engine, wang, case, "feedback_to_resident", {"satisfaction": "basically_satisfied"})
    assert status(engine, case) == "completed"


def test_escalation_to_health_only_is_worked_by_the_health_liaison(engine, world):
    wang, li, zhao = world["wang"], world["li"], world["zhao"]
    case = report_case(engine, wang)
    escalate(engine, wang, case, ["health"])
    assert elements(engine, case) == ["handle_health"]
    with pytest.raises(NotCandidate):
        engine.tasks.claim(task_of(engine, case, "handle_health")["id"], li)
    complete_as(engine, zhao, case, "handle_health", DEPARTMENT_RESULT)
    complete_as(engine, wang, case, "feedback_to_resident", {"satisfaction": "satisfied"})
    assert status(engine, case) == "completed"


def test_escalation_to_both_departments_runs_in_parallel_and_joins(engine, world):
    wang, li, zhao = world["wang"], world["li"], world["zhao"]
    case = report_case(engine, wang)
    escalate(engine, wang, case, ["civil_affairs", "health"])
    assert elements(engine, case) == ["handle_civil_affairs", "handle_health"]
    first = complete_as(engine, li, case, "handle_civil_affairs", DEPARTMENT_RESULT)
    assert elements(engine, case) == ["handle_health"] and first["next_tasks"] == []  # the join waits
    last = complete_as(engine, zhao, case, "handle_health", {"outcome": "partially_resolved", "summary": "随访中"})
    assert elements(engine, case) == ["feedback_to_resident"]
    [feedback] = last["next_tasks"]  # what the completion opened, its assignee named
    assert (feedback["element_id"], feedback["assignee"]) == ("feedback_to_resident", "wang")


def test_department_result_by_message_closes_the_department_task(engine, world):
    from engine.identity import Actor

    wang = world["wang"]
    case = report_case(engine, wang)
    escalate(engine, wang, case, ["civil_affairs", "health"])
    health_system = Actor.system("health-system", department="health")
    engine.runtime.correlate_message(
        "department_result",
        health_system,
        business_key=case["business_key"],
        payload={"outcome": "resolved", "summary": "家庭医生上门"},
    )
    assert elements(engine, case) == ["handle_civil_affairs"]
    closed = engine.tasks.query(state="completed", instance_id=case["id"])["items"]
    assert [(t["element_id"], t["completed_via"]) for t in closed if t["element_id"] == "handle_health"] == [
        ("handle_health", "message")
    ]
    engine.runtime.correlate_message(
        "department_result", world["li"], instance_id=case["id"], payload=DEPARTMENT_RESULT, department="civil_affairs"
    )
    assert elements(engine, case) == ["feedback_to_resident"]


def test_message_without_a_waiting_event_is_refused_and_changes_nothing(engine, world):
    wang = world["wang"]
    case = report_case(engine, wang)
    before = engine.runtime.get_instance(case["id"])
    with pytest.raises(MessageNotCorrelated):
        engine.runtime.correlate_message(
            "department_result", wang, business_key=case["business_key"], payload=DEPARTMENT_RESULT
        )
    after = engine.runtime.get_instance(case["id"])
    assert after["version"] == before["version"] and len(after["history"]) == len(before["history"])


def test_message_with_two_waiting_departments_must_name_one(engine, world):
    wang = world["wang"]
    case = report_case(engine, wang)
    escalate(engine, wang, case, ["civil_affairs", "health"])
    with pytest.raises(MessageNotCorrelated) as err:
        engine.runtime.correlate_message(
            "department_result", wang, business_key=case["business_key"], payload=DEPARTMENT_RESULT
        )
    assert "department" in err.value.message


def test_unsatisfied_feedback_reopens_assessment_for_the_owner(engine, world):
    wang = world["wang"]
    case = report_case(engine, wang)
    complete_as(engine, wang, case, "assess_case", {"resolution": "on_spot"})
    complete_as(engine, wang, case, "handle_on_spot", {"result": "resolved"})
    complete_as(engine, wang, case, "feedback_to_resident", {"satisfaction": "unsatisfied"})
    reopened = task_of(engine, case, "assess_case")
    assert reopened["assignee"] == "wang" and reopened["state"] == "claimed"
    assert engine.runtime.get_instance(case["id"])["variables"]["reopen_count"] == 1


def unsatisfied_three_times(engine, owner, case) -> None:
    for _ in range(3):
        complete_as(engine, owner, case, "assess_case", {"resolution": "on_spot"})
        complete_as(engine, owner, case, "handle_on_spot", {"result": "resolved"})
        complete_as(engine, owner, case, "feedback_to_resident", {"satisfaction": "unsatisfied"})


def test_third_unsatisfied_feedback_goes_to_supervisor_review(engine, world):
    wang, zhou = world["wang"], world["zhou"]
    case = report_case(engine, wang)
    unsatisfied_three_times(engine, wang, case)
    assert elements(engine, case) == ["supervisor_review"]
    with pytest.raises(NotCandidate):
        engine.tasks.claim(task_of(engine, case, "supervisor_review")["id"], world["qian"])  # other station
    complete_as(engine, zhou, case, "supervisor_review", {"decision": "close", "comment": "依规结案"})
    assert status(engine, case) == "completed"


def test_supervisor_reassess_sends_the_case_back_to_the_owner(engine, world):
    wang, zhou = world["wang"], world["zhou"]
    case = report_case(engine, wang)
    unsatisfied_three_times(engine, wang, case)
    complete_as(engine, zhou, case, "supervisor_review", {"decision": "reassess", "comment": "重新研判"})
    assert task_of(engine, case, "assess_case")["assignee"] == "wang"


@pytest.mark.parametrize(("risk_level", "hours"), [("red", 2), ("yellow", 12), ("blue", 24)])
def test_assessment_due_time_follows_the_risk_level(engine, world, clock, risk_level, hours):
    case = report_case(engine, world["wang"], risk_level=risk_level)
    due = task_of(engine, case, "assess_case")["due_at"]
    assert due == (clock.now() + timedelta(hours=hours)).isoformat()


def test_department_tasks_are_due_in_72_hours_and_followed_up_in_24(engine, world, clock):
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    task = task_of(engine, case, "handle_civil_affairs")
    assert task["due_at"] == (clock.now() + timedelta(hours=72)).isoformat()
    assert task["follow_up_at"] == (clock.now() + timedelta(hours=24)).isoformat()


def test_escalation_is_written_to_the_outbox_without_personal_data(engine, world):
    from sqlalchemy import select

    from engine.store.models import OutboxEvent

    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs", "health"])
    with engine.db.transaction() as session:
        events = session.scalars(
            select(OutboxEvent).where(OutboxEvent.instance_id == case["id"]).order_by(OutboxEvent.id)
        ).all()
    types = [e.type for e in events]
    assert types[:2] == ["instance.started", "task.created"]
    assert "case.owner_changed" in types and "task.completed" in types
    escalation = next(e for e in events if e.type == "escalation.raised")
    assert escalation.payload["departments"] == ["civil_affairs", "health"]
    assert types.count("task.created") == 3


def test_diagram_state_lists_active_and_completed_elements(engine, world):
    wang = world["wang"]
    case = report_case(engine, wang)
    escalate(engine, wang, case, ["civil_affairs"])
    state = engine.runtime.diagram_state(case["id"])
    assert "handle_civil_affairs" in state["active"] and "civil_affairs_result_received" in state["active"]
    assert {"case_reported", "assess_case", "escalation_raised"} <= set(state["completed"])
    assert "handle_health" not in state["active"] + state["completed"]


def test_the_tasks_a_change_opened_are_shown_as_the_inbox_reads_them(engine, world):
    wang = world["wang"]
    case = report_case(engine, wang)

    def inbox(ids):
        items = engine.tasks.query(instance_id=case["id"], state=["open", "claimed"])["items"]
        return [t for t in items if t["id"] in ids]

    assert case["open_tasks"] == inbox({t["id"] for t in case["open_tasks"]})  # a start's tasks, not read back
    assessed = complete_as(
        engine, wang, case, "assess_case", {"resolution": "escalate", "departments": ["civil_affairs", "health"]}
    )
    opened = assessed["next_tasks"]
    assert sorted(t["element_id"] for t in opened) == ["handle_civil_affairs", "handle_health"]
    assert opened == inbox({t["id"] for t in opened})
