"""Inbox queries: mine, claimable by me, by group, by state, sorted by due time, paginated."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.errors import InvalidInput
from tests.helpers import escalate, report_case, task_of


def ids(page):
    return [t["id"] for t in page["items"]]


def test_claimable_by_me_lists_open_tasks_of_my_groups_and_station(engine, world):
    mine = report_case(engine, world["wang"])
    other_station = report_case(engine, world["liu"])
    claimable = engine.tasks.query(world["chen"], candidate="me")
    assert ids(claimable) == [task_of(engine, mine, "assess_case")["id"]]
    theirs = task_of(engine, other_station, "assess_case")["id"]
    assert ids(engine.tasks.query(world["liu"], candidate="me")) == [theirs]
    assert ids(engine.tasks.query(world["li"], candidate="me")) == []


def test_assigned_to_me_lists_claimed_tasks_only(engine, world):
    case = report_case(engine, world["wang"])
    report_case(engine, world["wang"])
    task = task_of(engine, case, "assess_case")
    engine.tasks.claim(task["id"], world["wang"])
    assert ids(engine.tasks.query(world["wang"], assignee="me")) == [task["id"]]
    assert len(ids(engine.tasks.query(world["chen"], candidate="me"))) == 1


def test_department_queue_by_group_sorted_by_due_time(engine, world, clock):
    cases = []
    for risk in ("blue", "red", "yellow"):
        case = report_case(engine, world["wang"], risk_level=risk)
        escalate(engine, world["wang"], case, ["civil_affairs"])
        cases.append(case)
        clock.advance(minutes=-30)  # later reports get earlier department deadlines
    queue = engine.tasks.query(world["li"], group="civil_affairs")
    due = [t["due_at"] for t in queue["items"]]
    assert due == sorted(due) and len(due) == 3
    assert all(t["element_id"] == "handle_civil_affairs" for t in queue["items"])
    assert ids(engine.tasks.query(world["li"], candidate="me")) == ids(queue)


def test_filter_by_state_and_due_window(engine, world, clock):
    case = report_case(engine, world["wang"], risk_level="red")
    report_case(engine, world["wang"], risk_level="blue")
    soon = clock.now() + timedelta(hours=3)
    urgent = engine.tasks.query(world["zhou"], state="open", due_before=soon)
    assert ids(urgent) == [task_of(engine, case, "assess_case")["id"]]
    assert len(engine.tasks.query(world["zhou"], state="open", due_after=soon)["items"]) == 1
    assert engine.tasks.query(world["zhou"], state="completed")["items"] == []


def test_keyset_pagination_walks_every_task_once_in_order(engine, world, clock):
    for i in range(7):
        report_case(engine, world["wang"], risk_level=["red", "yellow", "blue"][i % 3])
        clock.advance(minutes=5)
    seen, cursor = [], None
    while True:
        page = engine.tasks.query(world["wang"], candidate="me", limit=3, cursor=cursor)
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7 and len({t["id"] for t in seen}) == 7
    assert [t["due_at"] for t in seen] == sorted(t["due_at"] for t in seen)


def test_priority_sort_pages_consistently(engine, world, clock):
    for _ in range(5):
        report_case(engine, world["wang"])
        clock.advance(minutes=1)
    everything = ids(engine.tasks.query(world["wang"], candidate="me", sort="priority", limit=50))
    first = engine.tasks.query(world["wang"], candidate="me", sort="priority", limit=2)
    rest = engine.tasks.query(world["wang"], candidate="me", sort="priority", limit=50, cursor=first["next_cursor"])
    assert ids(first) + ids(rest) == everything


@pytest.mark.parametrize("kwargs", [{"sort": "random"}, {"state": "lost"}, {"cursor": "not-a-cursor"}])
def test_bad_query_parameters_are_refused(engine, world, kwargs):
    with pytest.raises(InvalidInput):
        engine.tasks.query(world["wang"], **kwargs)


def _expected_queue(engine, actor):
    """Every open task the actor may claim, in due order (no due time last), ties by id."""
    from sqlalchemy import select

    from engine.queues import is_candidate
    from engine.store.models import HumanTask

    with engine.db.read() as session:
        rows = [
            r for r in session.scalars(select(HumanTask).where(HumanTask.state == "open")) if is_candidate(actor, r)
        ]
    rows.sort(key=lambda r: (r.due_at is None, r.due_at or clock_zero(), r.id))
    return [r.id for r in rows]


def clock_zero():
    from datetime import UTC, datetime

    return datetime.min.replace(tzinfo=UTC)


def walk(engine, actor, limit, **query):
    seen, cursor = [], None
    while True:
        page = engine.tasks.query(actor, candidate="me", limit=limit, cursor=cursor, **query)
        seen += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_a_queue_of_several_groups_pages_in_due_order_without_gaps_or_repeats(engine, world, clock):
    from tests import models

    # a liaison of both departments; tasks of either, of both (one queue entry per group), of no due time
    engine.identity.create_user("hu", "liaison", "correct-horse-battery", ["civil_affairs", "health"])
    hu = engine.identity.actor("hu")
    for risk in ("red", "yellow", "blue", "red"):
        case = report_case(engine, world["wang"], risk_level=risk)
        clock.advance(minutes=7)
        escalate(engine, world["wang"], case, ["civil_affairs", "health"] if risk != "blue" else ["health"])
    both = models.one_task(
        key="both", task_attrs='camunda:candidateGroups="civil_affairs,health" camunda:dueDate="PT30H"'
    )
    undated = models.one_task(key="undated", task_attrs='camunda:candidateGroups="civil_affairs"')
    engine.repository.deploy([("both.bpmn", both), ("undated.bpmn", undated)])
    for key in ("both", "undated", "both"):
        engine.runtime.start_instance(key, world["wang"], {})
    expected = _expected_queue(engine, hu)
    assert len(expected) == 10 and len(set(expected)) == 10
    for limit in (1, 2, 3, 50):
        assert walk(engine, hu, limit) == expected
    clock.advance(hours=31)  # the two-group tasks (30 h) are past due, the department tasks not yet
    late = [t for t in expected if task(engine, t)["sla_state"] == "breached"]
    assert len(late) == 2 and walk(engine, hu, 1, sla_state="breached") == late
    assert walk(engine, hu, 2, group="health") == [
        t for t in expected if "health" in task(engine, t)["candidate_groups"]
    ]


def test_an_officers_queue_keeps_to_the_station_while_walking_the_role_queue(engine, world):
    for officer in ("wang", "liu", "wang", "liu", "wang"):
        report_case(engine, world[officer])
    for name in ("chen", "liu"):
        actor = world[name]
        assert walk(engine, actor, 1) == _expected_queue(engine, actor)
        assert walk(engine, actor, 2, station_id=actor.station_id) == _expected_queue(engine, actor)


def task(engine, task_id):
    return engine.tasks.get_task(task_id)


def test_filter_by_business_key_finds_the_cases_tasks_in_every_query_shape(engine, world, clock):
    wang = world["wang"]
    first, second = report_case(engine, wang), report_case(engine, wang)
    escalate(engine, wang, second, ["civil_affairs", "health"])
    expected = sorted(t["id"] for t in engine.tasks.query(instance_id=second["id"])["items"])
    assert len(expected) == 3
    key = second["business_key"]
    assert sorted(ids(engine.tasks.query(business_key=key))) == expected  # equality filters only
    windowed = engine.tasks.query(business_key=key, due_before=clock.now() + timedelta(days=30))
    assert sorted(ids(windowed)) == expected  # the general query
    completed = engine.tasks.query(business_key=key, state="completed")["items"]
    assert [(t["element_id"], t["instance_id"]) for t in completed] == [("assess_case", second["id"])]
    assert ids(engine.tasks.query(business_key="JF-1999-000001")) == []
    assert first["business_key"] != key
