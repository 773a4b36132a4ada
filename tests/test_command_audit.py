"""What each task and case command writes besides the change itself: exactly its audit rows (actor,
action, task, reason), its outbox events (type, task, payload) and its queue entries. Provenance lost
on the way (who completed, which task a personal record came from, a stale queue entry) fails here."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine.errors import TaskDelegated
from engine.identity import Actor
from engine.store.models import Timer
from tests import models
from tests.helpers import (
    PASSWORD,
    complete_as,
    database_rows,
    escalate,
    open_tasks,
    queue_of,
    report_case,
    rows_added,
    task_of,
)
from tests.test_permission_refusals import refused


def written(engine, before, case) -> tuple[list[tuple], list[tuple]]:
    """The audit rows and outbox events written since `before`, as comparable tuples."""
    audit = [
        (r["actor"], r["actor_id"], r["action"], r["instance_id"], r["task_id"], r["details"])
        for r in rows_added(engine, before, "audit_log")
    ]
    events = [(e["type"], e["instance_id"], e["task_id"], e["payload"]) for e in rows_added(engine, before, "outbox")]
    for entry in audit:
        assert entry[3] == case["id"]
    return audit, events


def ids(case, task_id=None) -> dict:
    keys = {"instance_id": case["id"], "business_key": case["business_key"]}
    return {**keys, "task_id": task_id} if task_id else keys


@pytest.fixture
def case(engine, world):
    return report_case(engine, world["wang"])


def test_the_first_claim_audits_the_claim_and_the_owner_and_empties_the_queue(engine, world, case):
    chen, task = world["chen"], task_of(engine, case, "assess_case")
    assert queue_of(engine, task["id"]) == {"officer"}
    before = database_rows(engine)
    claimed = engine.tasks.claim(task["id"], chen)
    assert (claimed["state"], claimed["assignee"]) == ("claimed", "chen")
    audit, events = written(engine, before, case)
    assert audit == [
        ("chen", chen.id, "task.claimed", case["id"], task["id"], {"element_id": "assess_case"}),
        ("chen", chen.id, "case.owner_assigned", case["id"], None, {"owner": "chen", "rule": "first_contact"}),
    ]
    assert events == [
        (
            "task.claimed",
            case["id"],
            task["id"],
            {**ids(case, task["id"]), "element_id": "assess_case", "assignee_id": chen.id},
        ),
        ("case.owner_changed", case["id"], None, {**ids(case), "owner_id": chen.id, "previous_owner_id": None}),
    ]
    assert queue_of(engine, task["id"]) == set()
    assert engine.runtime.get_instance(case["id"], history=False)["case_owner"] == "chen"


def test_claiming_what_one_holds_writes_nothing(engine, world, case):
    task = task_of(engine, case, "assess_case")
    engine.tasks.claim(task["id"], world["chen"])
    before = database_rows(engine)
    assert engine.tasks.claim(task["id"], world["chen"])["assignee"] == "chen"
    assert database_rows(engine) == before


def test_a_claim_on_an_owned_case_audits_no_new_owner(engine, world, case):
    wang = world["wang"]
    complete_as(engine, wang, case, "assess_case", {"resolution": "on_spot"})
    task = task_of(engine, case, "handle_on_spot")
    engine.tasks.unclaim(task["id"], wang)
    before = database_rows(engine)
    engine.tasks.claim(task["id"], wang)
    audit, events = written(engine, before, case)
    assert [a[2] for a in audit] == ["task.claimed"] and [e[0] for e in events] == ["task.claimed"]
    assert queue_of(engine, task["id"]) == set()


def test_release_audits_the_releaser_and_puts_the_task_back_in_its_queues(engine, world, case):
    zhou = world["zhou"]
    complete_as(engine, world["wang"], case, "assess_case", {"resolution": "on_spot"})
    task = task_of(engine, case, "handle_on_spot")
    before = database_rows(engine)
    engine.tasks.unclaim(task["id"], zhou)
    audit, events = written(engine, before, case)
    assert audit == [("zhou", zhou.id, "task.unclaimed", case["id"], task["id"], {"element_id": "handle_on_spot"})]
    assert events == [
        ("task.unclaimed", case["id"], task["id"], {**ids(case, task["id"]), "element_id": "handle_on_spot"})
    ]
    assert queue_of(engine, task["id"]) == {"officer"}


def test_completion_records_who_completed_the_fields_and_the_personal_record_of_the_task(engine, world, case):
    wang = world["wang"]
    complete_as(engine, wang, case, "assess_case", {"resolution": "on_spot"})
    complete_as(engine, wang, case, "handle_on_spot", {"result": "resolved"})
    task = task_of(engine, case, "feedback_to_resident")
    before = database_rows(engine)
    done = engine.tasks.complete(task["id"], wang, {"satisfaction": "satisfied", "comment": "谢谢 thanks"})
    assert (done["state"], done["completed_by"], done["completed_via"]) == ("completed", "wang", "form")
    assert done["outcome"] == {"satisfaction": "satisfied"}  # the personal comment is sealed, not here
    audit, events = written(engine, before, case)
    completed = [a for a in audit if a[2] == "task.completed"]
    assert completed == [
        (
            "wang",
            wang.id,
            "task.completed",
            case["id"],
            task["id"],
            {"element_id": "feedback_to_resident", "fields": ["satisfaction"], "personal_fields": ["comment"]},
        )
    ]
    assert (
        "task.completed",
        case["id"],
        task["id"],
        {**ids(case, task["id"]), "element_id": "feedback_to_resident", "via": "form"},
    ) in events
    [record] = rows_added(engine, before, "personal_records")
    assert (record["task_id"], record["source"]) == (task["id"], "feedback_to_resident")
    records = engine.runtime.personal_data(case["id"], wang, "test")
    assert [r["data"] for r in records if r["task_id"] == task["id"]] == [{"comment": "谢谢 thanks"}]
    assert engine.tasks.get_task(task["id"])["completed_by"] == "wang"


def test_completing_an_open_task_claims_it_for_the_completer_first(engine, world, case):
    chen, task = world["chen"], task_of(engine, case, "assess_case")
    before = database_rows(engine)
    done = engine.tasks.complete(task["id"], chen, {"resolution": "on_spot"})
    assert (done["completed_by"], done["assignee"]) == ("chen", "chen")
    audit, _events = written(engine, before, case)
    assert [(a[0], a[2], a[4]) for a in audit[:3]] == [
        ("chen", "task.claimed", task["id"]),
        ("chen", "case.owner_assigned", None),
        ("chen", "task.completed", task["id"]),
    ]
    assert queue_of(engine, task["id"]) == set()


def test_reassigning_a_department_task_audits_the_reason_and_the_new_assignee(engine, world, case):
    zhou = world["zhou"]
    he = engine.identity.create_user("he", "liaison", PASSWORD, ["civil_affairs"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    task = task_of(engine, case, "handle_civil_affairs")
    before = database_rows(engine)
    moved = engine.tasks.reassign(task["id"], zhou, "he", "  李休假 Li on leave  ")
    assert (moved["state"], moved["assignee"]) == ("claimed", "he")
    audit, events = written(engine, before, case)
    details = {"element_id": "handle_civil_affairs", "assignee": "he", "reason": "李休假 Li on leave"}
    assert audit == [("zhou", zhou.id, "task.reassigned", case["id"], task["id"], details)]
    assert events == [
        (
            "task.reassigned",
            case["id"],
            task["id"],
            {**ids(case, task["id"]), "element_id": "handle_civil_affairs", "assignee_id": he["id"]},
        )
    ]
    assert queue_of(engine, task["id"]) == set()
    assert engine.runtime.get_instance(case["id"], history=False)["case_owner"] == "wang"


@pytest.mark.parametrize("command", ["reassign the task", "reassign the owner"])
def test_moving_the_case_owner_audits_the_reason_and_the_previous_owner(engine, world, case, command):
    wang, chen, zhou = world["wang"], world["chen"], world["zhou"]
    complete_as(engine, wang, case, "assess_case", {"resolution": "on_spot"})
    task = task_of(engine, case, "handle_on_spot")
    before = database_rows(engine)
    if command == "reassign the task":
        engine.tasks.reassign(task["id"], zhou, "chen", "休假 on leave")
    else:
        moved = engine.tasks.reassign_case_owner(case["id"], zhou, "chen", "休假 on leave")
        assert moved["case_owner"] == "chen" and "history" not in moved  # the case, without its trail
    assert engine.runtime.get_instance(case["id"], history=False)["case_owner"] == "chen"
    audit, events = written(engine, before, case)
    details = {"owner": "chen", "previous_owner_id": wang.id, "reason": "休假 on leave"}
    assert audit == [("zhou", zhou.id, "case.owner_reassigned", case["id"], None, details)]
    assert sorted(events, key=lambda e: e[0]) == [
        ("case.owner_changed", case["id"], None, {**ids(case), "owner_id": chen.id, "previous_owner_id": wang.id}),
        (
            "task.reassigned",
            case["id"],
            task["id"],
            {**ids(case, task["id"]), "element_id": "handle_on_spot", "assignee_id": chen.id},
        ),
    ]
    assert task_of(engine, case, "handle_on_spot")["assignee"] == "chen"


def test_moving_the_case_owner_to_the_owner_writes_nothing(engine, world, case):
    complete_as(engine, world["wang"], case, "assess_case", {"resolution": "on_spot"})
    before = database_rows(engine)
    engine.tasks.reassign_case_owner(case["id"], world["zhou"], "wang", "no change")
    assert database_rows(engine) == before


def test_cancelling_audits_the_reason_closes_the_tasks_and_empties_their_queues(engine, world, case):
    zhou = world["zhou"]
    task = task_of(engine, case, "assess_case")
    before = database_rows(engine)
    engine.runtime.cancel_instance(case["id"], zhou, " 重复报案 duplicate ")
    audit, events = written(engine, before, case)
    assert ("zhou", zhou.id, "instance.cancelled", case["id"], None, {"reason": "重复报案 duplicate"}) in audit
    assert ("instance.cancelled", case["id"], None, {**ids(case), "process_key": "dispute_resolution"}) in events
    assert engine.tasks.get_task(task["id"])["state"] == "cancelled"
    assert queue_of(engine, task["id"]) == set()


def test_changing_variables_audits_their_names_and_the_reason(engine, world, case):
    admin = world["admin"]
    before = database_rows(engine)
    engine.runtime.update_variables(case["id"], admin, {"risk_level": "yellow"}, "typo")
    audit, events = written(engine, before, case)
    details = {"variables": ["risk_level"], "reason": "typo"}
    assert audit == [("admin", admin.id, "instance.variables_updated", case["id"], None, details)]
    assert engine.runtime.get_instance(case["id"], history=False)["variables"]["risk_level"] == "yellow"


def test_every_personal_data_read_is_audited_with_its_reader_and_purpose(engine, world, case):
    zhou = world["zhou"]
    before = database_rows(engine)
    records = engine.runtime.personal_data(case["id"], zhou, "回访 follow-up call")
    assert [r["source"] for r in records] == ["start"] and records[0]["task_id"] is None
    audit, events = written(engine, before, case)
    details = {"purpose": "回访 follow-up call", "records": 1}
    assert audit == [("zhou", zhou.id, "personal_data.read", case["id"], None, details)] and events == []


def queue_due_times(engine, task_id: str) -> set:
    from sqlalchemy import select

    from engine.store.models import TaskCandidate

    with engine.db.read() as session:
        return set(session.scalars(select(TaskCandidate.due_at).where(TaskCandidate.task_id == task_id)))


def test_a_released_task_is_queued_again_at_its_due_time(engine, world, case):
    task = task_of(engine, case, "assess_case")
    due = queue_due_times(engine, task["id"])
    assert len(due) == 1 and None not in due
    engine.tasks.claim(task["id"], world["wang"])
    engine.tasks.unclaim(task["id"], world["wang"])
    assert queue_due_times(engine, task["id"]) == due


def test_a_task_is_read_with_its_form_and_an_unknown_one_is_not_found(engine, world, case):
    from engine.errors import TaskNotFound

    complete_as(engine, world["wang"], case, "assess_case", {"resolution": "escalate", "departments": ["health"]})
    for task in engine.runtime.get_instance(case["id"], history=False)["open_tasks"]:
        read = engine.tasks.get_task(task["id"])
        assert (read["id"], read["element_id"], read["form_key"]) == (task["id"], task["element_id"], task["form_key"])
        assert read["form"] == engine.forms.get(task["form_key"]).schema
    missing = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(TaskNotFound, match=f"^task '{missing}' does not exist$"):
        engine.tasks.get_task(missing)


def test_closing_a_task_records_whether_its_deadline_was_met(engine, world, clock):
    wang = world["wang"]
    on_time, late = report_case(engine, wang), report_case(engine, wang)
    assert sorted(pending_sla_marks(engine, task_of(engine, on_time, "assess_case")["id"])) == [
        "sla_breach",
        "sla_warning",
    ]
    complete_as(engine, wang, on_time, "assess_case", {"resolution": "on_spot"})
    [met] = engine.tasks.query(instance_id=on_time["id"], state="completed")["items"]
    assert met["sla_state"] == "met"
    assert pending_sla_marks(engine, met["id"]) == []  # its warning and breach marks went with it
    task = task_of(engine, late, "assess_case")
    clock.set(datetime.fromisoformat(task["due_at"]) + timedelta(minutes=1))
    complete_as(engine, wang, late, "assess_case", {"resolution": "on_spot"})
    assert engine.tasks.get_task(task["id"])["sla_state"] == "missed"
    # a task cancelled after its due time missed it too
    handle = task_of(engine, on_time, "handle_on_spot")
    clock.set(datetime.fromisoformat(handle["due_at"]) + timedelta(minutes=1))
    engine.runtime.cancel_instance(on_time["id"], world["zhou"], "duplicate report")
    assert engine.tasks.get_task(handle["id"])["sla_state"] == "missed"


def test_a_department_result_by_message_completes_its_task_with_no_completer(engine, world, case):
    escalate(engine, world["wang"], case, ["civil_affairs"])
    civil = task_of(engine, case, "handle_civil_affairs")
    engine.runtime.correlate_message(
        "department_result",
        Actor.system("civil-system", department="civil_affairs"),
        instance_id=case["id"],
        payload={"outcome": "resolved", "summary": "已安排低保复核"},
    )
    done = engine.tasks.get_task(civil["id"])
    assert (done["state"], done["completed_via"], done["completed_by"]) == ("completed", "message", None)


def test_a_command_answers_with_the_task_and_its_form(engine, world, case):
    task = task_of(engine, case, "assess_case")
    claimed = engine.tasks.claim(task["id"], world["wang"])
    assert claimed["form"] == engine.forms.get("assess_case").schema
    assert claimed == engine.tasks.get_task(task["id"])


def test_a_command_answers_with_the_form_deployed_with_its_model_in_any_process(engine, world, settings, clock):
    from engine import Engine

    form = {"type": "object", "properties": {"verdict": {"type": "string"}}}  # in no forms/ file
    attrs = 'camunda:candidateGroups="officer" camunda:formKey="deployed_verdict"'
    engine.repository.deploy(
        [("own.bpmn", models.one_task(key="own_form", task_attrs=attrs))],
        world["admin"],
        forms={"deployed_verdict": form},
    )
    task = task_of(engine, engine.runtime.start_instance("own_form", world["wang"], {}), "review")
    assert engine.tasks.claim(task["id"], world["wang"])["form"] == form
    other = Engine(settings, clock)  # another process: the deployed forms read from the database
    try:
        assert other.tasks.unclaim(task["id"], world["wang"])["form"] == form
    finally:
        other.close()


def test_a_blank_opinion_is_no_opinion_and_a_written_one_is_kept(engine, world):
    wang = world["wang"]
    blank = report_case(engine, wang)
    engine.tasks.complete(task_of(engine, blank, "assess_case")["id"], wang, {"resolution": "on_spot"}, opinion=" \n ")
    assert engine.comments.list(blank["id"]) == []
    written_ = report_case(engine, wang)
    assessed = task_of(engine, written_, "assess_case")["id"]
    done = engine.tasks.complete(assessed, wang, {"resolution": "on_spot"}, opinion=" 同意 ")
    assert [(c["kind"], c["author"], c["text"], c["task_id"]) for c in engine.comments.list(written_["id"])] == [
        ("opinion", "wang", "同意", assessed)  # an opinion names the task it was given on
    ]
    # the answer names the tasks the completion opened (the feedback to the resident here)
    assert [t["element_id"] for t in done["next_tasks"]] == [t["element_id"] for t in open_tasks(engine, written_)]


def test_the_first_claim_leaves_an_officer_task_the_claimer_already_holds_as_it_is(engine, world, clock):
    # two officer tasks at once, one assigned by the model to wang: the case has no owner yet
    engine.repository.deploy([("pair.bpmn", models.two_officer_tasks("pair", visit='camunda:assignee="wang"'))])
    case = engine.runtime.start_instance("pair", world["wang"], {})
    visit = task_of(engine, case, "visit")
    assert (visit["assignee"], engine.runtime.get_instance(case["id"])["case_owner"]) == ("wang", None)
    clock.advance(minutes=5)
    before = database_rows(engine)
    engine.tasks.claim(task_of(engine, case, "call")["id"], world["wang"])
    _, events = written(engine, before, case)
    assert [e[0] for e in events] == ["task.claimed", "case.owner_changed"]  # visit is not handed over again
    assert engine.tasks.get_task(visit["id"])["claimed_at"] == visit["claimed_at"]


def test_a_task_without_a_form_completes_with_no_data(engine, world):
    engine.repository.deploy([("plain.bpmn", models.one_task())])
    case = engine.runtime.start_instance("approval", world["wang"], {})
    task = task_of(engine, case, "review")
    done = engine.tasks.complete(task["id"], world["wang"], None)
    assert (done["state"], done["outcome"]) == ("completed", {})


def pending_sla_marks(engine, task_id: str) -> list[str]:
    with engine.db.read() as scope:
        return list(scope.scalars(select(Timer.kind).where(Timer.task_id == task_id, Timer.status == "pending")))


def drafts(engine) -> list[tuple]:
    return [(row[0], row[2]) for row in database_rows(engine)["task_drafts"]]  # (task, user)


def test_a_holders_draft_goes_when_the_task_is_released_reassigned_or_completed(engine, world):
    wang, chen, zhou, li = world["wang"], world["chen"], world["zhou"], world["li"]
    case = report_case(engine, wang)
    escalate(engine, wang, case, ["civil_affairs"])
    task = engine.tasks.claim(task_of(engine, case, "handle_civil_affairs")["id"], li)["id"]
    engine.drafts.save(task, li, {"summary": "写了一半"})
    assert drafts(engine) == [(task, li.id)]
    engine.tasks.unclaim(task, li)
    assert drafts(engine) == []  # released: the next holder starts from an empty form
    other = report_case(engine, wang)
    assess = engine.tasks.claim(task_of(engine, other, "assess_case")["id"], wang)["id"]
    engine.drafts.save(assess, wang, {"resolution": "on_spot"})
    engine.tasks.reassign(assess, zhou, "chen", "王警官休假 on leave")
    assert drafts(engine) == []  # the new holder does not inherit it
    engine.drafts.save(assess, chen, {"resolution": "on_spot"})
    engine.tasks.complete(assess, chen, {"resolution": "on_spot"})
    assert drafts(engine) == []


def test_a_task_reassigned_to_its_own_holder_keeps_their_draft(engine, world):
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    li = world["li"]
    task = engine.tasks.claim(task_of(engine, case, "handle_civil_affairs")["id"], li)["id"]
    engine.drafts.save(task, li, {"summary": "写了一半"})
    engine.tasks.reassign(task, world["zhou"], "li", "仍由李处理 still li's")
    assert drafts(engine) == [(task, li.id)]  # the holder did not change: the draft is still theirs


def test_a_delegated_task_is_not_released_by_its_delegate(engine, world):
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    engine.identity.create_user("ma", "liaison", PASSWORD, ["civil_affairs"])
    task = engine.tasks.claim(task_of(engine, case, "handle_civil_affairs")["id"], world["li"])["id"]
    engine.tasks.delegate(task, world["li"], "ma", "please visit")
    says = "the task is delegated: resolve it back to its holder first"
    refused(engine, TaskDelegated, says, engine.tasks.unclaim, task, engine.identity.actor("ma"))


def test_a_task_view_shows_every_field_of_its_row_by_its_name(engine, world, case, clock):
    """Each field of the API's task view is the row's, under its own name: an urged, extended and
    completed department task has them all set."""
    from engine.store.models import HumanTask

    escalate(engine, world["wang"], case, ["civil_affairs"])
    task = engine.tasks.claim(task_of(engine, case, "handle_civil_affairs")["id"], world["li"])
    engine.tasks.urge(task["id"], world["wang"], "群众再次来电 called again")
    asked = datetime.fromisoformat(task["due_at"]) + timedelta(days=2)
    engine.tasks.request_extension(task["id"], world["li"], asked, "等待体检结果 waiting for a report")
    engine.tasks.decide_extension(task["id"], world["zhou"], True, "同意 agreed")
    pending = engine.tasks.request_extension(task["id"], world["li"], asked + timedelta(days=1), "再延一天")
    assert pending["delegated"] is False
    clock.advance(hours=1)
    view = engine.tasks.get_task(task["id"])
    with engine.db.read() as session:
        row = session.scalars(select(HumanTask).where(HumanTask.id == task["id"])).one()
    stamp = {c: (getattr(row, c).isoformat() if getattr(row, c) else None) for c in (
        "created_at", "claimed_at", "ended_at", "due_at", "warn_at", "follow_up_at", "urged_at",
        "extension_due_at", "extended_from")}  # fmt: skip
    assert all(stamp[c] for c in ("created_at", "claimed_at", "due_at", "warn_at", "urged_at")), stamp
    assert stamp["extension_due_at"] and stamp["extended_from"], stamp
    same = ("id", "instance_id", "business_key", "process_key", "element_id", "name", "lane", "station_id",
            "state", "candidate_groups", "candidate_users", "owner_task", "form_key", "priority",
            "completed_via", "outcome", "urge_count")  # fmt: skip
    assert "handler_name" in view.pop("form")["properties"]  # the task's form, with its view
    assert view == {
        **{c: getattr(row, c) for c in same},
        **stamp,
        "assignee": "li",
        "completed_by": None,
        "sla_state": "on_time",
        "delegated": False,
    }
    assert (view["urge_count"], view["process_key"], view["business_key"]) == (
        1,
        "dispute_resolution",
        case["business_key"],
    )
    assert view["station_id"] == world["wang"].station_id and view["candidate_groups"] == ["civil_affairs"]
