"""Small BPMN documents built for tests."""

from __future__ import annotations

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'id="defs_{key}" targetNamespace="https://fengqiao.example/test">\n'
)


def document(*processes: str, key: str = "test", extra: str = "") -> str:
    return HEADER.format(key=key) + extra + "\n".join(processes) + "\n</bpmn:definitions>\n"


def one_task(
    key: str = "approval",
    task_attrs: str = 'camunda:candidateGroups="officer"',
    name: str = "Approval",
    label: str = "Review",
) -> str:
    """start -> user task `review` -> end."""
    return document(
        f'''<bpmn:process id="{key}" name="{name}" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
  <bpmn:userTask id="review" name="{label}" {task_attrs}/>
  <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>''',
        key=key,
    )


def sla_task(key: str, due: str, warning: str) -> str:
    """`one_task` whose review is due after `due` (an ISO duration) with its own `slaWarning`."""
    attrs = f'camunda:candidateGroups="officer" camunda:dueDate="{due}"'
    return one_task(key=key, task_attrs=attrs).replace(
        'name="Review" ' + attrs + "/>",
        'name="Review" ' + attrs + "><bpmn:extensionElements><camunda:properties>"
        f'<camunda:property name="slaWarning" value="{warning}"/></camunda:properties></bpmn:extensionElements>'
        "</bpmn:userTask>",
    )


def two_officer_tasks(key: str = "twin", visit: str = "") -> str:
    """start -> parallel `visit` (with `visit` attributes) and `call`, both officer tasks -> end."""
    return document(
        f"""<bpmn:process id="{key}" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split"/>
  <bpmn:parallelGateway id="split"/>
  <bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="visit"/>
  <bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="call"/>
  <bpmn:userTask id="visit" camunda:candidateGroups="officer" {visit}/>
  <bpmn:userTask id="call" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f4" sourceRef="visit" targetRef="join"/>
  <bpmn:sequenceFlow id="f5" sourceRef="call" targetRef="join"/>
  <bpmn:parallelGateway id="join"/>
  <bpmn:sequenceFlow id="f6" sourceRef="join" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>""",
        key=key,
    )


def gateway(condition: str, key: str = "gated") -> str:
    """start -> exclusive gateway (condition / default) -> user task or end."""
    return document(
        f'''<bpmn:process id="{key}" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw"/>
  <bpmn:exclusiveGateway id="gw" default="f_default"/>
  <bpmn:sequenceFlow id="f_yes" sourceRef="gw" targetRef="review">
    <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f_default" sourceRef="gw" targetRef="end"/>
  <bpmn:userTask id="review" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>''',
        key=key,
    )


def caller(key: str = "parent", called: str = "child") -> str:
    return document(
        f'''<bpmn:process id="{key}" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call"/>
  <bpmn:callActivity id="call" calledElement="{called}"/>
  <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>''',
        key=key,
    )


def lanes(key: str = "laned") -> str:
    """A user task whose candidate group comes from its lane only."""
    return document(
        f'''<bpmn:collaboration id="collab">
  <bpmn:participant id="p" processRef="{key}"/></bpmn:collaboration>
<bpmn:process id="{key}" isExecutable="true">
  <bpmn:laneSet id="ls">
    <bpmn:lane id="lane_health" name="卫健"><bpmn:flowNodeRef>start</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>visit</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef></bpmn:lane>
  </bpmn:laneSet>
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="visit"/>
  <bpmn:userTask id="visit" name="Visit"/>
  <bpmn:sequenceFlow id="f2" sourceRef="visit" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>''',
        key=key,
    )


def script(body: str, key: str = "scripted") -> str:
    return document(
        f'''<bpmn:process id="{key}" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="calc"/>
  <bpmn:scriptTask id="calc" scriptFormat="python"><bpmn:script>{body}</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="f2" sourceRef="calc" targetRef="review"/>
  <bpmn:userTask id="review" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>''',
        key=key,
    )


