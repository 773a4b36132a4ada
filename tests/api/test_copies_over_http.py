"""Copy (抄送) over HTTP (docs/operations.md): send, "copied to me", mark read; a copy never widens what
its recipient may read; every refusal answers its status and code and changes no row."""

from __future__ import annotations

import pytest

from tests.api.conftest import error_of
from tests.helpers import database_rows

REASON = "请社区知悉 for your information"


@pytest.fixture
def reported(api):
    wang = api.as_("wang")
    case = wang.report(risk_level="yellow")
    assert wang.post(f"/tasks/{wang.task(case, 'assess_case')['id']}/claim").status_code == 200  # wang owns it
    for username in ("wang", "chen", "liu", "zhou", "qian", "li", "zhao", "admin", "sun"):
        api.as_(username)
    return case


def copy(api, who: str, case, body):
    return api.as_(who).post(f"/process-instances/{case['id']}/copies", body)


def test_the_owner_copies_and_each_recipient_sees_only_what_their_role_may(api, reported):
    answer = copy(api, "wang", reported, {"reason": REASON, "users": ["li", "sun"], "groups": ["supervisor"]})
    assert answer.status_code == 201, answer.json
    assert answer.json["recipients"] == ["li", "sun", "zhou"]
    for who, may_open in (("zhou", True), ("li", False), ("sun", False)):
        listing = api.as_(who).get("/copies")
        assert listing.status_code == 200, listing.json
        [item] = listing.json["items"]
        assert listing.json["unread"] == 1
        assert (item["business_key"], item["copied_by"], item["reason"], item["may_open"]) == (
            reported["business_key"],
            "wang",
            REASON,
            may_open,
        )
    # the link answers as before: a liaison without a task of the case still does not see it
    error_of(api.as_("li").get(f"/process-instances/{reported['id']}"), 404, "not_found")
    assert api.as_("chen").get("/copies").json == {"items": [], "unread": 0}


def test_a_liaison_with_a_task_of_the_case_gets_the_link(api, reported):
    wang = api.as_("wang")
    wang.complete(reported, "assess_case", {"resolution": "escalate", "departments": ["civil_affairs"]})
    assert copy(api, "wang", reported, {"reason": REASON, "groups": ["civil_affairs"]}).status_code == 201
    [item] = api.as_("li").get("/copies").json["items"]
    assert item["may_open"] is True
    assert api.as_("li").get(f"/process-instances/{reported['id']}").status_code == 200


def test_the_recipient_marks_a_copy_read_and_the_timeline_says_it(api, reported):
    assert copy(api, "zhou", reported, {"reason": REASON, "users": ["chen"]}).status_code == 201
    chen = api.as_("chen")
    [item] = chen.get("/copies?unread=true").json["items"]
    answer = chen.post(f"/copies/{item['id']}/read")
    assert answer.status_code == 200, answer.json
    assert answer.json["read_at"] is not None and answer.json["may_open"] is True
    assert chen.get("/copies?unread=true").json == {"items": [], "unread": 0}
    actions = [h["action"] for h in api.as_("wang").case(reported)["history"]]
    assert actions[-2:] == ["case.copied", "case.copy_read"]


# caller, body, status, code; on a running case
REFUSALS = [
    ("chen", {"reason": REASON, "users": ["li"]}, 403, "forbidden"),  # an officer who does not own it
    ("li", {"reason": REASON, "users": ["chen"]}, 403, "forbidden"),  # a liaison's role may not copy
    ("admin", {"reason": REASON, "users": ["chen"]}, 403, "forbidden"),
    ("sun", {"reason": REASON, "users": ["chen"]}, 403, "forbidden"),
    ("qian", {"reason": REASON, "users": ["chen"]}, 404, "not_found"),  # another station does not see it
    ("liu", {"reason": REASON, "users": ["chen"]}, 404, "not_found"),
    ("wang", {"reason": "  ", "users": ["chen"]}, 422, "invalid_input"),
    ("wang", {"users": ["chen"]}, 422, None),
    ("wang", {"reason": REASON}, 422, "invalid_input"),
    ("wang", {"reason": REASON, "users": ["nobody"]}, 422, "invalid_input"),
    ("wang", {"reason": REASON, "users": ["wang"]}, 422, "invalid_input"),
    ("wang", {"reason": REASON, "groups": ["no_such_group"]}, 422, "invalid_input"),
    ("wang", {"reason": REASON, "users": "chen"}, 422, None),
    ("wang", {"reason": REASON, "users": ["chen"], "cc": ["x"]}, 422, None),
]


@pytest.mark.parametrize(("caller", "body", "status", "code"), REFUSALS)
def test_refused_copies_change_nothing(api, engine, reported, caller, body, status, code):
    who = api.as_(caller)
    before = database_rows(engine)
    error_of(who.post(f"/process-instances/{reported['id']}/copies", body), status, code)
    assert database_rows(engine) == before


def test_a_terminated_case_is_not_copied(api, engine, reported):
    assert api.as_("zhou").post(f"/process-instances/{reported['id']}/terminate", {"reason": "重复"}).status_code == 200
    before = database_rows(engine)
    error_of(copy(api, "wang", reported, {"reason": REASON, "users": ["chen"]}), 409, "instance_not_running")
    assert database_rows(engine) == before


def test_another_users_copy_is_not_found_and_stays_unread(api, engine, reported):
    assert copy(api, "wang", reported, {"reason": REASON, "users": ["chen"]}).status_code == 201
    [item] = api.as_("chen").get("/copies").json["items"]
    before = database_rows(engine)
    for who in ("wang", "zhou", "li"):
        error_of(api.as_(who).post(f"/copies/{item['id']}/read"), 404, "copy_not_found")
    error_of(api.as_("chen").get("/copies?unread=yes"), 400, "invalid_query")
    assert database_rows(engine) == before
