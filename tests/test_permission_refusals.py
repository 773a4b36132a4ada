"""Every permission rule of the engine, refused: the right error, and not one row of any table changed
(task state, owner, queue entries, audit trail, outbox, personal records, the workflow itself).

The web layer adds its own checks (tests/api/test_refusals_over_http.py); these are the engine's, the
last guard whatever calls it (CLI, jobs, a future API).
"""

from __future__ import annotations

import re

import pytest

from engine.errors import (
    Forbidden,
    FormInvalid,
    InstanceNotFound,
    InstanceNotRunning,
    InvalidInput,
    NotAssignee,
    NotCandidate,
    OwnedByAnother,
    TaskAlreadyClaimed,
    TaskNotClaimed,
    TaskNotOpen,
    UserNotFound,
)
from tests.helpers import PASSWORD, complete_as, database_rows, escalate, open_tasks, queue_of, report_case, task_of
from tests.models import one_task


def refused(engine, error, says: str, command, *args, **kwargs):
    """Run a command that must be refused with `error` saying `says` (a regular expression the whole
    message matches); assert the database is exactly as before."""
    before = database_rows(engine)
    with pytest.raises(error) as raised:
        command(*args, **kwargs)
    assert type(raised.value) is error, raised.value
    assert re.fullmatch(says, str(raised.value)), str(raised.value)
    if isinstance(raised.value, InvalidInput):  # the 422's details: which field, and why
        assert raised.value.details and all(set(d) == {"field", "message"} for d in raised.value.details)
    assert database_rows(engine) == before
    return raised.value


NOT_OFFICER = [{"field": "user", "message": "not an officer of this station"}]


@pytest.fixture
def case(engine, world):
    return report_case(engine, world["wang"])


@pytest.fixture
def owned(engine, world, case):
    """wang owns the case and holds its handle_on_spot task."""
    complete_as(engine, world["wang"], case, "assess_case", {"resolution": "on_spot"})
    return case


@pytest.fixture
def escalated(engine, world, case):
    escalate(engine, world["wang"], case, ["civil_affairs"])
    return case


@pytest.fixture
def he(engine, world):
    """A second civil-affairs liaison."""
    engine.identity.create_user("he", "liaison", PASSWORD, ["civil_affairs"])
    return engine.identity.actor("he")


# --- claim -------------------------------------------------------------------------------------
def test_claiming_a_task_another_holds_is_refused(engine, world, case):
    task = task_of(engine, case, "assess_case")
    engine.tasks.claim(task["id"], world["chen"])
    refused(
        engine,
        TaskAlreadyClaimed,
        "the task was claimed by someone else",
        engine.tasks.claim,
        task["id"],
        world["wang"],
    )


def test_claiming_a_completed_task_is_refused(engine, world, case):
    task = task_of(engine, case, "assess_case")
    complete_as(engine, world["wang"], case, "assess_case", {"resolution": "on_spot"})
    refused(engine, TaskNotOpen, "the task is already completed", engine.tasks.claim, task["id"], world["wang"])


def test_an_officer_may_not_claim_a_released_task_of_a_case_another_owns(engine, world, owned):
    task = task_of(engine, owned, "handle_on_spot")
    engine.tasks.unclaim(task["id"], world["wang"])
    refused(
        engine,
        OwnedByAnother,
        "this case has an owner; its officer tasks are theirs",
        engine.tasks.claim,
        task["id"],
        world["chen"],
    )
    assert queue_of(engine, task["id"]) == {"officer"}


@pytest.mark.parametrize("who", ["liu", "li", "zhou", "qian", "admin", "sun"])
def test_only_an_officer_of_the_station_claims_an_officer_task(engine, world, case, who):
    refused(
        engine,
        NotCandidate,
        "you are not a candidate for this task",
        engine.tasks.claim,
        task_of(engine, case, "assess_case")["id"],
        world[who],
    )


@pytest.mark.parametrize("who", ["wang", "zhou", "zhao"])
def test_only_the_departments_liaisons_claim_a_department_task(engine, world, escalated, who):
    task = task_of(engine, escalated, "handle_civil_affairs")
    refused(engine, NotCandidate, "you are not a candidate for this task", engine.tasks.claim, task["id"], world[who])


