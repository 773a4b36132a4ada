"""First-contact responsibility (首接负责制): the first officer to claim owns the case to the end."""

from __future__ import annotations

import pytest

from engine.errors import Forbidden, InvalidInput, NotAssignee, NotCandidate, OwnedByAnother
from tests import models
from tests.helpers import DEPARTMENT_RESULT, complete_as, escalate, report_case, task_of


def test_first_claimant_of_an_officer_task_becomes_case_owner(engine, world):
    case = report_case(engine, world["wang"])
    engine.tasks.claim(task_of(engine, case, "assess_case")["id"], world["chen"])
    view = engine.runtime.get_instance(case["id"])
    assert view["case_owner"] == "chen"
    owner_entries = [h for h in view["history"] if h["action"] == "case.owner_assigned"]
    assert owner_entries[0]["actor"] == "chen" and owner_entries[0]["details"]["rule"] == "first_contact"


def test_later_officer_tasks_are_assigned_to_the_owner_automatically(engine, world):
    chen = world["chen"]
    case = report_case(engine, world["wang"])
    complete_as(engine, chen, case, "assess_case", {"resolution": "on_spot"})
    handle = task_of(engine, case, "handle_on_spot")
    assert (handle["state"], handle["assignee"]) == ("claimed", "chen")
    complete_as(engine, chen, case, "handle_on_spot", {"result": "resolved"})
    assert task_of(engine, case, "feedback_to_resident")["assignee"] == "chen"


def test_a_second_officer_cannot_take_the_owners_tasks(engine, world):
    wang, chen = world["wang"], world["chen"]
    case = report_case(engine, wang)
    complete_as(engine, wang, case, "assess_case", {"resolution": "on_spot"})
    handle = task_of(engine, case, "handle_on_spot")
    with pytest.raises(NotAssignee):
        engine.tasks.complete(handle["id"], chen, {"result": "resolved"})
    engine.tasks.unclaim(handle["id"], wang)  # even released, it stays the owner's
    with pytest.raises(OwnedByAnother):
        engine.tasks.claim(handle["id"], chen)
    assert engine.tasks.claim(handle["id"], wang)["assignee"] == "wang"


def test_officers_of_another_station_cannot_claim_the_case(engine, world):
    case = report_case(engine, world["wang"])
    with pytest.raises(NotCandidate):
        engine.tasks.claim(task_of(engine, case, "assess_case")["id"], world["liu"])


def test_escalation_never_moves_ownership(engine, world):
    wang, li, zhao = world["wang"], world["li"], world["zhao"]
    case = report_case(engine, wang)
    escalate(engine, wang, case, ["civil_affairs", "health"])
    complete_as(engine, li, case, "handle_civil_affairs", DEPARTMENT_RESULT)
    complete_as(engine, zhao, case, "handle_health", DEPARTMENT_RESULT)
    view = engine.runtime.get_instance(case["id"])
    assert view["case_owner"] == "wang"
    assert task_of(engine, case, "feedback_to_resident")["assignee"] == "wang"


def test_supervisor_reassigns_ownership_with_a_reason_and_it_is_audited(engine, world):
    wang, chen, zhou = world["wang"], world["chen"], world["zhou"]
    case = report_case(engine, wang)
    complete_as(engine, wang, case, "assess_case", {"resolution": "on_spot"})
    engine.tasks.reassign_case_owner(case["id"], zhou, "chen", "王警官休假 Officer Wang on leave")
    view = engine.runtime.get_instance(case["id"])
    assert view["case_owner"] == "chen"
    assert task_of(engine, case, "handle_on_spot")["assignee"] == "chen"
    entry = [h for h in view["history"] if h["action"] == "case.owner_reassigned"][-1]
    assert entry["actor"] == "zhou" and entry["details"]["reason"].startswith("王警官休假")
    complete_as(engine, chen, case, "handle_on_spot", {"result": "resolved"})
    assert task_of(engine, case, "feedback_to_resident")["assignee"] == "chen"


def test_reassigning_an_officer_task_moves_the_case_ownership(engine, world):
    wang, zhou = world["wang"], world["zhou"]
    case = report_case(engine, wang)
    complete_as(engine, wang, case, "assess_case", {"resolution": "on_spot"})
    engine.tasks.reassign(task_of(engine, case, "handle_on_spot")["id"], zhou, "chen", "工作调整")
    assert engine.runtime.get_instance(case["id"])["case_owner"] == "chen"


@pytest.mark.parametrize("who", ["wang", "chen", "li", "admin", "qian"])
def test_only_a_supervisor_of_the_station_reassigns_ownership(engine, world, who):
    case = report_case(engine, world["wang"])
    engine.tasks.claim(task_of(engine, case, "assess_case")["id"], world["wang"])
    with pytest.raises(Forbidden):
        engine.tasks.reassign_case_owner(case["id"], world[who], "chen", "no")
    assert engine.runtime.get_instance(case["id"])["case_owner"] == "wang"


def test_ownership_goes_only_to_an_officer_of_the_same_station(engine, world):
    case = report_case(engine, world["wang"])
    engine.tasks.claim(task_of(engine, case, "assess_case")["id"], world["wang"])
    with pytest.raises(InvalidInput):
        engine.tasks.reassign_case_owner(case["id"], world["zhou"], "liu", "跨所 other station")
    with pytest.raises(InvalidInput):
        engine.tasks.reassign_case_owner(case["id"], world["zhou"], "wang", "   ")


def test_department_task_reassignment_stays_within_the_department(engine, world):
    wang, zhou = world["wang"], world["zhou"]
    engine.identity.create_user("he", "liaison", "correct-horse-battery", ["civil_affairs"])
    case = report_case(engine, wang)
    escalate(engine, wang, case, ["civil_affairs"])
    task = task_of(engine, case, "handle_civil_affairs")
    with pytest.raises(InvalidInput):
        engine.tasks.reassign(task["id"], zhou, "zhao", "wrong department")
    assert engine.tasks.reassign(task["id"], zhou, "he", "李休假")["assignee"] == "he"
    assert engine.runtime.get_instance(case["id"])["case_owner"] == "wang"


@pytest.mark.parametrize("claimed_in", ["the process that started it", "another process"])
def test_the_first_claim_gives_the_owner_every_open_officer_task_of_the_case(
    engine, world, settings, clock, claimed_in
):
    from engine import Engine

    engine.repository.deploy([("twin.bpmn", models.two_officer_tasks())])
    chen = world["chen"]
    case = engine.runtime.start_instance("twin", world["wang"], {})
    visit = task_of(engine, case, "visit")
    # a process of its own has no cached workflow of the case: it reads the case's open officer tasks
    claimer = engine if claimed_in == "the process that started it" else Engine(settings, clock)
    try:
        claimer.tasks.claim(visit["id"], chen)
    finally:
        if claimer is not engine:
            claimer.close()
    call = task_of(engine, case, "call")
    assert (call["state"], call["assignee"]) == ("claimed", "chen")
    assert engine.runtime.get_instance(case["id"], history=False)["case_owner"] == "chen"
