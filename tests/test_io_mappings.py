"""Camunda 7's input/output mappings and pass-through tasks (engine/io_mappings.py, issue 19): input
parameters are the activity's own variables, output parameters write to the enclosing scope, what
cannot run is refused naming the activity; plain and manual tasks do not wait."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import Engine, io_mappings
from engine.errors import DeploymentInvalid, WorkflowFailed

from . import models
from .helpers import complete_as, open_tasks, status, task_of

CONFORMANCE = Path(__file__).parent / "conformance"
VERDICT_FORM = (
    """<camunda:formData><camunda:formField id="verdict" label="Verdict" type="string"/></camunda:formData>"""
)


def review(io: str, form: str = VERDICT_FORM, attrs: str = "", key: str = "mapped") -> str:
    """start -> user task `review` (with the given inputOutput) -> user task `after` -> end."""
    return models.document(
        f'''<bpmn:process id="{key}" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
  <bpmn:userTask id="review" camunda:candidateGroups="officer" {attrs}>
    <bpmn:extensionElements>{form}<camunda:inputOutput>{io}</camunda:inputOutput></bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="after"/>
  <bpmn:userTask id="after" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>''',
        key=key,
    )


def variables(engine, case) -> dict:
    return engine.runtime.get_instance(case["id"], history=False)["variables"]


ALL_SHAPES = """
  <camunda:inputParameter name="greeting">你好</camunda:inputParameter>
  <camunda:inputParameter name="doubled">${amount * 2}</camunda:inputParameter>
  <camunda:inputParameter name="nothing"/>
  <camunda:inputParameter name="items"><camunda:list>
    <camunda:value>first</camunda:value><camunda:value>${amount + 1}</camunda:value>
    <camunda:list><camunda:value>inner</camunda:value></camunda:list>
  </camunda:list></camunda:inputParameter>
  <camunda:inputParameter name="info"><camunda:map>
    <camunda:entry key="kind">dispute</camunda:entry>
    <camunda:entry key="${label}">${amount}</camunda:entry>
    <camunda:entry key="more">
      <camunda:list><camunda:value>${amount &gt; 5}</camunda:value></camunda:list>
    </camunda:entry>
  </camunda:map></camunda:inputParameter>
  <camunda:outputParameter name="summary"><camunda:map>
    <camunda:entry key="greeting">${greeting}</camunda:entry>
    <camunda:entry key="doubled">${doubled}</camunda:entry>
    <camunda:entry key="nothing">${nothing}</camunda:entry>
    <camunda:entry key="items">${items}</camunda:entry>
    <camunda:entry key="info">${info}</camunda:entry>
  </camunda:map></camunda:outputParameter>
  <camunda:outputParameter name="decided">${verdict}</camunda:outputParameter>
  <camunda:outputParameter name="stamp">done</camunda:outputParameter>"""


def test_constants_expressions_lists_and_maps_are_evaluated_and_only_outputs_reach_the_case(engine, world):
    engine.repository.deploy([("mapped.bpmn", review(ALL_SHAPES))])
    case = engine.runtime.start_instance("mapped", world["wang"], {"amount": 7, "label": "amount"})
    assert variables(engine, case) == {"amount": 7, "label": "amount"}  # the task's locals are its own
    complete_as(engine, world["wang"], case, "review", {"verdict": "grant"})
    task_of(engine, case, "after")
    assert variables(engine, case) == {
        "amount": 7,
        "label": "amount",
        "summary": {
            "greeting": "你好",
            "doubled": 14,
            "nothing": None,
            "items": ["first", 8, ["inner"]],
            "info": {"kind": "dispute", "amount": 7, "more": [True]},
        },
        "decided": "grant",  # the form's value reached the case only through an output parameter
        "stamp": "done",
    }


def test_an_input_parameter_is_visible_to_the_task_s_own_expressions(engine, world):
    io = '<camunda:inputParameter name="urgency">${amount * 10}</camunda:inputParameter>'
    engine.repository.deploy([("mapped.bpmn", review(io, attrs='camunda:priority="${urgency}"'))])
    case = engine.runtime.start_instance("mapped", world["wang"], {"amount": 7})
    assert task_of(engine, case, "review")["priority"] == 70
    assert "urgency" not in variables(engine, case)


def test_without_outputs_inputs_do_not_leak_and_a_shadowed_variable_keeps_its_value(engine, world):
    io = '<camunda:inputParameter name="amount">${amount + 100}</camunda:inputParameter>'
    engine.repository.deploy([("mapped.bpmn", review(io, attrs='camunda:priority="${amount}"'))])
    case = engine.runtime.start_instance("mapped", world["wang"], {"amount": 7})
    assert task_of(engine, case, "review")["priority"] == 107  # the local shadows the case's amount
    assert variables(engine, case) == {"amount": 7}
    complete_as(engine, world["wang"], case, "review", {"verdict": "grant"})
    task_of(engine, case, "after")
    assert variables(engine, case) == {"amount": 7, "verdict": "grant"}  # no outputs: the task's writes propagate


def test_with_outputs_what_the_task_wrote_stays_local(engine, world):
    io = '<camunda:outputParameter name="stamp">done</camunda:outputParameter>'
    engine.repository.deploy([("mapped.bpmn", review(io))])
    case = engine.runtime.start_instance("mapped", world["wang"], {"amount": 7})
    complete_as(engine, world["wang"], case, "review", {"verdict": "grant"})
    task_of(engine, case, "after")
    assert variables(engine, case) == {"amount": 7, "stamp": "done"}


def test_an_output_expression_that_fails_stops_the_completion_and_changes_nothing(engine, world):
    io = '<camunda:outputParameter name="x">${missing + 1}</camunda:outputParameter>'
    engine.repository.deploy([("mapped.bpmn", review(io))])
    case = engine.runtime.start_instance("mapped", world["wang"], {"amount": 7})
    with pytest.raises(WorkflowFailed) as failed:
        complete_as(engine, world["wang"], case, "review", {"verdict": "grant"})
    assert failed.value.details[0]["message"].startswith("the output parameter 'x' failed: 'missing' is not defined")
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["review"]
    assert variables(engine, case) == {"amount": 7}


SUB_PROCESS = models.document(
    """<bpmn:process id="nested" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sub"/>
  <bpmn:subProcess id="sub">
    <bpmn:extensionElements><camunda:inputOutput>
      <camunda:inputParameter name="inner">${outer * 3}</camunda:inputParameter>
      <camunda:outputParameter name="result">${inner + 1}</camunda:outputParameter>
    </camunda:inputOutput></bpmn:extensionElements>
    <bpmn:startEvent id="sub_start"/>
    <bpmn:sequenceFlow id="s1" sourceRef="sub_start" targetRef="inside"/>
    <bpmn:userTask id="inside" camunda:candidateGroups="officer" camunda:priority="${inner}"/>
    <bpmn:sequenceFlow id="s2" sourceRef="inside" targetRef="sub_end"/>
    <bpmn:endEvent id="sub_end"/>
  </bpmn:subProcess>
  <bpmn:sequenceFlow id="f2" sourceRef="sub" targetRef="after"/>
  <bpmn:userTask id="after" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>""",
    key="nested",
)


def test_a_sub_process_s_input_parameters_are_visible_inside_it_and_its_outputs_reach_the_case(engine, world):
    engine.repository.deploy([("nested.bpmn", SUB_PROCESS)])
    case = engine.runtime.start_instance("nested", world["wang"], {"outer": 5})
    assert task_of(engine, case, "inside")["priority"] == 15
    assert "inner" not in variables(engine, case)
    complete_as(engine, world["wang"], case, "inside", {})
    task_of(engine, case, "after")
    assert variables(engine, case) == {"outer": 5, "result": 16}


def test_an_open_task_with_locals_survives_a_reload_and_completes_as_before(engine, world, settings, clock):
    engine.repository.deploy([("mapped.bpmn", review(ALL_SHAPES)), ("nested.bpmn", SUB_PROCESS)])
    case = engine.runtime.start_instance("mapped", world["wang"], {"amount": 7, "label": "amount"})
    nested = engine.runtime.start_instance("nested", world["wang"], {"outer": 5})
    fresh = Engine(settings, clock)  # a new engine reads the saved cases from the database
    try:
        complete_as(fresh, world["wang"], case, "review", {"verdict": "grant"})
        complete_as(fresh, world["wang"], nested, "inside", {})
        assert variables(fresh, case)["summary"]["items"] == ["first", 8, ["inner"]]
        assert variables(fresh, case)["decided"] == "grant" and "greeting" not in variables(fresh, case)
        assert variables(fresh, nested) == {"outer": 5, "result": 16}
    finally:
        fresh.close()


def test_call_activity_input_parameters_are_visible_to_its_in_mappings(engine, world):
    child = models.document(
        """<bpmn:process id="child" isExecutable="true"><bpmn:startEvent id="cs"/>
  <bpmn:sequenceFlow id="c1" sourceRef="cs" targetRef="ce"/><bpmn:endEvent id="ce"/></bpmn:process>""",
        key="child",
    )
    parent = models.document(
        """<bpmn:process id="parent" isExecutable="true"><bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call"/>
  <bpmn:callActivity id="call" calledElement="child"><bpmn:extensionElements>
    <camunda:inputOutput><camunda:inputParameter name="local">${amount + 1}</camunda:inputParameter>
    </camunda:inputOutput>
    <camunda:in source="local" target="seen"/><camunda:out source="seen" target="returned"/>
  </bpmn:extensionElements></bpmn:callActivity>
  <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="after"/>
  <bpmn:userTask id="after" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end"/><bpmn:endEvent id="end"/></bpmn:process>""",
        key="parent",
    )
    engine.repository.deploy([("parent.bpmn", parent), ("child.bpmn", child)])
    case = engine.runtime.start_instance("parent", world["wang"], {"amount": 7})
    task_of(engine, case, "after")
    assert variables(engine, case) == {"amount": 7, "returned": 8}


