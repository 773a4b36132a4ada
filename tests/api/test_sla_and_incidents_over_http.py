"""SLA states and the incident workflow over HTTP."""

from __future__ import annotations

from tests import models
from tests.api.conftest import error_of


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
