"""The notification settings page and the admin's failing-deliveries page, through real sessions."""

from __future__ import annotations

import webhooks
from tests.helpers import database_rows, report_case
from webhooks import Owner

ROBOT = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=robot-key-123"


def test_a_user_adds_pauses_and_removes_a_channel_on_the_settings_page(browse, engine, world):
    wang = browse("wang")
    answer = wang.post("/settings/notifications", {"kind": "wecom", "url": ROBOT}, csrf_from="/settings/notifications")
    assert answer.status_code == 302
    page = wang.text("/settings/notifications")
    assert "qyapi.weixin.qq.com" in page and "robot-key-123" not in page
    (channel,) = webhooks.install(engine).channels.list(Owner(user_id=world["wang"].id))
    assert wang.post(f"/settings/notifications/{channel['id']}/active", {"active": "0"}).status_code == 302
    assert not webhooks.install(engine).channels.list(Owner(user_id=world["wang"].id))[0]["active"]
    assert wang.post(f"/settings/notifications/{channel['id']}/delete").status_code == 302
    assert webhooks.install(engine).channels.list(Owner(user_id=world["wang"].id)) == []


def test_a_private_robot_url_is_refused_on_the_page_and_nothing_is_written(browse, engine):
    wang = browse("wang")
    token = wang.csrf("/settings/notifications")
    before = database_rows(engine)
    answer = wang.client.post(
        "/settings/notifications", data={"kind": "wecom", "url": "https://10.0.0.8/hook", "csrf_token": token}
    )
    assert answer.status_code == 422 and 'id="channel-error"' in answer.get_data(as_text=True)
    assert database_rows(engine) == before


def test_someone_elses_channel_cannot_be_removed_from_the_page(browse, engine, world):
    li = world["li"]
    channel = webhooks.install(engine).channels.create(Owner(user_id=li.id), {"kind": "wecom", "url": ROBOT}, li)
    wang = browse("wang")
    token = wang.csrf("/settings/notifications")
    before = database_rows(engine)
    answer = wang.client.post(f"/settings/notifications/{channel['id']}/delete", data={"csrf_token": token})
    assert answer.status_code == 404 and database_rows(engine) == before


def test_the_admin_lists_failing_deliveries_and_sends_one_again(browse, engine, world, clock):
    wang = world["wang"]
    notifications = webhooks.install(engine)
    # three failed attempts recorded as the deliverer records them (the receivers are tested elsewhere)
    channel = notifications.channels.create(Owner(user_id=wang.id), {"kind": "wecom", "url": ROBOT}, wang)
    report_case(engine, world["chen"])
    (delivery_id,) = notifications.relay.run_once()
    for _ in range(3):
        notifications.deliverer._record(delivery_id, channel["id"], _attempts(engine, delivery_id), _failed())
    admin = browse("admin")
    page = admin.text("/admin/deliveries")
    assert "qyapi.weixin.qq.com" in page and "wang" in page and "HTTP 500" in page
    assert admin.post(f"/admin/deliveries/{delivery_id}/resend", csrf_from="/admin/deliveries").status_code == 302
    assert "qyapi.weixin.qq.com" not in admin.text("/admin/deliveries")
    officer = browse("wang")
    assert officer.get("/admin/deliveries").status_code == 403


def _attempts(engine, delivery_id: int) -> int:
    from engine.store.models import NotificationDelivery

    with engine.db.read() as scope:
        return scope.get(NotificationDelivery, delivery_id).attempts


def _failed():
    from webhooks.transport import Outcome

    return Outcome(False, 500, "HTTP 500")
