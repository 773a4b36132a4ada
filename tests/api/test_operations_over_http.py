"""Handling operations over HTTP (docs/operations.md): suspend, resume, terminate a case; each refusal
answers its status and error code and changes no row."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.api.conftest import error_of
from tests.helpers import DEPARTMENT_RESULT, PASSWORD, database_rows

REASON = {"reason": "等待法院开庭 waiting for the court date"}


@pytest.fixture
def reported(api):
    """A yellow case (assessment due in 12 hours), every caller logged in."""
    case = api.as_("wang").report(risk_level="yellow")
    for username in ("wang", "chen", "liu", "zhou", "qian", "li", "admin", "sun"):
        api.as_(username)
    return case


def operate(api, who: str, case, verb: str, body=None):
    return api.as_(who).post(f"/process-instances/{case['id']}/{verb}", REASON if body is None else body)


def test_suspend_then_resume_keeps_the_remaining_time(api, reported, clock):
    wang = api.as_("wang")
    due = datetime.fromisoformat(wang.task(reported, "assess_case")["due_at"])
    answer = operate(api, "zhou", reported, "suspend")
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "suspended"
    assert [t["state"] for t in wang.tasks(instance_id=reported["id"])] == ["suspended"]
    clock.advance(hours=5)
    answer = operate(api, "zhou", reported, "resume", {"reason": "法院已排期 court date set"})
    assert answer.status_code == 200 and answer.json["status"] == "running"
    task = wang.task(reported, "assess_case")
    assert datetime.fromisoformat(task["due_at"]) == due + timedelta(hours=5)
    actions = [h["action"] for h in wang.case(reported)["history"]]
    assert actions[-2:] == ["instance.suspended", "instance.resumed"]


def test_an_admin_terminates_a_suspended_case(api, reported):
    assert operate(api, "zhou", reported, "suspend").status_code == 200
    answer = operate(api, "admin", reported, "terminate", {"reason": "重复报案 duplicate"})
    assert answer.status_code == 200 and answer.json["status"] == "cancelled"


# caller, operation, body (None: a reason), status, error code; on a running case
REFUSALS = [
    ("wang", "suspend", None, 403, "forbidden"),
    ("li", "suspend", None, 403, "forbidden"),  # a liaison neither
    ("sun", "suspend", None, 403, "forbidden"),
    ("qian", "suspend", None, 404, "not_found"),  # another station's supervisor does not see the case
    ("zhou", "suspend", {"reason": "   "}, 422, "invalid_input"),
    ("zhou", "suspend", {}, 422, None),
    ("zhou", "resume", None, 409, "instance_not_suspended"),
    ("wang", "terminate", None, 403, "forbidden"),
]


@pytest.mark.parametrize(("caller", "verb", "body", "status", "code"), REFUSALS)
def test_refused_operations_change_nothing(api, engine, reported, caller, verb, body, status, code):
    who = api.as_(caller)
    before = database_rows(engine)
    error_of(who.post(f"/process-instances/{reported['id']}/{verb}", REASON if body is None else body), status, code)
    assert database_rows(engine) == before


def test_a_suspended_case_refuses_claims_completions_a_second_suspension_and_officers(api, engine, reported):
    task = api.as_("wang").task(reported, "assess_case")
    assert operate(api, "zhou", reported, "suspend").status_code == 200
    before = database_rows(engine)
    wang = api.as_("wang")
    error_of(wang.post(f"/tasks/{task['id']}/claim"), 409, "instance_suspended")
    error_of(wang.post(f"/tasks/{task['id']}/complete", {"data": {"resolution": "on_spot"}}), 409, "instance_suspended")
    error_of(operate(api, "zhou", reported, "suspend"), 409, "instance_not_running")
    error_of(operate(api, "wang", reported, "resume"), 403, "forbidden")
    assert database_rows(engine) == before


# --- urge ---------------------------------------------------------------------------------------------
def test_the_owner_urges_over_http_and_the_liaison_sees_the_flag(api, reported):
    wang = api.as_("wang")
    wang.complete(reported, "assess_case", {"resolution": "escalate", "departments": ["civil_affairs"]})
    task = wang.task(reported, "handle_civil_affairs")
    answer = wang.post(f"/tasks/{task['id']}/urge", {"reason": "群众再次来电"})
    assert answer.status_code == 200 and answer.json["urge_count"] == 1
    seen = api.as_("li").get(f"/tasks/{task['id']}").json["task"]
    assert (seen["urge_count"], seen["urged_at"]) == (1, answer.json["urged_at"])


@pytest.mark.parametrize(
    ("caller", "body", "status", "code"),
    [
        ("li", REASON, 403, "forbidden"),  # a liaison's role may not urge
        ("chen", REASON, 403, "forbidden"),  # an officer who does not own the case
        ("liu", REASON, 404, "not_found"),  # another station does not see it
        ("wang", {"reason": ""}, 422, "validation_failed"),
    ],
)
def test_refused_urges_change_nothing(api, engine, reported, caller, body, status, code):
    wang = api.as_("wang")
    wang.complete(reported, "assess_case", {"resolution": "escalate", "departments": ["civil_affairs"]})
    task = wang.task(reported, "handle_civil_affairs")
    who = api.as_(caller)
    before = database_rows(engine)
    error_of(who.post(f"/tasks/{task['id']}/urge", body), status, code)
    assert database_rows(engine) == before


# --- withdraw -----------------------------------------------------------------------------------------
def escalate_over_http(api, case) -> dict:
    wang = api.as_("wang")
    wang.complete(case, "assess_case", {"resolution": "escalate", "departments": ["civil_affairs"]})
    return wang.task(case, "handle_civil_affairs")


def test_the_escalating_officer_withdraws_over_http_before_and_not_after_a_claim(api, engine, reported):
    civil = escalate_over_http(api, reported)
    answer = api.as_("wang").post(f"/tasks/{civil['id']}/withdraw", {"reason": "补充信息"})
    assert answer.status_code == 200, answer.json
    assert (answer.json["element_id"], answer.json["state"], answer.json["assignee"]) == (
        "assess_case",
        "claimed",
        "wang",
    )
    civil = escalate_over_http(api, reported)
    assert api.as_("li").post(f"/tasks/{civil['id']}/claim").status_code == 200
    wang = api.as_("wang")
    before = database_rows(engine)
    error_of(wang.post(f"/tasks/{civil['id']}/withdraw", {"reason": "补充信息"}), 409, "task_already_claimed")
    assert database_rows(engine) == before


@pytest.mark.parametrize(
    ("caller", "status", "code"),
    [("li", 403, "forbidden"), ("chen", 403, "forbidden"), ("zhou", 403, "forbidden"), ("liu", 404, "not_found")],
)
def test_refused_withdrawals_change_nothing(api, engine, reported, caller, status, code):
    civil = escalate_over_http(api, reported)
    who = api.as_(caller)
    before = database_rows(engine)
    error_of(who.post(f"/tasks/{civil['id']}/withdraw", REASON), status, code)
    assert database_rows(engine) == before


# --- return -------------------------------------------------------------------------------------------
def test_the_department_returns_over_http_and_the_owner_reroutes(api, reported):
    civil = escalate_over_http(api, reported)
    li = api.as_("li")
    answer = li.post(f"/tasks/{civil['id']}/return", {"reason": "不属于民政职责"})
    assert answer.status_code == 200 and answer.json["state"] == "returned", answer.json
    wang = api.as_("wang")
    wang.complete(reported, "assess_case", {"resolution": "escalate", "departments": ["health"]})
    assert wang.task(reported, "handle_health")["state"] == "open"
    returned = wang.tasks(instance_id=reported["id"], state="returned")
    assert [t["id"] for t in returned] == [civil["id"]]


@pytest.mark.parametrize(
    ("caller", "body", "status", "code"),
    [
        ("zhao", REASON, 404, "not_found"),  # another department's liaison does not see it
        ("wang", REASON, 403, "not_candidate"),
        ("li", {"reason": ""}, 422, "validation_failed"),
        ("sun", REASON, 403, "forbidden"),
    ],
)
def test_refused_returns_change_nothing(api, engine, reported, caller, body, status, code):
    civil = escalate_over_http(api, reported)
    who = api.as_(caller)
    before = database_rows(engine)
    error_of(who.post(f"/tasks/{civil['id']}/return", body), status, code)
    assert database_rows(engine) == before


# --- transfer -----------------------------------------------------------------------------------------
def test_the_holder_transfers_over_http_and_a_stranger_is_refused(api, engine, reported):
    engine.identity.create_user("ma", "liaison", PASSWORD, ["civil_affairs"])
    civil = escalate_over_http(api, reported)
    li = api.as_("li")
    assert li.post(f"/tasks/{civil['id']}/claim").status_code == 200
    before = database_rows(engine)
    error_of(api.as_("wang").post(f"/tasks/{civil['id']}/transfer", {"user": "ma", **REASON}), 403, "not_assignee")
    error_of(li.post(f"/tasks/{civil['id']}/transfer", {"user": "zhao", **REASON}), 422, "invalid_input")
    assert database_rows(engine) == before
    answer = li.post(f"/tasks/{civil['id']}/transfer", {"user": "ma", **REASON})
    assert answer.status_code == 200 and answer.json["assignee"] == "ma"
    assert (answer.json["created_at"], answer.json["due_at"]) == (civil["created_at"], civil["due_at"])


# --- extension ----------------------------------------------------------------------------------------
def test_extension_requested_then_approved_over_http_and_refusals_change_nothing(api, engine, reported):
    civil = escalate_over_http(api, reported)
    li, zhou = api.as_("li"), api.as_("zhou")
    assert li.post(f"/tasks/{civil['id']}/claim").status_code == 200
    asked = (datetime.fromisoformat(civil["due_at"]) + timedelta(days=2)).isoformat()
    before = database_rows(engine)
    error_of(li.post(f"/tasks/{civil['id']}/extension", {"reason": "r", "due_at": "tomorrow"}), 422)
    error_of(li.post(f"/tasks/{civil['id']}/extension/approve", REASON), 403, "forbidden")
    error_of(zhou.post(f"/tasks/{civil['id']}/extension/approve", REASON), 409, "no_extension_requested")
    error_of(api.as_("qian").post(f"/tasks/{civil['id']}/extension/approve", REASON), 404, "not_found")
    assert database_rows(engine) == before
    answer = li.post(f"/tasks/{civil['id']}/extension", {"reason": "等待体检结果", "due_at": asked})
    assert answer.status_code == 200 and answer.json["extension_due_at"] == asked, answer.json
    error_of(li.post(f"/tasks/{civil['id']}/extension", {"reason": "again", "due_at": asked}), 409, "extension_pending")
    answer = zhou.post(f"/tasks/{civil['id']}/extension/approve", {"reason": "同意"})
    assert answer.status_code == 200
    assert (answer.json["due_at"], answer.json["extended_from"]) == (asked, civil["due_at"])


def test_extension_refused_over_http(api, reported):
    civil = escalate_over_http(api, reported)
    li = api.as_("li")
    assert li.post(f"/tasks/{civil['id']}/claim").status_code == 200
    asked = (datetime.fromisoformat(civil["due_at"]) + timedelta(days=2)).isoformat()
    assert li.post(f"/tasks/{civil['id']}/extension", {"reason": "r", "due_at": asked}).status_code == 200
    answer = api.as_("zhou").post(f"/tasks/{civil['id']}/extension/refuse", {"reason": "时限内可完成"})
    assert answer.status_code == 200 and (answer.json["due_at"], answer.json["extension_due_at"]) == (
        civil["due_at"],
        None,
    )


# --- delegate / resolve -------------------------------------------------------------------------------
def test_delegate_and_resolve_over_http(api, engine, reported):
    engine.identity.create_user("ma", "liaison", PASSWORD, ["civil_affairs"])
    civil = escalate_over_http(api, reported)
    li, ma = api.as_("li"), api.as_("ma")
    assert li.post(f"/tasks/{civil['id']}/claim").status_code == 200
    before = database_rows(engine)
    # a colleague's held task is not even visible to ma (docs/api.md), until it is delegated to ma
    error_of(ma.post(f"/tasks/{civil['id']}/delegate", {"user": "li", **REASON}), 404, "not_found")
    error_of(ma.post(f"/tasks/{civil['id']}/resolve", REASON), 404, "not_found")
    error_of(li.post(f"/tasks/{civil['id']}/resolve", REASON), 409, "task_not_delegated")
    assert database_rows(engine) == before
    answer = li.post(f"/tasks/{civil['id']}/delegate", {"user": "ma", **REASON})
    assert answer.status_code == 200 and (answer.json["assignee"], answer.json["delegated"]) == ("ma", True)
    error_of(ma.post(f"/tasks/{civil['id']}/complete", {"data": DEPARTMENT_RESULT}), 409, "task_delegated")
    answer = ma.post(f"/tasks/{civil['id']}/resolve", {"reason": "已入户核实"})
    assert answer.status_code == 200 and (answer.json["assignee"], answer.json["delegated"]) == ("li", False)
