"""The admin console in a real browser (issue 17): the modeler with its properties panel, validate as
you draw, deploy with a comment, the version list, forms deployed with a model and their preview, the
diff of two versions; officers are refused. Every page is watched for JavaScript errors (conftest)."""

from __future__ import annotations

import json

import pytest

from engine.config import Settings
from tests.helpers import open_tasks

from .conftest import DESKTOP, PHONE, PHONE_390

pytestmark = pytest.mark.backends("sqlite")

VISIT_NOTE = {
    "title": "Visit note",
    "type": "object",
    "additionalProperties": False,
    "required": ["note"],
    "properties": {"note": {"type": "string", "title": "Visit note", "minLength": 2, "maxLength": 200}},
}
# start -> user task (form visit_note) -> end, with its diagram (bpmn-js draws only what has DI)
VISIT_MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
  id="visit_definitions" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="home_visit" name="Home visit" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="visit"/>
    <bpmn:userTask id="visit" name="Record the visit" camunda:candidateGroups="officer" camunda:formKey="visit_note"
      camunda:dueDate="PT24H"/>
    <bpmn:sequenceFlow id="f2" sourceRef="visit" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="d"><bpmndi:BPMNPlane id="pl" bpmnElement="home_visit">
    <bpmndi:BPMNShape id="start_di" bpmnElement="start">
      <dc:Bounds x="150" y="100" width="36" height="36"/></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="visit_di" bpmnElement="visit">
      <dc:Bounds x="240" y="78" width="100" height="80"/></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="end_di" bpmnElement="end">
      <dc:Bounds x="400" y="100" width="36" height="36"/></bpmndi:BPMNShape>
    <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1">
      <di:waypoint x="186" y="118"/><di:waypoint x="240" y="118"/></bpmndi:BPMNEdge>
    <bpmndi:BPMNEdge id="f2_di" bpmnElement="f2">
      <di:waypoint x="340" y="118"/><di:waypoint x="400" y="118"/></bpmndi:BPMNEdge>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    """The test settings, with restricted script tasks allowed: the bundled workflow has one, and the
    console redeploys it (without the setting the console says so, like the API)."""
    return Settings.from_env(
        {
            "FENGQIAO_DATABASE_URL": database_url,
            "FENGQIAO_INSTANCE_PATH": str(tmp_path / "instance"),
            "FENGQIAO_ARGON2_TIME_COST": "1",
            "FENGQIAO_ARGON2_MEMORY_KIB": "1024",
            "FENGQIAO_ALLOW_SCRIPT_TASKS": "1",
        }
    )


def wait_checked(watched, after: str | None = None) -> str:
    """Wait until the modeler has finished a validation (a newer one than `after`); its sequence number."""
    watched.page.wait_for_function(
        "(after) => { const v = document.getElementById('modeler-root').getAttribute('data-checked');"
        " return v !== null && v !== after; }",
        arg=after,
        timeout=20000,
    )
    return watched.page.get_attribute("#modeler-root", "data-checked")


def open_modeler(watched, path: str) -> None:
    watched.go(path)
    watched.page.wait_for_selector("#m-canvas svg")
    wait_checked(watched)


