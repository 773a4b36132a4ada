"""Every access rule of web/access.py and every engine permission, refused over HTTP: the status and
error code, and not one row of any table changed (no task moved, no audit row, no event, no
personal-data read recorded). tests/api/test_access_rules.py shows what each role may do."""

from __future__ import annotations

import pytest

from tests.api.conftest import error_of
from tests.helpers import DEPARTMENT_RESULT, PASSWORD, database_rows

CALLERS = ("wang", "chen", "liu", "zhou", "qian", "li", "zhao", "admin", "sun")


@pytest.fixture
def scene(api, engine):
    """Case A: owned by wang, who holds its handle_on_spot. Case B: escalated to civil affairs, its
    department task open. Every caller logged in (a login writes rows of its own)."""
    wang = api.as_("wang")
    owned = wang.report()
    wang.complete(owned, "assess_case", {"resolution": "on_spot"})
    escalated = wang.report()
    wang.complete(escalated, "assess_case", {"resolution": "escalate", "departments": ["civil_affairs"]})
    for username in CALLERS:
        api.as_(username)
    return {
        "case": owned["id"],
        "business_key": escalated["business_key"],
        "on_spot": wang.task(owned, "handle_on_spot")["id"],
        "escalated": escalated["id"],
        "civil": wang.task(escalated, "handle_civil_affairs")["id"],
    }


def refused_over_http(api, engine, caller: str, method: str, path: str, status: int, code: str, **kwargs):
    who = api.as_(caller)  # logged in before the snapshot
    before = database_rows(engine)
    error = error_of(who._call(method, path, **kwargs), status, code)
    assert database_rows(engine) == before
    return error


