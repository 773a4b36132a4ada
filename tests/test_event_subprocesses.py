"""Event sub-processes and event-based gateways run as in Camunda 7; events with several
definitions are refused at deploy (issue 19).

An event sub-process's message, signal or timer start event waits while its scope (the process, or
the embedded sub-process it sits in) is active: interrupting, it cancels the scope's other work;
non-interrupting, it runs beside it and (message, signal) waits again. When the scope ends, its
waits and timers are settled with it.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.errors import DeploymentInvalid, MessageNotCorrelated
from engine.store.models import HumanTask, MessageWait, Timer
from tests.api.conftest import api, app, client, error_of  # noqa: F401 (the HTTP fixtures)
from tests.helpers import complete_as, database_rows, open_tasks, status
from tests.models import document

DEFINITIONS = '<bpmn:message id="msg_m" name="m"/>\n<bpmn:signal id="sig_s" name="s"/>\n'
EVENTS = {
    "message": '<bpmn:messageEventDefinition messageRef="msg_m"/>',
    "signal": '<bpmn:signalEventDefinition signalRef="sig_s"/>',
    "timer": "<bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>",
}


def _esp(kind: str, interrupting: bool) -> str:
    return f"""<bpmn:subProcess id="on_event" triggeredByEvent="true">
    <bpmn:startEvent id="event_start" isInterrupting="{str(interrupting).lower()}">{EVENTS[kind]}</bpmn:startEvent>
    <bpmn:sequenceFlow id="e1" sourceRef="event_start" targetRef="handle"/>
    <bpmn:userTask id="handle" camunda:candidateGroups="officer"/>
    <bpmn:sequenceFlow id="e2" sourceRef="handle" targetRef="event_end"/>
    <bpmn:endEvent id="event_end"/>
  </bpmn:subProcess>"""


def process_level(kind: str, interrupting: bool) -> str:
    """start -> work -> end, with an event sub-process of `kind` (-> handle) on the process."""
    return document(
        f"""<bpmn:process id="esp" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
  <bpmn:userTask id="work" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
  <bpmn:endEvent id="end"/>
  {_esp(kind, interrupting)}
