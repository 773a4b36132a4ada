"""The workbench in a real browser (chromium): each role's part of the loop, on a phone-sized screen."""

from __future__ import annotations

import pytest

from tests.helpers import report_case, task_of

from .conftest import DESKTOP

pytestmark = pytest.mark.backends("sqlite")


def submit(watched) -> None:
    watched.page.click("main form.task-form button[type=submit]")
    watched.page.wait_for_load_state("networkidle")


def open_first(watched, list_name: str) -> None:
    watched.page.click(f"#list-{list_name} .row-link >> nth=0")
    watched.page.wait_for_load_state("networkidle")


def claim(watched) -> None:
    watched.page.click("form[action$='/claim'] button")
    watched.page.wait_for_load_state("networkidle")


def test_the_whole_loop_in_the_browser_with_an_invalid_then_valid_assessment(open_as, engine):
    wang = open_as("wang")
    wang.go("/cases/new")
    page = wang.page
    page.check("input[name=risk_level][value=red]")
    page.select_option("select[name=category]", "elderly_care")
    page.fill("textarea[name=description]", "独居老人需要帮扶")
    page.fill("input[name=parties-0-name]", "刘桂兰")
    page.fill("input[name=parties-0-phone]", "13912345678")
    submit(wang)
    case = engine.runtime.list_instances(limit=1)[0]
    assert case["variables"]["risk_level"] == "red"

    wang.go("/")
    assert page.locator("#list-claimable .row-link").count() == 1
    assert page.locator("#list-claimable .risk-red").count() == 1
    open_first(wang, "claimable")
    claim(wang)
    page.check("input[name=resolution][value=escalate]")
    page.evaluate("() => document.querySelectorAll('[name=departments]').forEach(e => e.checked = false)")
    page.fill("textarea[name=assessment]", "需要民政帮扶")
    wang.expected_statuses = {422}
    submit(wang)
    assert page.locator(".fq-summary").is_visible()
    assert page.input_value("textarea[name=assessment]").strip() == "需要民政帮扶"
    wang.expected_statuses = set()
    page.check("input[name=departments][value=civil_affairs]")
    submit(wang)
    assert task_of(engine, case, "handle_civil_affairs")["state"] == "open"

    li = open_as("li")
    assert li.page.locator("#list-claimable .row-link").count() == 1
    open_first(li, "claimable")
    claim(li)
    li.page.check("input[name=outcome][value=resolved]")
    li.page.fill("textarea[name=summary]", "已落实临时救助")
    submit(li)

    wang.go("/")
    open_first(wang, "mine")
    page.check("input[name=satisfaction][value=satisfied]")
    submit(wang)
    wang.go(f"/cases/{case['id']}")
    assert page.locator(".status-completed").is_visible()
    page.wait_for_selector("#diagram svg")
    assert page.locator("#diagram .djs-element.done-task").count() > 3


def test_the_core_path_works_without_javascript(open_as, engine):
    wang = open_as("wang", javascript=False)
    wang.go("/cases/new")
    wang.page.check("input[name=risk_level][value=blue]")
    wang.page.select_option("select[name=category]", "neighbour_dispute")
    wang.page.fill("textarea[name=description]", "楼上漏水")
    submit(wang)
    case = engine.runtime.list_instances(limit=1)[0]
    wang.go("/")
    open_first(wang, "claimable")
    claim(wang)
    wang.page.check("input[name=resolution][value=on_spot]")
    submit(wang)
    assert task_of(engine, case, "handle_on_spot")["assignee"] == "wang"


def test_two_colleagues_race_for_one_claim_and_the_loser_sees_the_conflict_page(open_as, engine, world):
    case = report_case(engine, world["wang"])
    task = case["open_tasks"][0]
    wang, chen = open_as("wang"), open_as("chen")
    wang.go(f"/tasks/{task['id']}")
    chen.go(f"/tasks/{task['id']}")
    claim(wang)
    chen.expected_statuses = {409}
    claim(chen)
    assert "同事已先一步签收" in chen.page.inner_text("main")
    chen.page.click("main a.button")
    assert chen.page.url.endswith("/")
    assert engine.tasks.get_task(task["id"])["assignee"] == "wang"


