"""The modeler deploys a model with its `.dmn` files (issue 19), in a real browser: a business rule
task is refused until its table is attached, the attached tables are shown read-only, a version
opened again keeps its files for the redeploy, and the versions page lists the deployed decisions.
Screenshots on a phone and a desktop, in Chinese and English."""

from __future__ import annotations

import pytest

from .conftest import DESKTOP, PHONE
from .test_admin_console_in_browser import open_modeler, wait_checked

pytestmark = pytest.mark.backends("sqlite")

TRIAGE_DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="triage_rules" name="Triage"
  namespace="https://fengqiao.example/dmn">
  <decision id="triage" name="Dispute triage">
    <decisionTable id="triage_table" hitPolicy="UNIQUE">
      <input id="in_severity" label="Severity">
        <inputExpression id="in_severity_expr" typeRef="integer"><text>severity</text></inputExpression>
      </input>
      <input id="in_parties" label="Parties">
        <inputExpression id="in_parties_expr" typeRef="integer"><text>parties</text></inputExpression>
      </input>
      <output id="out_level" label="Level" name="level" typeRef="string"/>
      <rule id="r_low"><inputEntry id="r1a"><text>&lt; 3</text></inputEntry><inputEntry id="r1b"><text>-</text></inputEntry>
        <outputEntry id="r1o"><text>"mediate"</text></outputEntry></rule>
      <rule id="r_mid"><inputEntry id="r2a"><text>[3..6]</text></inputEntry><inputEntry id="r2b"><text>-</text></inputEntry>
        <outputEntry id="r2o"><text>"supervise"</text></outputEntry></rule>
      <rule id="r_high"><inputEntry id="r3a"><text>&gt; 6</text></inputEntry><inputEntry id="r3b"><text>-</text></inputEntry>
        <outputEntry id="r3o"><text>"escalate"</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>
"""
TRIAGE_MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
  id="triage_definitions" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="triage_case" name="Triage" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="classify"/>
    <bpmn:businessRuleTask id="classify" name="Classify" camunda:decisionRef="triage"
      camunda:resultVariable="level" camunda:mapDecisionResult="singleEntry"/>
    <bpmn:sequenceFlow id="f2" sourceRef="classify" targetRef="handle"/>
    <bpmn:userTask id="handle" name="Handle" camunda:candidateGroups="officer"/>
    <bpmn:sequenceFlow id="f3" sourceRef="handle" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="d"><bpmndi:BPMNPlane id="pl" bpmnElement="triage_case">
    <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="150" y="100" width="36" height="36"/></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="classify_di" bpmnElement="classify"><dc:Bounds x="240" y="78" width="100" height="80"/></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="handle_di" bpmnElement="handle"><dc:Bounds x="390" y="78" width="100" height="80"/></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="end_di" bpmnElement="end"><dc:Bounds x="540" y="100" width="36" height="36"/></bpmndi:BPMNShape>
    <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1"><di:waypoint x="186" y="118"/><di:waypoint x="240" y="118"/></bpmndi:BPMNEdge>
    <bpmndi:BPMNEdge id="f2_di" bpmnElement="f2"><di:waypoint x="340" y="118"/><di:waypoint x="390" y="118"/></bpmndi:BPMNEdge>
    <bpmndi:BPMNEdge id="f3_di" bpmnElement="f3"><di:waypoint x="490" y="118"/><di:waypoint x="540" y="118"/></bpmndi:BPMNEdge>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


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
    engine.repository.deploy(
        [("triage.bpmn", model.read_text()), ("分诊规则.dmn", table.read_text())], world["admin"]
    )
    for viewport, size in (("phone", PHONE), ("desktop", DESKTOP)):
        admin = open_as("admin", viewport=size, locale=locale)
        open_modeler(admin, "/admin/definitions/triage_case/1/edit")
        admin.page.wait_for_selector("[data-dmn='分诊规则.dmn'] tr[data-decision=triage]")
        assert admin.page.evaluate("() => document.documentElement.scrollWidth") <= size["width"]
        admin.shot(f"admin-modeler-dmn-{viewport}-{locale}")
        admin.go("/admin/definitions/triage_case")
        admin.page.wait_for_selector("#decisions tr[data-decision=triage]")
        assert admin.page.evaluate("() => document.documentElement.scrollWidth") <= size["width"]
        admin.shot(f"admin-decisions-{viewport}-{locale}")
        assert admin.axe_violations() == []
