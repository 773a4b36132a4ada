"""Call activities pass variables as Camunda 7 and Flowable do (engine/call_activities.py, issue 19):
only what `camunda:in` maps goes in, only what `camunda:out` maps comes back; what cannot run is
refused at deploy naming the call activity."""

from __future__ import annotations

import pytest

from engine.errors import DeploymentInvalid

from . import models
from .helpers import task_of

# The called process records what it saw: `doubled` and `total` if passed, `secret` only if passed.
CHILD = models.document(
    """<bpmn:process id="child" isExecutable="true">
  <bpmn:startEvent id="child_start"/>
  <bpmn:sequenceFlow id="c1" sourceRef="child_start" targetRef="look"/>
  <bpmn:scriptTask id="look" scriptFormat="python"><bpmn:script>verdict = var('doubled', 0) * 10
saw_secret = var('secret', 'absent')
saw_total = var('total', 'absent')</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="c2" sourceRef="look" targetRef="child_end"/>
  <bpmn:endEvent id="child_end"/>
</bpmn:process>""",
    key="child",
)


def caller(mappings: str = "", attrs: str = "", key: str = "parent") -> str:
    """start -> call `child` (with the given extension elements) -> user task `after` -> end."""
    extensions = f"<bpmn:extensionElements>{mappings}</bpmn:extensionElements>" if mappings else ""
    return models.document(
        f'''<bpmn:process id="{key}" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call"/>
  <bpmn:callActivity id="call" calledElement="child" {attrs}>{extensions}</bpmn:callActivity>
  <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="after"/>
  <bpmn:userTask id="after" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>''',
        key=key,
    ).replace("<bpmn:definitions ", '<bpmn:definitions xmlns:flowable="http://flowable.org/bpmn" ', 1)


def run(engine, world, parent: str) -> dict:
    engine.repository.deploy([("parent.bpmn", parent), ("child.bpmn", CHILD)], allow_scripts=True)
    case = engine.runtime.start_instance("parent", world["wang"], {"amount": 7, "secret": "s3"})
    task_of(engine, case, "after")  # the called process ended and the caller moved on
    return engine.runtime.get_instance(case["id"], history=False)["variables"]


def test_in_and_out_pass_only_the_mapped_variables_and_the_caller_keeps_its_own(engine, world):
    variables = run(
        engine,
        world,
        caller(
            '<camunda:in source="amount" target="total"/>'
            '<camunda:in sourceExpression="${amount * 2}" target="doubled"/>'
            '<camunda:out source="verdict" target="result"/>'
            '<camunda:out source="saw_secret" target="secret_in_child"/>'
            '<camunda:out source="saw_total" target="total_in_child"/>'
        ),
    )
    assert variables["amount"] == 7 and variables["secret"] == "s3"
    assert variables["result"] == 140 and variables["total_in_child"] == 7
    assert variables["secret_in_child"] == "absent"  # not mapped in: the called process never saw it
    assert not {"verdict", "doubled", "total", "saw_secret"} & set(variables)  # not mapped out


def test_without_mappings_nothing_goes_in_and_nothing_comes_back(engine, world):
    variables = run(engine, world, caller())
    assert variables == {"amount": 7, "secret": "s3"}


def test_variables_all_passes_everything_both_ways(engine, world):
    variables = run(engine, world, caller('<camunda:in variables="all"/><camunda:out variables="all"/>'))
    assert variables["saw_secret"] == "s3" and variables["saw_total"] == "absent" and variables["verdict"] == 0
    assert variables["amount"] == 7


def test_flowable_inherit_variables_passes_everything_in_and_flowable_out_maps_back(engine, world):
    variables = run(
        engine, world, caller('<flowable:out source="saw_secret" target="seen"/>', 'flowable:inheritVariables="true"')
    )
    assert variables["seen"] == "s3" and "verdict" not in variables


def test_a_missing_source_variable_arrives_as_null(engine, world):
    variables = run(
        engine, world, caller('<camunda:in source="nowhere" target="secret"/><camunda:out variables="all"/>')
    )
    assert variables["saw_secret"] is None


@pytest.mark.parametrize(
    ("mappings", "attrs", "sentence"),
    [
        (
            "",
            'camunda:variableMappingClass="org.example.Mapping"',
            "callActivity 'call' uses camunda:variableMappingClass: Java variable mappings cannot run here; "
            "pass the variables with camunda:in and camunda:out",
        ),
        (
            '<camunda:in variables="all" local="true"/>',
            "",
            "callActivity 'call': camunda:in local=\"true\" is not supported (there are no local variables here); "
            "leave it out",
        ),
        (
            '<camunda:in target="total"/>',
            "",
            "callActivity 'call': camunda:in needs a source, a sourceExpression or variables=\"all\"",
        ),
        (
            '<camunda:out source="verdict"/>',
            "",
            "callActivity 'call': camunda:out needs a target (the variable it sets)",
        ),
        (
            '<camunda:in sourceExpression="${amount.bit_length()}" target="total"/>',
            "",
            "callActivity 'call': camunda:in sourceExpression refused: method 'bit_length' is not allowed",
        ),
    ],
)
def test_a_mapping_that_cannot_run_is_refused_naming_the_call_activity_and_nothing_is_deployed(
    engine, mappings, attrs, sentence
):
    before = engine.repository.list_definitions()
    with pytest.raises(DeploymentInvalid) as err:
        engine.repository.deploy([("parent.bpmn", caller(mappings, attrs)), ("child.bpmn", CHILD)], allow_scripts=True)
    assert {"element_id": "call", "message": sentence} in err.value.details
    assert engine.repository.list_definitions() == before


def test_a_business_key_mapping_deploys_with_a_warning_that_the_case_shares_its_key(engine, world):
    deployed = engine.repository.deploy(
        [
            ("parent.bpmn", caller('<camunda:in businessKey="#{execution.processBusinessKey}"/>')),
            ("child.bpmn", CHILD),
        ],
        allow_scripts=True,
    )
    messages = [w["message"] for w in deployed["warnings"]]
    assert (
        "callActivity 'call': camunda:in businessKey is not read: the called process runs inside the calling "
        "case and shares its business key"
    ) in messages
