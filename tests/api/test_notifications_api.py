"""Notification channels and deliveries over HTTP: who may do what, bad input, nothing half-written."""

from __future__ import annotations

import pytest

import webhooks
from engine import Settings
from tests.api.conftest import error_of
from tests.helpers import database_rows

ROBOT = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=robot-key-123"
DING = "https://oapi.dingtalk.com/robot/send?access_token=ding-token-456"


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings.from_env(
        {
            "FENGQIAO_DATABASE_URL": database_url,
            "FENGQIAO_INSTANCE_PATH": str(tmp_path / "instance"),
            "FENGQIAO_ARGON2_TIME_COST": "1",
            "FENGQIAO_ARGON2_MEMORY_KIB": "1024",
            # a port nothing listens on: deliveries fail fast, and the admin sees them failing
            "FENGQIAO_NOTIFY_ALLOW_HOSTS": "127.0.0.1",
        }
    )


def test_a_user_adds_lists_changes_and_removes_their_channels(api):
    li = api.as_("li")
    created = li.post("/me/channels", {"kind": "dingtalk", "url": DING, "secret": "SECabc", "language": "en"})
    assert created.status_code == 201, created.json
    channel = created.json
    assert channel["hint"] == "oapi.dingtalk.com" and "secret" not in channel and "url" not in channel
    assert li.get("/me/channels").json["items"] == [channel]
    changed = li.patch(f"/me/channels/{channel['id']}", {"events": ["sla.breached"], "active": False})
    assert changed.status_code == 200 and changed.json["events"] == ["sla.breached"] and not changed.json["active"]
    assert li.delete(f"/me/channels/{channel['id']}").status_code == 204
    assert li.get("/me/channels").json["items"] == []


def test_someone_elses_channel_is_not_found_and_unchanged(api, engine):
    channel = api.as_("li").post("/me/channels", {"kind": "wecom", "url": ROBOT}).json
    api.as_("zhao")
    before = database_rows(engine)
    error_of(api.as_("zhao").patch(f"/me/channels/{channel['id']}", {"active": False}), 404, "channel_not_found")
    error_of(api.as_("zhao").delete(f"/me/channels/{channel['id']}"), 404, "channel_not_found")
    assert database_rows(engine) == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "wecom", "url": "https://10.0.0.8/cgi-bin/webhook/send?key=k"}, "url"),
        ({"kind": "wecom", "url": "https://169.254.169.254/latest"}, "url"),
        ({"kind": "wecom", "url": "https://a:b@qyapi.weixin.qq.com/x"}, "url"),
        ({"kind": "wecom", "url": "http://qyapi.weixin.qq.com/x"}, "url"),
        ({"kind": "wecom", "url": ROBOT, "secret": "SECx"}, "secret"),
        ({"kind": "dingtalk", "url": DING}, "secret"),
        ({"kind": "email", "address": "not-an-address"}, "address"),
        ({"kind": "email", "url": ROBOT}, "address"),
    ],
)
def test_a_bad_channel_is_refused_with_the_field_named_and_nothing_written(api, engine, payload, field):
    api.as_("li")
    before = database_rows(engine)
    error = error_of(api.as_("li").post("/me/channels", payload), 422)
    assert error["details"][0]["field"] == field
    assert database_rows(engine) == before


def test_unknown_fields_and_event_types_are_refused(api, engine):
    api.as_("li")
    before = database_rows(engine)
    error_of(api.as_("li").post("/me/channels", {"kind": "wecom", "url": ROBOT, "colour": "red"}), 422)
    error_of(api.as_("li").post("/me/channels", {"kind": "wecom", "url": ROBOT, "events": ["task.teleported"]}), 422)
    error_of(api.as_("li").post("/me/channels", {"kind": "sms", "url": ROBOT}), 422)
    assert database_rows(engine) == before


def test_department_channels_are_for_admins(api, engine):
    api.as_("li"), api.as_("admin")
    before = database_rows(engine)
    error_of(api.as_("li").post("/departments/civil_affairs/channels", {"kind": "wecom", "url": ROBOT}), 403)
    error_of(api.as_("li").get("/departments/civil_affairs/channels"), 403)
    error_of(api.as_("admin").post("/departments/nowhere/channels", {"kind": "wecom", "url": ROBOT}), 404)
    error_of(api.as_("admin").get("/departments/nowhere/channels"), 404)
    assert database_rows(engine) == before
    admin = api.as_("admin")
    created = admin.post("/departments/civil_affairs/channels", {"kind": "wecom", "url": ROBOT})
    assert created.status_code == 201
    assert admin.get("/departments/civil_affairs/channels").json["items"] == [created.json]
    assert admin.get("/departments/health/channels").json["items"] == []
    error_of(admin.delete(f"/departments/health/channels/{created.json['id']}"), 404, "channel_not_found")
    assert admin.delete(f"/departments/civil_affairs/channels/{created.json['id']}").status_code == 204


def test_the_admin_sees_failing_deliveries_and_resends_them(api, engine, clock):
    wang = api.as_("wang")
    # a loopback port nothing listens on: every attempt fails with a connection error
    wang.post("/me/channels", {"kind": "wecom", "url": "http://127.0.0.1:9/cgi-bin/webhook/send?key=k"})
    api.as_("chen").report()
    notifications = webhooks.install(engine)
    admin = api.as_("admin")
    for _ in range(3):
        notifications.sweep()
        clock.advance(notifications.deliverer.lease * 100)
    (failing,) = admin.get("/admin/deliveries", query_string={"state": "failing"}).json["items"]
    assert failing["attempts"] == 3 and failing["channel"]["user"] == "wang"
    assert failing["channel"]["consecutive_failures"] == 3 and failing["event_type"] == "task.created"
    detail = admin.get(f"/admin/deliveries/{failing['id']}").json
    assert len(detail["attempt_log"]) == 3 and all(not a["ok"] for a in detail["attempt_log"])
    resent = admin.post(f"/admin/deliveries/{failing['id']}/resend")
    assert resent.status_code == 200 and resent.json["attempts"] == 0 and resent.json["state"] == "pending"
    assert admin.get("/admin/deliveries", query_string={"state": "failing"}).json["items"] == []


def test_deliveries_are_for_admins_and_unknown_ones_are_404(api, engine):
    api.as_("wang"), api.as_("admin")
    before = database_rows(engine)
    error_of(api.as_("wang").get("/admin/deliveries"), 403)
    error_of(api.as_("wang").post("/admin/deliveries/1/resend"), 403)
    error_of(api.as_("admin").post("/admin/deliveries/999/resend"), 404, "delivery_not_found")
    error_of(api.as_("admin").get("/admin/deliveries/999"), 404, "delivery_not_found")
    error_of(api.as_("admin").get("/admin/deliveries", query_string={"state": "lost"}), 400)
    assert database_rows(engine) == before
