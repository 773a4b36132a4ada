"""Conditional events (engine/conditions.py, issue 19) fire as in Camunda 7: evaluated when reached and
again whenever the case's variables change, a missing variable read as false, `camunda:variableName` and
`variableEvents` limiting what re-evaluates, and the variables a task's completion sets evaluated before
the case moves on; what cannot run is refused at deploy naming the event."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import Engine
from engine.errors import DeploymentInvalid, WorkflowFailed
from engine.identity import Actor
from tests import models
from tests.helpers import complete_as, database_rows, open_tasks, status, task_of

CONFORMANCE = Path(__file__).parent / "conformance"
TOPIC = "civil.records"
WORKER = Actor.system("civil-records", department="civil_affairs", topics=frozenset({TOPIC}))


def form(*fields: str) -> str:
    """A user task's own form (camunda:formData): each field a string, or `name:type`."""
    inner = "".join(
        f'<camunda:formField id="{f.split(":")[0]}" label="{f}" type="{(f.split(":") + ["string"])[1]}"/>'
        for f in fields
    )
    return f"<bpmn:extensionElements><camunda:formData>{inner}</camunda:formData></bpmn:extensionElements>"


def condition(expression: str, attrs: str = "") -> str:
    return (
        f'<bpmn:conditionalEventDefinition {attrs}><bpmn:condition xsi:type="bpmn:tFormalExpression">'
        f"{expression}</bpmn:condition></bpmn:conditionalEventDefinition>"
    )


def process(body: str, key: str = "cond") -> str:
    return models.document(f'<bpmn:process id="{key}" isExecutable="true">{body}</bpmn:process>', key=key)


def user_task(task_id: str, *fields: str) -> str:
    return f'<bpmn:userTask id="{task_id}" camunda:candidateGroups="officer">{form(*fields)}</bpmn:userTask>'


def flow(source: str, target: str) -> str:
    return f'<bpmn:sequenceFlow id="f_{source}_{target}" sourceRef="{source}" targetRef="{target}"/>'


# start -> fork -> (fill: sets `ready`) and (wait until ${ready == true} -> after) -> join -> end
INTERMEDIATE = process(
    '<bpmn:startEvent id="start"/>'
    + flow("start", "fork")
    + '<bpmn:parallelGateway id="fork"/>'
    + flow("fork", "fill")
    + flow("fork", "wait")
    + user_task("fill", "ready:boolean", "note")
    + f'<bpmn:intermediateCatchEvent id="wait">{condition("${ready == true}")}</bpmn:intermediateCatchEvent>'
    + flow("wait", "after")
    + user_task("after")
    + flow("fill", "join")
    + flow("after", "join")
    + '<bpmn:parallelGateway id="join"/>'
    + flow("join", "end")
    + '<bpmn:endEvent id="end"/>'
)


def test_an_intermediate_conditional_event_waits_while_its_variable_is_missing_and_fires_when_it_is_set(engine, world):
    engine.repository.deploy([("intermediate.bpmn", INTERMEDIATE)])
    case = engine.runtime.start_instance("cond", world["wang"], {})
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["fill"]  # `ready` missing reads as false
    complete_as(engine, world["wang"], case, "fill", {"ready": True, "note": "done"})
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["after"]
    complete_as(engine, world["wang"], case, "after", {})
    assert status(engine, case) == "completed"


def test_an_intermediate_conditional_event_already_true_when_reached_passes_at_once(engine, world):
    engine.repository.deploy([("intermediate.bpmn", INTERMEDIATE)])
    case = engine.runtime.start_instance("cond", world["wang"], {"ready": True})
    assert sorted(t["element_id"] for t in open_tasks(engine, case)) == ["after", "fill"]


def test_a_false_condition_keeps_waiting_and_an_admin_setting_the_variable_fires_it(engine, world):
    engine.repository.deploy([("intermediate.bpmn", INTERMEDIATE)])
    case = engine.runtime.start_instance("cond", world["wang"], {"ready": False})
    engine.runtime.update_variables(case["id"], world["admin"], {"ready": False, "other": 1}, "not yet")
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["fill"]
    engine.runtime.update_variables(case["id"], world["admin"], {"ready": True}, "the processor is free")
    assert sorted(t["element_id"] for t in open_tasks(engine, case)) == ["after", "fill"]


