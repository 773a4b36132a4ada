"""The definition page shows a timer start event's schedule (issue 19): the next start, the starts
left and made. Screenshots on a phone and a desktop, in Chinese and English."""

from __future__ import annotations

import pytest

from tests import models

from .conftest import DESKTOP, PHONE

pytestmark = pytest.mark.backends("sqlite")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_definition_page_shows_when_the_next_case_starts(open_as, engine, world, clock, locale):
    xml = models.timed("R3/PT1H", attached="start", definition="timeCycle", key="hourly_patrol")
    engine.repository.deploy([("hourly_patrol.bpmn", xml)], world["zhou"])
    clock.advance(hours=1, seconds=1)
    assert engine.start_timers.fire_all_due() == 1
    for viewport, size in (("phone", PHONE), ("desktop", DESKTOP)):
        admin = open_as("admin", viewport=size, locale=locale)
        admin.go("/admin/definitions/hourly_patrol")
        row = admin.page.inner_text("#schedule tr[data-start-event=start]")
        assert ("2 left" if locale == "en" else "还剩 2 次") in row
        assert admin.page.inner_text("#schedule tr[data-start-event=start] td:nth-child(4)").strip() == "1"  # started
        # the model has no layout (BPMN DI): the diagram's box says so instead of staying blank
        note = admin.page.wait_for_selector("#diagram .diagram-note").inner_text()
        assert note == ("This model was deployed without a diagram layout (BPMN DI): there is nothing to draw."
                        if locale == "en" else "该模型部署时未包含图形布局（BPMN DI），无法绘制流程图。")  # fmt: skip
        assert "diagram-failed" not in (admin.page.get_attribute("#diagram", "class") or "")
        assert admin.sideways_scrolling() == []  # on a phone the schedule and versions are cards, not wide tables
        admin.shot(f"admin-schedule-{viewport}-{locale}")
        assert admin.axe_violations() == []


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_a_scheduled_start_that_made_no_case_is_on_the_incidents_page_and_is_dismissed(
    open_as, engine, world, clock, locale
):
    xml = models.timed("R3/PT1H", attached="start", definition="timeCycle", key="hourly_patrol")
    engine.repository.deploy([("hourly_patrol.bpmn", xml)], world["admin"])  # no station: two exist
    clock.advance(hours=1, seconds=1)
    assert engine.start_timers.fire_all_due() == 0
    [incident] = engine.timers.list_incidents()
    row_of = f'li[data-incident="{incident["id"]}"]'
    for viewport, size in (("phone", PHONE), ("desktop", DESKTOP)):
        admin = open_as("admin", viewport=size, locale=locale)
        admin.go("/admin/incidents")
        row = admin.page.inner_text(row_of)
        assert "hourly_patrol" in row and "candidateStarterGroups" in row
        assert ("Start the case now" if locale == "en" else "立即启动案件") in row
        assert admin.page.locator(f"{row_of} .incident-cancel").count() == 0  # no case to cancel
        assert admin.page.evaluate("() => document.documentElement.scrollWidth") <= size["width"]
        admin.shot(f"admin-incident-start-timer-{viewport}-{locale}")
        assert admin.axe_violations() == []
        if viewport == "phone":
            assert admin.layout_problems() == []
    admin.page.fill(f"{row_of} .incident-dismiss input[name=reason]", "测试流程 test schedule")
    admin.page.click(f"{row_of} .incident-dismiss button")
    admin.page.wait_for_load_state("networkidle")
    assert engine.timers.list_incidents() == []
    assert admin.page.locator(row_of).count() == 0