def test_admin_changes_a_due_date_in_the_panel_validates_and_deploys_version_2_with_a_comment(open_as, engine):
    admin = open_as("admin", viewport=DESKTOP)
    admin.go("/")
    admin.page.click("a[href='/admin/definitions']")
    admin.page.click("#definitions a[href$='/1/edit']")
    admin.page.wait_for_selector("#m-canvas svg")
    checked = wait_checked(admin)
    page = admin.page
    assert page.locator("#m-problems li").count() == 0
    assert page.locator(".bjs-powered-by").is_visible()  # the bpmn.io licence's watermark

    page.click(".djs-element[data-element-id=assess_case]")
    page.click("[data-group-id='group-CamundaPlatform__UserAssignment'] .bio-properties-panel-group-header")
    page.fill("#bio-properties-panel-dueDate", "PT12H")
    page.press("#bio-properties-panel-dueDate", "Tab")
    checked = wait_checked(admin, checked)  # validated after the edit, no click needed
    assert page.locator("#m-problems li").count() == 0
    page.click("#m-validate")
    wait_checked(admin, checked)
    assert page.locator("#m-problems li").count() == 0
    admin.shot("admin-modeler-desktop-zh")
    assert admin.axe_violations() == []

    page.fill("#m-comment", "研判时限改为12小时 assessment due in 12 hours")
    page.click("#m-deploy")
    page.wait_for_selector("#m-deploy-result.flash")
    assert "dispute_resolution v2" in page.inner_text("#m-deploy-result")
    latest = engine.repository.get_definition("dispute_resolution", with_xml=True)
    assert latest["version"] == 2 and 'camunda:dueDate="PT12H"' in latest["xml"]

    page.click("#m-deploy")  # the same content again: nothing deployed, and the page says so
    page.wait_for_function("() => document.getElementById('m-deploy-result').textContent.includes('2')")
    assert engine.repository.get_definition("dispute_resolution")["version"] == 2
    page.click("#m-deploy-result a")
    page.wait_for_load_state("networkidle")
    row = page.locator("#versions tr[data-version='2']")
    assert "研判时限改为12小时" in row.inner_text() and "admin" in row.inner_text()
    admin.shot("admin-versions-desktop-zh")

    page.click("#versions tr[data-version='2'] a[href*='/diff']")
    page.wait_for_selector("#diff-new[data-ready]")
    page.wait_for_selector("#diff-old[data-ready]")
    assert page.locator("#diff-new .djs-element.diff-changed[data-element-id=assess_case]").count() == 1
    assert page.locator("#diff-old .djs-element.diff-changed[data-element-id=assess_case]").count() == 1
    # only the due date changed: attributes the modeler writes out at their BPMN default are no change
    assert page.locator("#changes li").count() == 1
    admin.shot("admin-diff-desktop-zh")


def test_a_broken_flow_drawn_in_the_modeler_is_marked_at_its_element(open_as):
    admin = open_as("admin", viewport=DESKTOP)
    open_modeler(admin, "/admin/modeler")
    page = admin.page
    page.click(".djs-element[data-element-id=start]")
    page.click(".djs-context-pad .entry[data-action='append.gateway']")
    gateway = page.get_attribute(".djs-element.selected", "data-element-id")
    checked = wait_checked(admin)
    page.click(".djs-context-pad .entry[data-action='append.append-task']")  # the gateway's pad is open
    page.locator(f".djs-element[data-element-id='{gateway}'] .djs-hit").click()
    page.click(".djs-context-pad .entry[data-action='append.append-task']")  # two flows, no condition
    page.click("#m-validate")
    wait_checked(admin, checked)
    flagged = page.locator("#m-canvas .djs-element.problem-error")
    assert flagged.count() >= 1
    flow = flagged.first.get_attribute("data-element-id")
    assert page.locator(".problem-badge-error").count() >= 1
    item = page.locator(f"#m-problems button[data-element='{flow}']")
    assert "condition" in item.inner_text()
    page.click("#m-canvas")  # nothing selected
    item.click()
    assert page.locator(f".djs-element.selected[data-element-id='{flow}']").count() == 1
    admin.shot("admin-modeler-problem-desktop-zh")


