"""The joint meeting (联席会议) in a real browser: the case owner chooses it on the assessment, a
liaison signs its department's instance, the other instance closes as not needed (或签), and the
SLA board shows returns, urges and extensions; phone and desktop, zh-CN and en."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.helpers import escalate, report_case, task_of

from .conftest import DESKTOP

pytestmark = pytest.mark.backends("sqlite")
SIZES = (("phone", None), ("desktop", DESKTOP))
LOCALES = (("zh", "zh-CN"), ("en", "en"))


def check(watched, name: str, size: str) -> None:
    watched.shot(name)
    assert watched.axe_violations() == [], name
    if size == "phone":
        assert watched.layout_problems() == [], name


def test_the_owner_calls_a_joint_meeting_and_one_department_signs_in_the_browser(open_as, engine, world):
    case = report_case(engine, world["wang"])
    assessment = engine.tasks.claim(task_of(engine, case, "assess_case")["id"], world["wang"])
    wang = open_as("wang")
    wang.go(f"/tasks/{assessment['id']}")
    wang.page.check("input[name=resolution][value=joint]")
    wang.page.check("input[name=departments][value=civil_affairs]")
    wang.page.check("input[name=departments][value=health]")
    wang.page.check("input[name=joint_mode][value=any]")
    check(wang, "countersign-assessment-zh-phone", "phone")
    wang.page.click("main form.task-form button[type=submit]")
    wang.page.wait_for_load_state("networkidle")
    tasks = {t["candidate_groups"][0]: t for t in engine.runtime.get_instance(case["id"])["open_tasks"]}
    assert sorted(tasks) == ["civil_affairs", "health"]
    health = engine.tasks.claim(tasks["health"]["id"], world["zhao"])
    for lang, locale in LOCALES:
        for size, viewport in SIZES:
            zhao = open_as("zhao", locale=locale) if viewport is None else open_as("zhao", DESKTOP, locale)
            zhao.go(f"/tasks/{health['id']}")
            assert zhao.page.locator("textarea[name=joint_opinion], input[name=joint_opinion]").count() == 1
            check(zhao, f"countersign-task-{lang}-{size}", size)
    zhao = open_as("zhao")
    zhao.go(f"/tasks/{health['id']}")
    zhao.page.fill("[name=joint_opinion]", "同意联合调处，卫健派员参加")
    zhao.page.click("main form.task-form button[type=submit]")
    zhao.page.wait_for_load_state("networkidle")
    assert engine.tasks.get_task(tasks["civil_affairs"]["id"])["state"] == "cancelled"
    assert task_of(engine, case, "feedback_to_resident")["assignee"] == "wang"
    for lang, locale in LOCALES:
        for size, viewport in SIZES:
            owner = open_as("wang", locale=locale) if viewport is None else open_as("wang", DESKTOP, locale)
            owner.go(f"/cases/{case['id']}")
            owner.page.wait_for_selector("#diagram svg")
            words = "已无需办理" if lang == "zh" else "no longer needed"
            assert owner.page.get_by_text(words).count() >= 1
            check(owner, f"countersign-case-{lang}-{size}", size)


def test_the_board_shows_returns_urges_and_pending_extensions_in_the_browser(open_as, engine, world):
    returned = report_case(engine, world["wang"])
    escalate(engine, world["wang"], returned, ["civil_affairs"])
    engine.tasks.return_task(task_of(engine, returned, "handle_civil_affairs")["id"], world["li"], "不属于民政职责")
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["health"])
    health = task_of(engine, case, "handle_health")
    engine.tasks.urge(health["id"], world["wang"], "请尽快")
    held = engine.tasks.claim(health["id"], world["zhao"])
    asked = datetime.fromisoformat(held["due_at"]) + timedelta(days=3)
    engine.tasks.request_extension(health["id"], world["zhao"], asked, "等待体检结果")
    for lang, locale in LOCALES:
        for size, viewport in SIZES:
            zhou = open_as("zhou", locale=locale) if viewport is None else open_as("zhou", DESKTOP, locale)
            zhou.go("/board")
            assert zhou.page.locator("#returns-urges").is_visible()
            assert zhou.page.locator(f"#list-extensions [data-task='{health['id']}']").is_visible()
            check(zhou, f"countersign-board-{lang}-{size}", size)
