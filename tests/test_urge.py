"""Urge (催办): the case owner or a supervisor of the station presses the handler of an open task; the
task counts it and keeps the time, `task.urged` tells the handler; refusals change nothing."""

from __future__ import annotations

import pytest

from engine.errors import Forbidden, InstanceSuspended, InvalidInput, TaskNotOpen
from tests.helpers import DEPARTMENT_RESULT, complete_as, database_rows, escalate, report_case, rows_added, task_of
from tests.test_permission_refusals import refused


@pytest.fixture
def escalated(engine, world):
    """wang owns a case escalated to civil affairs; its department task waits in the queue."""
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    return case


def test_the_owner_urges_a_department_task_and_the_handler_sees_count_and_time(engine, world, escalated, clock):
    task = task_of(engine, escalated, "handle_civil_affairs")
    assert (task["urge_count"], task["urged_at"]) == (0, None)
    before = database_rows(engine)
    urged = engine.tasks.urge(task["id"], world["wang"], " 群众再次来电 the resident called again ")
    assert (urged["urge_count"], urged["urged_at"]) == (1, clock.now().isoformat())
    audit = [(r["actor"], r["action"], r["task_id"], r["details"]) for r in rows_added(engine, before, "audit_log")]
    details = {
        "element_id": "handle_civil_affairs",
        "reason": "群众再次来电 the resident called again",
        "urge_count": 1,
    }
    assert audit == [("wang", "task.urged", task["id"], details)]
    [event] = rows_added(engine, before, "outbox")
    assert event["type"] == "task.urged" and event["task_id"] == task["id"]
    assert event["payload"]["candidate_groups"] == ["civil_affairs"] and "reason" not in event["payload"]
    assert (event["payload"]["task_id"], event["payload"]["element_id"]) == (task["id"], "handle_civil_affairs")
    clock.advance(hours=2)
    engine.tasks.claim(task["id"], world["li"])
    again = engine.tasks.urge(task["id"], world["zhou"], "督办 supervisor presses")
    assert (again["urge_count"], again["urged_at"]) == (2, clock.now().isoformat())
    [event] = [e for e in rows_added(engine, before, "outbox") if e["type"] == "task.urged"][1:]
    assert event["payload"]["assignee_id"] == world["li"].id and event["payload"]["urge_count"] == 2
    assert event["payload"]["candidate_groups"] == []  # a held task's urge goes to its holder alone


def test_urge_then_complete_and_complete_then_urge(engine, world, escalated):
    task = task_of(engine, escalated, "handle_civil_affairs")
    engine.tasks.urge(task["id"], world["wang"], "faster")
    done = engine.tasks.complete(task["id"], world["li"], DEPARTMENT_RESULT)
    assert (done["state"], done["urge_count"]) == ("completed", 1)
    refused(engine, TaskNotOpen, "the task is already completed", engine.tasks.urge, task["id"], world["wang"], "again")


@pytest.mark.parametrize("who", ["chen", "li", "zhao", "qian", "sun", "admin"])
def test_only_the_case_owner_or_a_supervisor_of_the_station_urges(engine, world, escalated, who):
    task = task_of(engine, escalated, "handle_civil_affairs")
    says = "only the case owner or a supervisor of the station may urge a task"
    refused(engine, Forbidden, says, engine.tasks.urge, task["id"], world[who], "faster")


def test_nobody_urges_themselves_and_a_reason_is_required(engine, world):
    case = report_case(engine, world["wang"])
    complete_as(engine, world["wang"], case, "assess_case", {"resolution": "on_spot"})
    own = task_of(engine, case, "handle_on_spot")  # held by wang, the owner
    says = "you hold this task yourself: there is nobody to urge"
    refused(engine, Forbidden, says, engine.tasks.urge, own["id"], world["wang"], "hurry")
    refused(engine, InvalidInput, "a reason is required", engine.tasks.urge, own["id"], world["zhou"], "  ")


def test_a_suspended_cases_tasks_are_not_urged(engine, world, escalated):
    task = task_of(engine, escalated, "handle_civil_affairs")
    engine.runtime.suspend_instance(escalated["id"], world["zhou"], "court")
    says = "the case is suspended: its tasks wait until a supervisor resumes it"
    refused(engine, InstanceSuspended, says, engine.tasks.urge, task["id"], world["wang"], "faster")
