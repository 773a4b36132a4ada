"""SLA states and the incident workflow over HTTP."""

from __future__ import annotations

from tests import models
from tests.api.conftest import error_of
from tests.helpers import database_rows, rows_added


def test_breached_department_queue_is_listed_oldest_first_with_sla_fields(api, clock):
    wang = api.as_("wang")
    cases = []
    for _ in range(2):
        case = wang.report()
        wang.complete(case, "assess_case", {"resolution": "escalate", "departments": ["civil_affairs"]})
        cases.append(case)
        clock.advance(hours=1)
    clock.advance(hours=72)
    li = api.as_("li")  # logged in now: sessions last 12 hours
    breached = li.tasks(group="civil_affairs", sla_state="breached")
    assert [t["business_key"] for t in breached] == [c["business_key"] for c in cases]
    assert all(t["sla_state"] == "breached" and t["warn_at"] < t["due_at"] for t in breached)
    assert li.tasks(group="civil_affairs", sla_state="on_time") == []
    error_of(li.get("/tasks", query_string={"sla_state": "late"}), 400)


def test_admin_fixes_data_and_retries_an_incident(api, engine, world, clock):
    xml = models.failing_timer()
    engine.repository.deploy([("timed.bpmn", xml)])
    case = engine.runtime.start_instance("timed", world["wang"], {})
    clock.advance(hours=1, seconds=1)
    for _ in range(engine.settings.timer_max_attempts):
        engine.timers.fire_due()
        clock.advance(minutes=10)
    admin = api.as_("admin")
    [incident] = admin.get("/incidents").json["items"]
    assert incident["element_id"] == "wait" and incident["status"] == "open"
    error_of(api.as_("zhou").get("/incidents"), 403)
    fixed = admin.post(
        f"/process-instances/{case['id']}/variables", {"variables": {"approved": True}, "reason": "补录审批结果"}
    )
    assert fixed.status_code == 200 and "variables" not in fixed.json  # admins see no case data
    retried = admin.post(f"/incidents/{incident['id']}/retry")
    assert retried.status_code == 200 and retried.json["resolution"] == "retried"
    assert engine.timers.fire_due() == 1
    error_of(admin.post(f"/incidents/{incident['id']}/retry"), 422)
    error_of(admin.post("/incidents/999/cancel", {"reason": "x"}), 404)
    assert admin.get("/incidents", query_string={"status": "all"}).json["items"][0]["status"] == "resolved"


def test_diagram_state_follows_case_visibility(api):
    wang = api.as_("wang")
    case = wang.report()
    state = wang.get(f"/process-instances/{case['id']}/diagram")
    assert state.status_code == 200 and state.json["active"] == ["assess_case"]
    error_of(api.as_("liu").get(f"/process-instances/{case['id']}/diagram"), 404)  # another station
    error_of(api.as_("admin").get(f"/process-instances/{case['id']}/diagram"), 403)


def no_station_start(engine, world, clock, key: str = "timed") -> None:
    """A schedule deployed by the admin (no station; two exist) falls due: an incident without a case."""
    engine.repository.deploy(
        [(f"{key}.bpmn", models.timed("R/PT1H", attached="start", definition="timeCycle", key=key))], world["admin"]
    )
    clock.advance(hours=1, seconds=1)
    assert engine.start_timers.fire_all_due() == 0


def test_a_scheduled_start_that_made_no_case_is_listed_and_retried_over_http(api, engine, world, clock):
    no_station_start(engine, world, clock)
    admin, zhou = api.as_("admin"), api.as_("zhou")
    [incident] = admin.get("/incidents").json["items"]
    assert (incident["kind"], incident["instance_id"], incident["business_key"]) == ("start_timer", None, None)
    assert (incident["process_key"], incident["definition_version"], incident["element_id"]) == ("timed", 1, "start")
    assert incident["due_at"] and "candidateStarterGroups" in incident["error"]
    before = database_rows(engine)
    refused = error_of(admin.post(f"/incidents/{incident['id']}/retry"), 409)
    assert "still no station" in refused["message"]
    assert "dismiss it" in error_of(admin.post(f"/incidents/{incident['id']}/cancel", {"reason": "x"}), 409)["message"]
    error_of(zhou.post(f"/incidents/{incident['id']}/retry"), 403)
    assert database_rows(engine) == before
    xml = models.timed("R/PT1H", attached="start", definition="timeCycle").replace(
        '<bpmn:process id="timed"', '<bpmn:process id="timed" camunda:candidateStarterGroups="dongfeng"'
    )
    engine.repository.deploy([("timed.bpmn", xml)], world["admin"])
    retried = admin.post(f"/incidents/{incident['id']}/retry")
    assert retried.status_code == 200 and retried.json["resolution"] == "retried"
    assert retried.json["business_key"] and retried.json["definition_version"] == 2
    case = engine.runtime.get_instance(retried.json["instance_id"], history=False)
    assert case["station"] == "dongfeng" and case["status"] == "running"


def test_a_scheduled_start_that_made_no_case_is_dismissed_over_http_with_a_reason(api, engine, world, clock):
    no_station_start(engine, world, clock)
    admin, zhou = api.as_("admin"), api.as_("zhou")
    [incident] = admin.get("/incidents").json["items"]
    path = f"/incidents/{incident['id']}/dismiss"
    before = database_rows(engine)
    error_of(admin.post(path, {}), 422)
    error_of(admin.post(path, {"reason": "  "}), 422)
    error_of(zhou.post(path, {"reason": "r"}), 403)
    error_of(admin.post("/incidents/999/dismiss", {"reason": "r"}), 404)
    assert database_rows(engine) == before
    dismissed = admin.post(path, {"reason": "测试流程 test schedule"})
    assert dismissed.status_code == 200 and dismissed.json["resolution"] == "dismissed"
    [entry] = [r for r in rows_added(engine, before, "audit_log") if r["action"] == "incident.dismissed"]
    assert entry["actor"] == "admin" and entry["details"]["reason"] == "测试流程 test schedule"
    assert admin.get("/incidents").json["items"] == []
    error_of(admin.post(path, {"reason": "again"}), 422)


def test_a_case_incident_is_not_dismissed_over_http(api, engine, world, clock):
    engine.repository.deploy([("timed.bpmn", models.failing_timer())])
    engine.runtime.start_instance("timed", world["wang"], {})
    clock.advance(hours=1, seconds=1)
    for _ in range(engine.settings.timer_max_attempts):
        engine.timers.fire_due()
        clock.advance(minutes=10)
    admin = api.as_("admin")
    [incident] = admin.get("/incidents").json["items"]
    before = database_rows(engine)
    assert (
        "belongs to a case"
        in error_of(admin.post(f"/incidents/{incident['id']}/dismiss", {"reason": "r"}), 409)["message"]
    )
    assert database_rows(engine) == before
