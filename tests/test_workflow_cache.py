"""The workflow cache: a change starts from the workflow this process saved, never from a stale one."""

from __future__ import annotations

import dataclasses

import pytest

from engine import Engine
from engine.errors import InvalidInput
from tests.helpers import DEPARTMENT_RESULT, complete_as, escalate, open_tasks, report_case, status, task_of


def _elements(engine, case):
    return sorted(t["element_id"] for t in open_tasks(engine, case))


def test_consecutive_changes_of_a_case_reuse_the_saved_workflow(engine, world):
    wang = world["wang"]
    case = report_case(engine, wang)
    loads = engine.serializer.loads
    calls = []
    engine.serializer.loads = lambda *a: calls.append(a) or loads(*a)
    task = task_of(engine, case, "assess_case")
    engine.tasks.claim(task["id"], wang)  # moves the row's version on, not the state
    engine.tasks.complete(task["id"], wang, {"resolution": "on_spot"})
    complete_as(engine, wang, case, "handle_on_spot", {"result": "resolved", "measures": "调解"})
    complete_as(engine, wang, case, "feedback_to_resident", {"satisfaction": "satisfied"})
    assert status(engine, case) == "completed"
    assert calls == [] and engine.workflows.hits == 3


def test_a_change_made_by_another_process_is_seen_not_hidden_by_the_cache(engine, world, settings, clock):
    wang, li, zhao = world["wang"], world["li"], world["zhao"]
    other = Engine(settings, clock)  # a second process: its own cache, the same database
    try:
        case = report_case(engine, wang)
        escalate(engine, wang, case, ["civil_affairs", "health"])
        complete_as(other, li, case, "handle_civil_affairs", DEPARTMENT_RESULT)
        misses = engine.workflows.misses
        complete_as(engine, zhao, case, "handle_health", DEPARTMENT_RESULT)  # the join needs both results
        assert engine.workflows.misses == misses + 1
        assert _elements(engine, case) == ["feedback_to_resident"]
        complete_as(other, wang, case, "feedback_to_resident", {"satisfaction": "satisfied"})
        assert status(engine, case) == "completed"
    finally:
        other.close()


def test_a_failed_change_leaves_no_half_run_workflow_behind(engine, world):
    wang = world["wang"]
    case = report_case(engine, wang)
    task = task_of(engine, case, "assess_case")

    def run_then_fail(change):
        ready = next(t for t in change.workflow.get_tasks() if str(t.id) == task["id"])
        ready.set_data(resolution="escalate", departments=["health"])
        change.workflow.run_task_from_id(ready.id)
        change.workflow.do_engine_steps()
        raise InvalidInput("refused after running", [])

    with pytest.raises(InvalidInput):
        engine.uow.run(case["id"], wang, run_then_fail)
    assert engine.workflows.version_of(case["id"]) is None
    assert _elements(engine, case) == ["assess_case"]
    engine.tasks.complete(task["id"], wang, {"resolution": "on_spot"})
    assert _elements(engine, case) == ["handle_on_spot"]


def test_cases_run_the_same_with_and_without_the_cache(engine, world, settings, clock):
    uncached = Engine(dataclasses.replace(settings, workflow_cache_size=0), clock)
    try:
        runs = []
        for eng in (engine, uncached):
            wang, li, zhao = world["wang"], world["li"], world["zhao"]
            case = report_case(eng, wang)
            escalate(eng, wang, case, ["civil_affairs", "health"])
            steps = [_elements(eng, case)]
            complete_as(eng, li, case, "handle_civil_affairs", DEPARTMENT_RESULT)
            steps.append(_elements(eng, case))
            complete_as(eng, zhao, case, "handle_health", DEPARTMENT_RESULT)
            steps.append(_elements(eng, case))
            complete_as(eng, wang, case, "feedback_to_resident", {"satisfaction": "unsatisfied"})
            steps.append(_elements(eng, case))  # reopened for the owner
            complete_as(eng, wang, case, "assess_case", {"resolution": "on_spot"})
            complete_as(eng, wang, case, "handle_on_spot", {"result": "resolved"})
            complete_as(eng, wang, case, "feedback_to_resident", {"satisfaction": "satisfied"})
            steps.append(_elements(eng, case))
            view = eng.runtime.get_instance(case["id"])
            runs.append((steps, view["status"], view["variables"], [h["action"] for h in view["history"]]))
        assert runs[0] == runs[1]
        assert uncached.workflows.hits == 0 and len(uncached.workflows) == 0
        assert engine.workflows.hits > 0
    finally:
        uncached.close()


def test_the_cache_keeps_at_most_its_size_least_recently_used_first(engine, world, settings, clock):
    small = Engine(dataclasses.replace(settings, workflow_cache_size=2), clock)
    try:
        cases = [report_case(small, world["wang"]) for _ in range(3)]
        assert len(small.workflows) == 2
        assert small.workflows.version_of(cases[0]["id"]) is None
        assert small.workflows.version_of(task_id=task_of(small, cases[2], "assess_case")["id"]) is not None
    finally:
        small.close()
