"""Administration over HTTP: users, departments, memberships (API tokens: test_auth.py)."""

from __future__ import annotations

from tests.api.conftest import error_of
from tests.helpers import database_rows


def test_admin_creates_a_liaison_who_can_log_in_and_sees_their_queue(api):
    admin = api.as_("admin")
    created = admin.post(
        "/users",
        {
            "username": "ma",
            "role": "liaison",
            "password": "ma-password-1",
            "departments": ["health"],
            "display_name": "马联络员",
        },
    )
    assert created.status_code == 201, created.json
    assert created.json == {
        "id": created.json["id"],
        "username": "ma",
        "display_name": "马联络员",
        "role": "liaison",
        "departments": ["health"],
        "active": True,
    }
    assert api.login("ma", "ma-password-1").status_code == 200
    assert admin.get("/users/ma").json == created.json
    assert "ma" in [u["username"] for u in admin.get("/users").json["items"]]
    error_of(admin.post("/users", {"username": "ma", "role": "auditor"}), 409, "already_exists")
    error_of(admin.get("/users/nobody"), 404, "user_not_found")


def test_role_membership_rules_are_enforced(api):
    admin = api.as_("admin")
    error_of(admin.post("/users", {"username": "x2", "role": "officer", "departments": ["health"]}), 422)
    error_of(admin.post("/users", {"username": "x3", "role": "auditor", "departments": ["xinqiao"]}), 422)
    error_of(admin.post("/users", {"username": "x4", "role": "officer", "departments": ["nowhere"]}), 404)
    error_of(admin.post("/users", {"username": "x5", "role": "wizard"}), 422)


def test_memberships_are_added_and_removed_within_the_role_rules(api):
    admin = api.as_("admin")
    added = admin.put("/users/li/departments/health")
    assert added.status_code == 200 and added.json["departments"] == ["civil_affairs", "health"]
    assert admin.put("/users/li/departments/health").json["departments"] == ["civil_affairs", "health"]
    removed = admin.delete("/users/li/departments/civil_affairs")
    assert removed.status_code == 200 and removed.json["departments"] == ["health"]
    error_of(admin.delete("/users/li/departments/health"), 422)  # a liaison keeps one agency
    error_of(admin.put("/users/wang/departments/dongfeng"), 422)  # an officer has one station
    error_of(admin.put("/users/wang/departments/nowhere"), 404)
    assert api.as_("li").get("/auth/me").json["departments"] == ["health"]  # effective on the next request


def test_departments_are_created_by_admins_and_listed_for_everyone(api):
    admin = api.as_("admin")
    created = admin.post("/departments", {"key": "urban_management", "name": "城管局", "kind": "agency"})
    assert created.status_code == 201 and created.json["key"] == "urban_management"
    assert "urban_management" in [d["key"] for d in api.as_("wang").get("/departments").json["items"]]
    error_of(admin.post("/departments", {"key": "urban_management", "name": "x", "kind": "agency"}), 409)
    error_of(admin.post("/departments", {"key": "Bad Key", "name": "x", "kind": "agency"}), 422)


def test_an_admin_cannot_deactivate_their_own_account(api):
    error_of(api.as_("admin").patch("/users/admin", {"active": False}), 422)
    assert api.as_("admin").patch("/users/admin", {"display_name": "管理员"}).json["display_name"] == "管理员"


def test_user_changes_are_audited(api):
    api.as_("admin").patch("/users/chen", {"active": False})
    trail = api.as_("sun").get("/audit-trail").json["items"]
    entry = next(e for e in trail if e["action"] == "user.updated")
    assert entry["actor"] == "admin" and entry["details"]["changed"] == ["active"]


def test_an_admin_sets_a_stations_time_zone_and_an_unknown_one_is_a_422_that_changes_nothing(api, engine):
    admin, qian = api.as_("admin"), api.as_("qian")  # both logged in before the rows are taken
    before = database_rows(engine)
    error_of(admin.patch("/departments/dongfeng", {"time_zone": "Mars/Olympus"}), 422, "invalid_input")
    error_of(admin.patch("/departments/civil_affairs", {"time_zone": "Asia/Shanghai"}), 422)  # an agency
    error_of(admin.patch("/departments/nowhere", {"time_zone": "Asia/Shanghai"}), 404)
    error_of(admin.patch("/departments/dongfeng", {"time_zone": 8}), 422)
    error_of(
        admin.post("/departments", {"key": "haidian", "name": "海淀", "kind": "station", "time_zone": "UTC+8"}), 422
    )
    error_of(qian.patch("/departments/dongfeng", {"time_zone": "Asia/Urumqi"}), 403)
    assert database_rows(engine) == before
    changed = admin.patch("/departments/dongfeng", {"time_zone": "Asia/Urumqi"})
    assert changed.status_code == 200 and changed.json["time_zone"] == "Asia/Urumqi"
    listed = {d["key"]: d["time_zone"] for d in admin.get("/departments").json["items"]}
    assert listed["dongfeng"] == "Asia/Urumqi" and listed["xinqiao"] is None  # the deployment's
    assert admin.patch("/departments/dongfeng", {"time_zone": None}).json["time_zone"] is None
    created = admin.post(
        "/departments", {"key": "haidian", "name": "海淀", "kind": "station", "time_zone": "Asia/Urumqi"}
    )
    assert created.status_code == 201 and created.json["time_zone"] == "Asia/Urumqi"