def test_a_model_uploaded_with_its_form_is_previewed_deployed_and_an_officer_completes_that_form(
    open_as, engine, world, tmp_path
):
    model = tmp_path / "home_visit.bpmn"
    model.write_text(VISIT_MODEL, encoding="utf-8")
    admin = open_as("admin", viewport=DESKTOP, locale="en")
    open_modeler(admin, "/admin/modeler")
    page = admin.page
    checked = page.get_attribute("#modeler-root", "data-checked")
    page.set_input_files("#m-upload", str(model))
    checked = wait_checked(admin, checked)
    assert "form 'visit_note' is not installed" in page.inner_text("#m-problems")

    page.fill("#m-form-key", "visit_note")
    page.click("#m-add-form")
    admin.expected_statuses = {422}  # the preview refuses an invalid schema with the reason
    page.fill("#form-json-visit_note", json.dumps({"type": "object", "properties": {"note": {"type": 5}}}))
    page.wait_for_function("() => document.querySelector('[data-form=visit_note] .form-error').textContent !== ''")
    assert "not a valid JSON Schema" in page.inner_text("[data-form=visit_note] .form-error")
    page.fill("#form-json-visit_note", json.dumps(VISIT_NOTE, indent=2))
    page.wait_for_function(
        "() => document.querySelector('[data-form=visit_note] .form-preview').textContent.includes('Visit note')"
    )
    assert (
        page.locator(
            "[data-form=visit_note] .form-preview textarea[name=note], "
            "[data-form=visit_note] .form-preview input[name=note]"
        ).count()
        == 1
    )
    assert page.inner_text("[data-form=visit_note] .form-error") == ""
    admin.expected_statuses = set()
    wait_checked(admin, checked)
    page.click("#m-validate")
    page.wait_for_function("() => !document.getElementById('m-problems').textContent.includes('visit_note')")
    admin.shot("admin-modeler-form-desktop-en")
    page.fill("#m-comment", "home visits")
    page.click("#m-deploy")
    page.wait_for_selector("#m-deploy-result.flash")
    assert engine.repository.deployed_forms("home_visit", 1) == {"visit_note": VISIT_NOTE}

    case = engine.runtime.start_instance("home_visit", world["wang"], {})
    task = open_tasks(engine, case)[0]
    wang = open_as("wang")
    wang.go(f"/tasks/{task['id']}")
    wang.page.click("form[action$='/claim'] button")
    wang.page.wait_for_load_state("networkidle")
    wang.page.fill("[name=note]", "家访完毕 visited, all well")
    wang.page.click("main form.task-form button[type=submit]")
    wang.page.wait_for_load_state("networkidle")
    assert engine.runtime.get_instance(case["id"], history=False)["status"] == "completed"


def test_an_officer_opening_the_admin_console_gets_403(open_as):
    wang = open_as("wang")
    wang.expected_statuses = {403}
    for path in (
        "/admin/modeler",
        "/admin/definitions",
        "/admin/definitions/dispute_resolution/1/edit",
        "/admin/cases",
        "/admin/incidents",
        "/admin/external-tasks",
        "/admin/users",
        "/admin/tokens",
        "/admin/definitions/dispute_resolution/migrate",
    ):
        assert wang.go(path).status == 403
        assert wang.page.locator("h1").count() == 1


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_modeler_on_a_phone_does_not_scroll_sideways_and_says_it_is_for_desktops(open_as, locale):
    admin = open_as("admin", viewport=PHONE, locale=locale)
    open_modeler(admin, "/admin/definitions/dispute_resolution/1/edit")
    assert admin.page.locator(".phone-note").is_visible()
    assert admin.page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    admin.shot(f"admin-modeler-phone-{locale}")
    desktop = open_as("admin", viewport=DESKTOP, locale=locale)
    open_modeler(desktop, "/admin/definitions/dispute_resolution/1/edit")
    assert desktop.page.evaluate("() => document.documentElement.scrollWidth") <= DESKTOP["width"]
    desktop.shot(f"admin-modeler-desktop-{locale}")