def test_the_supervisor_board_counts_a_breached_task_when_time_moves(open_as, engine, world, clock):
    case = report_case(engine, world["wang"])
    zhou = open_as("zhou")
    assert zhou.page.locator("#list-breached .row-link").count() == 0
    clock.advance(hours=3)
    zhou.go("/")
    assert zhou.page.locator("#list-breached .row-link").count() == 1
    assert case["business_key"] in zhou.page.inner_text("#list-breached")
    assert zhou.page.locator("#by-officer .sla-cell-breached").first.inner_text() == "1"


def test_an_officer_of_another_station_gets_404_for_the_case_page(open_as, engine, world):
    case = report_case(engine, world["wang"])
    liu = open_as("liu")
    liu.expected_statuses = {404}
    assert liu.go(f"/cases/{case['id']}").status == 404
    assert "404" in liu.page.inner_text("main")


def test_logout_ends_the_session(open_as):
    wang = open_as("wang")
    wang.page.click("form[action='/logout'] button")
    wang.page.wait_for_load_state()
    assert "/login" in wang.page.url
    wang.go("/")
    assert "/login" in wang.page.url


def test_a_post_without_csrf_token_is_refused(open_as, engine, world):
    case = report_case(engine, world["wang"])
    task = case["open_tasks"][0]
    wang = open_as("wang")
    response = wang.context.request.post(f"{wang.base}/tasks/{task['id']}/claim", form={"x": "1"})
    assert response.status == 400
    assert engine.tasks.get_task(task["id"])["state"] == "open"


def test_pages_render_in_chinese_and_in_english(open_as):
    chinese = open_as("wang")
    assert "我的任务" in chinese.page.inner_text("main")
    english = open_as("wang", locale="en-US")
    assert "My tasks" in english.page.inner_text("main")
    english.page.click("button[name=locale]")
    english.page.wait_for_load_state()
    assert "我的任务" in english.page.inner_text("main")


MAIN_PAGES = {
    "officer": ("wang", ["/", "/cases/new", "task", "case"]),
    "liaison": ("li", ["/"]),
    "supervisor": ("zhou", ["/"]),
    "auditor": ("sun", ["/audit"]),
}


@pytest.mark.parametrize("role", list(MAIN_PAGES))
def test_main_pages_fit_a_phone_are_accessible_light_and_are_photographed(open_as, engine, world, role):
    case = report_case(engine, world["chen"])
    report_case(engine, world["chen"], risk_level="blue", category="neighbour_dispute", community="东湖社区")
    escalated = report_case(engine, world["chen"], risk_level="yellow")
    engine.tasks.complete(
        task_of(engine, escalated, "assess_case")["id"],
        world["chen"],
        {"resolution": "escalate", "departments": ["civil_affairs"]},
    )
    task = task_of(engine, case, "assess_case")
    engine.tasks.claim(task["id"], world["wang"])
    username, paths = MAIN_PAGES[role]
    if role == "officer":
        login = open_as()
        login.go("/login")
        login.shot("login-phone")
        assert login.axe_violations() == [] and login.layout_problems() == []
    for size, viewport in (("phone", None), ("desktop", DESKTOP)):
        watched = open_as(username) if viewport is None else open_as(username, viewport=viewport)
        for path in paths:
            target = {"task": f"/tasks/{task['id']}", "case": f"/cases/{case['id']}"}.get(path, path)
            watched.go(target)
            if path == "case":
                watched.page.wait_for_selector("#diagram svg")
            name = {"/": "home", "/cases/new": "report", "/audit": "audit"}.get(path, path)
            watched.shot(f"{role}-{name}-{size}")
            assert watched.axe_violations() == [], (target, size)
            if size == "phone":
                assert watched.layout_problems() == [], target
            if path != "case":  # the diagram viewer (case pages only) is the one large download
                weight = watched.page.evaluate(
                    "() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
                    ".reduce((sum, e) => sum + (e.decodedBodySize || 0), 0)"
                )
                assert weight <= 200 * 1024, (target, weight)


def test_a_case_of_a_model_without_a_layout_says_so_where_the_diagram_would_be(open_as, engine, world):
    from tests import models

    engine.repository.deploy([("approval.bpmn", models.one_task())], world["zhou"])
    case = engine.runtime.start_instance("approval", world["wang"], {})
    wang = open_as("wang")
    wang.go(f"/cases/{case['id']}")
    note = wang.page.wait_for_selector("#diagram .diagram-note").inner_text()
    assert note == "该流程部署时未附带流程图；案件进展见上方的任务。"
    assert "diagram-failed" not in (wang.page.get_attribute("#diagram", "class") or "")