# a user task `review` with an interrupting conditional boundary event ${withdrawn}: the review's own
# completion setting `withdrawn` takes the case to `withdrawn_end` through `archive`
BOUNDARY = process(
    '<bpmn:startEvent id="start"/>'
    + flow("start", "review")
    + user_task("review", "withdrawn:boolean", "verdict")
    + flow("review", "decide")
    + user_task("decide")
    + flow("decide", "end")
    + '<bpmn:endEvent id="end"/>'
    + f'<bpmn:boundaryEvent id="changed" attachedToRef="review">{condition("${withdrawn}")}</bpmn:boundaryEvent>'
    + flow("changed", "archive")
    + user_task("archive")
    + flow("archive", "withdrawn_end")
    + '<bpmn:endEvent id="withdrawn_end"/>'
)


def test_a_completion_that_satisfies_an_interrupting_boundary_condition_takes_the_boundary_path(engine, world):
    engine.repository.deploy([("boundary.bpmn", BOUNDARY)])
    case = engine.runtime.start_instance("cond", world["wang"], {})
    complete_as(engine, world["wang"], case, "review", {"withdrawn": True, "verdict": "withdrawn by the resident"})
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["archive"]
    instance = engine.runtime.get_instance(case["id"])
    assert instance["variables"]["verdict"] == "withdrawn by the resident"  # the path carries the variables
    complete_as(engine, world["wang"], case, "archive", {})
    assert status(engine, case) == "completed"


def test_a_completion_that_leaves_the_boundary_condition_false_goes_on_as_drawn(engine, world):
    engine.repository.deploy([("boundary.bpmn", BOUNDARY)])
    case = engine.runtime.start_instance("cond", world["wang"], {})
    complete_as(engine, world["wang"], case, "review", {"withdrawn": False, "verdict": "fine"})
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["decide"]


def test_a_boundary_condition_true_when_the_task_opens_interrupts_it_at_once(engine, world):
    engine.repository.deploy([("boundary.bpmn", BOUNDARY)])
    case = engine.runtime.start_instance("cond", world["wang"], {"withdrawn": True})
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["archive"]


# two parallel tasks; a non-interrupting boundary event on `slow` fires each time a change leaves
# ${urgent == true}: it opens a `remind` task and `slow` stays open
NON_INTERRUPTING = process(
    '<bpmn:startEvent id="start"/>'
    + flow("start", "fork")
    + '<bpmn:parallelGateway id="fork"/>'
    + flow("fork", "fast")
    + flow("fork", "slow")
    + user_task("fast", "urgent:boolean")
    + flow("fast", "fast_end")
    + '<bpmn:endEvent id="fast_end"/>'
    + user_task("slow")
    + flow("slow", "slow_end")
    + '<bpmn:endEvent id="slow_end"/>'
    + '<bpmn:boundaryEvent id="hurry" attachedToRef="slow" cancelActivity="false">'
    + condition("${urgent == true}")
    + "</bpmn:boundaryEvent>"
    + flow("hurry", "remind")
    + user_task("remind")
    + flow("remind", "remind_end")
    + '<bpmn:endEvent id="remind_end"/>'
)


def test_a_non_interrupting_boundary_condition_opens_its_path_and_the_task_stays_open(engine, world):
    engine.repository.deploy([("non_interrupting.bpmn", NON_INTERRUPTING)])
    case = engine.runtime.start_instance("cond", world["wang"], {})
    complete_as(engine, world["wang"], case, "fast", {"urgent": True})
    assert sorted(t["element_id"] for t in open_tasks(engine, case)) == ["remind", "slow"]
    complete_as(engine, world["wang"], case, "remind", {})
    complete_as(engine, world["wang"], case, "slow", {})
    assert status(engine, case) == "completed"


def test_a_change_that_sets_no_variable_does_not_fire_a_condition_again(engine, world):
    engine.repository.deploy([("non_interrupting.bpmn", NON_INTERRUPTING)])
    case = engine.runtime.start_instance("cond", world["wang"], {})
    complete_as(engine, world["wang"], case, "fast", {"urgent": True})
    slow = next(t for t in open_tasks(engine, case) if t["element_id"] == "slow")
    engine.tasks.claim(slow["id"], world["wang"])  # no variable changes: no evaluation, as in Camunda
    assert sorted(t["element_id"] for t in open_tasks(engine, case)) == ["remind", "slow"]


# ${amount > 100} re-evaluated only when `approved` changes (camunda:variableName)
FILTERED = process(
    '<bpmn:startEvent id="start"/>'
    + flow("start", "wait")
    + '<bpmn:intermediateCatchEvent id="wait">'
    + condition("${amount > 100}", 'camunda:variableName="approved" camunda:variableEvents="create, update"')
    + "</bpmn:intermediateCatchEvent>"
    + flow("wait", "after")
    + user_task("after")
    + flow("after", "end")
    + '<bpmn:endEvent id="end"/>'
)


