"""Delegate (委派) / resolve: the holder asks a colleague to do the work; the colleague hands it back and
the holder confirms by completing it; ownership never moves. Refusals change nothing."""

from __future__ import annotations

import pytest

from engine.errors import InvalidInput, NotAssignee, TaskDelegated, TaskNotClaimed, TaskNotDelegated
from tests.helpers import DEPARTMENT_RESULT, PASSWORD, database_rows, escalate, report_case, rows_added, task_of
from tests.test_permission_refusals import refused


@pytest.fixture
def held(engine, world):
    """A civil-affairs task held by li; ma is li's colleague."""
    engine.identity.create_user("ma", "liaison", PASSWORD, ["civil_affairs"])
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    return engine.tasks.claim(task_of(engine, case, "handle_civil_affairs")["id"], world["li"])


def test_delegate_then_resolve_then_the_holder_completes(engine, world, held):
    li, ma = world["li"], engine.identity.actor("ma")
    before = database_rows(engine)
    delegated = engine.tasks.delegate(held["id"], li, "ma", "请协助入户核实 please visit")
    assert (delegated["assignee"], delegated["delegated"], delegated["due_at"]) == ("ma", True, held["due_at"])
    says = "the task is delegated: resolve it back to its holder, who completes it"
    refused(engine, TaskDelegated, says, engine.tasks.complete, held["id"], ma, DEPARTMENT_RESULT)
    refused(
        engine,
        NotAssignee,
        "only the colleague the task is delegated to resolves it",
        engine.tasks.resolve,
        held["id"],
        li,
        "done",
    )
    back = engine.tasks.resolve(held["id"], ma, "已入户核实 visited")
    assert (back["assignee"], back["delegated"]) == ("li", False)
    done = engine.tasks.complete(held["id"], li, DEPARTMENT_RESULT)
    assert (done["state"], done["completed_by"]) == ("completed", "li")
    actions = [(r["actor"], r["action"]) for r in rows_added(engine, before, "audit_log")]
    assert actions[:2] == [("li", "task.delegated"), ("ma", "task.resolved")]
    assert [e["type"] for e in rows_added(engine, before, "outbox")][:2] == ["task.delegated", "task.resolved"]


def test_delegation_refusals(engine, world, held):
    li = world["li"]
    refused(
        engine,
        NotAssignee,
        "only the holder of a task delegates it",
        engine.tasks.delegate,
        held["id"],
        world["zhou"],
        "ma",
        "r",
    )
    says = "'zhao' is not a colleague who may take this task"
    error = refused(engine, InvalidInput, says, engine.tasks.delegate, held["id"], li, "zhao", "r")
    assert error.details == [{"field": "user", "message": "not in the task's groups"}]
    refused(engine, InvalidInput, "a reason is required", engine.tasks.delegate, held["id"], li, "ma", " ")
    says = "the task is not delegated: there is nothing to resolve"
    refused(engine, TaskNotDelegated, says, engine.tasks.resolve, held["id"], li, "r")
    engine.tasks.delegate(held["id"], li, "ma", "r")
    ma = engine.identity.actor("ma")
    says = "the task is delegated: resolve it back to its holder first"
    refused(engine, TaskDelegated, says, engine.tasks.unclaim, held["id"], ma)
    refused(engine, TaskDelegated, says, engine.tasks.transfer, held["id"], ma, "li", "r")


def test_an_open_task_is_not_delegated(engine, world):
    case = report_case(engine, world["wang"])
    task = task_of(engine, case, "assess_case")
    says = "the task is open: claim it before delegating it"
    refused(engine, TaskNotClaimed, says, engine.tasks.delegate, task["id"], world["wang"], "chen", "r")


def test_moving_the_case_to_the_delegate_ends_the_delegation(engine, world):
    """The owner delegated their assessment to chen; the supervisor then makes chen the case's owner:
    the task is chen's own, no longer delegated (resolving would hand it to an officer who no longer
    owns the case)."""
    wang, chen, zhou = world["wang"], world["chen"], world["zhou"]
    case = report_case(engine, wang)
    task = engine.tasks.claim(task_of(engine, case, "assess_case")["id"], wang)
    engine.tasks.delegate(task["id"], wang, "chen", "请代为研判 please assess")
    engine.tasks.reassign_case_owner(case["id"], zhou, "chen", "王警官休假 Officer Wang on leave")
    moved = task_of(engine, case, "assess_case")
    assert (moved["assignee"], moved["delegated"]) == ("chen", False)
    refused(engine, TaskNotDelegated, "the task is not delegated: there is nothing to resolve",
            engine.tasks.resolve, task["id"], chen, "r")  # fmt: skip
