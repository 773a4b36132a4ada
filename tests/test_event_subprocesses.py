"""Event sub-processes and event-based gateways run as in Camunda 7; events with several
definitions are refused at deploy (issue 19).

An event sub-process's message, signal or timer start event waits while its scope (the process, or
the embedded sub-process it sits in) is active: interrupting, it cancels the scope's other work;
non-interrupting, it runs beside it and (message, signal) waits again. When the scope ends, its
waits and timers are settled with it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.errors import DeploymentInvalid, MessageNotCorrelated
from engine.store.models import HumanTask, MessageWait, Timer
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


def test_a_timer_cycle_on_an_event_sub_process_start_is_refused_and_changes_nothing(engine, world):
    model = process_level("timer", interrupting=False).replace(
        "<bpmn:timeDuration>PT1H</bpmn:timeDuration>", "<bpmn:timeCycle>R3/PT1H</bpmn:timeCycle>"
    )
    before = database_rows(engine)

    with pytest.raises(DeploymentInvalid) as refused:
        engine.repository.deploy([("esp.bpmn", model)], world["admin"])

    assert [p["element_id"] for p in refused.value.details] == ["event_start"]
    assert "timer cycle" in refused.value.details[0]["message"]
    assert database_rows(engine) == before


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
    """<bpmn:process id="thrower" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="raise_s"/>
  <bpmn:intermediateThrowEvent id="raise_s"><bpmn:signalEventDefinition signalRef="sig_s"/></bpmn:intermediateThrowEvent>
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
