"""Every access rule of docs/api.md, each with its negative: wrong role (403), other station or
department (404: the caller may not know the object exists)."""

from __future__ import annotations

import pytest

from tests.api.conftest import error_of
from tests.helpers import DEPARTMENT_RESULT


@pytest.fixture
def case(api):
    return api.as_("wang").report()


@pytest.fixture
def escalated(api, case):
    api.as_("wang").complete(case, "assess_case", {"resolution": "escalate", "departments": ["civil_affairs"]})
    return case


# --- officer -----------------------------------------------------------------------------------
def test_officer_of_another_station_gets_404_for_the_case_and_its_tasks(api, case):
    liu = api.as_("liu")
    error_of(liu.get(f"/process-instances/{case['id']}"), 404, "not_found")
    task = api.as_("wang").task(case, "assess_case")
    error_of(liu.get(f"/tasks/{task['id']}"), 404)
    error_of(liu.post(f"/tasks/{task['id']}/claim"), 404)
    error_of(liu.post(f"/tasks/{task['id']}/complete", {"data": {"resolution": "on_spot"}}), 404)
    assert liu.tasks() == [] and liu.get("/process-instances").json["items"] == []


def test_officer_lists_only_the_cases_of_their_station(api, case):
    api.as_("liu").report()
    listed = api.as_("chen").get("/process-instances").json["items"]
    assert [c["id"] for c in listed] == [case["id"]]


def test_officer_may_not_claim_a_department_task_of_their_own_station(api, escalated):
    wang = api.as_("wang")
    task = wang.task(escalated, "handle_civil_affairs")  # the owner sees it and its deadline
    error_of(wang.post(f"/tasks/{task['id']}/claim"), 403, "not_candidate")


def test_another_officer_may_not_take_an_owned_case_task(api, case):
    wang, chen = api.as_("wang"), api.as_("chen")
    wang.complete(case, "assess_case", {"resolution": "on_spot"})
    task = chen.task(case, "handle_on_spot")
    assert task["assignee"] == "wang"
    error_of(chen.post(f"/tasks/{task['id']}/complete", {"data": {"result": "resolved"}}), 403, "not_assignee")


@pytest.mark.parametrize("role_user", ["wang", "li", "admin", "sun"])
def test_only_a_supervisor_reassigns(api, case, role_user):
    task = api.as_("wang").task(case, "assess_case")
    caller = api.as_(role_user)
    error_of(caller.post(f"/tasks/{task['id']}/assignee", {"user": "chen", "reason": "r"}), 403)
    error_of(caller.post(f"/process-instances/{case['id']}/case-owner", {"user": "chen", "reason": "r"}), 403)


@pytest.mark.parametrize("role_user", ["wang", "li", "sun"])
def test_officers_liaisons_and_auditors_may_not_cancel(api, case, role_user):
    error_of(api.as_(role_user).post(f"/process-instances/{case['id']}/cancel", {"reason": "r"}), 403)


# --- supervisor --------------------------------------------------------------------------------
def test_supervisor_of_another_station_gets_404_and_cannot_cancel_or_reassign(api, case):
    qian = api.as_("qian")
    error_of(qian.get(f"/process-instances/{case['id']}"), 404)
    error_of(qian.post(f"/process-instances/{case['id']}/cancel", {"reason": "r"}), 404)
    error_of(qian.post(f"/process-instances/{case['id']}/case-owner", {"user": "liu", "reason": "r"}), 404)
    task = api.as_("wang").task(case, "assess_case")
    error_of(qian.post(f"/tasks/{task['id']}/assignee", {"user": "liu", "reason": "r"}), 404)


def test_supervisor_sees_every_case_of_the_station_with_personal_data_in_clear(api, case):
    seen = api.as_("zhou").case(case)
    assert seen["personal_data"]["visibility"] == "clear"
    assert seen["personal_data"]["records"][0]["data"]["parties"][0]["name"] == "刘桂兰"


# --- liaison -----------------------------------------------------------------------------------
def test_liaison_of_another_department_gets_404_for_the_task_and_403_for_its_queue(api, escalated):
    zhao = api.as_("zhao")
    task = api.as_("li").task(escalated, "handle_civil_affairs")
    error_of(zhao.get(f"/tasks/{task['id']}"), 404)
    error_of(zhao.post(f"/tasks/{task['id']}/claim"), 404)
    error_of(zhao.get(f"/process-instances/{escalated['id']}"), 404)
    error_of(zhao.get("/tasks", query_string={"group": "civil_affairs"}), 403)
    assert zhao.tasks() == []


