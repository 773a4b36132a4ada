"""Messages and signals from outside, over HTTP: who may deliver them, and what a broadcast does."""

from __future__ import annotations

import pytest

from tests.api.conftest import error_of
from tests.helpers import database_rows
from tests.models import document

WAITING = document(
    """<bpmn:process id="waiting_report" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait_report"/>
  <bpmn:intermediateCatchEvent id="wait_report">
    <bpmn:messageEventDefinition messageRef="msg_report"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="wait_report" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>""",
    key="waiting_report",
    extra='<bpmn:message id="msg_report" name="site_report"/>\n',
)


@pytest.fixture
def waiting(api, engine, world):
    """A case of station xinqiao waiting at a message catch event, with no task open."""
    engine.repository.deploy([("waiting_report.bpmn", WAITING)], world["admin"])
    response = api.as_("wang").post("/process-instances", {"definition_key": "waiting_report"})
    assert response.status_code == 201, response.json
    case = response.json
    assert case["status"] == "running" and engine.runtime.get_instance(case["id"])["open_tasks"] == []
    return case


def test_a_supervisor_delivers_a_message_to_a_case_of_their_station_with_no_open_task(api, engine, waiting):
    qian, li, wang = api.as_("qian"), api.as_("li"), api.as_("wang")  # logged in before the snapshot
    for target in ({"instance_id": waiting["id"]}, {"business_key": waiting["business_key"]}):
        before = database_rows(engine)
        error_of(qian.post("/messages", {"name": "site_report", **target}), 404)  # another station
        error_of(li.post("/messages", {"name": "site_report", **target}), 404)  # no task of theirs
        error_of(wang.post("/messages", {"name": "site_report", **target}), 403)  # an officer
        assert database_rows(engine) == before
    response = api.as_("zhou").post("/messages", {"name": "site_report", "business_key": waiting["business_key"]})
    assert response.status_code == 200, response.json
    assert response.json["status"] == "completed"


SIGNAL = '<bpmn:signal id="sig_typhoon" name="typhoon"/>\n'
GATED_WAIT = document(
    """<bpmn:process id="typhoon_watch" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait_typhoon"/>
  <bpmn:intermediateCatchEvent id="wait_typhoon">
    <bpmn:signalEventDefinition signalRef="sig_typhoon"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="wait_typhoon" targetRef="gw"/>
  <bpmn:exclusiveGateway id="gw" default="f_calm"/>
  <bpmn:sequenceFlow id="f_evacuate" sourceRef="gw" targetRef="evacuate">
    <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${level &gt;= threshold}</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f_calm" sourceRef="gw" targetRef="end"/>
  <bpmn:userTask id="evacuate" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="evacuate" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>""",
    key="typhoon_watch",
    extra=SIGNAL,
)
STARTED_BY_SIGNAL = document(
    """<bpmn:process id="typhoon_response" isExecutable="true">
  <bpmn:startEvent id="on_typhoon">
    <bpmn:signalEventDefinition signalRef="sig_typhoon"/>
  </bpmn:startEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="on_typhoon" targetRef="check_shelters"/>
  <bpmn:userTask id="check_shelters" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f2" sourceRef="check_shelters" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>""",
    key="typhoon_response",
    extra=SIGNAL,
)
THROWING = document(
    """<bpmn:process id="typhoon_alarm" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="raise_alarm"/>
  <bpmn:intermediateThrowEvent id="raise_alarm">
    <bpmn:signalEventDefinition signalRef="sig_typhoon"/>
  </bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="raise_alarm" targetRef="all_clear"/>
  <bpmn:endEvent id="all_clear">
    <bpmn:signalEventDefinition signalRef="sig_typhoon"/>
  </bpmn:endEvent>
</bpmn:process>""",
    key="typhoon_alarm",
    extra=SIGNAL,
)


def watch(api, officer: str, threshold) -> dict:
    response = api.as_(officer).post(
        "/process-instances", {"definition_key": "typhoon_watch", "variables": {"threshold": threshold}}
    )
    assert response.status_code == 201, response.json
    return response.json


def state_of(engine, case) -> tuple:
    """What a case is, in the database: its row version and status, its open tasks."""
    found = engine.runtime.get_instance(case["id"], history=False)
    return found["status"], sorted(t["element_id"] for t in found["open_tasks"]), found["variables"]


@pytest.fixture
def watching(api, engine, world):
    engine.repository.deploy([("watch.bpmn", GATED_WAIT), ("response.bpmn", STARTED_BY_SIGNAL)], world["admin"])
    return {
        "high": watch(api, "wang", 1),
        "low": watch(api, "chen", 5),
        "broken": watch(api, "wang", "high"),  # the gateway compares a number with text: this case fails
        "elsewhere": watch(api, "liu", 1),  # station dongfeng: zhou cannot reach it
    }


