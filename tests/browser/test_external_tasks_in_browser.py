"""The console's external-task page in chromium (docs/admin.md): a phone 390 px wide and a desktop,
Chinese and English, accessible (axe), photographed; a lock released and an incident retried through
the confirm disclosures, each with its flash message."""

from __future__ import annotations

import pytest

from tests.browser.conftest import DESKTOP
from tests.pages.test_external_task_pages import PHONE as RESIDENT_PHONE
from tests.pages.test_external_task_pages import deploy_both, one_in_each_state

pytestmark = pytest.mark.backends("sqlite")  # the page's database work is tested on both in tests/pages
PHONE_390 = {"width": 390, "height": 844}
PAGE = "/admin/external-tasks"


@pytest.fixture
def four(engine, world):
    deploy_both(engine)
    return one_in_each_state(engine, world)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_page_fits_a_phone_is_accessible_and_is_photographed(open_as, four, locale):
    for size, viewport in (("phone", PHONE_390), ("desktop", DESKTOP)):
        admin = open_as("admin", viewport=viewport, locale=locale)
        admin.go(PAGE)
        assert admin.page.locator("#external-tasks > li").count() == 4
        assert admin.page.locator("#topic-counts li[data-topic]").count() == 2
        assert RESIDENT_PHONE not in admin.page.content()
        admin.page.locator(f"[data-task='{four['locked']['id']}'] details.confirm summary").first.click()
        admin.page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar where it belongs in the full-page shot
        admin.shot(f"admin-external-tasks-{size}-{locale}")
        assert admin.axe_violations() == [], size
        if size == "phone":
            assert admin.layout_problems() == []


def test_an_admin_unlocks_a_task_and_retries_an_incident_after_confirming(open_as, engine, four):
    admin = open_as("admin", viewport=DESKTOP)
    admin.go(f"{PAGE}?state=locked")
    row = admin.page.locator(f"[data-task='{four['locked']['id']}']")
    row.locator("details.confirm summary").first.click()
    row.locator("button.danger").click()
    admin.page.wait_for_load_state()
    assert admin.page.locator(".flash-ok").count() == 1
    assert admin.page.url.endswith(f"{PAGE}?state=locked")
    assert admin.page.locator("#external-tasks > li").count() == 0
    admin.go(f"{PAGE}?state=incident")
    row = admin.page.locator(f"[data-task='{four['incident']['id']}']")
    row.locator("details.confirm summary").click()
    row.locator("input[name=retries]").fill("2")
    row.locator("button.primary").click()
    admin.page.wait_for_load_state()
    assert admin.page.locator(".flash-ok").count() == 1
    admin.go(PAGE)
    assert admin.page.locator("[data-state='incident']").count() == 0
    assert admin.page.locator("[data-state='available']").count() == 2  # the one unlocked, the one never fetched
    assert admin.page.locator("[data-state='failed']").count() == 2  # retried: its last error and 2 retries left
    admin.shot("admin-external-tasks-after-actions-desktop-zh-CN")
    assert engine.timers.list_incidents() == []