def test_liaison_sees_no_officer_tasks_and_may_not_list_cases(api, case):
    li = api.as_("li")
    assert li.tasks() == []
    task = api.as_("wang").task(case, "assess_case")
    error_of(li.get(f"/tasks/{task['id']}"), 404)
    error_of(li.get(f"/process-instances/{case['id']}"), 404)
    error_of(li.get("/process-instances"), 403)
    error_of(li.post("/process-instances", {"definition_key": "dispute_resolution", "variables": {}}), 403)


def test_liaison_sees_only_the_fields_the_department_task_needs_masked_until_claimed(api, escalated):
    li = api.as_("li")
    task = li.task(escalated, "handle_civil_affairs")
    before = li.get(f"/tasks/{task['id']}").json
    assert set(before["case"]["variables"]) <= {
        "category",
        "risk_level",
        "description",
        "source",
        "community",
        "assessment",
        "departments",
    }
    assert "reopen_count" not in before["case"]["variables"]
    assert before["form"]["title"].startswith("部门处置结果")
    personal = before["case"]["personal_data"]
    assert personal["visibility"] == "masked"
    assert personal["records"][0]["data"]["parties"][0]["name"] == "刘*兰"
    li.post(f"/tasks/{task['id']}/claim")
    after = li.get(f"/tasks/{task['id']}").json["case"]["personal_data"]
    assert after["visibility"] == "clear" and after["records"][0]["data"]["parties"][0]["phone"] == "13912345678"
    view = li.case(escalated)
    assert "history" not in view
    assert [t["element_id"] for t in view["open_tasks"]] == ["handle_civil_affairs"]


def test_liaison_may_report_only_for_their_own_department(api, escalated):
    li = api.as_("li")
    error_of(
        li.post(
            "/messages",
            {
                "name": "department_result",
                "instance_id": escalated["id"],
                "department": "health",
                "payload": DEPARTMENT_RESULT,
            },
        ),
        403,
    )


# --- officers and personal data -----------------------------------------------------------------
def test_owner_sees_personal_fields_in_clear_another_officer_masked_and_reads_are_audited(api, case, engine):
    wang, chen = api.as_("wang"), api.as_("chen")
    clear = wang.case(case)["personal_data"]
    masked = chen.case(case)["personal_data"]
    assert clear["visibility"] == "clear" and masked["visibility"] == "masked"
    party = masked["records"][0]["data"]["parties"][0]
    assert party == {"name": "刘*兰", "id_number": "110101********123X", "phone": "139****5678", "role": "applicant"}
    assert "11010119450101123X" not in chen.get(f"/process-instances/{case['id']}").get_data(as_text=True)
    reads = [e for e in engine.history.audit_trail(instance_id=case["id"]) if e["action"] == "personal_data.read"]
    assert [(e["actor"], e["details"]["purpose"]) for e in reads] == [
        ("wang", "case view"),
        ("chen", "masked case view"),
        ("chen", "masked case view"),
    ]


def test_an_officer_who_worked_a_task_of_the_case_sees_it_in_clear(api, case):
    zhou, chen = api.as_("zhou"), api.as_("chen")
    task = chen.task(case, "assess_case")
    zhou.post(f"/tasks/{task['id']}/assignee", {"user": "chen", "reason": "就近"})
    assert chen.case(case)["personal_data"]["visibility"] == "clear"


def test_lists_never_carry_personal_data(api, case):
    body = api.as_("wang").get("/process-instances").get_data(as_text=True)
    assert "刘桂兰" not in body and "13912345678" not in body
    assert "刘桂兰" not in api.as_("wang").get("/tasks").get_data(as_text=True)


