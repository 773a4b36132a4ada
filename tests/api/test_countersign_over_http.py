"""The joint meeting (会签/或签) over HTTP: each department's liaison finds its own instance in its
queue, claims and signs it, or returns it (declines); refusals answer their status and code and
change no row; a model with Camunda multi-instance attributes deploys over the definitions API."""

from __future__ import annotations

from tests.api.conftest import error_of
from tests.helpers import database_rows
from tests.test_multi_instance import countersign

OPINION = {"joint_opinion": "同意联合调处", "joint_measures": "派员参加"}


def joint(api, mode: str):
    wang = api.as_("wang")
    case = wang.report(risk_level="yellow")
    wang.complete(
        case, "assess_case", {"resolution": "joint", "departments": ["civil_affairs", "health"], "joint_mode": mode}
    )
    return case


def test_each_liaison_signs_its_own_instance_then_feedback(api):
    case = joint(api, "all")
    li, zhao = api.as_("li"), api.as_("zhao")
    [mine] = li.tasks(candidate="me", instance_id=case["id"])
    assert (mine["element_id"], mine["candidate_groups"]) == ("joint_meeting", ["civil_affairs"])
    [theirs] = zhao.tasks(candidate="me", instance_id=case["id"])
    assert theirs["candidate_groups"] == ["health"] and theirs["id"] != mine["id"]
    assert li.post(f"/tasks/{mine['id']}/claim").status_code == 200
    answer = li.post(f"/tasks/{mine['id']}/complete", {"data": OPINION})
    assert answer.status_code == 200, answer.json
    assert answer.json["next_tasks"] == []  # the other department still signs
    assert zhao.post(f"/tasks/{theirs['id']}/complete", {"data": OPINION}).status_code == 200
    assert api.as_("wang").task(case, "feedback_to_resident")["assignee"] == "wang"


def test_any_one_signs_and_the_other_instance_is_not_needed(api):
    case = joint(api, "any")
    li, zhao = api.as_("li"), api.as_("zhao")
    [mine] = li.tasks(candidate="me", instance_id=case["id"])
    [theirs] = zhao.tasks(candidate="me", instance_id=case["id"])
    assert zhao.post(f"/tasks/{theirs['id']}/complete", {"data": OPINION}).status_code == 200
    assert li.tasks(candidate="me", instance_id=case["id"]) == []
    assert api.as_("zhou").get(f"/tasks/{mine['id']}").json["task"]["state"] == "cancelled"
    assert api.as_("wang").task(case, "feedback_to_resident")["assignee"] == "wang"


def test_refusals_change_nothing(api, engine):
    case = joint(api, "all")
    li, zhao = api.as_("li"), api.as_("zhao")
    [mine] = li.tasks(candidate="me", instance_id=case["id"])
    before = database_rows(engine)
    error_of(li.post(f"/tasks/{mine['id']}/complete", {"data": {"joint_measures": "x"}}), 422)
    error_of(li.post(f"/tasks/{mine['id']}/return", {"reason": " "}), 422)
    error_of(zhao.post(f"/tasks/{mine['id']}/return", {"reason": "not ours"}), 404)  # another department's
    error_of(zhao.post(f"/tasks/{mine['id']}/complete", {"data": OPINION}), 404)
    assert database_rows(engine) == before
    answer = li.post(f"/tasks/{mine['id']}/return", {"reason": "不属于民政职责"})
    assert answer.status_code == 200 and answer.json["state"] == "returned"
    assert api.as_("zhou").get(f"/tasks/{mine['id']}").json["task"]["state"] == "returned"


def test_a_camunda_multi_instance_model_deploys_and_runs_over_http(api):
    admin, wang = api.as_("admin"), api.as_("wang")
    model = countersign(condition="${nrOfCompletedInstances >= 1}")
    answer = admin.post("/process-definitions", data=model.encode(), content_type="application/xml")
    assert answer.status_code == 201, answer.json
    started = wang.post("/process-instances", {"definition_key": "joint", "variables": {"departments": ["health"]}})
    assert started.status_code == 201, started.json
    zhao = api.as_("zhao")
    [task] = zhao.tasks(candidate="me", instance_id=started.json["id"])
    assert zhao.post(f"/tasks/{task['id']}/complete", {"data": {}}).status_code == 200


def test_a_department_transfers_its_task_to_another_department_over_http(api, engine):
    wang, li, zhao = api.as_("wang"), api.as_("li"), api.as_("zhao")
    case = wang.report(risk_level="yellow")
    wang.complete(case, "assess_case", {"resolution": "escalate", "departments": ["civil_affairs"]})
    task = li.task(case, "handle_civil_affairs")
    before = database_rows(engine)
    error_of(li.post(f"/tasks/{task['id']}/transfer", {"reason": "x"}), 422, "validation_failed")
    both = {"user": "zhao", "department": "health", "reason": "x"}
    error_of(li.post(f"/tasks/{task['id']}/transfer", both), 422, "validation_failed")
    error_of(li.post(f"/tasks/{task['id']}/transfer", {"department": "xinqiao", "reason": "x"}), 422)
    error_of(zhao.post(f"/tasks/{task['id']}/transfer", {"department": "health", "reason": "x"}), 404)
    assert database_rows(engine) == before
    answer = li.post(f"/tasks/{task['id']}/transfer", {"department": "health", "reason": "属卫健职责"})
    assert answer.status_code == 200, answer.json
    assert (answer.json["candidate_groups"], answer.json["due_at"]) == (["health"], task["due_at"])
    [moved] = zhao.tasks(candidate="me", instance_id=case["id"])
    assert moved["id"] == task["id"]