REASON = {"reason": "休假 on leave"}
# caller, method, path (filled from the scene), JSON body, status, error code
REFUSALS = [
    # a task of another station, another department's queue, or an officer task to a liaison: 404
    ("liu", "POST", "/tasks/{on_spot}/claim", None, 404, "not_found"),
    ("liu", "POST", "/tasks/{on_spot}/unclaim", None, 404, "not_found"),
    ("liu", "POST", "/tasks/{on_spot}/complete", {"data": {"result": "resolved"}}, 404, "not_found"),
    ("liu", "GET", "/tasks/{on_spot}", None, 404, "not_found"),
    ("qian", "POST", "/tasks/{on_spot}/assignee", {"user": "liu", **REASON}, 404, "not_found"),
    ("qian", "POST", "/tasks/{on_spot}/unclaim", None, 404, "not_found"),
    ("zhao", "POST", "/tasks/{civil}/claim", None, 404, "not_found"),
    ("zhao", "GET", "/tasks/{civil}", None, 404, "not_found"),
    ("li", "POST", "/tasks/{on_spot}/claim", None, 404, "not_found"),
    ("li", "POST", "/tasks/{on_spot}/unclaim", None, 404, "not_found"),
    ("li", "GET", "/tasks/{on_spot}", None, 404, "not_found"),
    # visible, but the engine's rules refuse
    ("chen", "POST", "/tasks/{on_spot}/unclaim", None, 403, "not_assignee"),
    ("chen", "POST", "/tasks/{on_spot}/complete", {"data": {"result": "resolved"}}, 403, "not_assignee"),
    ("chen", "POST", "/tasks/{on_spot}/claim", None, 409, "task_already_claimed"),
    ("zhou", "POST", "/tasks/{on_spot}/complete", {"data": {"result": "resolved"}}, 403, "not_assignee"),
    ("wang", "POST", "/tasks/{civil}/claim", None, 403, "not_candidate"),
    ("wang", "POST", "/tasks/{civil}/complete", {"data": DEPARTMENT_RESULT}, 403, "not_candidate"),
    ("li", "POST", "/tasks/{civil}/unclaim", None, 409, "task_not_claimed"),
    ("li", "POST", "/tasks/{civil}/complete", {"data": {"outcome": "maybe"}}, 422, "form_invalid"),
    ("zhou", "POST", "/tasks/{civil}/assignee", {"user": "zhao", **REASON}, 422, "invalid_input"),
    ("zhou", "POST", "/tasks/{civil}/assignee", {"user": "li", "reason": "   "}, 422, "invalid_input"),
    ("zhou", "POST", "/tasks/{civil}/assignee", {"user": "nobody", **REASON}, 404, "user_not_found"),
    ("zhou", "POST", "/tasks/{on_spot}/assignee", {"user": "liu", **REASON}, 422, "invalid_input"),
    # a role the endpoint is not for: 403
    ("wang", "POST", "/tasks/{on_spot}/assignee", {"user": "chen", **REASON}, 403, "forbidden"),
    ("li", "POST", "/tasks/{civil}/assignee", {"user": "li", **REASON}, 403, "forbidden"),
    ("admin", "POST", "/tasks/{on_spot}/assignee", {"user": "chen", **REASON}, 403, "forbidden"),
    ("admin", "POST", "/tasks/{civil}/claim", None, 403, "forbidden"),
    ("sun", "POST", "/tasks/{civil}/claim", None, 403, "forbidden"),
    ("sun", "POST", "/tasks/{on_spot}/unclaim", None, 403, "forbidden"),
    ("admin", "GET", "/tasks/{on_spot}", None, 403, "forbidden"),
    # cases
    ("liu", "GET", "/process-instances/{case}", None, 404, "not_found"),
    ("liu", "GET", "/process-instances/{case}/diagram", None, 404, "not_found"),
    ("zhao", "GET", "/process-instances/{escalated}", None, 404, "not_found"),
    ("li", "GET", "/process-instances/{case}", None, 404, "not_found"),
    ("sun", "GET", "/process-instances/{case}", None, 403, "forbidden"),
    ("admin", "GET", "/process-instances/{case}", None, 403, "forbidden"),
    ("qian", "POST", "/process-instances/{case}/cancel", REASON, 404, "not_found"),
    ("wang", "POST", "/process-instances/{case}/cancel", REASON, 403, "forbidden"),
    ("li", "POST", "/process-instances/{case}/cancel", REASON, 403, "forbidden"),
    ("zhou", "POST", "/process-instances/{case}/cancel", {"reason": " "}, 422, "invalid_input"),
    ("qian", "POST", "/process-instances/{case}/case-owner", {"user": "liu", **REASON}, 404, "not_found"),
    ("wang", "POST", "/process-instances/{case}/case-owner", {"user": "chen", **REASON}, 403, "forbidden"),
    ("zhou", "POST", "/process-instances/{case}/case-owner", {"user": "liu", **REASON}, 422, "invalid_input"),
    ("zhou", "POST", "/process-instances/{case}/case-owner", {"user": "chen", "reason": ""}, 422, "validation_failed"),
    ("zhou", "POST", "/process-instances/{case}/variables", {"variables": {"a": 1}, **REASON}, 403, "forbidden"),
    ("wang", "POST", "/process-instances/{case}/variables", {"variables": {"a": 1}, **REASON}, 403, "forbidden"),
    ("admin", "POST", "/process-instances/{case}/variables", {"variables": {}, **REASON}, 422, "validation_failed"),
    ("admin", "POST", "/process-instances/{case}/variables", {"variables": {"a": 1}, "reason": ""}, 422, None),
    # naming other people, other queues
    ("wang", "GET", "/tasks?assignee=chen", None, 403, "forbidden"),
    ("wang", "GET", "/tasks?candidate=chen", None, 403, "forbidden"),
    ("li", "GET", "/tasks?assignee=zhao", None, 403, "forbidden"),
    ("wang", "GET", "/process-instances?case_owner=chen", None, 403, "forbidden"),
    ("li", "GET", "/tasks?group=health", None, 403, "forbidden"),
    # department results
    ("wang", "POST", "/messages", {"name": "department_result", "instance_id": "{escalated}"}, 403, "forbidden"),
    (
        "li",
        "POST",
        "/messages",
        {"name": "department_result", "instance_id": "{escalated}", "department": "health"},
        403,
        "forbidden",
    ),
    ("zhao", "POST", "/messages", {"name": "department_result", "instance_id": "{escalated}"}, 404, "not_found"),
    ("zhao", "POST", "/messages", {"name": "department_result", "business_key": "{business_key}"}, 404, None),
    ("qian", "POST", "/messages", {"name": "department_result", "business_key": "{business_key}"}, 404, None),
]


