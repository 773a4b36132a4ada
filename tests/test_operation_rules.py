"""What each handling operation writes, field by field (issue 23's `operations` mutation target): the
audit row's actor, action, task and details and the outbox event's task and payload of transfer,
delegate, resolve, withdraw and return; and the refusals the operations' own tests do not reach."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.errors import CopyNotFound, Forbidden, InvalidInput, TaskDelegated
from engine.identity import Actor
from engine.store.models import HumanTask
from engine.tasks.extensions import NoExtensionRequested
from tests import models
from tests.helpers import (
    DEPARTMENT_RESULT,
    PASSWORD,
    database_rows,
    escalate,
    queue_of,
    report_case,
    rows_added,
    task_of,
)
from tests.test_permission_refusals import refused


def written(engine, before, action: str) -> tuple[tuple, dict]:
    """The one audit row and the one outbox event of `action` written since `before`."""
    [entry] = [r for r in rows_added(engine, before, "audit_log") if r["action"] == action]
    [event] = [e for e in rows_added(engine, before, "outbox") if e["type"] == action]
    return (entry["actor"], entry["actor_id"], entry["instance_id"], entry["task_id"], entry["details"]), event


@pytest.fixture
def held(engine, world):
    """A civil-affairs task held by li; ma is li's colleague."""
    engine.identity.create_user("ma", "liaison", PASSWORD, ["civil_affairs"])
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    return engine.tasks.claim(task_of(engine, case, "handle_civil_affairs")["id"], world["li"])


def payload(held, **fields) -> dict:
    return {
        "instance_id": held["instance_id"],
        "business_key": held["business_key"],
        "task_id": held["id"],
        "element_id": "handle_civil_affairs",
        **fields,
    }


def test_a_transfer_audits_and_announces_the_task_its_new_holder_and_the_reason(engine, world, held):
    li, ma = world["li"], engine.identity.actor("ma")
    before = database_rows(engine)
    engine.tasks.transfer(held["id"], li, "ma", "on leave")
    entry, event = written(engine, before, "task.transferred")
    details = {"element_id": "handle_civil_affairs", "assignee": "ma", "reason": "on leave"}
    assert entry == ("li", li.id, held["instance_id"], held["id"], details)
    assert (event["task_id"], event["payload"]) == (held["id"], payload(held, assignee_id=ma.id))


def test_a_transfer_to_another_department_audits_and_announces_the_task_and_drops_the_holders_draft(
    engine, world, held
):
    li = world["li"]
    engine.drafts.save(held["id"], li, {"summary": "写了一半 half written"})
    before = database_rows(engine)
    engine.tasks.transfer_to_department(held["id"], li, "health", "a health matter")
    entry, event = written(engine, before, "task.transferred")
    details = {
        "element_id": "handle_civil_affairs",
        "department": "health",
        "from_groups": ["civil_affairs"],
        "reason": "a health matter",
    }
    assert entry == ("li", li.id, held["instance_id"], held["id"], details)
    moved = payload(held, candidate_groups=["health"], from_groups=["civil_affairs"])
    assert (event["task_id"], event["payload"]) == (held["id"], moved)
    assert database_rows(engine)["task_drafts"] == []  # the next holder starts from an empty form


def test_an_open_department_task_transferred_leaves_its_departments_queue(engine, world):
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    task = task_of(engine, case, "handle_civil_affairs")
    moved = engine.tasks.transfer_to_department(task["id"], world["li"], "health", "a health matter")
    assert (moved["state"], moved["candidate_groups"]) == ("open", ["health"])
    assert queue_of(engine, task["id"]) == {"health"}


def test_a_delegated_or_mistargeted_transfer_to_another_department_is_refused_with_its_reason(engine, world, held):
    bad = refused(
        engine,
        InvalidInput,
        "'xinqiao' is not another department to transfer the task to",
        engine.tasks.transfer_to_department,
        held["id"],
        world["li"],
        "xinqiao",
        "x",
    )
    assert bad.details == [{"field": "department", "message": "not another agency"}]
    engine.tasks.delegate(held["id"], world["li"], "ma", "please visit")
    says = "the task is delegated: resolve it back to its holder first"
    ma = engine.identity.actor("ma")  # the delegate holds the task now
    refused(engine, TaskDelegated, says, engine.tasks.transfer_to_department, held["id"], ma, "health", "x")


