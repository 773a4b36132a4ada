"""Handling operations racing the work they press on: an urge and a completion at the same moment are
serialised by the case's lock; the urge lands on the open task or is refused, never half-written."""

from __future__ import annotations

from engine.store.models import HumanTask
from tests.helpers import DEPARTMENT_RESULT, escalate, report_case, task_of
from tests.test_concurrency import audit_count, race_in_threads


def test_urge_and_complete_at_the_same_moment(engine, world):
    # an urge takes a few milliseconds: on a busy machine one thread may finish before the other
    # starts, which race_in_threads refuses as "did not race"; such a round is run again on a new case
    for attempt in range(5):
        case = report_case(engine, world["wang"])
        escalate(engine, world["wang"], case, ["civil_affairs"])
        task_id = task_of(engine, case, "handle_civil_affairs")["id"]
        engine.tasks.claim(task_id, world["li"])
        completed_before = audit_count(engine, case["id"], "task.completed")  # the escalating assessment

        def act(i, task_id=task_id):
            if i == 0:
                engine.tasks.complete(task_id, world["li"], DEPARTMENT_RESULT)
            else:
                engine.tasks.urge(task_id, world["wang"], "faster")

        try:
            results = race_in_threads(act, 2)
        except AssertionError:
            if attempt == 4:
                raise
            continue
        break
    assert "won" in results and set(results) <= {"won", "task_not_open"}, results
    assert audit_count(engine, case["id"], "task.completed") == completed_before + 1
    urged = audit_count(engine, case["id"], "task.urged")
    with engine.db.read() as scope:
        row = scope.get(HumanTask, task_id)
        assert (row.state, row.urge_count) == ("completed", urged)
    assert urged == results.count("won") - 1  # the completion won too