@pytest.mark.parametrize(
    ("io", "sentence"),
    [
        (
            '<camunda:inputParameter name="x"><camunda:script scriptFormat="groovy">1 + 1</camunda:script>'
            "</camunda:inputParameter>",
            "userTask 'review': camunda:inputParameter 'x' is a Groovy script: Groovy scripts cannot run here; "
            "write a ${…} expression instead",
        ),
        (
            '<camunda:outputParameter name="y"><camunda:map><camunda:entry key="k"><camunda:script '
            'scriptFormat="Javascript" resource="parse.js"/></camunda:entry></camunda:map></camunda:outputParameter>',
            "userTask 'review': camunda:outputParameter 'y' is a JavaScript script: JavaScript scripts cannot run "
            "here; write a ${…} expression instead",
        ),
        (
            '<camunda:inputParameter name="z">${__import__("os")}</camunda:inputParameter>',
            "userTask 'review': camunda:inputParameter 'z' is refused:",
        ),
        (
            '<camunda:inputParameter name="w">${a}-${b}</camunda:inputParameter>',
            "userTask 'review': camunda:inputParameter 'w' mixes text and expressions",
        ),
        (
            "<camunda:inputParameter>1</camunda:inputParameter>",
            "userTask 'review': a camunda:inputParameter has no name",
        ),
    ],
)
def test_a_parameter_that_cannot_run_is_refused_naming_the_task_and_nothing_is_deployed(engine, io, sentence):
    before = engine.repository.list_definitions()
    with pytest.raises(DeploymentInvalid) as refused:
        engine.repository.deploy([("mapped.bpmn", review(io))])
    assert any(p["element_id"] == "review" and p["message"].startswith(sentence) for p in refused.value.details), (
        refused.value.details
    )
    assert engine.repository.list_definitions() == before