def test_a_delegation_and_its_resolution_audit_and_announce_who_holds_the_task(engine, world, held):
    li, ma = world["li"], engine.identity.actor("ma")
    before = database_rows(engine)
    engine.tasks.delegate(held["id"], li, "ma", "please visit")
    entry, event = written(engine, before, "task.delegated")
    details = {"element_id": "handle_civil_affairs", "assignee": "ma", "reason": "please visit"}
    assert entry == ("li", li.id, held["instance_id"], held["id"], details)
    assert (event["task_id"], event["payload"]) == (held["id"], payload(held, assignee_id=ma.id, delegated_by_id=li.id))
    engine.tasks.resolve(held["id"], ma, "visited")
    entry, event = written(engine, before, "task.resolved")
    assert entry == (
        "ma",
        ma.id,
        held["instance_id"],
        held["id"],
        {"element_id": "handle_civil_affairs", "reason": "visited"},
    )
    assert (event["task_id"], event["payload"]) == (held["id"], payload(held, assignee_id=li.id))
    task = engine.tasks.get_task(held["id"])
    assert (task["assignee"], task["delegated"]) == ("li", False)


def test_a_delegated_task_is_not_delegated_again_nor_to_oneself(engine, world, held):
    li = world["li"]
    says = "'li' is not a colleague who may take this task"
    refused(engine, InvalidInput, says, engine.tasks.delegate, held["id"], li, "li", "r")
    engine.tasks.delegate(held["id"], li, "ma", "r")
    says = "the task is delegated already: it is resolved back first"
    refused(engine, TaskDelegated, says, engine.tasks.delegate, held["id"], engine.identity.actor("ma"), "li", "r")


def test_a_withdrawal_audits_and_announces_the_reopened_task_and_what_it_withdrew(engine, world):
    wang = world["wang"]
    case = report_case(engine, wang, risk_level="yellow")
    escalate(engine, wang, case, ["health", "civil_affairs"])
    civil, health = task_of(engine, case, "handle_civil_affairs"), task_of(engine, case, "handle_health")
    assessment = engine.tasks.query(instance_id=case["id"], state="completed", limit=10)["items"][0]
    before = database_rows(engine)
    engine.tasks.withdraw(health["id"], wang, "more information")
    entry, event = written(engine, before, "task.withdrawn")
    actor, actor_id, instance_id, task_id, details = entry
    assert (actor, actor_id, instance_id, task_id) == ("wang", wang.id, case["id"], assessment["id"])
    assert (details["element_id"], details["reason"]) == ("assess_case", "more information")
    assert sorted(details["withdrawn"]) == ["handle_civil_affairs", "handle_health"]
    withdrawn = event["payload"].pop("withdrawn_task_ids")
    assert sorted(withdrawn) == sorted([civil["id"], health["id"]])
    assert (event["task_id"], event["payload"]) == (
        assessment["id"],
        {
            "instance_id": case["id"],
            "business_key": case["business_key"],
            "task_id": assessment["id"],
            "element_id": "assess_case",
            "candidate_groups": ["civil_affairs", "health"],
        },
    )


def test_a_return_goes_back_to_the_case_owner_not_to_the_officer_who_escalated(engine, world):
    wang, li = world["wang"], world["li"]
    case = report_case(engine, wang, risk_level="yellow")
    escalate(engine, wang, case, ["civil_affairs"])
    civil = task_of(engine, case, "handle_civil_affairs")
    assessment = engine.tasks.query(instance_id=case["id"], state="completed", limit=10)["items"][0]
    engine.tasks.reassign_case_owner(case["id"], world["zhou"], "chen", "wang is on leave")
    chen = world["chen"]
    before = database_rows(engine)
    engine.tasks.return_task(civil["id"], li, "not ours")
    back = task_of(engine, case, "assess_case")
    assert (back["id"], back["assignee"], back["state"]) == (assessment["id"], "chen", "claimed")
    entry, event = written(engine, before, "task.returned")
    details = {"element_id": "handle_civil_affairs", "reason": "not ours", "groups": ["civil_affairs"]}
    assert entry == ("li", li.id, case["id"], civil["id"], details)
    assert (event["task_id"], event["payload"]) == (
        civil["id"],
        {
            "instance_id": case["id"],
            "business_key": case["business_key"],
            "task_id": civil["id"],
            "element_id": "handle_civil_affairs",
            "candidate_groups": ["civil_affairs"],
            "rerouting_task_id": assessment["id"],
            "owner_id": chen.id,
        },
    )


