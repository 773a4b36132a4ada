"""Opinions, common phrases, drafts and saved views in a real browser (chromium), phone and desktop,
Chinese and English: a draft saved while typing comes back after a reload and in a second browser,
and is gone after completion; a phrase chip fills the opinion; saved views survive a logout."""

from __future__ import annotations

import time

import pytest

from tests.helpers import report_case, task_of

from .conftest import DESKTOP, PHONE

pytestmark = pytest.mark.backends("sqlite")


def wait_until(condition, timeout: float = 10.0):
    """Poll a server-side condition (a sendBeacon lands after the page has gone)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def on_spot_task(engine, world) -> tuple[dict, dict]:
    case = report_case(engine, world["wang"])
    engine.tasks.complete(task_of(engine, case, "assess_case")["id"], world["wang"], {"resolution": "on_spot"})
    return case, task_of(engine, case, "handle_on_spot")


def test_a_draft_comes_back_after_a_reload_and_in_another_browser_and_goes_with_completion(open_as, engine, world):
    case, task = on_spot_task(engine, world)
    wang = open_as("wang")
    wang.go(f"/tasks/{task['id']}")
    page = wang.page
    page.fill("textarea[name=measures]", "已上门调解两次")
    page.wait_for_function("() => document.getElementById('draft-status').textContent.trim() !== ''")
    wang.go(f"/tasks/{task['id']}")
    assert page.input_value("textarea[name=measures]") == "已上门调解两次"
    assert page.locator("#draft-status").inner_text().strip() != ""

    other = open_as("wang", viewport=DESKTOP)
    other.go(f"/tasks/{task['id']}")
    assert other.page.input_value("textarea[name=measures]") == "已上门调解两次"
    other.page.check("input[name=result][value=resolved]")
    other.page.click("main form.task-form button[type=submit]")
    other.page.wait_for_load_state("networkidle")
    assert engine.tasks.get_task(task["id"])["state"] == "completed"
    assert engine.drafts.get(task["id"], world["wang"]) is None


def test_leaving_the_page_saves_the_draft(open_as, engine, world):
    case, task = on_spot_task(engine, world)
    wang = open_as("wang")
    wang.go(f"/tasks/{task['id']}")
    wang.page.fill("textarea[name=measures]", "离开页面前写的")
    wang.go("/")  # before the debounce fires: pagehide sends it
    wait_until(
        lambda: (engine.drafts.get(task["id"], world["wang"]) or {}).get("data") == {"measures": "离开页面前写的"}
    )


def test_a_phrase_chip_fills_the_opinion_which_shows_in_the_timeline(open_as, engine, world):
    engine.phrases.add(world["admin"], "情况属实，同意办理")
    case, task = on_spot_task(engine, world)
    wang = open_as("wang")
    wang.go(f"/tasks/{task['id']}")
    page = wang.page
    page.fill("#opinion", "已核实")
    page.click("button[data-phrase='情况属实，同意办理']")
    assert page.input_value("#opinion") == "已核实，情况属实，同意办理"
    page.check("input[name=result][value=resolved]")
    page.click("main form.task-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    wang.go(f"/cases/{case['id']}")
    timeline = page.inner_text(".timeline")
    assert "已核实，情况属实，同意办理" in timeline and "社区民警" in timeline


def test_without_javascript_the_chips_are_hidden_and_the_opinion_still_submits(open_as, engine, world):
    engine.phrases.add(world["admin"], "情况属实，同意办理")
    case, task = on_spot_task(engine, world)
    wang = open_as("wang", javascript=False)
    wang.go(f"/tasks/{task['id']}")
    page = wang.page
    assert not page.locator("#phrases").is_visible()
    page.fill("#opinion", "无脚本也能提交")
    page.check("input[name=result][value=resolved]")
    page.click("main form.task-form button[type=submit]")
    page.wait_for_load_state()
    assert [c["text"] for c in engine.comments.list(case["id"])] == ["无脚本也能提交"]


def test_a_comment_from_the_case_page_and_a_saved_view_that_survives_logout(open_as, engine, world):
    case = report_case(engine, world["wang"])
    wang = open_as("wang")
    wang.go(f"/cases/{case['id']}")
    wang.page.fill("#comment-text", "已约当事人明天上午面谈")
    wang.page.click("#comments button[type=submit]")
    wang.page.wait_for_load_state("networkidle")
    assert "已约当事人明天上午面谈" in wang.page.inner_text("#comments")

    wang.go("/")
    wang.page.click(".save-view summary")
    wang.page.fill("#view-name", "待签收")
    wang.page.select_option("#view-list", "claimable")
    wang.page.click(".save-view button[type=submit]")
    wang.page.wait_for_load_state("networkidle")
    wang.page.click("form[action='/logout'] button")
    wang.page.wait_for_load_state()
    wang.login("wang")
    wang.go("/")
    wang.page.click(".tabs >> text=待签收")
    wang.page.wait_for_load_state("networkidle")
    assert case["business_key"] in wang.page.inner_text("#list-view")


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_collaboration_pages_fit_a_phone_are_accessible_and_are_photographed(open_as, engine, world, locale):
    engine.phrases.add(world["admin"], "情况属实，同意办理")
    engine.phrases.add(world["wang"], "已电话联系当事人")
    engine.saved_views.create(world["wang"], "超时", {"assignee": "me", "sla_state": "breached"})
    case, task = on_spot_task(engine, world)
    engine.drafts.save(task["id"], world["wang"], {"measures": "已上门调解"})
    engine.comments.add(case["id"], world["zhou"], "请尽快办理，注意老人安全")
    lang = "zh" if locale == "zh-CN" else "en"
    for size, viewport in (("phone", None), ("desktop", DESKTOP)):
        watched = open_as("wang", viewport=viewport or PHONE, locale=locale)
        for name, path in (
            ("task", f"/tasks/{task['id']}"),
            ("case", f"/cases/{case['id']}"),
            ("inbox", "/"),
            ("phrases", "/phrases"),
        ):
            watched.go(path)
            if name == "case":
                watched.page.wait_for_selector("#diagram svg")
            watched.shot(f"collab-{name}-{size}-{lang}")
            assert watched.axe_violations() == [], (path, size)
            if size == "phone":
                assert watched.layout_problems() == [], path