def test_a_variable_name_filter_re_evaluates_only_when_that_variable_changes(engine, world):
    engine.repository.deploy([("filtered.bpmn", FILTERED)])
    case = engine.runtime.start_instance("cond", world["wang"], {"amount": 50})
    engine.runtime.update_variables(case["id"], world["admin"], {"amount": 500}, "amount corrected")
    assert open_tasks(engine, case) == []  # `amount` is not the filter's variable: not evaluated
    engine.runtime.update_variables(case["id"], world["admin"], {"approved": True}, "approved")
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["after"]


# Camunda's order-handling example's shape: a conditional boundary event ${invoiceId != null} on a
# sub-process whose external task sets invoiceId
SUBPROCESS = process(
    '<bpmn:startEvent id="start"/>'
    + flow("start", "sub")
    + '<bpmn:subProcess id="sub"><bpmn:startEvent id="sub_start"/>'
    + flow("sub_start", "create")
    + f'<bpmn:serviceTask id="create" camunda:type="external" camunda:topic="{TOPIC}"/>'
    + flow("create", "sub_end")
    + '<bpmn:endEvent id="sub_end"/></bpmn:subProcess>'
    + flow("sub", "plain_end")
    + '<bpmn:endEvent id="plain_end"/>'
    + f'<bpmn:boundaryEvent id="archive_it" attachedToRef="sub">{condition("${invoiceId != null}")}'
    + "</bpmn:boundaryEvent>"
    + flow("archive_it", "archive")
    + user_task("archive")
    + flow("archive", "archived_end")
    + '<bpmn:endEvent id="archived_end"/>'
)


def test_an_external_task_setting_the_variable_fires_the_boundary_event_on_its_sub_process(engine, world):
    engine.repository.deploy([("subprocess.bpmn", SUBPROCESS)])
    case = engine.runtime.start_instance("cond", world["wang"], {})
    [task] = engine.external_tasks.fetch_and_lock(WORKER, "w1", 1, [{"topicName": TOPIC, "lockDuration": 60_000}])
    engine.external_tasks.complete(task["id"], WORKER, "w1", {"invoiceId": {"value": "INV-7", "type": "String"}})
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["archive"]
    assert engine.runtime.get_instance(case["id"])["variables"]["invoiceId"] == "INV-7"


def test_a_waiting_conditional_event_survives_a_reload_from_the_database(engine, world, settings, clock):
    engine.repository.deploy([("intermediate.bpmn", INTERMEDIATE)])
    case = engine.runtime.start_instance("cond", world["wang"], {})
    fresh = Engine(settings, clock)  # a new engine reads the saved case from the database
    try:
        complete_as(fresh, world["wang"], case, "fill", {"ready": True, "note": "x"})
        assert [t["element_id"] for t in open_tasks(fresh, case)] == ["after"]
    finally:
        fresh.close()