def test_an_extension_request_and_its_approval_audit_and_announce_both_due_times(engine, world, held, clock):
    li, zhou = world["li"], world["zhou"]
    due = datetime.fromisoformat(held["due_at"])
    asked = due + timedelta(days=2)
    before = database_rows(engine)
    engine.tasks.request_extension(held["id"], li, asked, "waiting for a report")
    entry, event = written(engine, before, "task.extension_requested")
    details = {"element_id": "handle_civil_affairs", "due_at": asked.isoformat(), "reason": "waiting for a report"}
    assert entry == ("li", li.id, held["instance_id"], held["id"], details)
    station = world["zhou"].station_id  # the case's station
    assert (event["task_id"], event["payload"]) == (
        held["id"],
        payload(held, due_at=due.isoformat(), requested_due_at=asked.isoformat(), station_id=station),
    )
    assert station is not None and held["station_id"] == station
    engine.tasks.decide_extension(held["id"], zhou, True, "agreed")
    entry, event = written(engine, before, "task.extension_approved")
    times = {"due_at": due.isoformat(), "requested_due_at": asked.isoformat()}
    assert entry == (
        "zhou",
        zhou.id,
        held["instance_id"],
        held["id"],
        {"element_id": "handle_civil_affairs", "reason": "agreed", **times},
    )
    assert (event["task_id"], event["payload"]) == (held["id"], payload(held, assignee_id=li.id, **times))


def test_a_refused_extension_announces_the_unchanged_due_time(engine, world, held):
    li, zhou = world["li"], world["zhou"]
    due = datetime.fromisoformat(held["due_at"])
    asked = due + timedelta(hours=5)
    engine.tasks.request_extension(held["id"], li, asked, "more time")
    before = database_rows(engine)
    engine.tasks.decide_extension(held["id"], zhou, False, "doable")
    entry, event = written(engine, before, "task.extension_refused")
    times = {"due_at": due.isoformat(), "requested_due_at": asked.isoformat()}
    assert entry == (
        "zhou",
        zhou.id,
        held["instance_id"],
        held["id"],
        {"element_id": "handle_civil_affairs", "reason": "doable", **times},
    )
    assert event["payload"] == payload(held, assignee_id=li.id, **times)
    task = engine.tasks.get_task(held["id"])
    assert (task["due_at"], task["warn_at"], task["extension_due_at"]) == (held["due_at"], held["warn_at"], None)


def test_an_extension_asks_for_a_zoned_time_later_than_the_due_time_and_at_most_90_days_ahead(
    engine, world, held, clock
):
    li = world["li"]
    due = datetime.fromisoformat(held["due_at"])
    ask = engine.tasks.request_extension

    def details(message: str) -> list[dict]:
        return [{"field": "due_at", "message": message}]

    says = "due_at must be a time with a time zone"
    assert refused(engine, InvalidInput, says, ask, held["id"], li, due.replace(tzinfo=None), "r").details == details(
        "invalid"
    )
    assert refused(engine, InvalidInput, says, ask, held["id"], li, held["due_at"], "r").details == details("invalid")
    says = "the new due time must be later than the current one"
    found = refused(engine, InvalidInput, says, ask, held["id"], li, due, "r")
    assert found.details == details("not later than the due time")
    says = "an extension reaches at most 90 days ahead"
    too_far = clock.now() + timedelta(days=91)
    assert refused(engine, InvalidInput, says, ask, held["id"], li, too_far, "r").details == details("too far ahead")
    farthest = clock.now() + timedelta(days=90, hours=23)
    assert engine.tasks.request_extension(held["id"], li, farthest, "r")["extension_due_at"] == farthest.isoformat()


def test_an_extension_still_pending_when_the_task_closed_is_not_decided(engine, world, held):
    engine.tasks.request_extension(
        held["id"], world["li"], datetime.fromisoformat(held["due_at"]) + timedelta(days=1), "r"
    )
    engine.tasks.complete(held["id"], world["li"], DEPARTMENT_RESULT)
    says = "no extension of this task is waiting for a decision"
    refused(engine, NoExtensionRequested, says, engine.tasks.decide_extension, held["id"], world["zhou"], True, "r")


def test_a_liaison_reaches_a_case_through_a_task_queued_held_or_completed_and_only_the_cases_asked_about(engine, world):
    wang, li = world["wang"], world["li"]
    case, other = report_case(engine, wang), report_case(engine, wang)
    for each in (case, other):
        escalate(engine, wang, each, ["civil_affairs"])
    reach = engine.copies.reachable_through_tasks
    assert reach(li, [case["id"]]) == {case["id"]}  # in li's queue
    assert reach(li, []) == set()
    task = task_of(engine, case, "handle_civil_affairs")
    engine.tasks.claim(task["id"], li)
    assert reach(li, [case["id"]]) == {case["id"]}  # held
    engine.tasks.complete(task["id"], li, DEPARTMENT_RESULT)
    assert reach(li, [case["id"]]) == {case["id"]}  # completed by li
    assert reach(world["zhao"], [case["id"], other["id"]]) == set()
    # a caller without a user id (the system) reaches no case through unassigned tasks
    assert reach(Actor.system(), [case["id"], other["id"]]) == set()


