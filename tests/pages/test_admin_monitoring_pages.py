"""The console's monitoring, repair, migration, users, tokens and incidents pages without a browser
(issue 17, docs/admin.md): admins only (an officer gets 403 on every one), no personal data on them,
every action audited, every refusal writes nothing."""

from __future__ import annotations

import json

from tests import models
from tests.helpers import REPORT, database_rows, report_case, rows_added, task_of
from tests.test_migration import steps

ADMIN_PAGES = (
    "/admin/cases",
    "/admin/incidents",
    "/admin/users",
    "/admin/tokens",
    "/admin/definitions/dispute_resolution/migrate",
    "/admin/definitions/dispute_resolution/1/counts",
)


def failing_case(engine, world, clock):
    """A case whose timer kept failing (a gateway reads a missing variable): an open incident."""
    engine.repository.deploy([("timed.bpmn", models.failing_timer())], None)
    case = engine.runtime.start_instance("timed", world["wang"], {})
    clock.advance(hours=1, seconds=1)
    for _ in range(engine.settings.timer_max_attempts):
        engine.timers.fire_due()
        clock.advance(minutes=10)
    [incident] = engine.timers.list_incidents()
    return case, incident


def test_an_officer_opening_any_console_page_gets_403_and_posts_change_nothing(browse, engine, world):
    case = report_case(engine, world["wang"])
    wang = browse("wang")
    for path in (*ADMIN_PAGES, f"/admin/cases/{case['id']}", f"/admin/cases/{case['id']}/diagram"):
        assert wang.get(path).status_code == 403, path
    before = database_rows(engine)
    for path, data in (
        (f"/admin/cases/{case['id']}/variables", {"variables": '{"category": "x"}', "reason": "r"}),
        ("/admin/users", {"username": "mallory", "role": "admin"}),
        ("/admin/tokens", {"department": "xinqiao"}),
        ("/admin/definitions/dispute_resolution/migrate", {"from": "1", "to": "2"}),
        ("/admin/incidents/1/retry", {}),
        ("/admin/incidents/1/dismiss", {"reason": "r"}),
    ):
        assert wang.post(path, data).status_code == 403, path
    assert database_rows(engine) == before


def test_the_case_list_and_a_case_show_no_personal_data(browse, engine, world):
    case = report_case(engine, world["wang"])
    admin = browse("admin")
    listing = admin.text("/admin/cases?status=running&station=xinqiao")
    assert case["business_key"] in listing
    page = admin.text(f"/admin/cases/{case['id']}")
    for personal in (REPORT["parties"][0]["name"], REPORT["parties"][0]["phone"], REPORT["household"]):
        assert personal not in listing and personal not in page
    assert "assess_case" in page
    diagram = admin.get(f"/admin/cases/{case['id']}/diagram").json
    assert diagram["active"] == ["assess_case"] and diagram["failed"] == [] and "<bpmn" in diagram["xml"]
    assert admin.text("/admin/cases?business_key=JF-0000-000000").count("data-case=") == 0


def test_the_definition_page_counts_cases_waiting_at_two_tasks(browse, engine, world):
    engine.repository.deploy([("visit.bpmn", steps("review", "check"))], None)
    cases = [engine.runtime.start_instance("visit", world["wang"], {}) for _ in range(3)]
    engine.tasks.complete(task_of(engine, cases[0], "review")["id"], world["wang"], {})
    admin = browse("admin")
    assert "/admin/definitions/visit/1/counts" in admin.text("/admin/definitions/visit")
    counts = admin.get("/admin/definitions/visit/1/counts").json
    assert counts["elements"] == {"check": {"waiting": 1, "breached": 0}, "review": {"waiting": 2, "breached": 0}}
    assert admin.get("/admin/definitions/visit?version=7").status_code == 404


def test_variables_are_repaired_with_a_reason_and_a_personal_field_is_refused(browse, engine, world):
    case = report_case(engine, world["wang"])
    admin = browse("admin")
    path = f"/admin/cases/{case['id']}"
    before = database_rows(engine)
    refused = admin.post(
        f"{path}/variables", {"variables": json.dumps({"household": "x"}), "reason": "fix"}, csrf_from=path
    )
    assert refused.status_code == 422
    assert admin.post(f"{path}/variables", {"variables": "[1]", "reason": "fix"}, csrf_from=path).status_code == 422
    assert admin.post(f"{path}/variables", {"variables": '{"community": "c"}'}, csrf_from=path).status_code == 422
    assert database_rows(engine) == before
    done = admin.post(
        f"{path}/variables", {"variables": '{"community": "新桥社区"}', "reason": "补录社区"}, csrf_from=path
    )
    assert done.status_code == 302
    audit = [(r["action"], r["details"]) for r in rows_added(engine, before, "audit_log")]
    assert audit == [("instance.variables_updated", {"variables": ["community"], "reason": "补录社区"})]


