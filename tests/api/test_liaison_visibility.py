"""What a liaison sees (docs/api.md, access rules): the open tasks waiting in their departments'
queues, the tasks they hold or completed, and the cases of those tasks. A colleague's held or
completed task, and a closed case they never worked, are not theirs: 404, in lists too."""

from __future__ import annotations

import pytest

from tests.api.conftest import error_of
from tests.helpers import DEPARTMENT_RESULT

NEWCOMER = {"username": "qin", "role": "liaison", "password": "qin-password-1", "departments": ["health"]}


@pytest.fixture
def newcomer(api):
    """A health liaison created after zhao (the other health liaison) started working."""

    def create():
        response = api.as_("admin").post("/users", NEWCOMER)
        assert response.status_code == 201, response.json
        return api.with_token(api.login("qin", NEWCOMER["password"]).json["token"], "qin")

    return create


def escalate_to_health(api):
    wang = api.as_("wang")
    case = wang.report()
    wang.complete(case, "assess_case", {"resolution": "escalate", "departments": ["health"]})
    return case, api.as_("zhao").task(case, "handle_health")


def closed_case(api):
    """A case whose health task zhao completed, then closed by the officer's feedback."""
    case, task = escalate_to_health(api)
    zhao = api.as_("zhao")
    assert zhao.post(f"/tasks/{task['id']}/claim").status_code == 200
    assert zhao.post(f"/tasks/{task['id']}/complete", {"data": DEPARTMENT_RESULT}).status_code == 200
    api.as_("wang").complete(case, "feedback_to_resident", {"satisfaction": "satisfied"})
    assert api.as_("wang").case(case)["status"] == "completed"
    return case, task


def test_a_new_liaison_does_not_see_a_colleagues_completed_task_or_its_closed_case(api, newcomer):
    case, task = closed_case(api)
    qin = newcomer()
    error_of(qin.get(f"/tasks/{task['id']}"), 404)
    error_of(qin.get(f"/process-instances/{case['id']}"), 404)
    error_of(qin.get(f"/process-instances/{case['id']}/diagram"), 404)
    assert qin.tasks() == [] and qin.tasks(state="completed") == []
    zhao = api.as_("zhao")  # who completed it still does
    assert zhao.get(f"/tasks/{task['id']}").status_code == 200
    assert zhao.get(f"/process-instances/{case['id']}").status_code == 200
    assert [t["id"] for t in zhao.tasks(state="completed")] == [task["id"]]


def test_a_colleagues_held_task_is_hidden_but_claiming_it_is_a_409_like_any_lost_race(api, newcomer):
    case, task = escalate_to_health(api)
    assert api.as_("zhao").post(f"/tasks/{task['id']}/claim").status_code == 200
    qin = newcomer()
    error_of(qin.get(f"/tasks/{task['id']}"), 404)
    error_of(qin.get(f"/process-instances/{case['id']}"), 404)
    assert qin.tasks() == []
    error_of(qin.post(f"/tasks/{task['id']}/claim"), 409, "task_already_claimed")
    error_of(qin.post(f"/tasks/{task['id']}/complete", {"data": DEPARTMENT_RESULT}), 404)
    assert api.as_("zhao").task(case, "handle_health")["assignee"] == "zhao"


def test_a_new_liaison_sees_the_open_tasks_of_their_queue_and_their_cases(api, newcomer):
    case, task = escalate_to_health(api)
    qin = newcomer()
    assert [t["id"] for t in qin.tasks()] == [task["id"]]
    assert qin.get(f"/tasks/{task['id']}").status_code == 200
    view = qin.case(case)
    assert [t["element_id"] for t in view["open_tasks"]] == ["handle_health"]
    assert qin.post(f"/tasks/{task['id']}/claim").status_code == 200
    assert qin.post(f"/tasks/{task['id']}/complete", {"data": DEPARTMENT_RESULT}).status_code == 200
    assert qin.get(f"/tasks/{task['id']}").status_code == 200  # what they completed stays theirs
    assert qin.get(f"/process-instances/{case['id']}").status_code == 200
    error_of(api.as_("zhao").get(f"/tasks/{task['id']}"), 404)  # and is no longer zhao's


def test_every_task_a_liaison_can_open_is_in_their_list_and_back(api, newcomer, engine):
    closed_case(api)
    escalate_to_health(api)
    held, held_task = escalate_to_health(api)
    api.as_("zhao").post(f"/tasks/{held_task['id']}/claim")
    qin = newcomer()
    listed = {t["id"] for state in ("open", "claimed", "completed") for t in qin.tasks(state=state)}
    every = {t["id"] for t in engine.tasks.query(limit=200)["items"]}
    readable = {task_id for task_id in every if qin.get(f"/tasks/{task_id}").status_code == 200}
    assert listed == readable and len(readable) == 1
