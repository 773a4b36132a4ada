"""The bundled dispute workflow end to end over HTTP, with real logins of each role."""

from __future__ import annotations

from engine.identity import Actor
from tests.helpers import DEPARTMENT_RESULT


def elements(caller, case):
    return sorted(t["element_id"] for t in caller.case(case)["open_tasks"])


def test_on_spot_resolution_over_http_closes_the_case_with_the_first_officer_as_owner(api):
    wang = api.as_("wang")
    case = wang.report()
    assert case["status"] == "running" and case["business_key"].startswith("JF-2026-")
    assert [t["element_id"] for t in case["open_tasks"]] == ["assess_case"]
    assessment = wang.task(case, "assess_case")
    claimed = wang.post(f"/tasks/{assessment['id']}/claim").json
    assert claimed["state"] == "claimed" and claimed["assignee"] == "wang"
    wang.complete(case, "assess_case", {"resolution": "on_spot"})
    wang.complete(case, "handle_on_spot", {"result": "resolved", "measures": "调解"})
    assert wang.task(case, "feedback_to_resident")["assignee"] == "wang"  # back to the owner
    wang.complete(case, "feedback_to_resident", {"satisfaction": "satisfied"})
    final = wang.case(case)
    assert final["status"] == "completed" and final["case_owner"] == "wang" and final["open_tasks"] == []
    assert final["history"][-1]["action"] == "instance.completed"


def test_escalation_to_civil_affairs_is_claimed_and_completed_by_the_liaison(api):
    wang, li = api.as_("wang"), api.as_("li")
    case = wang.report()
    wang.complete(case, "assess_case", {"resolution": "escalate", "departments": ["civil_affairs"]})
    queue = li.tasks(candidate="me")
    assert [t["element_id"] for t in queue] == ["handle_civil_affairs"]
    assert li.post(f"/tasks/{queue[0]['id']}/claim").status_code == 200
    li.complete(case, "handle_civil_affairs", {**DEPARTMENT_RESULT, "handler_name": "李四"})
    assert elements(wang, case) == ["feedback_to_resident"]
    assert wang.case(case)["case_owner"] == "wang"  # escalation never moves ownership
    wang.complete(case, "feedback_to_resident", {"satisfaction": "basically_satisfied"})
    assert wang.case(case)["status"] == "completed"


def test_both_departments_one_by_liaison_one_by_department_system_token_then_feedback(api, engine):
    wang, zhao = api.as_("wang"), api.as_("zhao")
    case = wang.report()
    wang.complete(case, "assess_case", {"resolution": "escalate", "departments": ["civil_affairs", "health"]})
    assert elements(wang, case) == ["handle_civil_affairs", "handle_health"]
    civil_system = api.with_token(engine.tokens.create_api_token("civil_affairs")["token"])
    reported = civil_system.post(
        "/messages", {"name": "department_result", "business_key": case["business_key"], "payload": DEPARTMENT_RESULT}
    )
    assert reported.status_code == 200, reported.json
    assert reported.json == {"instance_id": case["id"], "business_key": case["business_key"], "status": "running"}
    assert elements(wang, case) == ["handle_health"]
    zhao.complete(case, "handle_health", {"outcome": "partially_resolved", "summary": "随访中"})
    wang.complete(case, "feedback_to_resident", {"satisfaction": "satisfied"})
    assert wang.case(case)["status"] == "completed"


def test_liaison_reports_their_department_result_by_message(api):
    wang, li = api.as_("wang"), api.as_("li")
    case = wang.report()
    wang.complete(case, "assess_case", {"resolution": "escalate", "departments": ["civil_affairs", "health"]})
    response = li.post(
        "/messages", {"name": "department_result", "instance_id": case["id"], "payload": DEPARTMENT_RESULT}
    )
    assert response.status_code == 200, response.json
    assert elements(wang, case) == ["handle_health"]


def test_three_unsatisfied_ratings_reach_the_supervisor_who_closes_the_case(api):
    wang, zhou = api.as_("wang"), api.as_("zhou")
    case = wang.report(risk_level="blue")
    for _ in range(3):
        wang.complete(case, "assess_case", {"resolution": "on_spot"})
        wang.complete(case, "handle_on_spot", {"result": "resolved"})
        wang.complete(case, "feedback_to_resident", {"satisfaction": "unsatisfied"})
    assert elements(zhou, case) == ["supervisor_review"]
    assert [t["element_id"] for t in zhou.tasks(candidate="me")] == ["supervisor_review"]
    zhou.complete(case, "supervisor_review", {"decision": "close", "comment": "依规结案"})
    assert zhou.case(case)["status"] == "completed"