</bpmn:process>""",
        key="esp",
        extra=DEFINITIONS,
    )


def nested(kind: str, interrupting: bool) -> str:
    """start -> scope (work, with the event sub-process inside) -> after -> end."""
    return document(
        f"""<bpmn:process id="esp" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="scope"/>
  <bpmn:subProcess id="scope">
    <bpmn:startEvent id="scope_start"/>
    <bpmn:sequenceFlow id="s1" sourceRef="scope_start" targetRef="work"/>
    <bpmn:userTask id="work" camunda:candidateGroups="officer"/>
    <bpmn:sequenceFlow id="s2" sourceRef="work" targetRef="scope_end"/>
    <bpmn:endEvent id="scope_end"/>
    {_esp(kind, interrupting)}
  </bpmn:subProcess>
  <bpmn:sequenceFlow id="f2" sourceRef="scope" targetRef="after"/>
  <bpmn:userTask id="after" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>""",
        key="esp",
        extra=DEFINITIONS,
    )


def start(engine, world, model: str) -> dict:
    engine.repository.deploy([("esp.bpmn", model)], world["admin"])
    return engine.runtime.start_instance("esp", world["wang"], {})


def tasks(engine, case) -> list[str]:
    return sorted(t["element_id"] for t in open_tasks(engine, case))


def waits(engine, case) -> list[str]:
    with engine.db.read() as scope:
        return sorted(scope.scalars(select(MessageWait.element_id).where(MessageWait.instance_id == case["id"])))


def timers(engine, case) -> list[tuple[str, str]]:
    with engine.db.read() as scope:
        rows = scope.execute(select(Timer.element_id, Timer.status).where(Timer.instance_id == case["id"]))
        return sorted((r.element_id, r.status) for r in rows)


def closed(engine, case, element_id: str) -> list[str]:
    with engine.db.read() as scope:
        return list(
            scope.scalars(
                select(HumanTask.state).where(HumanTask.instance_id == case["id"], HumanTask.element_id == element_id)
            )
        )


def correlate(engine, world, case) -> None:
    engine.runtime.correlate_message("m", world["zhou"], instance_id=case["id"])


def finish(engine, world, case, *element_ids: str) -> None:
    for element_id in element_ids:
        complete_as(engine, world["wang"], case, element_id, {})


# --- message --------------------------------------------------------------------------------------


def test_a_message_event_sub_process_waits_while_the_process_runs_and_interrupts_it(engine, world):
    case = start(engine, world, process_level("message", interrupting=True))
    assert waits(engine, case) == ["event_start"]

    correlate(engine, world, case)

    assert tasks(engine, case) == ["handle"] and closed(engine, case, "work") == ["cancelled"]
    assert waits(engine, case) == []  # an interrupting start fires once
    with pytest.raises(MessageNotCorrelated):
        correlate(engine, world, case)
    finish(engine, world, case, "handle")
    assert status(engine, case) == "completed"


def test_a_non_interrupting_message_event_sub_process_runs_beside_and_can_fire_again(engine, world):
    case = start(engine, world, process_level("message", interrupting=False))

    correlate(engine, world, case)
    assert tasks(engine, case) == ["handle", "work"] and waits(engine, case) == ["event_start"]
    correlate(engine, world, case)
    assert tasks(engine, case) == ["handle", "handle", "work"] and waits(engine, case) == ["event_start"]

    finish(engine, world, case, "work")  # the process's own work is done, the handlers are not
    assert status(engine, case) == "running" and waits(engine, case) == ["event_start"]
    for task in open_tasks(engine, case):
        engine.tasks.complete(task["id"], world["wang"], {})
    assert status(engine, case) == "completed" and waits(engine, case) == []


def test_a_process_that_ends_cancels_the_wait_of_its_message_event_sub_process(engine, world):
    case = start(engine, world, process_level("message", interrupting=False))
    finish(engine, world, case, "work")

    assert status(engine, case) == "completed" and waits(engine, case) == []


def test_a_message_event_sub_process_in_a_sub_process_interrupts_only_that_scope(engine, world):
    case = start(engine, world, nested("message", interrupting=True))
    assert waits(engine, case) == ["event_start"]

    correlate(engine, world, case)

    assert tasks(engine, case) == ["handle"] and closed(engine, case, "work") == ["cancelled"]
    finish(engine, world, case, "handle")  # the sub-process ends through its event sub-process
    assert tasks(engine, case) == ["after"] and waits(engine, case) == []


def test_a_non_interrupting_message_event_sub_process_in_a_sub_process(engine, world):
    case = start(engine, world, nested("message", interrupting=False))

    correlate(engine, world, case)
    assert tasks(engine, case) == ["handle", "work"]
    finish(engine, world, case, "work", "handle")
    assert tasks(engine, case) == ["after"] and waits(engine, case) == []


def test_a_message_after_its_sub_process_ended_is_refused_and_changes_nothing(engine, world):
    case = start(engine, world, nested("message", interrupting=True))
    finish(engine, world, case, "work")
    assert tasks(engine, case) == ["after"] and waits(engine, case) == []
    before = database_rows(engine)

    with pytest.raises(MessageNotCorrelated, match="not waiting for message 'm'"):
        correlate(engine, world, case)

    assert database_rows(engine) == before


# --- timer ----------------------------------------------------------------------------------------


def test_a_timer_event_sub_process_is_scheduled_with_its_scope_and_interrupts_it(engine, world, clock):
    case = start(engine, world, nested("timer", interrupting=True))
    assert timers(engine, case) == [("event_start", "pending")]

    clock.advance(hours=1, seconds=1)
    assert engine.timers.fire_due() == 1

    assert tasks(engine, case) == ["handle"] and closed(engine, case, "work") == ["cancelled"]
    assert timers(engine, case) == [("event_start", "fired")]
    finish(engine, world, case, "handle")
    assert tasks(engine, case) == ["after"]


def test_a_non_interrupting_timer_event_sub_process_fires_once_beside_the_work(engine, world, clock):
    case = start(engine, world, process_level("timer", interrupting=False))

    clock.advance(hours=1, seconds=1)
    assert engine.timers.fire_due() == 1
    assert tasks(engine, case) == ["handle", "work"] and timers(engine, case) == [("event_start", "fired")]
    clock.advance(hours=2)
    assert engine.timers.fire_due() == 0  # a duration fires once per scope, as in Camunda
    finish(engine, world, case, "work", "handle")
    assert status(engine, case) == "completed"


def test_a_scope_that_ends_before_its_timer_event_sub_process_cancels_the_timer(engine, world, clock):
    case = start(engine, world, nested("timer", interrupting=True))
    finish(engine, world, case, "work")

    assert tasks(engine, case) == ["after"] and timers(engine, case) == [("event_start", "cancelled")]
    clock.advance(hours=2)
    assert engine.timers.fire_due() == 0 and tasks(engine, case) == ["after"]


# --- signal ---------------------------------------------------------------------------------------


def test_a_broadcast_signal_starts_an_event_sub_process_of_a_waiting_case(engine, world):
    case = start(engine, world, nested("signal", interrupting=True))

    report = engine.signals.broadcast("s", world["zhou"], {})

    assert [r["outcome"] for r in report["instances"]] == ["delivered"]
    assert tasks(engine, case) == ["handle"] and closed(engine, case, "work") == ["cancelled"]


def test_a_non_interrupting_signal_event_sub_process_catches_every_broadcast_while_its_scope_runs(engine, world):
    case = start(engine, world, nested("signal", interrupting=False))

    engine.signals.broadcast("s", world["zhou"], {})
    engine.signals.broadcast("s", world["zhou"], {})
    assert tasks(engine, case) == ["handle", "handle", "work"]
    for task in open_tasks(engine, case):
        engine.tasks.complete(task["id"], world["wang"], {})
    assert tasks(engine, case) == ["after"]
    assert engine.signals.broadcast("s", world["zhou"], {})["instances"] == []  # its scope ended


THROWER = document(
    f"""<bpmn:process id="thrower" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="raise_s"/>
  <bpmn:intermediateThrowEvent id="raise_s">{EVENTS["signal"]}</bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="raise_s" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>""",
    key="thrower",
    extra=DEFINITIONS,
)


def test_a_signal_thrown_in_another_case_starts_the_event_sub_process(engine, world):
    case = start(engine, world, process_level("signal", interrupting=True))
    engine.repository.deploy([("thrower.bpmn", THROWER)], world["admin"])
    engine.runtime.start_instance("thrower", world["chen"], {})

    assert engine.signals.relay_once() == 1

    assert tasks(engine, case) == ["handle"] and closed(engine, case, "work") == ["cancelled"]


# --- error and escalation -------------------------------------------------------------------------

THROWN = {
    "error": '<bpmn:errorEventDefinition errorRef="err_e"/>',
    "escalation": '<bpmn:escalationEventDefinition escalationRef="esc_x"/>',
}
THROWN_DEFINITIONS = (
    '<bpmn:error id="err_e" name="e" errorCode="E1"/>\n<bpmn:escalation id="esc_x" name="x" escalationCode="X1"/>\n'
)


def thrown_in_a_sub_process(kind: str, handler_inside: bool, interrupting: bool = True) -> str:
    """A sub-process whose `work` ends in a `kind` end event beside `inner_other`, beside `other` on
    the process; the event sub-process that catches it (-> handle) inside the sub-process or on the process."""
    handler = f"""<bpmn:subProcess id="on_event" triggeredByEvent="true">
    <bpmn:startEvent id="event_start" isInterrupting="{str(interrupting).lower()}">{THROWN[kind]}</bpmn:startEvent>
    <bpmn:sequenceFlow id="e1" sourceRef="event_start" targetRef="handle"/>
    <bpmn:userTask id="handle" camunda:candidateGroups="officer"/>
    <bpmn:sequenceFlow id="e2" sourceRef="handle" targetRef="event_end"/>
    <bpmn:endEvent id="event_end"/>
  </bpmn:subProcess>"""
    return document(
        f"""<bpmn:process id="esp" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="split"/>
  <bpmn:parallelGateway id="split"/>
  <bpmn:sequenceFlow id="f1" sourceRef="split" targetRef="scope"/>
  <bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="other"/>
  <bpmn:userTask id="other" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="other" targetRef="join"/>
  <bpmn:subProcess id="scope">
    <bpmn:startEvent id="scope_start"/>
    <bpmn:sequenceFlow id="s0" sourceRef="scope_start" targetRef="scope_split"/>
    <bpmn:parallelGateway id="scope_split"/>
    <bpmn:sequenceFlow id="s1" sourceRef="scope_split" targetRef="work"/>
    <bpmn:sequenceFlow id="s2" sourceRef="scope_split" targetRef="inner_other"/>
    <bpmn:userTask id="inner_other" camunda:candidateGroups="officer"/>
    <bpmn:sequenceFlow id="s3" sourceRef="inner_other" targetRef="inner_end"/>
    <bpmn:endEvent id="inner_end"/>
    <bpmn:userTask id="work" camunda:candidateGroups="officer"/>
    <bpmn:sequenceFlow id="s4" sourceRef="work" targetRef="throw_end"/>
    <bpmn:endEvent id="throw_end">{THROWN[kind]}</bpmn:endEvent>
    {handler if handler_inside else ""}
  </bpmn:subProcess>
  <bpmn:sequenceFlow id="f4" sourceRef="scope" targetRef="join"/>
  <bpmn:parallelGateway id="join"/>
  <bpmn:sequenceFlow id="f5" sourceRef="join" targetRef="after"/>
  <bpmn:userTask id="after" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f6" sourceRef="after" targetRef="end"/>
  <bpmn:endEvent id="end"/>
  {"" if handler_inside else handler}