def test_a_signal_reaches_every_waiting_case_of_the_station_each_on_its_own(api, engine, watching):
    elsewhere = state_of(engine, watching["elsewhere"])
    broken = state_of(engine, watching["broken"])
    zhou = api.as_("zhou")
    response = zhou.post("/signals", {"name": "typhoon", "variables": {"level": 3}})
    assert response.status_code == 200, response.json
    report = response.json
    outcomes = {r["business_key"]: r["outcome"] for r in report["instances"]}
    assert outcomes == {
        watching["high"]["business_key"]: "delivered",
        watching["low"]["business_key"]: "delivered",
        watching["broken"]["business_key"]: "failed",
    }
    failed = next(r for r in report["instances"] if r["outcome"] == "failed")
    assert failed["error"]["code"] == "workflow_error" and "gw" in failed["error"]["message"]
    # delivered: the signal's variables are the case's; the gateway took its path
    assert state_of(engine, watching["high"]) == ("running", ["evacuate"], {"threshold": 1, "level": 3})
    assert state_of(engine, watching["low"])[:2] == ("completed", [])
    # the failing case and the other station's case are exactly as they were
    assert state_of(engine, watching["broken"]) == broken
    assert state_of(engine, watching["elsewhere"]) == elsewhere
    # a signal start event started a case in the supervisor's station
    [started] = report["started"]
    assert started["process_key"] == "typhoon_response" and started["outcome"] == "started"
    case = engine.runtime.get_instance(started["instance_id"], history=False)
    assert case["station"] == "xinqiao" and [t["element_id"] for t in case["open_tasks"]] == ["check_shelters"]
    assert case["variables"] == {"level": 3}
    trail = engine.history.audit_trail(instance_id=watching["high"]["id"])
    assert [e for e in trail if e["action"] == "signal.received"][0]["details"]["signal"] == "typhoon"


def test_a_second_broadcast_finds_only_the_cases_still_waiting(api, engine, watching):
    zhou = api.as_("zhou")
    assert zhou.post("/signals", {"name": "typhoon", "variables": {"level": 3}}).status_code == 200
    again = zhou.post("/signals", {"name": "typhoon", "variables": {"level": 9}}).json
    assert [(r["business_key"], r["outcome"]) for r in again["instances"]] == [
        (watching["broken"]["business_key"], "failed")
    ]
    assert zhou.post("/signals", {"name": "flood"}).json == {"signal": "flood", "instances": [], "started": []}


@pytest.mark.parametrize("who", ["wang", "li", "admin", "sun", "qian-token"])
def test_only_a_supervisor_broadcasts_and_a_refusal_changes_nothing(api, engine, watching, who):
    if who == "qian-token":
        caller = api.with_token(engine.tokens.create_api_token("civil_affairs")["token"])
    else:
        caller = api.as_(who)
    before = database_rows(engine)
    error_of(caller.post("/signals", {"name": "typhoon", "variables": {"level": 3}}), 403)
    assert database_rows(engine) == before


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({}, 422),
        ({"name": ""}, 422),
        ({"name": "typhoon", "variables": [1]}, 422),
        ({"name": "typhoon", "extra": 1}, 422),
        ({"name": "x" * 201}, 422),
    ],
)
def test_a_bad_signal_is_refused_and_changes_nothing(api, engine, watching, payload, status):
    zhou = api.as_("zhou")
    before = database_rows(engine)
    error_of(zhou.post("/signals", payload), status)
    assert database_rows(engine) == before


def test_signal_throw_events_deploy_and_run(api, engine, world):
    engine.repository.deploy([("alarm.bpmn", THROWING)], world["admin"])
    response = api.as_("wang").post("/process-instances", {"definition_key": "typhoon_alarm"})
    assert response.status_code == 201 and response.json["status"] == "completed"
    trail = engine.history.audit_trail(instance_id=response.json["id"])
    assert [e["details"]["name"] for e in trail if e["action"] == "signal.raised"] == ["typhoon", "typhoon"]


BOUNDARY = document(
    """<bpmn:process id="patrol" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="walk_beat"/>
  <bpmn:userTask id="walk_beat" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f2" sourceRef="walk_beat" targetRef="end"/>
  <bpmn:boundaryEvent id="on_typhoon" attachedToRef="walk_beat">
    <bpmn:signalEventDefinition signalRef="sig_typhoon"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="on_typhoon" targetRef="take_shelter"/>
  <bpmn:userTask id="take_shelter" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f4" sourceRef="take_shelter" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>""",
    key="patrol",
    extra=SIGNAL,
)


def test_a_signal_boundary_event_interrupts_the_task_it_is_attached_to(api, engine, world):
    engine.repository.deploy([("patrol.bpmn", BOUNDARY)], world["admin"])
    case = api.as_("wang").post("/process-instances", {"definition_key": "patrol"}).json
    walk = api.as_("wang").task(case, "walk_beat")
    report = api.as_("zhou").post("/signals", {"name": "typhoon"}).json
    assert [(r["instance_id"], r["outcome"]) for r in report["instances"]] == [(case["id"], "delivered")]
    assert state_of(engine, case)[:2] == ("running", ["take_shelter"])
    trail = engine.history.audit_trail(instance_id=case["id"])
    assert any(e["action"] == "task.cancelled" and e["task_id"] == walk["id"] for e in trail)