@pytest.mark.parametrize("command", ["claim", "unclaim", "complete", "reassign"])
def test_the_callers_visibility_check_refuses_every_command_inside_its_transaction(engine, world, owned, command):
    seen = []

    def invisible(task):
        seen.append((task["id"], task["state"], task["assignee"]))
        raise Forbidden("not yours to see")

    task = task_of(engine, owned, "handle_on_spot")
    if command == "claim":
        engine.tasks.unclaim(task["id"], world["wang"])
    args = {
        "claim": (world["wang"],),
        "unclaim": (world["wang"],),
        "complete": (world["wang"], {"result": "resolved"}),
        "reassign": (world["zhou"], "chen", "r"),
    }[command]
    run = getattr(engine.tasks, command)
    refused(engine, Forbidden, "not yours to see", run, task["id"], *args, visible=invisible)
    expected = ("open", None) if command == "claim" else ("claimed", "wang")
    assert seen == [(task["id"], *expected)]  # the task as it was, seen inside the transaction


def test_claiming_a_department_task_of_a_case_without_owner_makes_nobody_the_owner(engine, world):
    engine.repository.deploy([("dept.bpmn", one_task("dept_first", 'camunda:candidateGroups="civil_affairs"'))])
    case = engine.runtime.start_instance("dept_first", world["wang"], {})
    task = task_of(engine, case, "review")
    engine.tasks.claim(task["id"], world["li"])
    view = engine.runtime.get_instance(case["id"])
    assert view["case_owner"] is None
    assert [h["action"] for h in view["history"] if h["action"].startswith("case.")] == []


# --- tasks without candidates go to the station's supervisors ----------------------------------
@pytest.fixture
def unassigned(engine, world):
    engine.repository.deploy([("nobody.bpmn", one_task("nobody", ""))])
    case = engine.runtime.start_instance("nobody", world["wang"], {})
    return task_of(engine, case, "review")


def test_a_task_without_candidates_waits_in_the_supervisors_queue(engine, world, unassigned):
    assert queue_of(engine, unassigned["id"]) == {"supervisor"}
    assert [t["id"] for t in engine.tasks.query(world["zhou"], candidate="me")["items"]] == [unassigned["id"]]
    assert engine.tasks.claim(unassigned["id"], world["zhou"])["assignee"] == "zhou"


@pytest.mark.parametrize("who", ["wang", "qian", "li", "admin"])
def test_a_task_without_candidates_is_claimed_only_by_a_supervisor_of_the_station(engine, world, unassigned, who):
    refused(
        engine, NotCandidate, "you are not a candidate for this task", engine.tasks.claim, unassigned["id"], world[who]
    )


# --- unclaim -----------------------------------------------------------------------------------
def test_releasing_an_open_task_is_refused(engine, world, case):
    refused(
        engine,
        TaskNotClaimed,
        "the task is not claimed",
        engine.tasks.unclaim,
        task_of(engine, case, "assess_case")["id"],
        world["wang"],
    )


@pytest.mark.parametrize("who", ["chen", "liu", "li", "qian", "admin", "sun"])
def test_only_the_assignee_or_a_supervisor_of_the_station_releases_a_task(engine, world, owned, who):
    task = task_of(engine, owned, "handle_on_spot")
    refused(
        engine,
        NotAssignee,
        "only the assignee or a supervisor of the station may release the task",
        engine.tasks.unclaim,
        task["id"],
        world[who],
    )


def test_a_liaison_may_not_release_another_liaisons_department_task(engine, world, escalated, he):
    task = task_of(engine, escalated, "handle_civil_affairs")
    engine.tasks.claim(task["id"], world["li"])
    refused(
        engine,
        NotAssignee,
        "only the assignee or a supervisor of the station may release the task",
        engine.tasks.unclaim,
        task["id"],
        he,
    )


def test_a_supervisor_of_the_station_releases_an_officers_task_back_to_the_queue(engine, world, owned):
    task = task_of(engine, owned, "handle_on_spot")
    released = engine.tasks.unclaim(task["id"], world["zhou"])
    assert (released["state"], released["assignee"], released["claimed_at"]) == ("open", None, None)
    assert queue_of(engine, task["id"]) == {"officer"}