# --- monitoring and migration (docs/admin.md) ----------------------------------------------------
def linear_model(*tasks: str, key: str = "patrol") -> str:
    """start -> user tasks in a row -> end, with the diagram bpmn-js draws."""
    nodes = ["start", *tasks, "end"]
    xs = [150 + 150 * i for i in range(len(nodes))]
    body, shapes = [], []
    for i, (a, b) in enumerate(zip(nodes, nodes[1:], strict=False)):
        body.append(f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>')
        shapes.append(
            f'<bpmndi:BPMNEdge id="f{i}_di" bpmnElement="f{i}"><di:waypoint x="{xs[i] + 50}" y="118"/>'
            f'<di:waypoint x="{xs[i + 1]}" y="118"/></bpmndi:BPMNEdge>'
        )
    body += [f'<bpmn:userTask id="{t}" name="{t}" camunda:candidateGroups="officer"/>' for t in tasks]
    for node, x in zip(nodes, xs, strict=True):
        size = 'width="36" height="36"' if node in ("start", "end") else 'width="100" height="80"'
        y = 100 if node in ("start", "end") else 78
        bounds = f'<dc:Bounds x="{x}" y="{y}" {size}/>'
        shapes.append(f'<bpmndi:BPMNShape id="{node}_di" bpmnElement="{node}">{bounds}</bpmndi:BPMNShape>')
    return (
        VISIT_MODEL.split("<bpmn:process")[0]
        + f'<bpmn:process id="{key}" isExecutable="true"><bpmn:startEvent id="start"/>'
        + "".join(body)
        + '<bpmn:endEvent id="end"/></bpmn:process>'
        + f'<bpmndi:BPMNDiagram id="d"><bpmndi:BPMNPlane id="pl" bpmnElement="{key}">'
        + "".join(shapes)
        + "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></bpmn:definitions>"
    )


def deploy(engine, xml: str) -> None:
    engine.repository.deploy([("patrol.bpmn", xml)], None)


def wait_diagram(watched) -> None:
    watched.page.wait_for_selector("#diagram[data-ready]", timeout=20000)


def test_the_definition_diagram_shows_the_cases_waiting_at_two_tasks(open_as, engine, world, clock):
    deploy(engine, linear_model("visit", "record").replace('name="visit"', 'name="visit" camunda:dueDate="PT1H"'))
    cases = [engine.runtime.start_instance("patrol", world["wang"], {}) for _ in range(3)]
    engine.tasks.complete(open_tasks(engine, cases[0])[0]["id"], world["wang"], {})
    clock.advance(hours=2)  # the two cases still at `visit` are past its one-hour deadline
    admin = open_as("admin", viewport=DESKTOP)
    admin.go("/admin/definitions/patrol")
    wait_diagram(admin)
    overlay = admin.page.locator(".djs-overlay-element-count")
    assert overlay.count() == 2
    visit = admin.page.locator(".djs-overlays[data-container-id='visit'] .element-count")
    record = admin.page.locator(".djs-overlays[data-container-id='record'] .element-count")
    assert visit.locator(".waiting").inner_text() == "2" and visit.locator(".breached").inner_text() == "2"
    assert record.locator(".waiting").inner_text() == "1" and record.locator(".breached").count() == 0
    admin.shot("admin-monitor-desktop-zh-CN")


def test_a_case_is_migrated_from_version_1_to_2_in_the_console_and_completes_on_2(open_as, engine, world):
    deploy(engine, linear_model("visit"))
    case = engine.runtime.start_instance("patrol", world["wang"], {})
    deploy(engine, linear_model("visit", "record"))
    admin = open_as("admin", viewport=DESKTOP, locale="en")
    admin.go(f"/admin/cases/{case['id']}")
    wait_diagram(admin)
    assert admin.page.locator("#case-version").inner_text() == "1"
    admin.page.click("text=Move this case to another version…")
    admin.page.wait_for_load_state("networkidle")
    assert admin.page.locator(f"#migration-cases tr[data-case='{case['business_key']}']").count() == 1
    admin.page.fill("#m-reason", "adds a record step")
    admin.page.click("#migrate-form button[type=submit]")
    admin.page.wait_for_load_state("networkidle")
    assert "1 case(s) moved from version 1 to 2." in admin.page.inner_text("main")
    assert engine.runtime.get_instance(case["id"], history=False)["definition_version"] == 2
    for _ in range(2):  # visit, then record: only version 2 has it
        engine.tasks.complete(open_tasks(engine, case)[0]["id"], world["wang"], {})
    assert engine.runtime.get_instance(case["id"], history=False)["status"] == "completed"


def test_a_migration_that_would_drop_an_active_task_is_refused_in_the_console(open_as, engine, world):
    deploy(engine, linear_model("visit", "record"))
    case = engine.runtime.start_instance("patrol", world["wang"], {})
    engine.tasks.complete(open_tasks(engine, case)[0]["id"], world["wang"], {})
    deploy(engine, linear_model("visit"))
    admin = open_as("admin", viewport=DESKTOP)
    admin.expected_statuses = {409}
    admin.go("/admin/definitions/patrol/migrate?from=1&to=2")
    assert admin.page.locator("tr.unsafe").count() == 1
    admin.page.click("#migrate-form button[type=submit]")
    admin.page.wait_for_load_state("networkidle")
    assert admin.page.locator("#migration-refused").is_visible()
    assert "record" in admin.page.inner_text("#migration-refused")
    assert engine.runtime.get_instance(case["id"], history=False)["definition_version"] == 1
    admin.shot("admin-migrate-refused-desktop-zh-CN")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_console_pages_fit_a_phone_and_a_desktop_and_are_accessible(open_as, engine, world, locale):
    deploy(engine, linear_model("visit"))
    case = engine.runtime.start_instance("patrol", world["wang"], {})
    deploy(engine, linear_model("visit", "record"))
    engine.tokens.create_api_token("civil_affairs", None)
    pages = {
        "definitions": "/admin/definitions",
        "cases": "/admin/cases",
        "case": f"/admin/cases/{case['id']}",
        "definition": "/admin/definitions/patrol?version=1",
        "migrate": "/admin/definitions/patrol/migrate",
        "incidents": "/admin/incidents",
        "external-tasks-none": "/admin/external-tasks",
        "users": "/admin/users",
        "tokens": "/admin/tokens",
        "phrases": "/phrases",
        "deliveries": "/admin/deliveries",
        "webhooks": "/admin/webhooks",
    }
    for viewport, size in (("phone", PHONE_390), ("desktop", DESKTOP)):
        admin = open_as("admin", viewport=size, locale=locale)
        for name, path in pages.items():
            admin.go(path)
            if admin.page.locator("#diagram").count():
                wait_diagram(admin)
            # neither the page nor a table inside it scrolls sideways: on a phone tables are cards
            assert admin.sideways_scrolling() == [], (name, viewport)
            assert admin.page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), name
            admin.shot(f"admin-{name}-{viewport}-{locale}")
            assert admin.axe_violations() == [], (name, viewport)
            if viewport == "phone":
                assert admin.layout_problems() == [], name


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_an_admin_sets_a_stations_time_zone_on_the_users_page(open_as, engine, locale):
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        admin = open_as("admin", viewport=viewport, locale=locale)
        admin.go("/admin/users")
        admin.page.fill("#tz-dongfeng", "Asia/Urumqi")
        with admin.page.expect_navigation():
            admin.page.click("[data-department=dongfeng] button[type=submit]")
        assert admin.page.input_value("#tz-dongfeng") == "Asia/Urumqi"
        assert {d["key"]: d["time_zone"] for d in engine.identity.list_departments()}["dongfeng"] == "Asia/Urumqi"
        field = admin.page.locator("#tz-dongfeng").bounding_box()
        save = admin.page.locator("[data-department=dongfeng] button[type=submit]").bounding_box()
        card = admin.page.locator("#departments").bounding_box()
        if size == "desktop":  # sized for an IANA name, its button beside it, not the card's full width
            assert field["width"] <= 300 < card["width"] / 2 and abs(save["y"] - field["y"]) < 10
        else:  # wide enough to read and type a zone on a phone
            assert field["width"] >= 180
        admin.shot(f"admin-departments-time-zone-{size}-{locale}")
        assert admin.axe_violations() == [], size
        assert admin.sideways_scrolling() == [], size
        if size == "phone":
            assert admin.layout_problems() == []
        engine.identity.set_time_zone("dongfeng", None)