def test_mappings_on_an_event_or_a_multi_instance_task_and_flowable_mappings_are_refused(engine):
    event = models.document(
        """<bpmn:process id="evented" isExecutable="true"><bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="end"/>
  <bpmn:endEvent id="end"><bpmn:extensionElements><camunda:inputOutput>
    <camunda:inputParameter name="x">1</camunda:inputParameter></camunda:inputOutput></bpmn:extensionElements>
  </bpmn:endEvent></bpmn:process>""",
        key="evented",
    )
    with pytest.raises(DeploymentInvalid) as refused:
        engine.repository.deploy([("evented.bpmn", event)])
    assert refused.value.details[0]["message"] == (
        "endEvent 'end': input/output mappings (camunda:inputOutput) run here only on tasks, sub-processes and "
        "call activities"
    )
    many = review('<camunda:inputParameter name="x">1</camunda:inputParameter>').replace(
        "</bpmn:extensionElements>\n  </bpmn:userTask>",
        '</bpmn:extensionElements><bpmn:multiInstanceLoopCharacteristics camunda:collection="${people}" '
        'camunda:elementVariable="person"/>\n  </bpmn:userTask>',
    )
    with pytest.raises(DeploymentInvalid) as refused:
        engine.repository.deploy([("mapped.bpmn", many)])
    assert "on a multi-instance activity are not supported" in refused.value.details[0]["message"]
    flowable = review("").replace("camunda:inputOutput", "flowable:inputOutput")
    flowable = flowable.replace("<bpmn:definitions ", '<bpmn:definitions xmlns:flowable="http://flowable.org/bpmn" ', 1)
    with pytest.raises(DeploymentInvalid) as refused:
        engine.repository.deploy([("mapped.bpmn", flowable)])
    assert refused.value.details[0]["message"].startswith(
        "userTask 'review': flowable:inputOutput is not a Flowable construct"
    )