def test_incidents_are_listed_by_kind_and_retried_or_cancelled_from_the_console(browse, engine, world, clock):
    case, incident = failing_case(engine, world, clock)
    admin = browse("admin")
    listing = admin.text("/admin/incidents")
    assert f'data-incident="{incident["id"]}"' in listing and incident["kind"] in listing
    page = admin.text(f"/admin/cases/{case['id']}")
    assert f'data-incident="{incident["id"]}"' in page
    assert admin.get(f"/admin/cases/{case['id']}/diagram").json["failed"] == ["wait"]
    before = database_rows(engine)
    no_reason = admin.post(f"/admin/incidents/{incident['id']}/cancel", {"reason": ""}, csrf_from="/admin/incidents")
    assert no_reason.status_code == 422 and database_rows(engine) == before
    assert admin.post("/admin/incidents/999/retry", {}, csrf_from="/admin/incidents").status_code == 404
    retried = admin.post(
        f"/admin/incidents/{incident['id']}/retry", {"next": f"/admin/cases/{case['id']}"}, csrf_from="/admin/incidents"
    )
    assert retried.status_code == 302 and retried.headers["Location"].endswith(f"/admin/cases/{case['id']}")
    assert engine.timers.list_incidents() == []
    assert "data-incident" not in admin.text("/admin/incidents")
    assert f'data-incident="{incident["id"]}"' in admin.text("/admin/incidents?status=all")


def no_station_start(engine, world, clock, key: str = "timed") -> dict:
    """A schedule the admin deployed (no station; two exist) falls due: an incident without a case."""
    xml = models.timed("R/PT1H", attached="start", definition="timeCycle", key=key)
    engine.repository.deploy([(f"{key}.bpmn", xml)], world["admin"])
    clock.advance(hours=1, seconds=1)
    engine.start_timers.fire_all_due()
    [incident] = [i for i in engine.timers.list_incidents() if i["process_key"] == key]
    return incident


def test_a_scheduled_start_that_made_no_case_is_listed_started_after_the_fix_or_dismissed(browse, engine, world, clock):
    incident = no_station_start(engine, world, clock)
    admin = browse("admin")
    listing = admin.text("/admin/incidents")
    row = listing[listing.index(f'data-incident="{incident["id"]}"') :]
    assert 'data-kind="start_timer"' in row and "/admin/definitions/timed?version=1" in row
    assert "candidateStarterGroups" in row and f"/admin/incidents/{incident['id']}/dismiss" in row
    assert f"/admin/incidents/{incident['id']}/cancel" not in row  # no case to cancel
    path = f"/admin/incidents/{incident['id']}"
    before = database_rows(engine)
    assert admin.post(f"{path}/retry", {}, csrf_from="/admin/incidents").status_code == 409  # still no station
    assert admin.post(f"{path}/dismiss", {"reason": ""}, csrf_from="/admin/incidents").status_code == 422
    assert admin.post(f"{path}/cancel", {"reason": "x"}, csrf_from="/admin/incidents").status_code == 409
    assert database_rows(engine) == before
    xml = models.timed("R/PT1H", attached="start", definition="timeCycle").replace(
        '<bpmn:process id="timed"', '<bpmn:process id="timed" camunda:candidateStarterGroups="xinqiao"'
    )
    engine.repository.deploy([("timed.bpmn", xml)], world["admin"])
    started = admin.post(f"{path}/retry", {}, csrf_from="/admin/incidents")
    assert started.status_code == 302
    [resolved] = engine.timers.list_incidents(status="resolved")
    assert resolved["resolution"] == "retried" and resolved["business_key"] in admin.text(started.headers["Location"])
    other = no_station_start(engine, world, clock, key="nightly")
    dismissed = admin.post(
        f"/admin/incidents/{other['id']}/dismiss", {"reason": "测试流程"}, csrf_from="/admin/incidents"
    )
    assert dismissed.status_code == 302 and engine.timers.list_incidents() == []
    assert [r["action"] for r in rows_added(engine, before, "audit_log") if r["action"].startswith("incident.")] == [
        "incident.retried",
        "incident.opened",
        "incident.dismissed",
    ]


