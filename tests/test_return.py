"""Return (退回): the department sends an escalated task back with a reason; the task closes as returned
(its row keeps the return and its time), the case owner re-routes from the assessment, and the case
goes on with another department. Refusals change nothing."""

from __future__ import annotations

import pytest

from engine.errors import InstanceSuspended, InvalidInput, NotAssignee, NotCandidate, TaskAlreadyClaimed, TaskNotOpen
from tests.helpers import DEPARTMENT_RESULT, complete_as, database_rows, escalate, report_case, rows_added, task_of
from tests.test_permission_refusals import refused

REASON = "不属于民政职责 not a civil-affairs matter"


@pytest.fixture
def escalated(engine, world):
    case = report_case(engine, world["wang"], risk_level="yellow")
    escalate(engine, world["wang"], case, ["civil_affairs"])
    return case


def test_the_department_returns_and_the_owner_reroutes_to_the_other_department(engine, world, escalated, clock):
    wang, li = world["wang"], world["li"]
    civil = task_of(engine, escalated, "handle_civil_affairs")
    assessment = engine.tasks.query(instance_id=escalated["id"], state="completed", limit=10)["items"][0]
    clock.advance(hours=1)
    engine.tasks.claim(civil["id"], li)
    before = database_rows(engine)
    returned = engine.tasks.return_task(civil["id"], li, f" {REASON} ")
    assert (returned["state"], returned["ended_at"]) == ("returned", clock.now().isoformat())
    back = task_of(engine, escalated, "assess_case")
    assert (back["id"], back["assignee"], back["state"]) == (assessment["id"], "wang", "claimed")
    assert (back["created_at"], back["due_at"]) == (assessment["created_at"], assessment["due_at"])
    [entry] = [r for r in rows_added(engine, before, "audit_log") if r["action"] == "task.returned"]
    assert (entry["actor"], entry["task_id"], entry["details"]["reason"]) == ("li", civil["id"], REASON)
    [event] = [e for e in rows_added(engine, before, "outbox") if e["type"] == "task.returned"]
    assert event["payload"]["candidate_groups"] == ["civil_affairs"] and "reason" not in event["payload"]
    assert event["payload"]["rerouting_task_id"] == assessment["id"]
    # re-route: health this time; the returned row stays as it was
    complete_as(engine, wang, escalated, "assess_case", {"resolution": "escalate", "departments": ["health"]})
    engine.tasks.complete(task_of(engine, escalated, "handle_health")["id"], world["zhao"], DEPARTMENT_RESULT)
    assert task_of(engine, escalated, "feedback_to_resident")["assignee"] == "wang"
    assert engine.tasks.get_task(civil["id"])["state"] == "returned"


def test_an_unclaimed_task_is_returned_by_its_department_and_the_owner_resolves_on_the_spot(engine, world, escalated):
    civil = task_of(engine, escalated, "handle_civil_affairs")
    engine.tasks.return_task(civil["id"], world["li"], REASON)
    complete_as(engine, world["wang"], escalated, "assess_case", {"resolution": "on_spot"})
    assert task_of(engine, escalated, "handle_on_spot")["assignee"] == "wang"


@pytest.mark.parametrize("who", ["zhao", "wang", "chen"])
def test_only_the_department_returns_its_task(engine, world, escalated, who):
    civil = task_of(engine, escalated, "handle_civil_affairs")
    says = "only the department the task is escalated to may return it"
    refused(engine, NotCandidate, says, engine.tasks.return_task, civil["id"], world[who], REASON)


def test_a_held_task_is_returned_only_by_its_holder(engine, world, escalated):
    civil = task_of(engine, escalated, "handle_civil_affairs")
    engine.tasks.claim(civil["id"], world["li"])
    refused(
        engine,
        NotAssignee,
        "the task is held by someone else",
        engine.tasks.return_task,
        civil["id"],
        world["zhou"],
        REASON,
    )


def test_returning_needs_an_open_department_task_a_reason_and_a_running_case(engine, world, escalated):
    li, civil = world["li"], task_of(engine, escalated, "handle_civil_affairs")
    refused(engine, InvalidInput, "a reason is required", engine.tasks.return_task, civil["id"], li, "  ")
    own = task_of(engine, report_case(engine, world["wang"]), "assess_case")
    says = "the task is open: only an open department task is returned"
    refused(engine, TaskNotOpen, says, engine.tasks.return_task, own["id"], world["wang"], REASON)
    engine.runtime.suspend_instance(escalated["id"], world["zhou"], "court")
    says = "the case is suspended: its tasks wait until a supervisor resumes it"
    refused(engine, InstanceSuspended, says, engine.tasks.return_task, civil["id"], li, REASON)
    engine.runtime.resume_instance(escalated["id"], world["zhou"], "go on")
    engine.tasks.complete(civil["id"], li, DEPARTMENT_RESULT)
    says = "the task is completed: only an open department task is returned"
    refused(engine, TaskNotOpen, says, engine.tasks.return_task, civil["id"], li, REASON)


def test_while_another_department_works_on_the_escalation_it_is_not_returned(engine, world):
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs", "health"])
    engine.tasks.claim(task_of(engine, case, "handle_health")["id"], world["zhao"])
    civil = task_of(engine, case, "handle_civil_affairs")
    says = "another department is working on this escalation: return after it has reported"
    refused(engine, TaskAlreadyClaimed, says, engine.tasks.return_task, civil["id"], world["li"], REASON)