</bpmn:process>""",
        key="esp",
        extra=THROWN_DEFINITIONS,
    )


@pytest.mark.parametrize("kind", ["error", "escalation"])
def test_an_error_or_escalation_event_sub_process_waits_for_its_throw_and_interrupts_its_scope(engine, world, kind):
    case = start(engine, world, thrown_in_a_sub_process(kind, handler_inside=True))
    assert tasks(engine, case) == ["inner_other", "other", "work"]  # the handler waits for the throw

    finish(engine, world, case, "work")

    assert tasks(engine, case) == ["handle", "other"] and closed(engine, case, "inner_other") == ["cancelled"]
    finish(engine, world, case, "handle", "other")  # the sub-process ends through its handler
    assert tasks(engine, case) == ["after"]


@pytest.mark.parametrize("kind", ["error", "escalation"])
def test_an_error_or_escalation_event_sub_process_of_the_process_interrupts_the_whole_case(engine, world, kind):
    case = start(engine, world, thrown_in_a_sub_process(kind, handler_inside=False))

    finish(engine, world, case, "work")

    assert tasks(engine, case) == ["handle"]
    finish(engine, world, case, "handle")
    assert status(engine, case) == "completed"


def test_a_non_interrupting_escalation_event_sub_process_runs_beside_the_thrower(engine, world):
    case = start(engine, world, thrown_in_a_sub_process("escalation", handler_inside=True, interrupting=False))

    finish(engine, world, case, "work")

    assert tasks(engine, case) == ["handle", "inner_other", "other"]
    finish(engine, world, case, "inner_other", "handle", "other")
    assert tasks(engine, case) == ["after"]


# --- who may correlate ----------------------------------------------------------------------------


def test_over_http_only_the_cases_supervisor_starts_a_message_event_sub_process(api, engine, world):  # noqa: F811
    case = start(engine, world, process_level("message", interrupting=True))
    qian, li, wang = api.as_("qian"), api.as_("li"), api.as_("wang")  # logged in before the snapshot
    before = database_rows(engine)
    error_of(qian.post("/messages", {"name": "m", "instance_id": case["id"]}), 404)  # another station
    error_of(li.post("/messages", {"name": "m", "instance_id": case["id"]}), 404)  # no task of their department
    error_of(wang.post("/messages", {"name": "m", "instance_id": case["id"]}), 403)  # an officer
    assert database_rows(engine) == before

    response = api.as_("zhou").post("/messages", {"name": "m", "instance_id": case["id"]})

    assert response.status_code == 200, response.json
    assert tasks(engine, case) == ["handle"]


# --- event-based gateway --------------------------------------------------------------------------

GATEWAY = document(
    f"""<bpmn:process id="esp" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw"/>
  <bpmn:eventBasedGateway id="gw"/>
  <bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="wait_message"/>
  <bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="wait_timer"/>
  <bpmn:sequenceFlow id="f4" sourceRef="gw" targetRef="wait_signal"/>
  <bpmn:intermediateCatchEvent id="wait_message">{EVENTS["message"]}</bpmn:intermediateCatchEvent>
  <bpmn:intermediateCatchEvent id="wait_timer">{EVENTS["timer"]}</bpmn:intermediateCatchEvent>
  <bpmn:intermediateCatchEvent id="wait_signal">{EVENTS["signal"]}</bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f5" sourceRef="wait_message" targetRef="got_message"/>
  <bpmn:sequenceFlow id="f6" sourceRef="wait_timer" targetRef="timed_out"/>
  <bpmn:sequenceFlow id="f7" sourceRef="wait_signal" targetRef="got_signal"/>
  <bpmn:userTask id="got_message" camunda:candidateGroups="officer"/>
  <bpmn:userTask id="timed_out" camunda:candidateGroups="officer"/>
  <bpmn:userTask id="got_signal" camunda:candidateGroups="officer"/>
  <bpmn:endEvent id="end"/>
  <bpmn:sequenceFlow id="f8" sourceRef="got_message" targetRef="end"/>
  <bpmn:sequenceFlow id="f9" sourceRef="timed_out" targetRef="end"/>
  <bpmn:sequenceFlow id="f10" sourceRef="got_signal" targetRef="end"/>