PASS_THROUGH = models.document(
    """<bpmn:process id="passing" isExecutable="true"><bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="manual"/>
  <bpmn:manualTask id="manual" name="Phone the neighbour"/>
  <bpmn:sequenceFlow id="f2" sourceRef="manual" targetRef="plain"/>
  <bpmn:task id="plain" name="File the paper copy"><bpmn:extensionElements><camunda:inputOutput>
    <camunda:inputParameter name="copy">${amount}</camunda:inputParameter>
    <camunda:outputParameter name="filed">${copy * 2}</camunda:outputParameter>
  </camunda:inputOutput></bpmn:extensionElements></bpmn:task>
  <bpmn:sequenceFlow id="f3" sourceRef="plain" targetRef="end"/><bpmn:endEvent id="end"/></bpmn:process>""",
    key="passing",
)


def test_manual_and_plain_tasks_pass_through_without_a_task_row(engine, world):
    engine.repository.deploy([("passing.bpmn", PASS_THROUGH)])
    case = engine.runtime.start_instance("passing", world["wang"], {"amount": 4})
    assert status(engine, case) == "completed"
    assert open_tasks(engine, case) == []
    assert variables(engine, case) == {"amount": 4, "filed": 8}
    assert {"manual", "plain"} <= set(engine.runtime.diagram_state(case["id"])["completed"])


def test_camunda_s_own_sub_process_model_keeps_its_input_inside_and_returns_its_output(engine, world):
    """Camunda's InputOutputTest.testSubprocessIoSupport, as its test asserts it (tests/conformance)."""
    path = CONFORMANCE / "camunda-engine/iomapping_InputOutputTest.testSubprocessIoSupport.bpmn20.xml"
    engine.repository.deploy([(path.name, path.read_text())])
    case = engine.runtime.start_instance("testProcess", world["wang"], {"processVar": "value"})
    assert variables(engine, case) == {"processVar": "value"}  # innerVar is the sub-process's own
    complete_as(engine, world["zhou"], case, "subprocessTask", {})
    task_of(engine, case, "UserTask_1")
    assert variables(engine, case) == {"processVar": "value", "outerVar": "value"}


def test_a_task_row_opened_for_a_manual_task_before_they_passed_through_can_still_be_completed(
    engine, world, settings, clock, monkeypatch
):
    waiting = io_mappings.PassThrough.__init__

    def as_before(self, *args, **kwargs):  # what SpiffWorkflow's ManualTask and NoneTask did
        waiting(self, *args, **kwargs)
        self.manual = True

    monkeypatch.setattr(io_mappings.PassThrough, "__init__", as_before)
    engine.repository.deploy([("passing.bpmn", PASS_THROUGH)])
    case = engine.runtime.start_instance("passing", world["wang"], {"amount": 4})
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["manual"]
    monkeypatch.setattr(io_mappings.PassThrough, "__init__", waiting)
    upgraded = Engine(settings, clock)  # parses the stored model again, as after an upgrade
    try:
        complete_as(upgraded, world["zhou"], case, "manual", {})
        assert status(upgraded, case) == "completed"
        assert variables(upgraded, case) == {"amount": 4, "filed": 8}
    finally:
        upgraded.close()


