"""A user task's own form fields (`camunda:formData`, Flowable's `formProperty`) are its form
(engine/model_forms.py, issue 19): the task takes exactly those values, as in Camunda 7 and Flowable."""

from __future__ import annotations

import pytest

from engine.errors import DeploymentInvalid, FormInvalid

from . import models
from .helpers import task_of

CAMUNDA_FIELDS = """<bpmn:extensionElements><camunda:formData>
  <camunda:formField id="approved" label="Approved?" type="boolean"/>
  <camunda:formField id="amount" label="Amount" type="long">
    <camunda:validation><camunda:constraint name="required"/></camunda:validation>
  </camunda:formField>
  <camunda:formField id="verdict" label="Verdict" type="enum">
    <camunda:value id="grant" name="Grant"/><camunda:value id="refuse" name="Refuse"/>
  </camunda:formField>
  <camunda:formField id="note" label="Note" type="string"/>
  <camunda:formField id="invoice" label="Invoice" type="string">
    <camunda:validation><camunda:constraint name="readonly"/></camunda:validation>
  </camunda:formField>
</camunda:formData></bpmn:extensionElements>"""

FLOWABLE_FIELDS = """<bpmn:extensionElements>
  <flowable:formProperty id="days" name="Days" type="long" required="true" variable="numberOfDays"/>
  <flowable:formProperty id="shown" name="Shown only" type="string" writable="false"/>
</bpmn:extensionElements>"""


def with_fields(extensions: str, task_attrs: str = 'camunda:candidateGroups="officer"', start: str = "") -> str:
    return models.document(
        f"""<bpmn:process id="fielded" isExecutable="true">
  <bpmn:startEvent id="start">{start}</bpmn:startEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
  <bpmn:userTask id="review" name="Review" {task_attrs}>{extensions}</bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>""",
        key="fielded",
    ).replace("<bpmn:definitions ", '<bpmn:definitions xmlns:flowable="http://flowable.org/bpmn" ', 1)


def test_camunda_form_fields_are_the_form_the_task_takes_its_data_through(engine, world):
    deployed = engine.repository.deploy([("m.bpmn", with_fields(CAMUNDA_FIELDS))])
    assert not [w for w in deployed["warnings"] if "form" in w["message"]]
    case = engine.runtime.start_instance("fielded", world["wang"], {})
    task = task_of(engine, case, "review")
    assert task["form_key"].startswith("model_")
    engine.tasks.complete(task["id"], world["wang"], {"approved": True, "amount": 12, "verdict": "grant"})
    done = engine.runtime.get_instance(case["id"], history=False)
    assert done["status"] == "completed"
    assert done["variables"] == {"approved": True, "amount": 12, "verdict": "grant"}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"approved": True}, "amount"),  # required
        ({"amount": "12"}, "amount"),  # a long is an integer
        ({"amount": 1, "verdict": "maybe"}, "verdict"),  # not one of the enum's values
        ({"amount": 1, "invoice": "INV-1"}, "invoice"),  # read-only: not part of the form
        ({"amount": 1, "elsewhere": 1}, "elsewhere"),  # not a field of the task
    ],
)
def test_data_the_fields_do_not_allow_is_refused_and_the_task_stays_open(engine, world, data, field):
    engine.repository.deploy([("m.bpmn", with_fields(CAMUNDA_FIELDS))])
    case = engine.runtime.start_instance("fielded", world["wang"], {})
    task = task_of(engine, case, "review")
    with pytest.raises(FormInvalid) as err:
        engine.tasks.complete(task["id"], world["wang"], data)
    assert err.value.details[0]["field"] == field
    after = engine.runtime.get_instance(case["id"], history=False)
    assert after["status"] == "running" and after["variables"] == {}
    assert task_of(engine, case, "review")["id"] == task["id"]


def test_flowable_form_properties_write_their_variable_and_a_read_only_one_is_left_out(engine, world):
    engine.repository.deploy([("m.bpmn", with_fields(FLOWABLE_FIELDS))])
    case = engine.runtime.start_instance("fielded", world["wang"], {})
    task = task_of(engine, case, "review")
    with pytest.raises(FormInvalid):
        engine.tasks.complete(task["id"], world["wang"], {"numberOfDays": 3, "shown": "x"})
    engine.tasks.complete(task["id"], world["wang"], {"numberOfDays": 3})
    assert engine.runtime.get_instance(case["id"], history=False)["variables"] == {"numberOfDays": 3}


def test_a_task_with_a_form_key_keeps_its_form_and_its_fields_are_a_warning(engine):
    deployed = engine.repository.deploy(
        [("m.bpmn", with_fields(CAMUNDA_FIELDS, 'camunda:candidateGroups="officer" camunda:formKey="assess_case"'))]
    )
    assert {
        "element_id": "review",
        "message": "userTask 'review': camunda:formData form fields are not read here: the task takes no data "
        "unless a form is deployed under its form key",
    } in deployed["warnings"]


def test_fields_on_a_start_event_are_a_warning(engine):
    start = '<bpmn:extensionElements><flowable:formProperty id="days" type="long"/></bpmn:extensionElements>'
    deployed = engine.repository.deploy([("m.bpmn", with_fields("", start=start))])
    assert any(w["element_id"] == "start" and "form fields are not read" in w["message"] for w in deployed["warnings"])


def test_an_enum_field_without_values_is_refused_naming_the_task_and_nothing_is_deployed(engine):
    fields = '<bpmn:extensionElements><flowable:formProperty id="choice" type="enum"/></bpmn:extensionElements>'
    before = engine.repository.list_definitions()
    with pytest.raises(DeploymentInvalid) as err:
        engine.repository.deploy([("m.bpmn", with_fields(fields))])
    assert err.value.details == [
        {
            "element_id": "review",
            "message": "userTask 'review': the enum form field 'choice' lists no values (add a value element per "
            "choice)",
        }
    ]
    assert engine.repository.list_definitions() == before