# --- complete ----------------------------------------------------------------------------------
def test_completing_a_completed_task_is_refused(engine, world, case):
    task = task_of(engine, case, "assess_case")
    complete_as(engine, world["wang"], case, "assess_case", {"resolution": "on_spot"})
    refused(
        engine,
        TaskNotOpen,
        "the task is already completed",
        engine.tasks.complete,
        task["id"],
        world["wang"],
        {"resolution": "on_spot"},
    )


@pytest.mark.parametrize("who", ["chen", "zhou", "li"])
def test_only_the_assignee_completes_a_claimed_task(engine, world, owned, who):
    task = task_of(engine, owned, "handle_on_spot")
    refused(
        engine,
        NotAssignee,
        "the task is assigned to someone else",
        engine.tasks.complete,
        task["id"],
        world[who],
        {"result": "resolved"},
    )


@pytest.mark.parametrize("who", ["liu", "li", "zhou", "admin"])
def test_completing_an_open_task_one_may_not_claim_is_refused_and_leaves_it_unclaimed(engine, world, case, who):
    task = task_of(engine, case, "assess_case")
    refused(
        engine,
        NotCandidate,
        "you are not a candidate for this task",
        engine.tasks.complete,
        task["id"],
        world[who],
        {"resolution": "on_spot"},
    )


def test_completing_an_open_task_of_an_owned_case_is_refused_to_another_officer(engine, world, owned):
    task = task_of(engine, owned, "handle_on_spot")
    engine.tasks.unclaim(task["id"], world["wang"])
    refused(
        engine,
        OwnedByAnother,
        "this case has an owner; its officer tasks are theirs",
        engine.tasks.complete,
        task["id"],
        world["chen"],
        {"result": "resolved"},
    )


@pytest.mark.parametrize(
    "data", [{}, {"resolution": "sideways"}, {"resolution": "on_spot", "extra": 1}, ["resolution"]], ids=repr
)
def test_invalid_form_data_is_refused_and_the_task_is_not_even_claimed(engine, world, case, data):
    task = task_of(engine, case, "assess_case")
    refused(
        engine,
        FormInvalid,
        "form 'assess_case' has invalid fields|form data must be a JSON object",
        engine.tasks.complete,
        task["id"],
        world["wang"],
        data,
    )


@pytest.mark.parametrize("data", [{"anything": 1}, ["x"]], ids=repr)
def test_a_task_without_a_form_refuses_data(engine, world, unassigned, data):
    error = refused(
        engine,
        InvalidInput,
        "this task has no form: send no data|data must be a JSON object",
        engine.tasks.complete,
        unassigned["id"],
        world["zhou"],
        data,
    )
    if isinstance(data, dict):
        assert error.details == [{"field": "anything", "message": "unknown field"}]
    else:
        assert error.details == [{"field": None, "message": "not an object"}]


# --- reassign a task ---------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["wang", "chen", "li", "admin", "sun", "qian"])
def test_only_a_supervisor_of_the_station_reassigns_a_task(engine, world, escalated, he, who):
    task = task_of(engine, escalated, "handle_civil_affairs")
    refused(
        engine,
        Forbidden,
        "only a supervisor of the case's station may reassign its tasks",
        engine.tasks.reassign,
        task["id"],
        world[who],
        "he",
        "休假 on leave",
    )


@pytest.mark.parametrize("reason", ["", "   ", None, "x" * 1001], ids=["empty", "blank", "none", "too-long"])
def test_a_reassignment_needs_a_reason(engine, world, escalated, he, reason):
    task = task_of(engine, escalated, "handle_civil_affairs")
    error = refused(
        engine,
        InvalidInput,
        "a reason is required|the reason is longer than 1000 characters",
        engine.tasks.reassign,
        task["id"],
        world["zhou"],
        "he",
        reason,
    )
    assert error.details[0]["field"] == "reason"


