"""The admin's monitoring and migration API (issue 17, docs/admin.md): cases without personal data,
counts per element (waiting and breached), a case for repair, the migration plan and the migration
itself (one case or all of a version), refusals that change nothing, admins only."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import error_of
from tests.helpers import database_rows
from tests.test_migration import steps


def deploy(admin, xml: str) -> int:
    response = admin.post("/process-definitions", {"bpmn": xml})
    assert response.status_code in (200, 201), response.json
    return response.json["definitions"][0]["version"]


def start(caller, key: str = "visit") -> dict:
    response = caller.post("/process-instances", {"definition_key": key, "variables": {"note": "n"}})
    assert response.status_code == 201, response.json
    return response.json


def test_cases_are_listed_by_process_version_status_and_station_without_personal_data(api):
    wang, liu = api.as_("wang"), api.as_("liu")
    first, other = wang.report(), liu.report()
    admin = api.as_("admin")
    listed = admin.get("/admin/cases", query_string={"process_key": "dispute_resolution"}).json["items"]
    assert {c["business_key"] for c in listed} == {first["business_key"], other["business_key"]}
    assert set(listed[0]) == {
        "id",
        "business_key",
        "process_key",
        "definition_version",
        "status",
        "station",
        "started_at",
        "ended_at",
    }
    by_station = admin.get("/admin/cases", query_string={"station": "dongfeng"}).json["items"]
    assert [c["business_key"] for c in by_station] == [other["business_key"]]
    one = admin.get("/admin/cases", query_string={"business_key": first["business_key"], "status": "running"})
    assert [c["station"] for c in one.json["items"]] == ["xinqiao"]
    assert admin.get("/admin/cases", query_string={"version": 2}).json["items"] == []
    assert admin.get("/admin/cases", query_string={"status": "nonsense"}).status_code == 400
    assert wang.get("/admin/cases").status_code == 403


def test_element_counts_show_the_cases_waiting_at_two_tasks_and_the_breached_ones(api, clock):
    admin, wang = api.as_("admin"), api.as_("wang")
    deploy(admin, steps("review", "check"))
    at_review = [start(wang) for _ in range(3)]
    wang.complete(at_review[0], "review", {})  # one moves on to `check`
    counts = admin.get("/process-definitions/visit/element-counts").json
    assert counts == {
        "key": "visit",
        "version": 1,
        "elements": {"check": {"waiting": 1, "breached": 0}, "review": {"waiting": 2, "breached": 0}},
    }
    # the bundled workflow's assessment has a deadline: past it, the count says breached
    wang.report(risk_level="red")
    clock.advance(timedelta(hours=3))  # red: assessed within 2 hours
    dispute = admin.get("/process-definitions/dispute_resolution/element-counts", query_string={"version": 1}).json
    assert dispute["elements"]["assess_case"] == {"waiting": 1, "breached": 1}
    assert admin.get("/process-definitions/visit/element-counts", query_string={"version": 5}).status_code == 404
    assert wang.get("/process-definitions/visit/element-counts").status_code == 403


def test_a_case_for_repair_shows_its_elements_timers_and_variables_but_no_personal_field(api):
    admin, wang = api.as_("admin"), api.as_("wang")
    case = wang.report()
    found = admin.get(f"/admin/cases/{case['id']}")
    assert found.status_code == 200, found.json
    body = found.json
    assert body["active"] == ["assess_case"] and body["failed"] == [] and body["incidents"] == []
    assert {t["kind"] for t in body["timers"]} <= {"sla_warning", "sla_breach", "bpmn_timer"}
    assert "parties" not in body["variables"] and "household" not in body["variables"]
    assert "case_owner" not in body and "history" not in body
    assert admin.get("/admin/cases/00000000-0000-0000-0000-000000000000").status_code == 404


def test_a_case_migrated_from_v1_to_v2_over_http_completes_on_v2(api):
    admin, wang = api.as_("admin"), api.as_("wang")
    deploy(admin, steps("review"))
    case = start(wang)
    deploy(admin, steps("review", "check"))
    plan = admin.get("/process-definitions/visit/migration", query_string={"from": 1, "to": 2})
    assert plan.status_code == 200, plan.json
    assert plan.json["safe"] and plan.json["cases"][0]["mapped"] == {"review": "review"}
    moved = admin.post("/process-definitions/visit/migrations", {"from": 1, "to": 2, "reason": "adds a check"})
    assert moved.status_code == 200, moved.json
    assert moved.json["migrated"] == [case["business_key"]]
    assert wang.case(case)["definition_version"] == 2
    wang.complete(case, "review", {})
    wang.complete(case, "check", {})
    assert wang.case(case)["status"] == "completed"
    trail = api.as_("sun").get("/audit-trail", query_string={"instance_id": case["id"]}).json["items"]
    migrated = [e for e in trail if e["action"] == "instance.migrated"]
    assert migrated[0]["actor"] == "admin" and migrated[0]["details"]["reason"] == "adds a check"


def test_a_migration_dropping_an_active_task_is_refused_over_http_and_nothing_changes(api, engine):
    admin, wang = api.as_("admin"), api.as_("wang")
    deploy(admin, steps("review", "check"))
    case = start(wang)
    wang.complete(case, "review", {})
    deploy(admin, steps("review"))
    before = database_rows(engine)
    refused = admin.post("/process-definitions/visit/migrations", {"from": 1, "to": 2, "instance_id": case["id"]})
    error = error_of(refused, 409, "migration_refused")
    assert error["details"][0]["element_id"] == "check"
    assert admin.post("/process-definitions/visit/migrations", {"from": 1, "to": 2}).status_code == 409
    assert admin.post("/process-definitions/visit/migrations", {"from": 1, "to": 1}).status_code == 422
    assert admin.post("/process-definitions/visit/migrations", {"from": 1, "to": 9}).status_code == 404
    assert admin.post("/process-definitions/visit/migrations", {"from": 1}).status_code == 422
    assert admin.get("/process-definitions/visit/migration", query_string={"from": 1}).status_code == 400
    assert wang.post("/process-definitions/visit/migrations", {"from": 1, "to": 2}).status_code == 403
    assert database_rows(engine) == before