def test_supervisor_moves_the_case_owner_and_the_open_officer_task_follows(api):
    wang, chen, zhou = api.as_("wang"), api.as_("chen"), api.as_("zhou")
    case = wang.report()
    wang.post(f"/tasks/{wang.task(case, 'assess_case')['id']}/claim")
    moved = zhou.post(f"/process-instances/{case['id']}/case-owner", {"user": "chen", "reason": "王警官休假"})
    assert moved.status_code == 200, moved.json
    assert moved.json["case_owner"] == "chen"
    assert chen.task(case, "assess_case")["assignee"] == "chen"
    assert any(h["action"] == "case.owner_reassigned" for h in zhou.case(case)["history"])


def test_supervisor_reassigns_a_task_with_a_reason(api):
    wang, zhou = api.as_("wang"), api.as_("zhou")
    case = wang.report()
    task = wang.task(case, "assess_case")
    response = zhou.post(f"/tasks/{task['id']}/assignee", {"user": "chen", "reason": "就近处置"})
    assert response.status_code == 200, response.json
    assert response.json["assignee"] == "chen"


def test_supervisor_cancels_a_case_with_a_reason_and_its_tasks_close(api):
    wang, zhou = api.as_("wang"), api.as_("zhou")
    case = wang.report()
    response = zhou.post(f"/process-instances/{case['id']}/cancel", {"reason": "重复上报"})
    assert response.status_code == 200, response.json
    assert response.json["status"] == "cancelled"
    assert wang.case(case)["open_tasks"] == []
    again = zhou.post(f"/process-instances/{case['id']}/cancel", {"reason": "again"})
    assert again.status_code == 409 and again.json["error"]["code"] == "instance_not_running"


def test_a_second_claim_of_the_same_task_gets_409(api):
    wang, chen = api.as_("wang"), api.as_("chen")
    case = wang.report()
    task = wang.task(case, "assess_case")
    assert wang.post(f"/tasks/{task['id']}/claim").status_code == 200
    second = chen.post(f"/tasks/{task['id']}/claim")
    assert second.status_code == 409 and second.json["error"]["code"] == "task_already_claimed"
    completed = wang.post(f"/tasks/{task['id']}/complete", {"data": {"resolution": "on_spot"}})
    assert completed.status_code == 200
    assert wang.post(f"/tasks/{task['id']}/complete", {"data": {"resolution": "on_spot"}}).status_code == 409


def test_the_department_system_actor_is_named_in_the_audit_trail(api, engine):
    wang = api.as_("wang")
    case = wang.report()
    wang.complete(case, "assess_case", {"resolution": "escalate", "departments": ["health"]})
    system = api.with_token(engine.tokens.create_api_token("health", "health-his")["token"])
    assert (
        system.post(
            "/messages", {"name": "department_result", "instance_id": case["id"], "payload": DEPARTMENT_RESULT}
        ).status_code
        == 200
    )
    trail = engine.history.audit_trail(instance_id=case["id"])
    assert any(e["action"] == "message.correlated" and e["actor"] == "health-his" for e in trail)
    assert Actor.system("health-his", department="health").role == "system"


def test_a_completion_answers_with_the_next_tasks_the_caller_may_see(api):
    wang, li = api.as_("wang"), api.as_("li")
    case = wang.report()
    done = wang.complete(case, "assess_case", {"resolution": "on_spot"})
    assert done["state"] == "completed"
    [handle] = done["next_tasks"]  # the officer goes on to the next form without listing
    assert (handle["element_id"], handle["state"], handle["assignee"]) == ("handle_on_spot", "claimed", "wang")
    handled = wang.post(f"/tasks/{handle['id']}/complete", {"data": {"result": "resolved", "measures": "调解"}})
    assert handled.status_code == 200
    assert [t["element_id"] for t in handled.json["next_tasks"]] == ["feedback_to_resident"]

    escalated = wang.report()
    assessed = wang.complete(escalated, "assess_case", {"resolution": "escalate", "departments": ["civil_affairs"]})
    assert [t["element_id"] for t in assessed["next_tasks"]] == ["handle_civil_affairs"]  # the station's task
    result = li.complete(escalated, "handle_civil_affairs", DEPARTMENT_RESULT)
    assert result["next_tasks"] == []  # it opened the owner's feedback task, which the liaison may not see
    assert elements(wang, escalated) == ["feedback_to_resident"]
