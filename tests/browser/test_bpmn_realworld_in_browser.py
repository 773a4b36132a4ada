"""A definition deployed with isExecutable="false" is marked in the admin console's list (issue 19),
on a phone and a desktop, in Chinese and English; the page keeps its layout and accessibility."""

from __future__ import annotations

import pytest

from tests import models

from .conftest import DESKTOP, PHONE

pytestmark = pytest.mark.backends("sqlite")


@pytest.mark.parametrize(("viewport", "locale"), [(PHONE, "zh-CN"), (DESKTOP, "en")])
def test_a_non_executable_definition_is_marked_in_the_definition_list(open_as, engine, viewport, locale):
    xml = models.one_task("viewed", name="Descriptive model").replace('isExecutable="true"', 'isExecutable="false"')
    engine.repository.deploy([("viewed.bpmn", xml)])
    admin = open_as("admin", viewport=viewport, locale=locale)
    admin.go("/admin/definitions")
    row = admin.page.locator("#definitions tr", has_text="viewed")
    expected = "不可执行" if locale == "zh-CN" else "Not executable"
    assert row.locator(".badge.not-executable").inner_text() == expected
    bundled = admin.page.locator("#definitions tr", has_text="dispute_resolution")
    assert bundled.locator(".badge.not-executable").count() == 0
    assert admin.layout_problems() == []
    assert admin.axe_violations() == []
    admin.shot(f"definitions-not-executable-{'phone' if viewport is PHONE else 'desktop'}-{locale}")
