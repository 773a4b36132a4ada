"""Transfer (转办): the holder hands a task to a colleague of its queue with a reason; the deadline keeps
running from the original start. Refusals change nothing."""

from __future__ import annotations

import pytest

from engine.errors import Forbidden, InvalidInput, NotAssignee, TaskNotClaimed, UserNotFound
from tests.helpers import PASSWORD, database_rows, escalate, report_case, rows_added, task_of
from tests.test_permission_refusals import refused


@pytest.fixture
def held(engine, world, clock):
    """A civil-affairs task held by li; ma is li's colleague in the same department."""
    engine.identity.create_user("ma", "liaison", PASSWORD, ["civil_affairs"])
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    clock.advance(hours=5)
    return engine.tasks.claim(task_of(engine, case, "handle_civil_affairs")["id"], world["li"])


def test_the_holder_transfers_to_a_colleague_and_the_deadline_keeps_running(engine, world, held, clock):
    clock.advance(hours=1)
    before = database_rows(engine)
    moved = engine.tasks.transfer(held["id"], world["li"], "ma", " 休假 on leave ")
    assert (moved["assignee"], moved["state"]) == ("ma", "claimed")
    assert (moved["created_at"], moved["due_at"], moved["warn_at"]) == (
        held["created_at"],
        held["due_at"],
        held["warn_at"],
    )
    audit = [(r["actor"], r["action"], r["details"]) for r in rows_added(engine, before, "audit_log")]
    details = {"element_id": "handle_civil_affairs", "assignee": "ma", "reason": "休假 on leave"}
    assert audit == [("li", "task.transferred", details)]
    [event] = rows_added(engine, before, "outbox")
    assert event["type"] == "task.transferred" and event["payload"]["assignee_id"] == engine.identity.actor("ma").id


def test_only_the_holder_transfers_and_only_to_a_colleague_of_the_queue(engine, world, held):
    li = world["li"]
    refused(
        engine,
        NotAssignee,
        "only the holder of a task transfers it",
        engine.tasks.transfer,
        held["id"],
        world["zhou"],
        "ma",
        "r",
    )
    says = "'zhao' is not a colleague who may take this task"
    error = refused(engine, InvalidInput, says, engine.tasks.transfer, held["id"], li, "zhao", "r")
    assert error.details == [{"field": "user", "message": "not in the task's groups"}]
    refused(
        engine,
        InvalidInput,
        "'li' is not a colleague who may take this task",
        engine.tasks.transfer,
        held["id"],
        li,
        "li",
        "r",
    )
    refused(engine, UserNotFound, "user 'nobody' does not exist", engine.tasks.transfer, held["id"], li, "nobody", "r")
    refused(engine, InvalidInput, "a reason is required", engine.tasks.transfer, held["id"], li, "ma", "")


def test_an_open_task_and_the_owners_tasks_are_not_transferred(engine, world):
    case = report_case(engine, world["wang"])
    open_task = task_of(engine, case, "assess_case")
    says = "the task is open: claim it before transferring it"
    refused(engine, TaskNotClaimed, says, engine.tasks.transfer, open_task["id"], world["wang"], "chen", "r")
    engine.tasks.claim(open_task["id"], world["wang"])
    says = "the case owner's tasks move only with the case, which a supervisor reassigns"
    refused(engine, Forbidden, says, engine.tasks.transfer, open_task["id"], world["wang"], "chen", "r")
