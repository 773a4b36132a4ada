"""Small BPMN documents built for tests."""

from __future__ import annotations

HEADER = ('<?xml version="1.0" encoding="UTF-8"?>\n'
          '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
          'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
          'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
          'id="defs_{key}" targetNamespace="https://fengqiao.example/test">\n')


def document(*processes: str, key: str = "test", extra: str = "") -> str:
    return HEADER.format(key=key) + extra + "\n".join(processes) + "\n</bpmn:definitions>\n"


def one_task(key: str = "approval", task_attrs: str = 'camunda:candidateGroups="officer"',
             name: str = "Approval", label: str = "Review") -> str:
    """start -> user task `review` -> end."""
    return document(f'''<bpmn:process id="{key}" name="{name}" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
  <bpmn:userTask id="review" name="{label}" {task_attrs}/>
  <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>''', key=key)


def gateway(condition: str, key: str = "gated") -> str:
    """start -> exclusive gateway (condition / default) -> user task or end."""
    return document(f'''<bpmn:process id="{key}" isExecutable="true">
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
</bpmn:process>''', key=key)


def caller(key: str = "parent", called: str = "child") -> str:
    return document(f'''<bpmn:process id="{key}" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call"/>
  <bpmn:callActivity id="call" calledElement="{called}"/>
  <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>''', key=key)


def lanes(key: str = "laned") -> str:
    """A user task whose candidate group comes from its lane only."""
    return document(f'''<bpmn:collaboration id="collab">
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
</bpmn:process>''', key=key)


def script(body: str, key: str = "scripted") -> str:
    return document(f'''<bpmn:process id="{key}" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="calc"/>
  <bpmn:scriptTask id="calc" scriptFormat="python"><bpmn:script>{body}</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="f2" sourceRef="calc" targetRef="review"/>
  <bpmn:userTask id="review" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>''', key=key)
