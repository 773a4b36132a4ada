"""A signal thrown in a case reaches the other cases of its station (issue 19): through the outbox,
by the relay the sweeper runs, each case in its own unit of work, once however often it is relayed."""

from __future__ import annotations

from sqlalchemy import func, select, update

from engine.store.models import AuditEntry, OutboxEvent, ProcessInstance, RelayCursor, SignalReceipt
from tests.conftest import REDIS_URL
from tests.helpers import open_tasks
from tests.models import document
from tests.test_signals_race import WAITING as WATCH  # waits at `storm`, then secure_site
from tests.test_timer_processes import fengqiao, stop, wait_until, worker_env

SIGNAL = '<bpmn:signal id="sig_storm" name="storm"/>\n'
RESPONSE = document(
    """<bpmn:process id="storm_response" isExecutable="true">
  <bpmn:startEvent id="on_storm">
    <bpmn:signalEventDefinition signalRef="sig_storm"/>
  </bpmn:startEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="on_storm" targetRef="check_shelters"/>
  <bpmn:userTask id="check_shelters" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f2" sourceRef="check_shelters" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>""",
    key="storm_response",
    extra=SIGNAL,
)
ALARM = document(
    """<bpmn:process id="storm_alarm" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="confirm"/>
  <bpmn:userTask id="confirm" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f2" sourceRef="confirm" targetRef="raise_storm"/>
  <bpmn:intermediateThrowEvent id="raise_storm">
    <bpmn:signalEventDefinition signalRef="sig_storm"/>
  </bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="raise_storm" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>""",
    key="storm_alarm",
    extra=SIGNAL,
)
# started by the signal, and throws it again: its own throw must not start it again
ECHO = document(
    """<bpmn:process id="storm_echo" isExecutable="true">
  <bpmn:startEvent id="on_storm">
    <bpmn:signalEventDefinition signalRef="sig_storm"/>
  </bpmn:startEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="on_storm" targetRef="echo"/>
  <bpmn:intermediateThrowEvent id="echo">
    <bpmn:signalEventDefinition signalRef="sig_storm"/>
  </bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="echo" targetRef="log_storm"/>
  <bpmn:userTask id="log_storm" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="log_storm" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>""",
    key="storm_echo",
    extra=SIGNAL,
)


def deploy(engine, world, *documents: tuple[str, str]) -> None:
    engine.repository.deploy(list(documents), world["admin"])


def throw(engine, world, alarm) -> None:
    """The officer confirms the alarm: the case throws `storm` in that unit of work."""
    [confirm] = open_tasks(engine, alarm)
    engine.tasks.claim(confirm["id"], world["wang"])
    engine.tasks.complete(confirm["id"], world["wang"], {})


def tasks_of(engine, case) -> list[str]:
    return [t["element_id"] for t in open_tasks(engine, case)]


def received(engine, case) -> list[dict]:
    with engine.db.read() as scope:
        return [
            e.details
            for e in scope.scalars(
                select(AuditEntry).where(AuditEntry.instance_id == case["id"], AuditEntry.action == "signal.received")
            )
        ]


def cases_of(engine, key: str) -> list[ProcessInstance]:
    with engine.db.read() as scope:
        return list(scope.scalars(select(ProcessInstance).where(ProcessInstance.process_key == key)))


def test_a_thrown_signal_is_an_outbox_event_the_relay_delivers_to_the_waiting_cases_of_the_station(engine, world):
    deploy(engine, world, ("watch.bpmn", WATCH), ("response.bpmn", RESPONSE), ("alarm.bpmn", ALARM))
    near = [engine.runtime.start_instance("storm_watch", world[who], {}) for who in ("wang", "chen")]
    elsewhere = engine.runtime.start_instance("storm_watch", world["liu"], {})  # station dongfeng
    alarm = engine.runtime.start_instance("storm_alarm", world["wang"], {})
    throw(engine, world, alarm)
    assert engine.runtime.get_instance(alarm["id"], history=False)["status"] == "completed"
    with engine.db.read() as scope:
        [event] = scope.scalars(select(OutboxEvent).where(OutboxEvent.type == "signal.raised"))
        assert (event.instance_id, event.payload["name"]) == (alarm["id"], "storm")
    # committed with the throw, not yet delivered: the other cases wait until the relay runs
    assert [tasks_of(engine, c) for c in near] == [[], []] and cases_of(engine, "storm_response") == []

    assert engine.signals.relay_once() == 3  # two waiting cases, one case started

    for case in near:
        assert tasks_of(engine, case) == ["secure_site"]
        assert received(engine, case) == [{"signal": "storm", "fields": [], "thrown_in": alarm["business_key"]}]
    assert tasks_of(engine, elsewhere) == [] and received(engine, elsewhere) == []  # another station
    [started] = cases_of(engine, "storm_response")
    assert started.station_id == cases_of(engine, "storm_alarm")[0].station_id  # the thrower's station
    assert tasks_of(engine, {"id": started.id}) == ["check_shelters"]
    assert engine.signals.relay_once() == 0  # the cursor moved past the throw