def test_a_task_goes_only_to_an_existing_active_user(engine, world, escalated, he):
    task = task_of(engine, escalated, "handle_civil_affairs")
    refused(
        engine,
        UserNotFound,
        "user 'nobody' does not exist",
        engine.tasks.reassign,
        task["id"],
        world["zhou"],
        "nobody",
        "r",
    )
    engine.identity.update_user("he", active=False)
    refused(
        engine, UserNotFound, "user 'he' does not exist", engine.tasks.reassign, task["id"], world["zhou"], "he", "r"
    )


def test_a_department_task_goes_only_to_a_candidate(engine, world, escalated):
    task = task_of(engine, escalated, "handle_civil_affairs")
    error = refused(
        engine,
        InvalidInput,
        "'zhao' is not a candidate for this task",
        engine.tasks.reassign,
        task["id"],
        world["zhou"],
        "zhao",
        "r",
    )
    assert error.details == [{"field": "user", "message": "not in the task's groups"}]


def test_a_closed_task_is_not_reassigned(engine, world, case):
    task = task_of(engine, case, "assess_case")
    complete_as(engine, world["wang"], case, "assess_case", {"resolution": "on_spot"})
    refused(
        engine,
        TaskNotOpen,
        "the task is already completed",
        engine.tasks.reassign,
        task["id"],
        world["zhou"],
        "chen",
        "r",
    )


@pytest.mark.parametrize("who", ["liu", "zhou", "li"])
def test_reassigning_an_officer_task_moves_ownership_only_to_an_officer_of_the_station(engine, world, owned, who):
    task = task_of(engine, owned, "handle_on_spot")
    error = refused(
        engine,
        InvalidInput,
        "the new owner must be an officer of the case's station",
        engine.tasks.reassign,
        task["id"],
        world["zhou"],
        who,
        "r",
    )
    assert error.details == NOT_OFFICER


# --- reassign the case owner -------------------------------------------------------------------
@pytest.mark.parametrize("who", ["wang", "chen", "li", "admin", "sun", "qian"])
def test_only_a_supervisor_of_the_station_moves_the_case_owner(engine, world, owned, who):
    refused(
        engine,
        Forbidden,
        "only a supervisor of the case's station may reassign its owner",
        engine.tasks.reassign_case_owner,
        owned["id"],
        world[who],
        "chen",
        "r",
    )


@pytest.mark.parametrize("who", ["liu", "zhou", "li", "nobody"])
def test_the_case_owner_is_an_active_officer_of_the_station(engine, world, owned, who):
    expected = UserNotFound if who == "nobody" else InvalidInput
    error = refused(
        engine,
        expected,
        "the new owner must be an officer of the case's station|user 'nobody' does not exist",
        engine.tasks.reassign_case_owner,
        owned["id"],
        world["zhou"],
        who,
        "r",
    )
    assert who == "nobody" or error.details == NOT_OFFICER


@pytest.mark.parametrize("reason", ["", "  \n ", None])
def test_moving_the_case_owner_needs_a_reason(engine, world, owned, reason):
    refused(
        engine,
        InvalidInput,
        "a reason is required",
        engine.tasks.reassign_case_owner,
        owned["id"],
        world["zhou"],
        "chen",
        reason,
    )


def test_the_owner_of_a_closed_case_stays(engine, world, owned):
    engine.runtime.cancel_instance(owned["id"], world["zhou"], "重复报案 duplicate")
    refused(
        engine,
        TaskNotOpen,
        "the case is cancelled",
        engine.tasks.reassign_case_owner,
        owned["id"],
        world["zhou"],
        "chen",
        "r",
    )


# --- cancel a case -----------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["wang", "chen", "li", "sun", "qian"])
def test_only_an_admin_or_a_supervisor_of_the_station_cancels_a_case(engine, world, owned, who):
    refused(
        engine,
        Forbidden,
        "only a supervisor or an admin may cancel a case|a supervisor cancels only the cases of their station",
        engine.runtime.cancel_instance,
        owned["id"],
        world[who],
        "duplicate",
    )


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_cancelling_a_case_needs_a_reason(engine, world, owned, reason):
    refused(
        engine, InvalidInput, "a reason is required", engine.runtime.cancel_instance, owned["id"], world["zhou"], reason
    )


