"""The admin's webhooks page in chromium: phone and desktop, Chinese and English, axe, photographed."""

from __future__ import annotations

import pytest

import webhooks
from tests.browser.conftest import DESKTOP, PHONE
from tests.helpers import escalate, report_case


@pytest.fixture
def subscribed(engine, world):
    """Two subscriptions, an inbound secret and a failed delivery (the name does not resolve)."""
    hooks = webhooks.install(engine)
    civil = hooks.subscriptions.create(
        {"department": "civil_affairs", "url": "https://receiver.invalid/hooks", "events": ["escalation.raised"]},
        world["admin"],
    )
    hooks.subscriptions.create(
        {"name": "city-dashboard", "url": "https://dashboard.example/hooks", "events": ["instance.completed"]},
        world["admin"],
    )
    hooks.subscriptions.inbound_rotate("civil_affairs", world["admin"])
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    hooks.sweep()
    return civil["id"]


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_webhooks_pages_fit_a_phone_are_accessible_and_are_photographed(open_as, subscribed, locale):
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        admin = open_as("admin", viewport=viewport, locale=locale)
        admin.go("/admin/webhooks")
        assert admin.page.locator("#subscriptions li").count() == 2
        admin.shot(f"webhooks-{size}-{locale}")
        assert admin.axe_violations() == [], size
        if size == "phone":
            assert admin.layout_problems() == []
        admin.go(f"/admin/webhooks/{subscribed}")
        assert admin.page.locator("#deliveries > li").count() == 1
        admin.shot(f"webhooks-attempts-{size}-{locale}")
        assert admin.axe_violations() == [], size
        if size == "phone":
            assert admin.layout_problems() == []


def test_a_new_subscription_shows_its_secret_once(open_as):
    admin = open_as("admin", viewport=DESKTOP)
    admin.go("/admin/webhooks")
    admin.page.fill("#w-url", "https://minzheng.example/hooks")
    admin.page.select_option("#w-department", "civil_affairs")
    admin.page.check("input[value='escalation.raised']")
    admin.page.click("form.stack button.primary")
    admin.page.wait_for_selector("#secret-value")
    assert admin.page.inner_text("#secret-value").startswith("whsec_")
    admin.shot("webhooks-secret-once-desktop-zh-CN")
    admin.go("/admin/webhooks")
    assert admin.page.locator("#secret-value").count() == 0
