"""Issue 20's gaps beside the countersign: a pending extension's asked-for time moves with a
suspension (it was counted on the running clock), and the SLA board's tallies of returns, urges and
extensions waiting for a decision (engine/tallies.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from engine import tallies
from tests.helpers import escalate, report_case, task_of


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