def test_a_condition_that_fails_for_another_reason_than_a_missing_variable_fails_the_change(engine, world):
    engine.repository.deploy([("boundary.bpmn", BOUNDARY.replace("${withdrawn}", "${withdrawn / 0}"))])
    case = engine.runtime.start_instance("cond", world["wang"], {})
    before = database_rows(engine)
    with pytest.raises(WorkflowFailed) as failed:
        complete_as(engine, world["wang"], case, "review", {"withdrawn": True, "verdict": "x"})
    assert failed.value.details[0]["element_id"] == "changed"
    assert database_rows(engine) == before


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (
            f'<bpmn:startEvent id="start">{condition("${go}")}</bpmn:startEvent>'
            + flow("start", "end")
            + '<bpmn:endEvent id="end"/>',
            "startEvent 'start': a conditional start event of a process is started only by Camunda's "
            "evaluateStartConditions",
        ),
        (
            '<bpmn:startEvent id="start"/>'
            + flow("start", "work")
            + user_task("work")
            + flow("work", "end")
            + '<bpmn:endEvent id="end"/><bpmn:subProcess id="esp" triggeredByEvent="true">'
            + f'<bpmn:startEvent id="cstart" isInterrupting="false">{condition("${cancelled}")}</bpmn:startEvent>'
            + flow("cstart", "eend")
            + '<bpmn:endEvent id="eend"/></bpmn:subProcess>',
            "startEvent 'cstart': a non-interrupting conditional start event of an event sub-process is not supported",
        ),
        (
            '<bpmn:startEvent id="start"/>'
            + flow("start", "gate")
            + '<bpmn:eventBasedGateway id="gate"/>'
            + flow("gate", "wait")
            + flow("gate", "later")
            + f'<bpmn:intermediateCatchEvent id="wait">{condition("${go}")}</bpmn:intermediateCatchEvent>'
            + '<bpmn:intermediateCatchEvent id="later"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1H'
            + "</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
            + flow("wait", "end")
            + flow("later", "end")
            + '<bpmn:endEvent id="end"/>',
            "intermediateCatchEvent 'wait': a conditional event after an event-based gateway is not supported",
        ),
        (
            '<bpmn:startEvent id="start"/>'
            + flow("start", "wait")
            + '<bpmn:intermediateCatchEvent id="wait"><bpmn:conditionalEventDefinition/></bpmn:intermediateCatchEvent>'
            + flow("wait", "end")
            + '<bpmn:endEvent id="end"/>',
            "intermediateCatchEvent 'wait': the conditional event has no condition",
        ),
        (
            '<bpmn:startEvent id="start"/>'
            + flow("start", "wait")
            + '<bpmn:intermediateCatchEvent id="wait"><bpmn:conditionalEventDefinition>'
            + '<bpmn:condition xsi:type="bpmn:tFormalExpression" language="groovy">go == true</bpmn:condition>'
            + "</bpmn:conditionalEventDefinition></bpmn:intermediateCatchEvent>"
            + flow("wait", "end")
            + '<bpmn:endEvent id="end"/>',
            "intermediateCatchEvent 'wait': a condition written as a groovy script cannot run here",
        ),
        (
            '<bpmn:startEvent id="start"/>'
            + flow("start", "wait")
            + '<bpmn:intermediateCatchEvent id="wait">'
            + condition("${go}", 'camunda:variableName="go" camunda:variableEvents="create, rename"')
            + "</bpmn:intermediateCatchEvent>"
            + flow("wait", "end")
            + '<bpmn:endEvent id="end"/>',
            "intermediateCatchEvent 'wait': variableEvents 'rename' is not one of create, update, delete",
        ),
        (
            '<bpmn:startEvent id="start"/>'
            + flow("start", "wait")
            + f'<bpmn:intermediateCatchEvent id="wait">{condition("${__import__(1)}")}</bpmn:intermediateCatchEvent>'
            + flow("wait", "end")
            + '<bpmn:endEvent id="end"/>',
            "intermediateCatchEvent 'wait': condition refused",
        ),
    ],
    ids=[
        "process-start",
        "event-sub-process-start",
        "after-event-gateway",
        "empty",
        "script",
        "variable-events",
        "unsafe",
    ],
)
def test_conditional_events_that_cannot_run_are_refused_naming_the_event(engine, body, says):
    before = database_rows(engine)
    with pytest.raises(DeploymentInvalid) as refused:
        engine.repository.deploy([("refused.bpmn", process(body))])
    assert any(says in d["message"] for d in refused.value.details), refused.value.details
    assert database_rows(engine) == before


def test_camundas_order_handling_example_archives_the_invoice_its_worker_created(engine, world):
    model = CONFORMANCE / "camunda-examples" / "clients_java_order-handling_order-handling.bpmn"
    engine.repository.deploy([(model.name, model.read_bytes())])
    worker = Actor.system(
        "order-client", department="civil_affairs", topics=frozenset({"invoiceCreator", "invoiceArchiver"})
    )
    case = engine.runtime.start_instance("Order_Process", world["wang"], {})

    def fetch(topic: str) -> list[dict]:
        return engine.external_tasks.fetch_and_lock(worker, "w1", 5, [{"topicName": topic, "lockDuration": 60_000}])

    [create] = fetch("invoiceCreator")
    assert create["processInstanceId"] == case["id"]
    engine.external_tasks.complete(create["id"], worker, "w1", {"invoiceId": {"value": "A123", "type": "String"}})
    [archive] = fetch("invoiceArchiver")  # the conditional boundary event took the case, as the example means
    assert archive["variables"]["invoiceId"]["value"] == "A123"
    engine.external_tasks.complete(archive["id"], worker, "w1", {})
    assert status(engine, case) == "completed"


def camunda_model(engine, name: str) -> None:
    path = CONFORMANCE / "camunda-engine" / f"event_conditional_{name}.bpmn20.xml"
    engine.repository.deploy([(path.name, path.read_bytes())])


def test_camundas_sub_process_boundary_condition_cancels_the_sub_process_when_the_variable_is_set(engine, world):
    camunda_model(engine, "BoundaryConditionalEventTest.testSubProcessVariableCondition")
    case = engine.runtime.start_instance("conditionalEventProcess", world["wang"], {})
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["Task_15v214e"]
    engine.runtime.update_variables(case["id"], world["admin"], {"variable": 1}, "as Camunda's test sets it")
    assert open_tasks(engine, case) == [] and status(engine, case) == "completed"  # ended at ConditionEnd