def test_a_copy_is_read_by_its_recipient_only_and_unread_copies_count_per_recipient(engine, world):
    wang, li, zhao = world["wang"], world["li"], world["zhao"]
    case = report_case(engine, wang)
    engine.tasks.claim(task_of(engine, case, "assess_case")["id"], wang)
    assert engine.copies.unread_count(li) == 0  # none sent yet
    engine.copies.send(case["id"], wang, "first", users=["li", "zhao"])
    engine.copies.send(case["id"], wang, "second", users=["li"])
    second, first = engine.copies.list_for(li)
    [zhaos] = engine.copies.list_for(zhao)
    assert (engine.copies.unread_count(li), engine.copies.unread_count(zhao)) == (2, 1)
    assert engine.copies.unread_count(world["chen"]) == 0
    assert engine.copies.get(first["id"], li) == first and engine.copies.get(second["id"], li) == second
    before = database_rows(engine)
    for someone in ("zhao", "wang", "chen"):
        refused(
            engine, CopyNotFound, f"no copy '{first['id']}' for you", engine.copies.get, first["id"], world[someone]
        )
    refused(engine, CopyNotFound, f"no copy '{zhaos['id']}' for you", engine.copies.get, zhaos["id"], li)
    assert database_rows(engine) == before


def test_a_cycle_timer_keeps_its_rhythm_across_a_suspension(engine, world, clock):
    """The workflow's own next occurrence of a cycle moves with the paused rows: each repetition
    comes an hour after the one before, counted in running time."""
    xml = models.timed("R3/PT1H", attached="task", boundary_interrupting=False, definition="timeCycle")
    engine.repository.deploy([("timed.bpmn", xml)])
    case = engine.runtime.start_instance("timed", world["wang"], {})
    clock.advance(minutes=30)
    engine.runtime.suspend_instance(case["id"], world["zhou"], "court")
    clock.advance(hours=10)
    assert engine.timers.fire_due() == 0
    engine.runtime.resume_instance(case["id"], world["zhou"], "court date set")
    clock.advance(minutes=29)
    assert engine.timers.fire_due() == 0
    clock.advance(minutes=2)
    assert engine.timers.fire_due() == 1  # an hour of running time after the start
    clock.advance(minutes=58)
    assert engine.timers.fire_due() == 0  # the second comes an hour after the first, not at once
    clock.advance(minutes=2)
    assert engine.timers.fire_due() == 1


@pytest.mark.parametrize(
    "command",
    [
        *("urge", "transfer", "transfer_to_department", "delegate", "resolve", "withdraw", "return_task"),
        *("request_extension", "decide_extension"),
    ],
)
def test_the_callers_visibility_check_refuses_every_handling_operation(engine, world, held, command):
    seen = []

    def invisible(task):
        seen.append((task["id"], task["state"], task["assignee"]))
        raise Forbidden("not yours to see")

    later = datetime.fromisoformat(held["due_at"]) + timedelta(days=1)
    if command == "decide_extension":
        engine.tasks.request_extension(held["id"], world["li"], later, "more time")
    if command == "resolve":
        engine.tasks.delegate(held["id"], world["li"], "ma", "please visit")
    args = {
        "urge": (world["wang"], "faster"),
        "transfer": (world["li"], "ma", "on leave"),
        "transfer_to_department": (world["li"], "health", "a health matter"),
        "delegate": (world["li"], "ma", "please visit"),
        "resolve": (engine.identity.actor("ma"), "visited"),
        "withdraw": (world["wang"], "back"),
        "return_task": (world["li"], "not ours"),
        "request_extension": (world["li"], later, "more time"),
        "decide_extension": (world["zhou"], True, "agreed"),
    }[command]
    run = getattr(engine.tasks, command)
    refused(engine, Forbidden, "not yours to see", run, held["id"], *args, visible=invisible)
    assert len(seen) == 1 and seen[0][0] == held["id"]


def test_an_approved_extension_of_a_breached_task_makes_it_on_time_again(engine, world, held, clock):
    clock.advance(hours=73)
    engine.timers.fire_due()
    assert engine.tasks.get_task(held["id"])["sla_state"] == "breached"
    engine.tasks.request_extension(held["id"], world["li"], clock.now() + timedelta(days=2), "waiting for a report")
    approved = engine.tasks.decide_extension(held["id"], world["zhou"], True, "agreed")
    assert approved["sla_state"] == "on_time"
    with engine.db.read() as scope:  # the recorded standing too, which reports and filters read
        assert scope.get(HumanTask, held["id"]).sla_state == "on_time"