</bpmn:process>""",
    key="esp",
    extra=DEFINITIONS,
)


def test_an_event_based_gateway_waits_for_a_message_a_timer_and_a_signal_at_once(engine, world):
    case = start(engine, world, GATEWAY)

    assert waits(engine, case) == ["wait_message"] and timers(engine, case) == [("wait_timer", "pending")]


def test_at_an_event_based_gateway_the_message_wins_and_the_timer_and_signal_are_cancelled(engine, world, clock):
    case = start(engine, world, GATEWAY)

    correlate(engine, world, case)

    assert tasks(engine, case) == ["got_message"] and waits(engine, case) == []
    assert timers(engine, case) == [("wait_timer", "cancelled")]
    assert engine.signals.broadcast("s", world["zhou"], {})["instances"] == []
    clock.advance(hours=2)
    assert engine.timers.fire_due() == 0 and tasks(engine, case) == ["got_message"]


def test_at_an_event_based_gateway_the_timer_wins_and_a_late_message_is_refused(engine, world, clock):
    case = start(engine, world, GATEWAY)
    clock.advance(hours=1, seconds=1)

    assert engine.timers.fire_due() == 1

    assert tasks(engine, case) == ["timed_out"] and waits(engine, case) == []
    assert timers(engine, case) == [("wait_timer", "fired")]
    before = database_rows(engine)
    with pytest.raises(MessageNotCorrelated):
        correlate(engine, world, case)
    assert database_rows(engine) == before


def test_at_an_event_based_gateway_a_signal_wins_and_the_message_and_timer_are_cancelled(engine, world):
    case = start(engine, world, GATEWAY)

    assert [r["outcome"] for r in engine.signals.broadcast("s", world["zhou"], {})["instances"]] == ["delivered"]

    assert tasks(engine, case) == ["got_signal"] and waits(engine, case) == []
    assert timers(engine, case) == [("wait_timer", "cancelled")]


def test_a_suspended_case_at_an_event_based_gateway_keeps_the_time_its_timer_had_left(engine, world, clock):
    case = start(engine, world, GATEWAY)
    clock.advance(minutes=20)
    engine.runtime.suspend_instance(case["id"], world["zhou"], "court")
    clock.advance(hours=5)
    assert engine.timers.fire_due() == 0
    engine.runtime.resume_instance(case["id"], world["zhou"], "court date set")

    clock.advance(minutes=39)  # 20 + 39 minutes of running time: not yet an hour

    correlate(engine, world, case)  # refreshing timers first, as every change does: the timer is not due

    assert tasks(engine, case) == ["got_message"] and timers(engine, case) == [("wait_timer", "cancelled")]


# --- refused at deploy ----------------------------------------------------------------------------


def refused(engine, world, model: str) -> list[dict]:
    """Deploying `model` is refused and leaves every table as it was; the problems it names."""
    before = database_rows(engine)
    with pytest.raises(DeploymentInvalid) as refusal:
        engine.repository.deploy([("esp.bpmn", model)], world["admin"])
    assert database_rows(engine) == before
    return refusal.value.details


def test_a_catch_event_with_several_definitions_is_refused_naming_it(engine, world):
    model = GATEWAY.replace(
        f'<bpmn:intermediateCatchEvent id="wait_message">{EVENTS["message"]}',
        f'<bpmn:intermediateCatchEvent id="wait_message">{EVENTS["message"]}{EVENTS["signal"]}',
    )

    [problem] = refused(engine, world, model)

    assert problem == {
        "element_id": "wait_message",
        "message": "intermediateCatchEvent 'wait_message': a multiple event (message, signal) is not supported, as "
        "in Camunda 7; draw one event per definition (an event-based gateway waits for whichever comes first)",
    }


def test_a_parallel_multiple_start_event_is_refused_naming_it(engine, world):
    model = document(
        f"""<bpmn:process id="esp" isExecutable="true">
  <bpmn:startEvent id="start" parallelMultiple="true">{EVENTS["message"]}{EVENTS["signal"]}</bpmn:startEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>""",
        key="esp",
        extra=DEFINITIONS,
    )

    [problem] = refused(engine, world, model)

    assert problem["element_id"] == "start"
    assert problem["message"].startswith("startEvent 'start': a parallel multiple event (message, signal)")


def test_a_boundary_event_with_several_definitions_is_refused(engine, world):
    model = process_level("message", interrupting=True).replace(
        '<bpmn:endEvent id="end"/>',
        f"""<bpmn:endEvent id="end"/>
  <bpmn:boundaryEvent id="late" attachedToRef="work">{EVENTS["timer"]}{EVENTS["signal"]}</bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="late" targetRef="end"/>""",
        1,
    )

    assert [p["element_id"] for p in refused(engine, world, model)] == ["late"]


def test_an_event_based_gateway_followed_by_two_timers_is_refused_naming_it(engine, world):
    model = GATEWAY.replace(
        f'<bpmn:intermediateCatchEvent id="wait_signal">{EVENTS["signal"]}',
        '<bpmn:intermediateCatchEvent id="wait_signal">' + EVENTS["timer"].replace("PT1H", "PT3H"),
    )

    [problem] = refused(engine, world, model)

    assert problem == {
        "element_id": "gw",
        "message": "eventBasedGateway 'gw' is followed by 2 timer events (wait_signal, wait_timer): an event-based "
        "gateway waits for one timer here; keep the earliest",
    }


def test_a_timer_cycle_on_an_event_sub_process_start_is_refused_and_changes_nothing(engine, world):
    model = process_level("timer", interrupting=False).replace(
        "<bpmn:timeDuration>PT1H</bpmn:timeDuration>", "<bpmn:timeCycle>R3/PT1H</bpmn:timeCycle>"
    )

    [problem] = refused(engine, world, model)

    assert problem == {
        "element_id": "event_start",
        "message": "startEvent 'event_start': a timer cycle on the start of an event sub-process is not supported "
        "(it fires once here); use timeDuration or timeDate",
    }


def test_an_event_sub_process_whose_start_has_no_event_is_refused(engine, world):
    model = process_level("message", interrupting=True).replace(EVENTS["message"], "")

    [problem] = refused(engine, world, model)

    assert problem["element_id"] == "event_start" and "needs a message, timer, signal" in problem["message"]
