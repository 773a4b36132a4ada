"""The modeler deploys a model with its `.dmn` files (issue 19), in a real browser: a business rule
task is refused until its table is attached, the attached tables are shown read-only, a version
opened again keeps its files for the redeploy, and the versions page lists the deployed decisions.
Screenshots on a phone and a desktop, in Chinese and English."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import DESKTOP, PHONE
from .test_admin_console_in_browser import open_modeler, wait_checked

pytestmark = pytest.mark.backends("sqlite")

MODELS = Path(__file__).resolve().parent.parent / "models"
# start -> business rule task `classify` (decision `triage`, UNIQUE, 3 rules) -> user task -> end, with DI
TRIAGE_MODEL = (MODELS / "triage_decision.bpmn").read_text(encoding="utf-8")
TRIAGE_DMN = (MODELS / "triage.dmn").read_text(encoding="utf-8")


@pytest.fixture
def files(tmp_path):
    model, table = tmp_path / "triage.bpmn", tmp_path / "分诊规则.dmn"
    model.write_text(TRIAGE_MODEL, encoding="utf-8")
    table.write_text(TRIAGE_DMN, encoding="utf-8")
    return model, table


def test_a_model_with_a_business_rule_task_deploys_from_the_modeler_with_its_dmn_and_keeps_it(
    open_as, engine, world, files
):
    model, table = files
    admin = open_as("admin", viewport=DESKTOP, locale="en")
    open_modeler(admin, "/admin/modeler")
    page = admin.page
    checked = page.get_attribute("#modeler-root", "data-checked")
    page.set_input_files("#m-upload", str(model))
    checked = wait_checked(admin, checked)
    assert "decision 'triage'" in page.inner_text("#m-problems")  # no table yet: the task is refused

    page.set_input_files("#m-dmn-upload", str(table))
    page.wait_for_selector("[data-dmn='分诊规则.dmn'] tr[data-decision=triage]")
    assert page.locator("#m-problems li").count() == 0
    row = page.inner_text("[data-dmn='分诊规则.dmn'] tr[data-decision=triage]")
    assert "Dispute triage" in row and "UNIQUE" in row and "Severity, Parties" in row and "level" in row
    admin.shot("admin-modeler-dmn-desktop-en")
    assert admin.axe_violations() == []
    page.fill("#m-comment", "triage table")
    page.click("#m-deploy")
    page.wait_for_selector("#m-deploy-result.flash")
    assert "triage_case v1" in page.inner_text("#m-deploy-result")
    case = engine.runtime.start_instance("triage_case", world["wang"], {"severity": 7, "parties": 2})
    assert engine.runtime.get_instance(case["id"], history=False)["variables"]["level"] == "escalate"

    # version 1 opened again: its .dmn comes with it, so a change to the BPMN alone deploys
    open_modeler(admin, "/admin/definitions/triage_case/1/edit")
    page.wait_for_selector("[data-dmn='分诊规则.dmn'] tr[data-decision=triage]")
    checked = wait_checked(admin)
    page.click(".djs-element[data-element-id=handle]")
    if not page.locator("#bio-properties-panel-name").is_visible():
        page.click("[data-group-id='group-general'] .bio-properties-panel-group-header")
    page.fill("#bio-properties-panel-name", "Handle the case")
    page.press("#bio-properties-panel-name", "Tab")
    wait_checked(admin, checked)
    page.click("#m-deploy")
    page.wait_for_selector("#m-deploy-result.flash")
    assert "triage_case v2" in page.inner_text("#m-deploy-result")
    assert [d["id"] for d in engine.repository.list_decisions("triage_case", 2)] == ["triage"]

    page.click("#m-deploy-result a")
    page.wait_for_selector("#decisions tr[data-decision=triage]")
    assert "分诊规则.dmn" in page.inner_text("#decisions") and "classify" in page.inner_text("#decisions")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_decisions_in_the_modeler_and_on_the_versions_page_fit_a_phone_and_a_desktop(
    open_as, engine, world, files, locale
):
    model, table = files
    engine.repository.deploy([("triage.bpmn", model.read_text()), ("分诊规则.dmn", table.read_text())], world["admin"])
    for viewport, size in (("phone", PHONE), ("desktop", DESKTOP)):
        admin = open_as("admin", viewport=size, locale=locale)
        open_modeler(admin, "/admin/definitions/triage_case/1/edit")
        admin.page.wait_for_selector("[data-dmn='分诊规则.dmn'] tr[data-decision=triage]")
        assert admin.page.evaluate("() => document.documentElement.scrollWidth") <= size["width"]
        admin.shot(f"admin-modeler-dmn-{viewport}-{locale}")
        admin.go("/admin/definitions/triage_case")
        admin.page.wait_for_selector("#decisions tr[data-decision=triage]")
        assert admin.sideways_scrolling() == []  # on a phone the decision table is cards, not a wide table
        admin.shot(f"admin-decisions-{viewport}-{locale}")
        assert admin.axe_violations() == []