# --- admin -------------------------------------------------------------------------------------
def test_admin_has_no_case_data_but_may_cancel(api, case):
    admin = api.as_("admin")
    error_of(admin.get("/process-instances"), 403)
    error_of(admin.get(f"/process-instances/{case['id']}"), 403)
    error_of(admin.get("/tasks"), 403)
    error_of(admin.post("/process-instances", {"definition_key": "dispute_resolution", "variables": {}}), 403)
    cancelled = admin.post(f"/process-instances/{case['id']}/cancel", {"reason": "测试数据"})
    assert cancelled.status_code == 200
    assert "variables" not in cancelled.json and cancelled.json["status"] == "cancelled"


@pytest.mark.parametrize("role_user", ["wang", "li", "zhou", "sun"])
def test_only_an_admin_deploys_and_manages_users_departments_and_tokens(api, role_user):
    caller = api.as_(role_user)
    error_of(caller.post("/process-definitions", data=b"<x/>", content_type="application/xml"), 403)
    error_of(caller.get("/users"), 403)
    error_of(caller.post("/users", {"username": "x1", "role": "auditor", "password": "long-enough"}), 403)
    error_of(caller.post("/departments", {"key": "urban", "name": "城管", "kind": "agency"}), 403)
    error_of(caller.get("/api-tokens"), 403)
    error_of(caller.post("/api-tokens", {"department": "health"}), 403)


# --- auditor -----------------------------------------------------------------------------------
def test_auditor_reads_the_audit_trail_and_changes_nothing(api, case):
    sun = api.as_("sun")
    trail = sun.get("/audit-trail", query_string={"instance_id": case["id"]})
    assert trail.status_code == 200
    assert trail.json["items"][0]["action"] == "instance.started"
    task = api.as_("wang").task(case, "assess_case")
    error_of(sun.post(f"/tasks/{task['id']}/claim"), 403)
    error_of(sun.get("/tasks"), 403)
    error_of(sun.get(f"/process-instances/{case['id']}"), 403)
    error_of(sun.post("/messages", {"name": "department_result", "instance_id": case["id"]}), 403)


@pytest.mark.parametrize("role_user", ["wang", "li", "zhou", "admin"])
def test_only_the_auditor_reads_the_whole_audit_trail(api, role_user):
    error_of(api.as_(role_user).get("/audit-trail"), 403)


# --- department systems ------------------------------------------------------------------------
def test_department_system_token_reports_only_for_its_own_department(api, engine, escalated):
    health = api.with_token(engine.tokens.create_api_token("health")["token"])
    error_of(
        health.post(
            "/messages",
            {
                "name": "department_result",
                "instance_id": escalated["id"],
                "department": "civil_affairs",
                "payload": DEPARTMENT_RESULT,
            },
        ),
        403,
    )
    # a case that never involved health: as if it did not exist
    error_of(
        health.post(
            "/messages", {"name": "department_result", "instance_id": escalated["id"], "payload": DEPARTMENT_RESULT}
        ),
        404,
    )
    assert api.as_("li").task(escalated, "handle_civil_affairs")["state"] == "open"


def test_department_system_token_may_do_nothing_but_report(api, engine, case):
    system = api.with_token(engine.tokens.create_api_token("civil_affairs")["token"])
    task = api.as_("wang").task(case, "assess_case")
    for response in (
        system.get("/tasks"),
        system.get(f"/tasks/{task['id']}"),
        system.post(f"/tasks/{task['id']}/claim"),
        system.get(f"/process-instances/{case['id']}"),
        system.get("/process-instances"),
        system.get("/process-definitions"),
        system.get("/users"),
        system.get("/audit-trail"),
        system.post("/process-instances", {"definition_key": "dispute_resolution"}),
    ):
        error_of(response, 403)
    assert system.get("/auth/me").json == {
        "username": "civil_affairs-system",
        "role": "system",
        "departments": ["civil_affairs"],
        "kind": "system",
    }


def test_an_officer_may_not_report_department_results(api, escalated):
    error_of(
        api.as_("wang").post(
            "/messages", {"name": "department_result", "instance_id": escalated["id"], "payload": DEPARTMENT_RESULT}
        ),
        403,
    )


def test_supervisor_may_record_a_department_result_for_a_case_of_their_station_only(api, escalated):
    zhou, qian = api.as_("zhou"), api.as_("qian")
    message = {"name": "department_result", "business_key": escalated["business_key"], "payload": DEPARTMENT_RESULT}
    error_of(qian.post("/messages", message), 404)
    assert zhou.post("/messages", message).status_code == 200