def timed(
    timer: str,
    *,
    attached: str = "",
    boundary_interrupting: bool = True,
    key: str = "timed",
    definition: str = "timeDuration",
) -> str:
    """Variants around a user task `review`: a boundary timer, an intermediate catch, or a timer start.

    `attached`: "task" (boundary on review), "subprocess" (boundary on a sub-process holding review),
    "catch" (start -> timer catch -> review), "start" (timer start event -> review).
    """
    timer_def = (
        f'<bpmn:timerEventDefinition><bpmn:{definition} xsi:type="bpmn:tFormalExpression">{timer}'
        f"</bpmn:{definition}></bpmn:timerEventDefinition>"
    )
    cancel = "true" if boundary_interrupting else "false"
    after_boundary = (
        (
            '<bpmn:sequenceFlow id="fb" sourceRef="boundary" targetRef="escalated"/>'
            '<bpmn:userTask id="escalated" camunda:candidateGroups="supervisor"/>'
            '<bpmn:sequenceFlow id="fb2" sourceRef="escalated" targetRef="end_b"/>'
            '<bpmn:endEvent id="end_b"/>'
        )
        if boundary_interrupting
        else ('<bpmn:sequenceFlow id="fb" sourceRef="boundary" targetRef="reminded"/><bpmn:endEvent id="reminded"/>')
    )
    if attached == "task":
        body = f'''<bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
  <bpmn:userTask id="review" camunda:candidateGroups="officer"/>
  <bpmn:boundaryEvent id="boundary" attachedToRef="review" cancelActivity="{cancel}">{timer_def}</bpmn:boundaryEvent>
  {after_boundary}
  <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
  <bpmn:endEvent id="end"/>'''
    elif attached == "subprocess":
        body = f'''<bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sub"/>
  <bpmn:subProcess id="sub">
    <bpmn:startEvent id="sub_start"/>
    <bpmn:sequenceFlow id="s1" sourceRef="sub_start" targetRef="review"/>
    <bpmn:userTask id="review" camunda:candidateGroups="officer"/>
    <bpmn:sequenceFlow id="s2" sourceRef="review" targetRef="sub_end"/>
    <bpmn:endEvent id="sub_end"/>
  </bpmn:subProcess>
  <bpmn:boundaryEvent id="boundary" attachedToRef="sub" cancelActivity="{cancel}">{timer_def}</bpmn:boundaryEvent>
  {after_boundary}
  <bpmn:sequenceFlow id="f2" sourceRef="sub" targetRef="end"/>
  <bpmn:endEvent id="end"/>'''
    elif attached == "catch":
        body = f"""<bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
  <bpmn:intermediateCatchEvent id="wait">{timer_def}</bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="review"/>
  <bpmn:userTask id="review" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>
  <bpmn:endEvent id="end"/>"""
    else:  # start
        body = f"""<bpmn:startEvent id="start">{timer_def}</bpmn:startEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
  <bpmn:userTask id="review" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>
  <bpmn:endEvent id="end"/>"""
    return document(f'<bpmn:process id="{key}" isExecutable="true">\n  {body}\n</bpmn:process>', key=key)


def failing_timer() -> str:
    """A timer whose path hits a gateway on a missing variable (`approved`): every firing fails."""
    return timed("PT1H", attached="catch").replace(
        '<bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="review"/>',
        '<bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="gw"/><bpmn:exclusiveGateway id="gw" default="fd"/>'
        '<bpmn:sequenceFlow id="fc" sourceRef="gw" targetRef="review"><bpmn:conditionExpression '
        'xsi:type="bpmn:tFormalExpression">approved == True</bpmn:conditionExpression></bpmn:sequenceFlow>'
        '<bpmn:sequenceFlow id="fd" sourceRef="gw" targetRef="review"/>',
    )


def linear(length: int, key: str = "linear") -> str:
    """start -> `length` plain tasks in a row -> end."""
    steps = "".join(
        f'<bpmn:task id="t{i}"/><bpmn:sequenceFlow id="f{i}" sourceRef="{"t" + str(i - 1) if i else "start"}" '
        f'targetRef="t{i}"/>'
        for i in range(length)
    )
    return document(
        f'''<bpmn:process id="{key}" isExecutable="true"><bpmn:startEvent id="start"/>{steps}
  <bpmn:endEvent id="end"/><bpmn:sequenceFlow id="f_end" sourceRef="t{length - 1}" targetRef="end"/>
</bpmn:process>''',
        key=key,
    )


def external_task(key: str = "records_check", topic: str = "civil.records", form: str | None = None) -> str:
    """start -> external service task `check` (topic, optional result form) -> user task `review` -> end;
    an error boundary on `check` (code NOT_FOUND) -> user task `manual_check` -> end. A department
    system, not a person, does `check` (docs/external-tasks.md)."""
    properties = (
        f'<bpmn:extensionElements><camunda:properties><camunda:property name="form" value="{form}"/>'
        "</camunda:properties></bpmn:extensionElements>"
        if form
        else ""
    )
    return document(
        f'''<bpmn:process id="{key}" name="Records check" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check"/>
  <bpmn:serviceTask id="check" name="Check records" camunda:type="external" camunda:topic="{topic}">
    {properties}
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="review"/>
  <bpmn:userTask id="review" name="Review" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>
  <bpmn:endEvent id="end"/>
  <bpmn:boundaryEvent id="not_found" attachedToRef="check">
    <bpmn:errorEventDefinition errorRef="error_not_found"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f4" sourceRef="not_found" targetRef="manual_check"/>
  <bpmn:userTask id="manual_check" name="Check by hand" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f5" sourceRef="manual_check" targetRef="end2"/>
  <bpmn:endEvent id="end2"/>
</bpmn:process>''',
        key=key,
        extra='<bpmn:error id="error_not_found" name="Not found" errorCode="NOT_FOUND"/>\n',
    )