def test_a_relay_that_delivers_again_after_a_crash_before_its_mark_changes_nothing_twice(engine, world):
    deploy(engine, world, ("watch.bpmn", WATCH), ("response.bpmn", RESPONSE), ("alarm.bpmn", ALARM))
    waiting = engine.runtime.start_instance("storm_watch", world["wang"], {})
    throw(engine, world, engine.runtime.start_instance("storm_alarm", world["wang"], {}))
    assert engine.signals.relay_once() == 2
    with engine.db.read() as scope:
        state = scope.scalar(select(ProcessInstance.version).where(ProcessInstance.id == waiting["id"]))
    with engine.db.transaction() as scope:  # the mark is lost: as if the relay died before it
        scope.execute(update(RelayCursor).where(RelayCursor.name == "signals").values(last_id=0))

    assert engine.signals.relay_once() == 0

    assert len(received(engine, waiting)) == 1 and tasks_of(engine, waiting) == ["secure_site"]
    assert len(cases_of(engine, "storm_response")) == 1
    with engine.db.read() as scope:
        assert scope.scalar(select(ProcessInstance.version).where(ProcessInstance.id == waiting["id"])) == state
        assert scope.scalar(select(func.count()).select_from(SignalReceipt)) == 2


def test_a_case_of_a_process_started_by_a_signal_does_not_start_its_own_process_again(engine, world):
    deploy(engine, world, ("echo.bpmn", ECHO), ("watch.bpmn", WATCH))
    waiting = engine.runtime.start_instance("storm_watch", world["wang"], {})
    report = engine.signals.broadcast("storm", world["zhou"])
    [echo] = report["started"]
    assert [r["outcome"] for r in report["instances"]] == ["delivered"]  # the broadcast reached it first

    assert engine.signals.relay_once() == 0  # the echo's throw: no case waits, its own process is not started

    assert len(cases_of(engine, "storm_echo")) == 1 and tasks_of(engine, {"id": echo["instance_id"]}) == ["log_storm"]
    assert len(received(engine, waiting)) == 1


def test_sweeper_processes_relay_a_thrown_signal_to_each_case_once(engine, world, settings):
    deploy(engine, world, ("watch.bpmn", WATCH), ("response.bpmn", RESPONSE), ("alarm.bpmn", ALARM))
    waiting = [engine.runtime.start_instance("storm_watch", world["wang"], {}) for _ in range(5)]
    alarm = engine.runtime.start_instance("storm_alarm", world["wang"], {})
    workers = [fengqiao("worker", env=worker_env(settings)) for _ in range(2)]  # two sweepers race
    try:
        throw(engine, world, alarm)
        assert wait_until(lambda: all(tasks_of(engine, c) == ["secure_site"] for c in waiting))
        assert wait_until(lambda: len(cases_of(engine, "storm_response")) == 1)
    finally:
        stop(*workers)
    assert [len(received(engine, c)) for c in waiting] == [1] * 5
    assert len(cases_of(engine, "storm_response")) == 1


def test_the_rq_worker_relays_a_thrown_signal_with_its_sweeper(engine, world, settings, redis_db):
    deploy(engine, world, ("watch.bpmn", WATCH), ("alarm.bpmn", ALARM))
    waiting = engine.runtime.start_instance("storm_watch", world["wang"], {})
    alarm = engine.runtime.start_instance("storm_alarm", world["wang"], {})
    worker = fengqiao("worker", env=worker_env(settings, FENGQIAO_REDIS_URL=REDIS_URL))
    try:
        throw(engine, world, alarm)
        assert wait_until(lambda: tasks_of(engine, waiting) == ["secure_site"])
    finally:
        stop(worker)
    assert len(received(engine, waiting)) == 1


def test_throws_recorded_before_the_upgrade_that_added_the_relay_are_not_delivered(engine, world, settings):
    from alembic import command

    from engine.store.db import alembic_config

    deploy(engine, world, ("watch.bpmn", WATCH), ("alarm.bpmn", ALARM))
    waiting = engine.runtime.start_instance("storm_watch", world["wang"], {})
    throw(engine, world, engine.runtime.start_instance("storm_alarm", world["wang"], {}))
    config = alembic_config(settings.database_url)
    command.downgrade(config, "0016")  # as if this throw had happened before migration 0017
    command.upgrade(config, "head")

    assert engine.signals.relay_once() == 0

    assert tasks_of(engine, waiting) == [] and received(engine, waiting) == []
    throw(engine, world, engine.runtime.start_instance("storm_alarm", world["wang"], {}))  # after it: delivered
    assert engine.signals.relay_once() == 1 and tasks_of(engine, waiting) == ["secure_site"]