def test_camundas_parallel_intermediate_conditions_each_pass_on_their_own_value(engine, world):
    camunda_model(engine, "IntermediateConditionalEventTest.testParallelVariableValue")
    case = engine.runtime.start_instance("conditionalEventProcess", world["wang"], {})
    engine.runtime.update_variables(case["id"], world["admin"], {"variable": 1}, "first")
    assert status(engine, case) == "running"
    engine.runtime.update_variables(case["id"], world["admin"], {"variable": 2}, "second")
    assert status(engine, case) == "completed"


def test_camundas_non_interrupting_boundary_condition_keeps_the_task_and_opens_the_other(engine, world):
    camunda_model(engine, "BoundaryConditionalEventTest.testNonInterruptingVariableCondition")
    case = engine.runtime.start_instance("conditionalEventProcess", world["wang"], {})
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["taskWithCondition"]
    engine.runtime.update_variables(case["id"], world["admin"], {"variable": 1}, "as Camunda's test sets it")
    assert sorted(t["element_id"] for t in open_tasks(engine, case)) == ["taskAfterCondition", "taskWithCondition"]
    # it keeps listening: the next change of a variable with the condition still true fires it again
    engine.runtime.update_variables(case["id"], world["admin"], {"note": "again"}, "another change")
    opened = sorted(t["element_id"] for t in open_tasks(engine, case))
    assert opened == ["taskAfterCondition", "taskAfterCondition", "taskWithCondition"]
    for task in open_tasks(engine, case):  # the task's completion ends the listening
        engine.tasks.complete(task["id"], world["zhou"], {})
    assert status(engine, case) == "completed"


# an interrupting event sub-process started by ${cancelled == true}: the resident withdraws the case
EVENT_SUB_PROCESS = process(
    '<bpmn:startEvent id="start"/>'
    + flow("start", "work")
    + user_task("work", "cancelled:boolean")
    + flow("work", "other")
    + user_task("other", "cancelled:boolean")
    + flow("other", "end")
    + '<bpmn:endEvent id="end"/>'
    + '<bpmn:subProcess id="withdrawal" triggeredByEvent="true">'
    + f'<bpmn:startEvent id="withdrawn">{condition("${cancelled == true}")}</bpmn:startEvent>'
    + flow("withdrawn", "close")
    + user_task("close")
    + flow("close", "closed")
    + '<bpmn:endEvent id="closed"/></bpmn:subProcess>'
)


def test_an_interrupting_conditional_event_sub_process_takes_the_case_when_a_completion_satisfies_it(engine, world):
    engine.repository.deploy([("esp.bpmn", EVENT_SUB_PROCESS)])
    case = engine.runtime.start_instance("cond", world["wang"], {})
    complete_as(engine, world["wang"], case, "work", {"cancelled": False})
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["other"]
    complete_as(engine, world["wang"], case, "other", {"cancelled": True})  # before its token moves on
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["close"]
    assert status(engine, case) == "running"
    complete_as(engine, world["wang"], case, "close", {})
    assert status(engine, case) == "completed"


def test_an_interrupting_conditional_event_sub_process_cancels_the_open_task_on_an_admins_change(engine, world):
    engine.repository.deploy([("esp.bpmn", EVENT_SUB_PROCESS)])
    case = engine.runtime.start_instance("cond", world["wang"], {})
    engine.runtime.update_variables(case["id"], world["admin"], {"cancelled": True}, "the resident withdrew")
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["close"]
    engine.runtime.update_variables(case["id"], world["admin"], {"note": "x"}, "another change")
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["close"]  # it fired once: interrupting


def test_a_conditional_event_sub_process_true_when_the_case_starts_fires_at_once(engine, world):
    engine.repository.deploy([("esp.bpmn", EVENT_SUB_PROCESS)])
    case = engine.runtime.start_instance("cond", world["wang"], {"cancelled": True})
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["close"]


def test_camundas_conditional_event_sub_process_interrupts_the_embedded_sub_process_when_the_variable_is_set(
    engine, world
):
    camunda_model(engine, "EventSubProcessStartConditionalEventTest.testSubProcessVariableCondition")
    case = engine.runtime.start_instance("conditionalEventProcess", world["wang"], {})
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["Task_0bxuncp"]
    engine.runtime.update_variables(case["id"], world["admin"], {"variable": 1}, "as Camunda's test sets it")
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["Task_1k0ye5k"]  # "After Condition"
    engine.tasks.complete(task_of(engine, case, "Task_1k0ye5k")["id"], world["zhou"], {})
    assert status(engine, case) == "completed"