def _fill(value, scene):
    if isinstance(value, str):
        return value.format(**scene)
    if isinstance(value, dict):
        return {k: _fill(v, scene) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    ("caller", "method", "path", "json", "status", "code"),
    REFUSALS,
    ids=[f"{r[0]}-{r[1]}-{r[2]}-{r[4]}" for r in REFUSALS],
)
def test_a_refused_request_changes_nothing(api, engine, scene, caller, method, path, json, status, code):
    kwargs = {"json": _fill(json, scene)} if json is not None else {}
    refused_over_http(api, engine, caller, method, _fill(path, scene), status, code, **kwargs)


def test_a_liaison_of_two_departments_names_the_one_they_report_for(api, engine, scene):
    engine.identity.create_user("duo", "liaison", PASSWORD, ["civil_affairs", "health"])
    body = {"name": "department_result", "instance_id": scene["escalated"], "payload": DEPARTMENT_RESULT}
    error = refused_over_http(api, engine, "duo", "POST", "/messages", 422, "validation_failed", json=body)
    assert error["details"][0]["field"] == "department"


def test_a_department_system_reports_only_for_its_department(api, engine, scene):
    token = engine.tokens.create_api_token("health")["token"]
    system = api.with_token(token, "health-system")
    for body, status in (
        ({"department": "civil_affairs", "instance_id": scene["escalated"]}, 403),
        ({"instance_id": scene["escalated"]}, 404),
        ({"business_key": scene["business_key"]}, 404),
    ):
        before = database_rows(engine)
        message = {"name": "department_result", "payload": DEPARTMENT_RESULT, **body}
        error_of(system.post("/messages", message), status)
        assert database_rows(engine) == before


# --- personal data: what a caller may not see is masked, and the masked read is what is audited ---
def _personal(api, caller, path):
    response = api.as_(caller).get(path)
    assert response.status_code == 200, response.json
    body = response.json
    return body["personal_data"] if "personal_data" in body else body["case"]["personal_data"]


def test_an_officer_not_handling_the_case_sees_its_personal_data_masked(api, engine, scene):
    seen = _personal(api, "chen", f"/process-instances/{scene['case']}")
    assert seen["visibility"] == "masked"
    assert seen["records"][0]["data"]["parties"][0]["name"] == "刘*兰"
    read = engine.history.audit_trail(instance_id=scene["case"])[-1]
    purpose = read["details"]["purpose"]
    assert (read["actor"], read["action"], purpose) == ("chen", "personal_data.read", "masked case view")


def test_a_liaison_sees_personal_data_in_clear_only_while_holding_the_task(api, engine, scene):
    path = f"/tasks/{scene['civil']}"
    assert _personal(api, "li", path)["visibility"] == "masked"
    api.as_("li").post(f"/tasks/{scene['civil']}/claim")
    assert _personal(api, "li", path)["visibility"] == "clear"
    engine.identity.create_user("he", "liaison", PASSWORD, ["civil_affairs"])
    # a colleague's claim is not theirs: they do not see the task at all (docs/api.md, liaison visibility)
    error_of(api.as_("he").get(path), 404)
    api.as_("li").complete({"id": scene["escalated"]}, "handle_civil_affairs", DEPARTMENT_RESULT)
    assert _personal(api, "li", f"/process-instances/{scene['escalated']}")["visibility"] == "masked"


def test_a_liaison_sees_only_the_personal_records_of_their_departments_tasks(api, engine):
    wang = api.as_("wang")
    case = wang.report()
    wang.complete(case, "assess_case", {"resolution": "escalate", "departments": ["civil_affairs", "health"]})
    health_result = {**DEPARTMENT_RESULT, "handler_name": "赵医生"}
    api.as_("zhao").complete(case, "handle_health", health_result)
    li = api.as_("li")
    li.post(f"/tasks/{li.task(case, 'handle_civil_affairs')['id']}/claim")
    seen = li.case(case)["personal_data"]
    assert seen["visibility"] == "clear"
    assert [r["source"] for r in seen["records"]] == ["start"]
    assert "赵医生" not in li.get(f"/process-instances/{case['id']}").get_data(as_text=True)
    assert set(seen["records"][0]["data"]) <= {"household", "parties"}
    supervisor = api.as_("zhou").case(case)["personal_data"]["records"]
    assert "department_result" in [r["source"] for r in supervisor]
