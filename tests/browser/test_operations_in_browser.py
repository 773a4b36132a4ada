"""Handling operations in a real browser (docs/operations.md): a supervisor suspends and resumes a case,
the case owner urges a department task and its liaison sees the flag; phone and desktop, zh-CN and en."""

from __future__ import annotations

import pytest

from tests.helpers import escalate, report_case, task_of

from .conftest import DESKTOP

pytestmark = pytest.mark.backends("sqlite")
SIZES = (("phone", None), ("desktop", DESKTOP))
LOCALES = (("zh", "zh-CN"), ("en", "en"))


def send(watched, form: str, reason: str) -> None:
    watched.page.fill(f"{form} input[name=reason]", reason)
    watched.page.click(f"{form} button[type=submit]")
    watched.page.wait_for_load_state("networkidle")


def check(watched, name: str, size: str) -> None:
    watched.shot(name)
    assert watched.axe_violations() == [], name
    if size == "phone":
        assert watched.layout_problems() == [], name


def test_a_supervisor_suspends_and_resumes_a_case_in_the_browser(open_as, engine, world):
    case = report_case(engine, world["wang"])
    task = task_of(engine, case, "assess_case")
    zhou = open_as("zhou")
    zhou.go(f"/cases/{case['id']}")
    send(zhou, "form[action$='/suspend']", "等待法院开庭")
    assert zhou.page.locator(".suspended-note").is_visible()
    assert engine.runtime.get_instance(case["id"])["status"] == "suspended"
    for lang, locale in LOCALES:
        for size, viewport in SIZES:
            shown = open_as("zhou", locale=locale) if viewport is None else open_as("zhou", DESKTOP, locale)
            shown.go(f"/cases/{case['id']}")
            shown.page.wait_for_selector("#diagram svg")
            check(shown, f"operations-case-suspended-{lang}-{size}", size)
    wang = open_as("wang")
    wang.go(f"/tasks/{task['id']}")
    assert wang.page.locator("form[action$='/claim']").count() == 0
    check(wang, "operations-task-paused-zh-phone", "phone")
    zhou.go(f"/cases/{case['id']}")
    send(zhou, "form[action$='/resume']", "法院已排期")
    assert zhou.page.locator(".suspended-note").count() == 0
    assert engine.runtime.get_instance(case["id"])["status"] == "running"


def test_the_owner_urges_and_the_liaison_sees_the_flag_in_the_browser(open_as, engine, world):
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    task = task_of(engine, case, "handle_civil_affairs")
    wang = open_as("wang")
    wang.go(f"/tasks/{task['id']}")
    send(wang, "form[action$='/urge']", "群众再次来电")
    assert task_of(engine, case, "handle_civil_affairs")["urge_count"] == 1
    for lang, locale in LOCALES:
        for size, viewport in SIZES:
            li = open_as("li", locale=locale) if viewport is None else open_as("li", DESKTOP, locale)
            li.go(f"/tasks/{task['id']}")
            assert li.page.locator(".urged-note").is_visible()
            check(li, f"operations-task-urged-{lang}-{size}", size)
    check(wang, "operations-task-urge-form-zh-phone", "phone")


def test_the_liaison_returns_a_task_and_the_owner_reroutes_in_the_browser(open_as, engine, world):
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    task = task_of(engine, case, "handle_civil_affairs")
    for lang, locale in LOCALES:
        for size, viewport in SIZES:
            li = open_as("li", locale=locale) if viewport is None else open_as("li", DESKTOP, locale)
            li.go(f"/tasks/{task['id']}")
            check(li, f"operations-task-return-form-{lang}-{size}", size)
    li.go(f"/tasks/{task['id']}")
    send(li, "form[action$='/return']", "不属于民政职责")
    assert engine.tasks.get_task(task["id"])["state"] == "returned"
    wang = open_as("wang")
    wang.go(f"/cases/{case['id']}")
    assert wang.page.get_by_text("不属于民政职责").count() >= 1
    check(wang, "operations-case-returned-zh-phone", "phone")
    wang.go(f"/tasks/{task_of(engine, case, 'assess_case')['id']}")
    wang.page.check("input[name=resolution][value=escalate]")
    wang.page.evaluate("() => document.querySelectorAll('[name=departments]').forEach(e => e.checked = false)")
    wang.page.check("input[name=departments][value=health]")
    wang.page.click("main form.task-form button[type=submit]")
    wang.page.wait_for_load_state("networkidle")
    assert task_of(engine, case, "handle_health")["state"] == "open"


def test_the_holder_asks_for_more_time_and_the_supervisor_approves_in_the_browser(open_as, engine, world):
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    task = engine.tasks.claim(task_of(engine, case, "handle_civil_affairs")["id"], world["li"])
    li = open_as("li")
    li.go(f"/tasks/{task['id']}")
    check(li, "operations-task-extension-form-zh-phone", "phone")
    li.page.select_option("form[action$='/extension'] select[name=days]", "3")
    send(li, "form[action$='/extension']", "等待体检结果")
    assert engine.tasks.get_task(task["id"])["extension_due_at"] is not None
    for lang, locale in LOCALES:
        for size, viewport in SIZES:
            zhou = open_as("zhou", locale=locale) if viewport is None else open_as("zhou", DESKTOP, locale)
            zhou.go(f"/tasks/{task['id']}")
            assert zhou.page.locator(".extension-note").is_visible()
            check(zhou, f"operations-task-extension-pending-{lang}-{size}", size)
    zhou.page.fill("form[action$='/extension/decision'] input[name=reason]", "同意")
    zhou.page.click("form[action$='/extension/decision'] button[value=approve]")
    zhou.page.wait_for_load_state("networkidle")
    assert engine.tasks.get_task(task["id"])["extended_from"] == task["due_at"]
    li.go(f"/tasks/{task['id']}")
    assert li.page.locator(".extended-note").is_visible()
    check(li, "operations-task-extended-zh-phone", "phone")
