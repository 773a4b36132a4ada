"""Issue 20's gaps beside the countersign: a pending extension's asked-for time moves with a
suspension (it was counted on the running clock), and the SLA board's tallies of returns, urges and
extensions waiting for a decision (engine/tallies.py), and transferring (转办) a department task
directly to another department."""

from __future__ import annotations

from datetime import datetime, timedelta

from engine import tallies
from engine.errors import InvalidInput, NotAssignee, NotCandidate, TaskNotOpen
from tests.helpers import DEPARTMENT_RESULT, database_rows, escalate, queue_of, report_case, rows_added, task_of
from tests.test_permission_refusals import refused


def held_department_task(engine, world, departments=("civil_affairs",)):
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, list(departments))
    return case, engine.tasks.claim(task_of(engine, case, "handle_civil_affairs")["id"], world["li"])


def test_a_pending_extension_moves_by_the_time_the_case_was_suspended(engine, world, clock):
    case, held = held_department_task(engine, world)
    asked = datetime.fromisoformat(held["due_at"]) + timedelta(days=2)
    engine.tasks.request_extension(held["id"], world["li"], asked, "等待体检结果")
    engine.runtime.suspend_instance(case["id"], world["zhou"], "等待法院开庭")
    clock.advance(hours=30)
    engine.runtime.resume_instance(case["id"], world["zhou"], "法院已排期")
    task = engine.tasks.get_task(held["id"])
    assert task["due_at"] == (datetime.fromisoformat(held["due_at"]) + timedelta(hours=30)).isoformat()
    assert task["extension_due_at"] == (asked + timedelta(hours=30)).isoformat()
    approved = engine.tasks.decide_extension(held["id"], world["zhou"], True, "同意")
    assert approved["due_at"] == (asked + timedelta(hours=30)).isoformat()


def test_tallies_count_returns_and_urges_per_department_within_the_station(engine, world):
    returned = report_case(engine, world["wang"])
    escalate(engine, world["wang"], returned, ["civil_affairs"])
    engine.tasks.return_task(task_of(engine, returned, "handle_civil_affairs")["id"], world["li"], "不属于民政")
    case, held = held_department_task(engine, world)
    engine.tasks.urge(held["id"], world["wang"], "请尽快")
    engine.tasks.urge(held["id"], world["zhou"], "再催")
    station = world["zhou"].station_id
    assert tallies.department_tallies(engine, station) == {"civil_affairs": {"returns": 1, "urges": 2}}
    assert tallies.department_tallies(engine, world["qian"].station_id) == {}
    assert tallies.pending_extensions(engine, station) == []
    asked = datetime.fromisoformat(held["due_at"]) + timedelta(days=1)
    engine.tasks.request_extension(held["id"], world["li"], asked, "more time")
    [pending] = tallies.pending_extensions(engine, station)
    assert (pending["id"], pending["assignee"], pending["extension_due_at"]) == (held["id"], "li", asked)
    engine.tasks.decide_extension(held["id"], world["zhou"], False, "不同意")
    assert tallies.pending_extensions(engine, station) == []


def test_a_department_transfers_its_task_to_another_department_keeping_the_deadline(engine, world, clock):
    case, held = held_department_task(engine, world)
    clock.advance(hours=5)
    before = database_rows(engine)
    moved = engine.tasks.transfer_to_department(held["id"], world["li"], "health", " 属卫健职责 a health matter ")
    assert (moved["state"], moved["assignee"], moved["candidate_groups"]) == ("open", None, ["health"])
    assert (moved["created_at"], moved["due_at"], moved["warn_at"]) == (
        held["created_at"],
        held["due_at"],
        held["warn_at"],
    )
    assert queue_of(engine, held["id"]) == {"health"}
    [entry] = [r for r in rows_added(engine, before, "audit_log") if r["action"] == "task.transferred"]
    assert (entry["actor"], entry["details"]["department"], entry["details"]["reason"]) == (
        "li",
        "health",
        "属卫健职责 a health matter",
    )
    assert entry["details"]["from_groups"] == ["civil_affairs"]
    [event] = [e for e in rows_added(engine, before, "outbox") if e["type"] == "task.transferred"]
    assert event["payload"]["candidate_groups"] == ["health"] and "reason" not in event["payload"]
    # the health liaison handles it; the case goes on to the feedback
    engine.tasks.complete(held["id"], world["zhao"], DEPARTMENT_RESULT)
    assert task_of(engine, case, "feedback_to_resident")["assignee"] == "wang"


def test_transferring_to_another_department_is_refused_without_changing_anything(engine, world):
    case, held = held_department_task(engine, world)
    says_bad = "'{}' is not another department to transfer the task to"
    for target in ("civil_affairs", "xinqiao", "nowhere"):
        refused(
            engine,
            InvalidInput,
            says_bad.format(target),
            engine.tasks.transfer_to_department,
            held["id"],
            world["li"],
            target,
            "x",
        )
    refused(
        engine, InvalidInput, ".*reason.*", engine.tasks.transfer_to_department, held["id"], world["li"], "health", " "
    )
    refused(
        engine,
        NotAssignee,
        "the task is held by someone else",
        engine.tasks.transfer_to_department,
        held["id"],
        world["zhao"],
        "health",
        "x",
    )
    own = task_of(engine, case, "handle_civil_affairs")
    assessment = engine.tasks.query(instance_id=case["id"], state="completed", limit=10)["items"][0]
    says = "the task is completed: only an open department task is transferred"
    refused(
        engine, TaskNotOpen, says, engine.tasks.transfer_to_department, assessment["id"], world["wang"], "health", "x"
    )
    other = report_case(engine, world["wang"])
    escalate(engine, world["wang"], other, ["civil_affairs"])
    open_task = task_of(engine, other, "handle_civil_affairs")
    says = "only the department the task is escalated to may transfer it"
    refused(
        engine, NotCandidate, says, engine.tasks.transfer_to_department, open_task["id"], world["zhao"], "health", "x"
    )
    assert own["state"] == "claimed"
