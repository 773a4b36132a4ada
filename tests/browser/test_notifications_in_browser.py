"""The notification pages in chromium: phone and desktop, Chinese and English, axe, photographed."""

from __future__ import annotations

import pytest

import webhooks
from tests.browser.conftest import DESKTOP, PHONE
from tests.helpers import report_case
from webhooks import Owner
from webhooks.transport import Outcome

ROBOT = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=robot-key-123"


@pytest.fixture
def failing(engine, world):
    """One delivery of wang's that failed three times, and wang's channels."""
    wang = world["wang"]
    notifications = webhooks.install(engine)
    channel = notifications.channels.create(Owner(user_id=wang.id), {"kind": "wecom", "url": ROBOT}, wang)
    notifications.channels.create(Owner(user_id=wang.id), {"kind": "email", "address": "wang@station.example"}, wang)
    report_case(engine, world["chen"])
    (delivery_id,) = notifications.relay.run_once()[:1]
    for attempts in range(3):
        notifications.deliverer._record(delivery_id, channel["id"], attempts, Outcome(False, 503, "HTTP 503"))
    return delivery_id


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_notification_pages_fit_a_phone_are_accessible_and_are_photographed(open_as, failing, locale):
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        officer = open_as("wang", viewport=viewport, locale=locale)
        officer.go("/settings/notifications")
        assert officer.page.locator("#channels li").count() == 2
        officer.shot(f"notifications-settings-{size}-{locale}")
        assert officer.axe_violations() == [], size
        admin = open_as("admin", viewport=viewport, locale=locale)
        admin.go("/admin/deliveries")
        assert admin.page.locator("#deliveries li").count() == 1
        admin.shot(f"notifications-failing-{size}-{locale}")
        assert admin.axe_violations() == [], size
        if size == "phone":
            assert officer.layout_problems() == [] and admin.layout_problems() == []


def test_adding_a_refused_channel_in_the_browser_shows_why(open_as):
    officer = open_as("wang", viewport=DESKTOP)
    officer.expected_statuses.add(422)
    officer.go("/settings/notifications")
    officer.page.fill("#n-url", "https://10.0.0.8/hook")
    officer.page.click("form.stack button[type=submit]")
    officer.page.wait_for_selector("#channel-error")
    officer.shot("notifications-refused-desktop-zh-CN")