def test_migration_page_shows_the_diff_migrates_and_refuses_when_a_task_would_disappear(browse, engine, world):
    engine.repository.deploy([("visit.bpmn", steps("review", "check"))], None)
    safe, unsafe = (engine.runtime.start_instance("visit", world["wang"], {}) for _ in range(2))
    engine.tasks.complete(task_of(engine, unsafe, "review")["id"], world["wang"], {})
    engine.repository.deploy([("visit.bpmn", steps("review"))], None)
    admin = browse("admin")
    page = admin.text("/admin/definitions/visit/migrate?from=1&to=2")
    assert 'class="unsafe"' in page and "check" in page
    before = database_rows(engine)
    refused = admin.post("/admin/definitions/visit/migrate", {"from": "1", "to": "2"}, csrf_from="/admin/cases")
    assert refused.status_code == 409 and 'id="migration-refused"' in refused.get_data(as_text=True)
    assert database_rows(engine) == before
    moved = admin.post(
        "/admin/definitions/visit/migrate",
        {"from": "1", "to": "2", "instance_id": safe["id"], "reason": "简化流程"},
        csrf_from="/admin/cases",
    )
    assert moved.status_code == 302
    assert engine.runtime.get_instance(safe["id"], history=False)["definition_version"] == 2
    assert engine.runtime.get_instance(unsafe["id"], history=False)["definition_version"] == 1


def test_a_stations_time_zone_is_set_from_the_console_and_a_bad_one_changes_nothing(browse, engine, world):
    admin = browse("admin")
    page = admin.text("/admin/users")
    assert 'id="tz-dongfeng"' in page and 'id="tz-civil_affairs"' not in page  # stations only
    qian = browse("qian")  # a supervisor: logged in before the rows are taken
    before = database_rows(engine)
    for bad in ("Mars/Olympus", "Asia/Shanghai" + "x" * 60):
        refused = admin.post("/admin/departments/dongfeng/time-zone", {"time_zone": bad}, csrf_from="/admin/users")
        assert refused.status_code == 422 and database_rows(engine) == before
    assert (
        admin.post("/admin/departments/nowhere/time-zone", {"time_zone": "UTC"}, csrf_from="/admin/users").status_code
        == 404
    )
    officer = qian.post("/admin/departments/dongfeng/time-zone", {"time_zone": "Asia/Urumqi"})
    assert officer.status_code == 403 and database_rows(engine) == before
    saved = admin.post("/admin/departments/dongfeng/time-zone", {"time_zone": "Asia/Urumqi"}, csrf_from="/admin/users")
    assert saved.status_code == 302
    assert 'value="Asia/Urumqi"' in admin.text("/admin/users")
    cleared = admin.post("/admin/departments/dongfeng/time-zone", {"time_zone": ""}, csrf_from="/admin/users")
    assert cleared.status_code == 302
    assert {d["key"]: d["time_zone"] for d in engine.identity.list_departments()}["dongfeng"] is None
    station = {"key": "haidian", "name": "海淀派出所", "kind": "station", "time_zone": "Asia/Urumqi"}
    assert admin.post("/admin/departments", station, csrf_from="/admin/users").status_code == 302
    assert {d["key"]: d["time_zone"] for d in engine.identity.list_departments()}["haidian"] == "Asia/Urumqi"


def test_users_departments_memberships_and_tokens_are_managed_from_the_console(browse, engine, world):
    admin = browse("admin")
    assert 'data-user="wang"' in admin.text("/admin/users")
    before = database_rows(engine)
    bad = admin.post("/admin/users", {"username": "x", "role": "officer"}, csrf_from="/admin/users")
    assert bad.status_code == 422 and database_rows(engine) == before
    assert admin.post("/admin/users/admin/active", {"active": "0"}, csrf_from="/admin/users").status_code == 422
    assert database_rows(engine) == before
    new = {"username": "zhang", "role": "officer", "departments": "xinqiao", "password": "a-long-password-1"}
    assert admin.post("/admin/users", new, csrf_from="/admin/users").status_code == 302
    assert engine.identity.get_user("zhang")["departments"] == ["xinqiao"]
    dept = {"key": "justice", "name": "司法所", "kind": "agency"}
    assert admin.post("/admin/departments", dept, csrf_from="/admin/users").status_code == 302
    joined = admin.post("/admin/users/li/departments", {"department": "justice"}, csrf_from="/admin/users")
    assert joined.status_code == 302
    assert "justice" in engine.identity.get_user("li")["departments"]
    off = admin.post("/admin/users/zhang/active", {"active": "0"}, csrf_from="/admin/users")
    assert off.status_code == 302 and engine.identity.get_user("zhang")["active"] is False

    token_form = {"department": "civil_affairs", "name": "ca-system"}
    created = admin.post("/admin/tokens", token_form, csrf_from="/admin/tokens")
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    token = engine.tokens.list_api_tokens()[-1]
    shown = created.get_data(as_text=True)
    assert 'id="new-token"' in shown and "fqa_" in shown
    assert "fqa_" not in admin.text("/admin/tokens")  # shown once
    revoked = admin.post(f"/admin/tokens/{token['id']}/revoke", {}, csrf_from="/admin/tokens")
    assert revoked.status_code == 302 and engine.tokens.list_api_tokens()[-1]["revoked_at"] is not None
    assert admin.post("/admin/tokens/99999/revoke", {}, csrf_from="/admin/tokens").status_code == 404