def test_an_external_task_s_worker_sees_its_inputs_and_only_its_outputs_reach_the_case(engine, world):
    from engine.identity import Actor

    worker = Actor.system("civil-records", department="civil_affairs", topics=frozenset({"civil.records"}))
    io = """<bpmn:extensionElements><camunda:inputOutput>
      <camunda:inputParameter name="query">${category}</camunda:inputParameter>
      <camunda:outputParameter name="on_record">${found}</camunda:outputParameter>
    </camunda:inputOutput></bpmn:extensionElements>"""
    model = models.external_task().replace('camunda:topic="civil.records">', 'camunda:topic="civil.records">' + io, 1)
    engine.repository.deploy([("records.bpmn", model)])
    case = engine.runtime.start_instance("records_check", world["wang"], {"category": "neighbour"})
    [task] = engine.external_tasks.fetch_and_lock(
        worker, "w1", 1, [{"topicName": "civil.records", "lockDuration": 1000}]
    )
    assert task["variables"]["query"] == {"value": "neighbour", "type": "String"}
    assert "query" not in variables(engine, case)
    engine.external_tasks.complete(
        task["id"],
        worker,
        "w1",
        {"found": {"value": True, "type": "Boolean"}, "note": {"value": "x", "type": "String"}},
    )
    task_of(engine, case, "review")
    assert variables(engine, case) == {"category": "neighbour", "on_record": True}


def test_an_output_parameter_cannot_copy_a_personal_field_into_the_workflow(engine, world):
    from .test_personal_data import forms_of, raw_dump

    io = '<camunda:outputParameter name="copied">${handler_name}</camunda:outputParameter>'
    engine.repository.deploy([("mapped.bpmn", review(io, form="", attrs='camunda:formKey="department_result"'))])
    case = engine.runtime.start_instance("mapped", world["wang"], {"amount": 7})
    data = {"outcome": "resolved", "summary": "已办结", "handler_name": "赵经办", "handler_phone": "13700001111"}
    with pytest.raises(WorkflowFailed) as failed:  # personal fields are sealed before the workflow sees them
        complete_as(engine, world["wang"], case, "review", data)
    assert "the output parameter 'copied' failed: 'handler_name' is not defined" in failed.value.message
    assert variables(engine, case) == {"amount": 7}
    dump = raw_dump(engine)
    assert all(form.encode() not in dump for secret in ("赵经办", "13700001111") for form in forms_of(secret))


def test_a_receive_task_s_inputs_are_evaluated_when_it_starts_waiting_not_when_its_message_comes(engine, world):
    model = models.document(
        """<bpmn:process id="waiting" isExecutable="true"><bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
  <bpmn:receiveTask id="wait" messageRef="go"><bpmn:extensionElements><camunda:inputOutput>
    <camunda:inputParameter name="x">${missing}</camunda:inputParameter>
  </camunda:inputOutput></bpmn:extensionElements></bpmn:receiveTask>
  <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/><bpmn:endEvent id="end"/></bpmn:process>""",
        key="waiting",
        extra='<bpmn:message id="go" name="go"/>',
    )
    engine.repository.deploy([("waiting.bpmn", model)])
    with pytest.raises(WorkflowFailed) as failed:
        engine.runtime.start_instance("waiting", world["wang"], {})
    assert failed.value.details[0] == {
        "element_id": "wait",
        "message": "the input parameter 'x' failed: 'missing' is not defined for expression 'missing'. ",
    }


def test_a_receive_task_s_message_variables_reach_the_case_beside_its_output_parameters(engine, world):
    model = models.document(
        """<bpmn:process id="waiting" isExecutable="true"><bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
  <bpmn:receiveTask id="wait" messageRef="go"><bpmn:extensionElements><camunda:inputOutput>
    <camunda:inputParameter name="factor">2</camunda:inputParameter>
    <camunda:outputParameter name="doubled">${amount * 2}</camunda:outputParameter>
  </camunda:inputOutput></bpmn:extensionElements></bpmn:receiveTask>
  <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="after"/>
  <bpmn:userTask id="after" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end"/><bpmn:endEvent id="end"/></bpmn:process>""",
        key="waiting",
        extra='<bpmn:message id="go" name="go"/>',
    )
    engine.repository.deploy([("waiting.bpmn", model)])
    case = engine.runtime.start_instance("waiting", world["wang"], {"kept": 1})
    engine.runtime.correlate_message("go", world["zhou"], instance_id=case["id"], payload={"amount": 5, "note": "x"})
    task_of(engine, case, "after")
    # as Camunda's correlation: the message's variables on the case, the output beside them, the input local
    assert variables(engine, case) == {"kept": 1, "amount": 5, "note": "x", "doubled": 10}
