"""Copy (抄送): a read-only notice of a case to users and groups, the "copied to me" list and read
marks; every refusal leaves the database as it was (docs/operations.md)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.copies import MAX_RECIPIENTS
from engine.errors import CopyNotFound, Forbidden, InstanceNotRunning, InvalidInput
from engine.store.models import Department, Membership, User
from tests.helpers import database_rows, escalate, report_case, rows_added, task_of
from tests.test_permission_refusals import refused

REASON = "请民政局知悉 for the civil affairs bureau's information"


def owned_case(engine, world, **overrides):
    """A case wang reported and owns (the first claim of its officer task makes him the owner)."""
    case = report_case(engine, world["wang"], **overrides)
    engine.tasks.claim(task_of(engine, case, "assess_case")["id"], world["wang"])
    return case


@pytest.fixture
def case(engine, world):
    return owned_case(engine, world, risk_level="yellow")


def test_the_case_owner_copies_to_users_and_a_department_in_one_unit_of_work(engine, world, case):
    before = database_rows(engine)
    sent = engine.copies.send(case["id"], world["wang"], f"  {REASON} ", users=["chen", "li"], groups=["civil_affairs"])
    assert sent["recipients"] == ["chen", "li"]  # li named and a member of civil_affairs: copied once
    copies = rows_added(engine, before, "case_copies")
    assert sorted((c["recipient_id"], c["copied_by"], c["reason"], c["read_at"]) for c in copies) == sorted(
        [(world["chen"].id, "wang", REASON, None), (world["li"].id, "wang", REASON, None)]
    )
    audit = [(r["actor"], r["action"], r["details"]) for r in rows_added(engine, before, "audit_log")]
    assert audit == [
        (
            "wang",
            "case.copied",
            {"reason": REASON, "users": ["chen", "li"], "groups": ["civil_affairs"], "recipients": ["chen", "li"]},
        )
    ]
    [event] = rows_added(engine, before, "outbox")
    assert event["type"] == "case.copied"
    assert event["payload"]["copied_to_ids"] == sorted([world["chen"].id, world["li"].id])
    assert REASON not in str(event["payload"]) and "chen" not in str(event["payload"])  # ids only, no reason
    changed = {t for t, rows in database_rows(engine).items() if rows != before[t]}
    assert changed == {"case_copies", "audit_log", "outbox"}  # the case itself is untouched


def test_a_supervisor_copies_to_the_officers_of_the_station_not_to_themself_nor_another_station(engine, world, case):
    sent = engine.copies.send(case["id"], world["zhou"], REASON, groups=["officer"])
    assert sent["recipients"] == ["chen", "wang"]  # liu is dongfeng's
    refused(  # zhou is the station's only supervisor: nobody else in that group
        engine,
        InvalidInput,
        "group 'supervisor' has nobody to copy to",
        engine.copies.send,
        case["id"],
        world["zhou"],
        REASON,
        groups=["supervisor"],
    )


def test_a_suspended_case_may_be_copied(engine, world, case):
    engine.runtime.suspend_instance(case["id"], world["zhou"], "等待开庭")
    assert engine.copies.send(case["id"], world["wang"], REASON, users=["chen"])["recipients"] == ["chen"]


def test_the_recipient_lists_their_copies_newest_first_and_marks_one_read_once(engine, world, case, clock):
    other = owned_case(engine, world)
    engine.copies.send(case["id"], world["wang"], "first", users=["li"])
    clock.advance(minutes=5)
    engine.copies.send(other["id"], world["zhou"], "second", users=["li"])
    li = world["li"]
    mine = engine.copies.list_for(li)
    assert [(c["business_key"], c["copied_by"], c["reason"], c["read_at"]) for c in mine] == [
        (other["business_key"], "zhou", "second", None),
        (case["business_key"], "wang", "first", None),
    ]
    assert engine.copies.list_for(world["chen"]) == [] and engine.copies.unread_count(li) == 2
    assert mine[0] == {
        "id": mine[0]["id"],
        "instance_id": other["id"],
        "business_key": other["business_key"],
        "case_status": "running",
        "station": "xinqiao",
        "copied_by": "zhou",
        "reason": "second",
        "copied_at": clock.now().isoformat(),
        "read_at": None,
    }
    before = database_rows(engine)
    clock.advance(minutes=1)
    read = engine.copies.mark_read(mine[1]["id"], li)
    assert read["read_at"] == clock.now().isoformat()
    audit = [(r["actor"], r["instance_id"], r["action"], r["details"]) for r in rows_added(engine, before, "audit_log")]
    assert audit == [("li", case["id"], "case.copy_read", {"copy_id": mine[1]["id"]})]  # the copy's own case
    [event] = rows_added(engine, before, "outbox")
    assert event["type"] == "case.copy_read"
    assert (event["payload"]["copy_id"], event["payload"]["recipient_id"]) == (mine[1]["id"], li.id)
    assert [c["read_at"] is None for c in engine.copies.list_for(li)] == [True, False]  # read ones listed too
    again = database_rows(engine)
    clock.advance(minutes=1)
    assert engine.copies.mark_read(mine[1]["id"], li)["read_at"] == read["read_at"]  # the first read counts
    assert database_rows(engine) == again
    assert [c["business_key"] for c in engine.copies.list_for(li, unread=True)] == [other["business_key"]]
    assert engine.copies.unread_count(li) == 1


def test_a_liaison_reaches_a_copied_case_only_through_a_task_of_their_queue(engine, world, case):
    engine.copies.send(case["id"], world["wang"], REASON, users=["li", "zhao"])
    assert engine.copies.reachable_through_tasks(world["li"], [case["id"]]) == set()
    escalate(engine, world["wang"], case, ["civil_affairs"])
    assert engine.copies.reachable_through_tasks(world["li"], [case["id"]]) == {case["id"]}
    assert engine.copies.reachable_through_tasks(world["zhao"], [case["id"]]) == set()  # health's liaison


# caller, users, groups, reason, error, message
REFUSALS = [
    ("chen", ["li"], None, REASON, Forbidden, "only the case owner or a supervisor of the station may copy a case"),
    ("li", ["chen"], None, REASON, Forbidden, "only the case owner .*"),
    ("qian", ["li"], None, REASON, Forbidden, "only the case owner .*"),  # another station's supervisor
    ("admin", ["li"], None, REASON, Forbidden, "only the case owner .*"),
    ("wang", ["li"], None, "   ", InvalidInput, "a reason is required"),
    ("wang", None, None, REASON, InvalidInput, "name at least one user or group to copy to"),
    ("wang", [], [], REASON, InvalidInput, "name at least one user or group to copy to"),
    ("wang", ["nobody"], None, REASON, InvalidInput, "no active user named nobody"),
    ("wang", ["nobody", "li", "ghost"], None, REASON, InvalidInput, "no active user named nobody, ghost"),
    ("wang", ["wang"], None, REASON, InvalidInput, "you cannot copy a case to yourself"),
    ("wang", None, ["no_such_department"], REASON, InvalidInput, "group 'no_such_department' has nobody to copy to"),
    ("wang", "li", None, REASON, InvalidInput, "users must be a list of names"),
    ("wang", [""], None, REASON, InvalidInput, "users must be a list of names"),
    ("wang", ["li"] * 51, None, REASON, InvalidInput, "at most 50 users"),
]


# the 422's details, by message
DETAILS = {
    "no active user named nobody": [{"field": "users", "message": "unknown: nobody"}],
    "no active user named nobody, ghost": [{"field": "users", "message": "unknown: nobody"}],
    "you cannot copy a case to yourself": [{"field": "users", "message": "yourself"}],
    "group 'no_such_department' has nobody to copy to": [
        {"field": "groups", "message": "empty or unknown: no_such_department"}
    ],
}


@pytest.mark.parametrize(("caller", "users", "groups", "reason", "error", "says"), REFUSALS)
def test_refused_copies_change_nothing(engine, world, case, caller, users, groups, reason, error, says):
    found = refused(
        engine, error, says, engine.copies.send, case["id"], world[caller], reason, users=users, groups=groups
    )
    if says in DETAILS:
        assert found.details == DETAILS[says]


def test_an_inactive_user_is_not_copied(engine, world, case):
    engine.identity.update_user("chen", active=False)
    refused(
        engine,
        InvalidInput,
        "no active user named chen",
        engine.copies.send,
        case["id"],
        world["wang"],
        REASON,
        ["chen"],
    )


def test_a_closed_case_is_not_copied(engine, world, case):
    engine.runtime.cancel_instance(case["id"], world["zhou"], "重复报案")
    refused(
        engine,
        InstanceNotRunning,
        "the case is cancelled: it can no longer be copied",
        engine.copies.send,
        case["id"],
        world["wang"],
        REASON,
        ["chen"],
    )


def test_only_the_recipient_marks_a_copy_read(engine, world, case):
    engine.copies.send(case["id"], world["wang"], REASON, users=["li"])
    [copy] = engine.copies.list_for(world["li"])
    for someone in ("chen", "wang", "zhou"):
        refused(engine, CopyNotFound, "no copy .* for you", engine.copies.mark_read, copy["id"], world[someone])
    refused(
        engine,
        CopyNotFound,
        "no copy .* for you",
        engine.copies.mark_read,
        "0" * 8 + "-0000-4000-8000-" + "0" * 12,
        world["li"],
    )


def crowd(engine, department: str, count: int) -> None:
    """`count` more active liaisons of `department`, in one transaction (no password: nothing to hash)."""
    with engine.db.transaction() as scope:
        department_id = scope.scalar(select(Department.id).where(Department.key == department))
        start = len(scope.scalars(select(User.id)).all())
        users = [
            User(
                username=f"crowd{start + i}",
                display_name="crowd",
                role="liaison",
                active=True,
                created_at=engine.clock.now(),
            )
            for i in range(count)
        ]
        scope.add_all(users)
        scope.flush()
        scope.add_all([Membership(user_id=user.id, department_id=department_id) for user in users])


def test_a_copy_reaches_at_most_500_users(engine, world, case):
    crowd(engine, "civil_affairs", MAX_RECIPIENTS - 1)  # with li: exactly the limit
    sent = engine.copies.send(case["id"], world["wang"], REASON, groups=["civil_affairs"])
    assert len(sent["recipients"]) == MAX_RECIPIENTS == 500
    crowd(engine, "civil_affairs", 1)
    found = refused(
        engine,
        InvalidInput,
        "a copy reaches at most 500 users",
        engine.copies.send,
        case["id"],
        world["wang"],
        REASON,
        groups=["civil_affairs"],
    )
    assert found.details == [{"field": "groups", "message": "too many users"}]


def test_the_copied_to_me_list_shows_50_by_default_newest_first_ties_by_id(engine, world, case):
    for _ in range(51):  # at one time: the order among them is the id's
        engine.copies.send(case["id"], world["wang"], REASON, users=["li"])
    ids = sorted((row[0] for row in database_rows(engine)["case_copies"]), reverse=True)
    assert [c["id"] for c in engine.copies.list_for(world["li"])] == ids[:50]
    assert [c["id"] for c in engine.copies.list_for(world["li"], limit=60)] == ids
