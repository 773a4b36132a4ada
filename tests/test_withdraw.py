"""Withdraw (撤回): the officer who escalated takes the escalation back while no liaison has claimed it;
the department tasks close, the assessment is the officer's again with its original start and due time."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine.errors import Forbidden, InstanceSuspended, InvalidInput, TaskAlreadyClaimed, TaskNotOpen
from engine.store.models import HumanTask, Timer
from tests.helpers import (
    DEPARTMENT_RESULT,
    complete_as,
    database_rows,
    escalate,
    queue_of,
    report_case,
    rows_added,
    task_of,
)
from tests.test_permission_refusals import refused


@pytest.fixture
def escalated(engine, world):
    """wang escalated his case to civil affairs and health; both department tasks wait in their queues."""
    case = report_case(engine, world["wang"], risk_level="yellow")
    escalate(engine, world["wang"], case, ["civil_affairs", "health"])
    return case


def test_the_escalating_officer_withdraws_and_assesses_again(engine, world, escalated, clock):
    wang = world["wang"]
    civil, health = task_of(engine, escalated, "handle_civil_affairs"), task_of(engine, escalated, "handle_health")
    first = engine.tasks.query(instance_id=escalated["id"], state="completed", limit=10)["items"][0]
    clock.advance(minutes=30)
    before = database_rows(engine)
    back = engine.tasks.withdraw(civil["id"], wang, "补充信息 more information needed")
    assert (back["id"], back["element_id"], back["state"], back["assignee"]) == (
        first["id"],
        "assess_case",
        "claimed",
        "wang",
    )
    assert (back["created_at"], back["due_at"]) == (first["created_at"], first["due_at"])  # the original start
    for task in (civil, health):
        assert engine.tasks.get_task(task["id"])["state"] == "cancelled" and queue_of(engine, task["id"]) == set()
    actions = [(r["action"], r["task_id"]) for r in rows_added(engine, before, "audit_log")]
    assert ("task.withdrawn", first["id"]) in actions
    entry = [r for r in rows_added(engine, before, "audit_log") if r["action"] == "task.withdrawn"][0]
    assert entry["details"]["reason"] == "补充信息 more information needed"
    assert sorted(entry["details"]["withdrawn"]) == ["handle_civil_affairs", "handle_health"]
    assert "task.withdrawn" in [e["type"] for e in rows_added(engine, before, "outbox")]
    # the model's department timers went with the tasks; the case goes on from the assessment
    clock.advance(hours=80)
    engine.timers.fire_due()
    codes = [
        h["details"].get("code")
        for h in engine.runtime.get_instance(escalated["id"])["history"]
        if h["action"] == "escalation.raised"
    ]
    assert codes == ["to_departments"]
    complete_as(engine, wang, escalated, "assess_case", {"resolution": "escalate", "departments": ["civil_affairs"]})
    engine.tasks.complete(task_of(engine, escalated, "handle_civil_affairs")["id"], world["li"], DEPARTMENT_RESULT)
    assert task_of(engine, escalated, "feedback_to_resident")["assignee"] == "wang"


def test_once_a_liaison_claimed_the_escalation_it_is_not_withdrawn(engine, world, escalated):
    health = task_of(engine, escalated, "handle_health")
    engine.tasks.claim(task_of(engine, escalated, "handle_civil_affairs")["id"], world["li"])
    says = "a liaison has claimed the escalation: it can no longer be withdrawn"
    refused(engine, TaskAlreadyClaimed, says, engine.tasks.withdraw, health["id"], world["wang"], "wrong department")


@pytest.mark.parametrize("who", ["chen", "zhou", "li", "qian"])
def test_only_the_officer_who_escalated_withdraws(engine, world, escalated, who):
    civil = task_of(engine, escalated, "handle_civil_affairs")
    says = "only the officer who escalated may withdraw the escalation"
    refused(engine, Forbidden, says, engine.tasks.withdraw, civil["id"], world[who], "mine")


def test_withdrawing_needs_an_open_escalation_an_unsuspended_case_and_a_reason(engine, world, escalated):
    wang, civil = world["wang"], task_of(engine, escalated, "handle_civil_affairs")
    refused(engine, InvalidInput, "a reason is required", engine.tasks.withdraw, civil["id"], wang, " ")
    own = task_of(engine, report_case(engine, wang), "assess_case")
    refused(
        engine,
        TaskNotOpen,
        "the task is open: there is no open escalation to withdraw",
        engine.tasks.withdraw,
        own["id"],
        wang,
        "r",
    )
    engine.tasks.complete(civil["id"], world["li"], DEPARTMENT_RESULT)
    refused(
        engine,
        TaskNotOpen,
        "the task is completed: there is no open escalation to withdraw",
        engine.tasks.withdraw,
        civil["id"],
        wang,
        "r",
    )
    health = task_of(engine, escalated, "handle_health")
    engine.runtime.suspend_instance(escalated["id"], world["zhou"], "court")
    says = "the case is suspended: its tasks wait until a supervisor resumes it"
    refused(engine, InstanceSuspended, says, engine.tasks.withdraw, health["id"], wang, "r")


def sla_marks(engine, task_id: str) -> tuple[str | None, set[tuple[str, str]]]:
    """A task's recorded SLA standing and its pending SLA timers (kind, due time)."""
    with engine.db.read() as scope:
        standing = scope.get(HumanTask, task_id).sla_state
        pending = scope.scalars(select(Timer).where(Timer.task_id == task_id, Timer.status == "pending")).all()
        return standing, {(t.kind, t.due_at.isoformat()) for t in pending if t.kind.startswith("sla_")}


@pytest.mark.parametrize("moment", ["before the warning", "at the warning", "after the deadline"])
def test_a_withdrawn_assessment_is_on_time_again_with_only_its_marks_still_ahead_armed(
    engine, world, escalated, clock, moment
):
    first = engine.tasks.query(instance_id=escalated["id"], state="completed", limit=10)["items"][0]
    warn_at, due_at = datetime.fromisoformat(first["warn_at"]), datetime.fromisoformat(first["due_at"])
    clock.set({"before the warning": warn_at - timedelta(minutes=1), "at the warning": warn_at}.get(moment, due_at))
    if moment == "after the deadline":
        clock.advance(minutes=1)
    engine.tasks.withdraw(task_of(engine, escalated, "handle_civil_affairs")["id"], world["wang"], "more to ask")
    armed = {"before the warning": {("sla_warning", first["warn_at"]), ("sla_breach", first["due_at"])}}
    armed["at the warning"] = {("sla_breach", first["due_at"])}
    assert sla_marks(engine, first["id"]) == ("on_time", armed.get(moment, set()))