def test_a_closed_case_is_not_cancelled_again(engine, world, owned):
    engine.runtime.cancel_instance(owned["id"], world["admin"], "duplicate")
    cancel = engine.runtime.cancel_instance
    refused(engine, InstanceNotRunning, "instance .+ is cancelled", cancel, owned["id"], world["zhou"], "again")


# --- repair a case's variables -----------------------------------------------------------------
@pytest.mark.parametrize("who", ["wang", "zhou", "li", "sun"])
def test_only_an_admin_changes_a_cases_variables(engine, world, owned, who):
    refused(
        engine,
        Forbidden,
        "only an admin may change a case's variables",
        engine.runtime.update_variables,
        owned["id"],
        world[who],
        {"risk_level": "blue"},
        "r",
    )


@pytest.mark.parametrize("variables", [{}, [], "risk_level", {"x": float("nan")}, {"x": {1, 2}}], ids=repr)
def test_variables_must_be_a_non_empty_json_object(engine, world, owned, variables):
    refused(
        engine,
        InvalidInput,
        "variables must be a non-empty JSON object|data must be plain JSON",
        engine.runtime.update_variables,
        owned["id"],
        world["admin"],
        variables,
        "r",
    )


@pytest.mark.parametrize("reason", ["", "\t", None])
def test_changing_variables_needs_a_reason(engine, world, owned, reason):
    refused(
        engine,
        InvalidInput,
        "a reason is required",
        engine.runtime.update_variables,
        owned["id"],
        world["admin"],
        {"a": 1},
        reason,
    )


def test_a_closed_cases_variables_stay(engine, world, owned):
    engine.runtime.cancel_instance(owned["id"], world["admin"], "duplicate")
    refused(
        engine,
        InstanceNotRunning,
        "instance .+ is cancelled",
        engine.runtime.update_variables,
        owned["id"],
        world["admin"],
        {"a": 1},
        "r",
    )


# --- personal data -----------------------------------------------------------------------------
def test_reading_the_personal_data_of_an_unknown_case_is_refused_and_not_audited(engine, world):
    missing = "00000000-0000-4000-8000-000000000000"
    refused(
        engine,
        InstanceNotFound,
        "process instance '00000000-0000-4000-8000-000000000000' does not exist",
        engine.runtime.personal_data,
        missing,
        world["zhou"],
        "case view",
    )


def test_a_task_its_interrupting_timer_closed_is_not_completed(engine, world, clock):
    """The timer fell due before the officer pressed complete: the timer wins, the completion is refused
    with its sentence and changes nothing, and the case goes the timer's way."""
    from engine.errors import TaskNotOpen
    from tests import models

    engine.repository.deploy([("timed.bpmn", models.timed("PT1H", attached="task"))], world["zhou"])
    case = engine.runtime.start_instance("timed", world["wang"], {})
    review = engine.tasks.claim(task_of(engine, case, "review")["id"], world["wang"])
    clock.advance(hours=1, seconds=1)
    says = r"the task is no longer ready \(a timer or message closed it\)"
    refused(engine, TaskNotOpen, says, engine.tasks.complete, review["id"], world["wang"], {})
    engine.timers.fire_due()  # the sweeper's turn: the case goes the timer's way
    assert engine.tasks.get_task(review["id"])["state"] != "completed"
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["escalated"]


def test_an_unknown_task_is_refused_by_its_id_and_a_suspended_cases_task_says_why(engine, world):
    from engine.errors import InstanceSuspended, TaskNotFound

    wang, zhou = world["wang"], world["zhou"]
    for command, args in (
        (engine.tasks.claim, (wang,)),
        (engine.tasks.unclaim, (wang,)),
        (engine.tasks.complete, (wang, {})),
        (engine.tasks.reassign, (zhou, "chen", "r")),
    ):
        refused(engine, TaskNotFound, "task 'no-such-task' does not exist", command, "no-such-task", *args)
    case = report_case(engine, wang)
    engine.runtime.suspend_instance(case["id"], zhou, "等待法院开庭 waiting for the court")
    task = case["open_tasks"][0]
    says = "the case is suspended: its tasks wait until a supervisor resumes it"
    refused(engine, InstanceSuspended, says, engine.tasks.claim, task["id"], wang)
