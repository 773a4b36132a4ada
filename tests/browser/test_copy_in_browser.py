"""Copy (抄送) in a real browser (docs/operations.md): the case owner copies a case from its page to a
colleague and a department, the recipients find it under "Copied to me" (with the case link only when
their role opens it) and mark it read; phone and desktop, zh-CN and en."""

from __future__ import annotations

import pytest

from tests.helpers import report_case, task_of

from .conftest import DESKTOP

pytestmark = pytest.mark.backends("sqlite")
SIZES = (("phone", None), ("desktop", DESKTOP))
LOCALES = (("zh", "zh-CN"), ("en", "en"))


def check(watched, name: str, size: str) -> None:
    watched.shot(name)
    assert watched.axe_violations() == [], name
    if size == "phone":
        assert watched.layout_problems() == [], name


def test_the_owner_copies_a_case_and_the_recipients_mark_it_read_in_the_browser(open_as, engine, world):
    case = report_case(engine, world["wang"])
    engine.tasks.claim(task_of(engine, case, "assess_case")["id"], world["wang"])  # wang owns it
    for lang, locale in LOCALES:
        for size, viewport in SIZES:
            wang = open_as("wang", locale=locale) if viewport is None else open_as("wang", DESKTOP, locale)
            wang.go(f"/cases/{case['id']}#copy")
            assert wang.page.locator("#copy").is_visible()
            wang.page.locator("#copy").scroll_into_view_if_needed()
            check(wang, f"copy-case-form-{lang}-{size}", size)
    wang = open_as("wang")
    wang.go(f"/cases/{case['id']}")
    form = "form[action$='/copies']"
    wang.page.fill(f"{form} input[name=users]", "chen")
    wang.page.check(f"{form} input[name=groups][value=civil_affairs]")
    wang.page.fill(f"{form} input[name=reason]", "请社区调委会和民政局知悉")
    wang.page.click(f"{form} button[type=submit]")
    wang.page.wait_for_load_state("networkidle")
    assert wang.page.get_by_text("请社区调委会和民政局知悉").count() >= 1  # the timeline says it
    assert [c["copied_by"] for c in engine.copies.list_for(world["chen"])] == ["wang"]
    for lang, locale in LOCALES:
        for size, viewport in SIZES:
            chen = open_as("chen", locale=locale) if viewport is None else open_as("chen", DESKTOP, locale)
            chen.go("/copies")
            assert chen.page.locator(f"#copies a[href='/cases/{case['id']}']").is_visible()
            check(chen, f"copy-copied-to-me-{lang}-{size}", size)
    li = open_as("li")
    li.go("/copies")
    assert li.page.locator("#copies .copy").count() == 1
    assert li.page.locator(f"#copies a[href='/cases/{case['id']}']").count() == 0  # the notice, not the case
    check(li, "copy-copied-to-me-liaison-zh-phone", "phone")
    li.page.click("#copies form button[type=submit]")
    li.page.wait_for_load_state("networkidle")
    assert li.page.locator("#copies .copy.unread").count() == 0
    assert engine.copies.unread_count(world["li"]) == 0
    check(li, "copy-copied-to-me-read-zh-phone", "phone")
    wang.go(f"/cases/{case['id']}")
    check(wang, "copy-case-timeline-zh-phone", "phone")
