"""Timer start events start new cases on schedule (Camunda 7 / Flowable semantics); time moves by the
engine's manual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from engine.errors import Conflict, DeploymentInvalid, Forbidden, InvalidInput
from engine.start_timers import NoStation
from engine.store.models import (
    AuditEntry,
    Department,
    ExternalTask,
    ProcessDefinition,
    ProcessInstance,
    StartTimer,
)
from tests import models
from tests.helpers import database_rows

ORDERS = models.document(
    """<bpmn:process id="orders" isExecutable="true">
  <bpmn:startEvent id="order_received">
    <bpmn:timerEventDefinition><bpmn:timeCycle>0/5 0/1 * 1/1 * ?</bpmn:timeCycle></bpmn:timerEventDefinition>
  </bpmn:startEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="order_received" targetRef="invoicing"/>
  <bpmn:subProcess id="invoicing">
    <bpmn:startEvent id="invoicing_start"/>
    <bpmn:sequenceFlow id="s1" sourceRef="invoicing_start" targetRef="create_invoice"/>
    <bpmn:serviceTask id="create_invoice" camunda:type="external" camunda:topic="invoiceCreator"/>
    <bpmn:sequenceFlow id="s2" sourceRef="create_invoice" targetRef="invoicing_end"/>
    <bpmn:endEvent id="invoicing_end"/>
  </bpmn:subProcess>
  <bpmn:sequenceFlow id="f2" sourceRef="invoicing" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>""",
    key="orders",
)


def scheduled(timer: str, definition: str = "timeCycle", key: str = "timed", starters: str | None = None) -> str:
    xml = models.timed(timer, attached="start", definition=definition, key=key)
    if starters is not None:
        xml = xml.replace(
            f'<bpmn:process id="{key}"', f'<bpmn:process id="{key}" camunda:candidateStarterGroups="{starters}"'
        )
    return xml


def cases(engine, key: str = "timed") -> list[ProcessInstance]:
    with engine.db.read() as scope:
        return list(
            scope.scalars(
                select(ProcessInstance).where(ProcessInstance.process_key == key).order_by(ProcessInstance.started_at)
            )
        )


def schedules(engine, key: str = "timed") -> list[StartTimer]:
    with engine.db.read() as scope:
        return list(scope.scalars(select(StartTimer).where(StartTimer.process_key == key).order_by(StartTimer.id)))


def open_elements(engine, case_id: str) -> list[str]:
    return sorted(t["element_id"] for t in engine.runtime.get_instance(case_id, history=False)["open_tasks"])


def test_a_cycle_r3_starts_exactly_three_cases_as_the_clock_advances(engine, world, clock):
    engine.repository.deploy([("timed.bpmn", scheduled("R3/PT1H"))], world["zhou"])
    assert cases(engine) == [] and engine.start_timers.fire_all_due() == 0
    for n in range(1, 4):
        clock.advance(hours=1, seconds=1)
        assert engine.start_timers.fire_all_due() == 1
        assert len(cases(engine)) == n
    clock.advance(hours=5)
    assert engine.start_timers.fire_all_due() == 0
    started = cases(engine)
    assert len(started) == 3
    for case in started:  # each case passed its start event: its first task is open, no timer waits
        assert open_elements(engine, case.id) == ["review"]
        assert engine.timers.pending(case.id) == []
        assert case.station_id == world["zhou"].station_id and case.started_by_id is None
    [row] = schedules(engine)
    assert (row.status, row.started, row.remaining) == ("done", 3, 0)


def test_each_start_is_audited_by_the_timer_with_its_due_time(engine, world, clock):
    engine.repository.deploy([("timed.bpmn", scheduled("PT2H", definition="timeDuration"))], world["zhou"])
    due = clock.now() + timedelta(hours=2)
    clock.advance(hours=2, seconds=1)
    assert engine.start_timers.fire_all_due() == 1
    [case] = cases(engine)
    with engine.db.read() as scope:
        rows = scope.scalars(select(AuditEntry).where(AuditEntry.instance_id == case.id).order_by(AuditEntry.id)).all()
    by_action = {r.action: r for r in rows}
    assert by_action["instance.started"].actor == "timer"
    assert by_action["timer.fired"].actor == "timer"
    assert by_action["timer.fired"].details["element_id"] == "start"
    assert by_action["timer.fired"].details["due_at"] == due.isoformat()


def test_a_time_date_starts_one_case_at_that_time(engine, world, clock):
    when = (clock.now() + timedelta(days=2)).replace(microsecond=0)
    engine.repository.deploy([("timed.bpmn", scheduled(when.isoformat(), definition="timeDate"))], world["zhou"])
    clock.set(when - timedelta(seconds=1))
    assert engine.start_timers.fire_all_due() == 0
    clock.set(when + timedelta(seconds=1))
    assert engine.start_timers.fire_all_due() == 1
    clock.advance(days=30)
    assert engine.start_timers.fire_all_due() == 0
    assert len(cases(engine)) == 1
    assert schedules(engine)[0].status == "done"


def test_a_redeploy_replaces_the_earlier_versions_schedule(engine, world, clock):
    engine.repository.deploy([("timed.bpmn", scheduled("R/PT1H"))], world["zhou"])
    engine.repository.deploy([("timed.bpmn", scheduled("R/PT3H"))], world["zhou"])
    old, new = schedules(engine)
    assert (old.status, new.status) == ("replaced", "pending")
    clock.advance(hours=2)
    assert engine.start_timers.fire_all_due() == 0  # the hourly schedule of version 1 is gone
    clock.advance(hours=1, seconds=1)
    assert engine.start_timers.fire_all_due() == 1
    [case] = cases(engine)
    with engine.db.read() as scope:
        assert scope.get(ProcessDefinition, case.definition_id).version == 2


def test_a_version_without_timer_start_or_not_executable_removes_the_schedule(engine, world, clock):
    engine.repository.deploy([("timed.bpmn", scheduled("R/PT1H"))], world["zhou"])
    plain = models.timed("PT1H", attached="catch")
    engine.repository.deploy([("timed.bpmn", plain)], world["zhou"])
    assert [s.status for s in schedules(engine)] == ["replaced"]
    other = scheduled("R/PT1H", key="viewed").replace('isExecutable="true"', 'isExecutable="false"')
    engine.repository.deploy([("viewed.bpmn", other)], world["zhou"])
    assert schedules(engine, "viewed") == []
    clock.advance(hours=5)
    assert engine.start_timers.fire_all_due() == 0
    assert cases(engine) == [] and cases(engine, "viewed") == []


def test_the_same_model_deployed_again_keeps_its_schedule(engine, world, clock):
    engine.repository.deploy([("timed.bpmn", scheduled("R/PT1H"))], world["zhou"])
    clock.advance(minutes=30)
    engine.repository.deploy([("timed.bpmn", scheduled("R/PT1H"))], world["zhou"])
    [row] = schedules(engine)
    assert row.status == "pending"
    clock.advance(minutes=31)
    assert engine.start_timers.fire_all_due() == 1


def test_starting_by_hand_passes_the_timer_start_event_at_once(engine, world, clock):
    engine.repository.deploy([("timed.bpmn", scheduled("R/PT1H"))], world["zhou"])
    case = engine.runtime.start_instance("timed", world["wang"], {"note": "by hand"})
    assert open_elements(engine, case["id"]) == ["review"]
    assert engine.timers.pending(case["id"]) == []  # the case does not wait for the cycle
    clock.advance(hours=1, seconds=1)
    engine.timers.fire_all_due()
    assert open_elements(engine, case["id"]) == ["review"]  # no token per occurrence inside the case
    assert engine.start_timers.fire_all_due() == 1  # the schedule starts its own case
    assert len(cases(engine)) == 2


def test_missed_occurrences_start_one_case_for_the_latest(engine, world, clock):
    engine.repository.deploy([("timed.bpmn", scheduled("R5/PT1H"))], world["zhou"])
    first = schedules(engine)[0].next_due_at
    clock.set(first + timedelta(hours=2, minutes=30))  # the sweepers were down for three occurrences
    assert engine.start_timers.fire_all_due() == 1
    [row] = schedules(engine)
    assert row.next_due_at == first + timedelta(hours=3) and row.remaining == 2
    clock.set(first + timedelta(hours=10))
    assert engine.start_timers.fire_all_due() == 1
    assert len(cases(engine)) == 2 and schedules(engine)[0].status == "done"


def test_the_case_goes_to_the_one_station_the_starter_groups_name(engine, world, clock):
    dongfeng = world["qian"].station_id
    xml = scheduled("R1/PT1H", starters="dongfeng,civil_affairs")
    deployed = engine.repository.deploy([("timed.bpmn", xml)], world["admin"])  # the admin has no station
    assert not [w for w in deployed["warnings"] if "no station" in w["message"]]
    clock.advance(hours=1, seconds=1)
    assert engine.start_timers.fire_all_due() == 1
    assert [c.station_id for c in cases(engine)] == [dongfeng]


def test_without_a_station_the_occurrence_is_an_incident_and_the_schedule_goes_on(engine, world, clock):
    deployed = engine.repository.deploy([("timed.bpmn", scheduled("R2/PT1H"))], world["admin"])  # two stations
    assert [w["element_id"] for w in deployed["warnings"] if "no station" in w["message"]] == ["start"]
    clock.advance(hours=1, seconds=1)
    assert engine.start_timers.fire_all_due() == 0
    assert cases(engine) == []
    [row] = schedules(engine)
    assert row.status == "pending" and row.remaining == 1
    assert "no station" in row.last_error and "candidateStarterGroups" in row.last_error
    with engine.db.read() as scope:
        [incident] = scope.scalars(select(AuditEntry).where(AuditEntry.action == "incident.opened")).all()
    assert incident.actor == "timer" and incident.details["process_key"] == "timed"


@pytest.mark.parametrize(
    "timer, definition, says",
    [
        ("R0/PT1H", "timeCycle", "repeats zero times"),
        ("${'every hour'}", "timeCycle", "not an ISO 8601 repeating interval"),
        ("2026-13-45T09:00:00", "timeDate", "not an ISO 8601 duration or date-time"),
        ("${wait_for}", "timeDuration", "without case variables"),
        ("R3/PT1H", "timeDuration", "write it as timeCycle"),
    ],
)
def test_a_bad_timer_start_value_is_refused_at_deploy_with_a_sentence(engine, world, timer, definition, says):
    with pytest.raises(DeploymentInvalid) as refused:
        engine.repository.deploy([("timed.bpmn", scheduled(timer, definition=definition))], world["zhou"])
    [detail] = refused.value.details
    assert detail["element_id"] == "start" and says in detail["message"]
    assert schedules(engine) == []
    with engine.db.read() as scope:
        assert (
            scope.scalar(select(func.count()).select_from(ProcessDefinition).where(ProcessDefinition.key == "timed"))
            == 0
        )


def test_a_not_executable_process_deploys_whatever_its_timer_start_says(engine, world):
    viewed = scheduled("R0/PT1H").replace('isExecutable="true"', 'isExecutable="false"')
    engine.repository.deploy([("timed.bpmn", viewed)], world["zhou"])
    assert schedules(engine) == []


def test_an_evenly_spaced_cron_cycle_starts_a_case_at_each_occurrence(engine, world, clock):
    clock.set(datetime(2026, 12, 7, 0, 2, tzinfo=UTC))
    engine.repository.deploy([("timed.bpmn", scheduled("0 0/5 * * * ?"))], world["zhou"])
    [row] = schedules(engine)
    assert row.next_due_at == datetime(2026, 12, 7, 0, 5, tzinfo=UTC) and row.remaining == -1
    for _ in range(3):
        clock.advance(minutes=5)
        assert engine.start_timers.fire_all_due() == 1
    assert len(cases(engine)) == 3


def test_the_same_occurrence_claimed_twice_starts_one_case(engine, world, clock):
    engine.repository.deploy([("timed.bpmn", scheduled("R/PT1H"))], world["zhou"])
    clock.advance(hours=1, seconds=1)
    [(schedule_id, due)] = engine.start_timers._claim(10)
    assert engine.start_timers._start(schedule_id, due) == "started"
    assert engine.start_timers._start(schedule_id, due) == "skipped"  # a second sweeper with a stale claim
    assert len(cases(engine)) == 1


def test_a_cron_cycle_start_before_a_sub_process_starts_orders_that_wait_for_their_invoice(engine, world, clock):
    """The shape of Camunda's order-handling example: a Quartz cycle start event, then a sub-process
    with an external task (the example's conditional boundary event is left out: docs/conformance.md)."""
    clock.set(datetime(2026, 12, 7, 8, 0, 1, tzinfo=UTC))
    engine.repository.deploy([("orders.bpmn", ORDERS)], world["zhou"])
    clock.advance(seconds=10)  # occurrences at :05 and :10: one case, for the latest
    assert engine.start_timers.fire_all_due() == 1
    clock.advance(seconds=5)
    assert engine.start_timers.fire_all_due() == 1
    started = cases(engine, "orders")
    assert len(started) == 2
    with engine.db.read() as scope:
        waiting = scope.execute(
            select(ExternalTask.instance_id, ExternalTask.element_id).where(
                ExternalTask.instance_id.in_([c.id for c in started])
            )
        ).all()
    assert sorted(waiting) == sorted((c.id, "create_invoice") for c in started)


TWO_STARTS = models.document(
    """<bpmn:process id="two_starts" isExecutable="true">
  <bpmn:startEvent id="by_hand"/>
  <bpmn:sequenceFlow id="f1" sourceRef="by_hand" targetRef="review"/>
  <bpmn:startEvent id="hourly">
    <bpmn:timerEventDefinition><bpmn:timeCycle>R/PT1H</bpmn:timeCycle></bpmn:timerEventDefinition>
  </bpmn:startEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="hourly" targetRef="review"/>
  <bpmn:userTask id="review" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>""",
    key="two_starts",
)


def test_a_process_with_a_plain_and_a_timer_start_gets_one_token_per_case(engine, world, clock):
    engine.repository.deploy([("two_starts.bpmn", TWO_STARTS)], world["zhou"])
    by_hand = engine.runtime.start_instance("two_starts", world["wang"], {})
    assert open_elements(engine, by_hand["id"]) == ["review"]  # at the plain start only
    assert engine.timers.pending(by_hand["id"]) == []
    clock.advance(hours=1, seconds=1)
    assert engine.start_timers.fire_all_due() == 1
    [scheduled_case] = [c for c in cases(engine, "two_starts") if c.id != by_hand["id"]]
    # one token: SpiffWorkflow passes the plain start event first and drops the others (docs/workflows.md)
    assert open_elements(engine, scheduled_case.id) == ["review"]


def test_a_start_that_keeps_failing_is_retried_then_becomes_an_incident_and_the_schedule_goes_on(engine, world, clock):
    xml = scheduled("R/PT1H").replace(
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>',
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw"/><bpmn:exclusiveGateway id="gw" default="fd"/>'
        '<bpmn:sequenceFlow id="fc" sourceRef="gw" targetRef="review"><bpmn:conditionExpression '
        'xsi:type="bpmn:tFormalExpression">approved == True</bpmn:conditionExpression></bpmn:sequenceFlow>'
        '<bpmn:sequenceFlow id="fd" sourceRef="gw" targetRef="review"/>',
    )
    engine.repository.deploy([("timed.bpmn", xml)], world["zhou"])
    first = schedules(engine)[0].next_due_at
    clock.advance(hours=1, seconds=1)
    for attempt in range(1, engine.settings.timer_max_attempts):
        assert engine.start_timers.fire_all_due() == 0
        [row] = schedules(engine)
        assert (row.attempts, row.next_due_at, row.status) == (attempt, first, "pending")  # the same occurrence
        assert "approved" in row.last_error
        clock.advance(seconds=2**attempt + 1)  # past its backoff
    assert engine.start_timers.fire_all_due() == 0
    [row] = schedules(engine)
    assert row.next_due_at == first + timedelta(hours=1) and row.attempts == 0 and row.started == 0
    assert cases(engine) == []  # each failed start was rolled back whole
    with engine.db.read() as scope:
        [incident] = scope.scalars(select(AuditEntry).where(AuditEntry.action == "incident.opened")).all()
    assert incident.details["element_id"] == "start" and "approved" in incident.details["error"]


# --- a start that made no case is an incident like the others (listed, retried, dismissed) ------------
def no_station_incident(engine, world, clock, starters: str | None = None) -> dict:
    """Deploy as the admin (no station; two stations exist), let the first occurrence fall due: an incident."""
    engine.repository.deploy([("timed.bpmn", scheduled("R/PT1H", starters=starters))], world["admin"])
    clock.advance(hours=1, seconds=1)
    assert engine.start_timers.fire_all_due() == 0
    [incident] = engine.timers.list_incidents()
    return incident


def test_a_start_without_a_station_is_an_open_incident_with_its_process_version_start_event_and_due_time(
    engine, world, clock
):
    due = clock.now() + timedelta(hours=1)
    incident = no_station_incident(engine, world, clock)
    [row] = schedules(engine)
    assert incident["kind"] == "start_timer" and incident["status"] == "open"
    assert (incident["instance_id"], incident["business_key"]) == (None, None)
    assert (incident["process_key"], incident["definition_version"], incident["element_id"]) == ("timed", 1, "start")
    assert incident["start_timer_id"] == row.id and datetime.fromisoformat(incident["due_at"]) == due
    assert "no station" in incident["error"] and "candidateStarterGroups" in incident["error"]
    with engine.db.read() as scope:
        [opened] = scope.scalars(select(AuditEntry).where(AuditEntry.action == "incident.opened")).all()
    assert opened.details["incident_id"] == incident["id"] and opened.instance_id is None
    assert engine.timers.incident(incident["id"]) == incident


def test_a_start_that_kept_failing_is_an_incident_of_its_schedule(engine, world, clock):
    xml = scheduled("R1/PT1H").replace(
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>',
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw"/><bpmn:exclusiveGateway id="gw"/>'
        '<bpmn:sequenceFlow id="fc" sourceRef="gw" targetRef="review"><bpmn:conditionExpression '
        'xsi:type="bpmn:tFormalExpression">approved == True</bpmn:conditionExpression></bpmn:sequenceFlow>',
    )
    engine.repository.deploy([("timed.bpmn", xml)], world["zhou"])
    clock.advance(hours=1, seconds=1)
    for attempt in range(engine.settings.timer_max_attempts):
        engine.start_timers.fire_all_due()
        clock.advance(seconds=2 ** (attempt + 1) + 1)
    [incident] = engine.timers.list_incidents()
    assert incident["kind"] == "start_timer" and incident["attempts"] == engine.settings.timer_max_attempts
    assert "approved" in incident["error"] and incident["element_id"] == "start"


def test_retrying_after_a_new_version_names_a_station_starts_the_case_there_and_resolves_the_incident(
    engine, world, clock
):
    incident = no_station_incident(engine, world, clock)
    engine.repository.deploy([("timed.bpmn", scheduled("R/PT1H", starters="dongfeng"))], world["admin"])
    resolved = engine.timers.retry_incident(incident["id"], world["admin"])
    [case] = cases(engine)
    assert case.station_id == world["qian"].station_id and open_elements(engine, case.id) == ["review"]
    with engine.db.read() as scope:
        assert scope.get(ProcessDefinition, case.definition_id).version == 2
        [retried] = scope.scalars(select(AuditEntry).where(AuditEntry.action == "incident.retried")).all()
    assert (resolved["status"], resolved["resolution"]) == ("resolved", "retried")
    assert resolved["instance_id"] == case.id and resolved["business_key"] == case.business_key
    assert retried.actor == "admin" and retried.instance_id == case.id
    assert retried.details["incident_id"] == incident["id"] and retried.details["version"] == 2
    assert engine.timers.list_incidents() == []


def test_retrying_after_the_named_station_is_created_starts_the_case_in_it(engine, world, clock):
    incident = no_station_incident(engine, world, clock, starters="nanhu")
    engine.identity.create_department("nanhu", "南湖派出所", "station")
    engine.timers.retry_incident(incident["id"], world["admin"])
    [case] = cases(engine)
    with engine.db.read() as scope:
        nanhu = scope.scalar(select(Department.id).where(Department.key == "nanhu"))
    assert case.station_id == nanhu


def test_retrying_while_there_is_still_no_station_is_refused_and_changes_nothing(engine, world, clock):
    incident = no_station_incident(engine, world, clock)
    before = database_rows(engine)
    with pytest.raises(NoStation) as refused:
        engine.timers.retry_incident(incident["id"], world["admin"])
    assert "still no station" in refused.value.message and "candidateStarterGroups" in refused.value.message
    assert database_rows(engine) == before


def test_retrying_when_no_version_has_the_start_event_any_more_is_refused_and_changes_nothing(engine, world, clock):
    incident = no_station_incident(engine, world, clock)
    engine.repository.deploy([("timed.bpmn", models.one_task(key="timed"))], world["admin"])
    before = database_rows(engine)
    with pytest.raises(Conflict) as refused:
        engine.timers.retry_incident(incident["id"], world["admin"])
    assert "dismiss the incident" in refused.value.message
    assert database_rows(engine) == before


def test_a_retried_incident_is_not_retried_twice(engine, world, clock):
    incident = no_station_incident(engine, world, clock)
    engine.repository.deploy([("timed.bpmn", scheduled("R/PT2H", starters="dongfeng"))], world["admin"])
    engine.timers.retry_incident(incident["id"], world["admin"])
    before = database_rows(engine)
    with pytest.raises(InvalidInput):
        engine.timers.retry_incident(incident["id"], world["admin"])
    assert database_rows(engine) == before and len(cases(engine)) == 1


def test_dismissing_a_start_incident_resolves_it_audited_with_the_reason(engine, world, clock):
    incident = no_station_incident(engine, world, clock)
    dismissed = engine.timers.dismiss_incident(incident["id"], world["admin"], "上线前的测试流程 test schedule")
    assert (dismissed["status"], dismissed["resolution"]) == ("resolved", "dismissed")
    assert dismissed["resolved_at"] == clock.now().isoformat() and cases(engine) == []
    with engine.db.read() as scope:
        [entry] = scope.scalars(select(AuditEntry).where(AuditEntry.action == "incident.dismissed")).all()
    assert entry.actor == "admin" and entry.details["reason"] == "上线前的测试流程 test schedule"
    assert entry.details["incident_id"] == incident["id"] and entry.details["element_id"] == "start"
    assert engine.timers.list_incidents() == []


@pytest.mark.parametrize(
    "who, reason, refusal",
    [("zhou", "reason", Forbidden), ("admin", "  ", InvalidInput), ("admin", "x" * 1001, InvalidInput)],
)
def test_dismissing_is_refused_without_an_admin_or_a_reason_and_changes_nothing(
    engine, world, clock, who, reason, refusal
):
    incident = no_station_incident(engine, world, clock)
    before = database_rows(engine)
    with pytest.raises(refusal):
        engine.timers.dismiss_incident(incident["id"], world[who], reason)
    assert database_rows(engine) == before


def test_a_start_incident_has_no_case_to_cancel_and_a_resolved_one_is_not_dismissed_again(engine, world, clock):
    incident = no_station_incident(engine, world, clock)
    before = database_rows(engine)
    with pytest.raises(Conflict) as refused:
        engine.timers.cancel_incident(incident["id"], world["admin"], "give up")
    assert "dismiss it" in refused.value.message
    assert database_rows(engine) == before
    engine.timers.dismiss_incident(incident["id"], world["admin"], "not needed")
    before = database_rows(engine)
    with pytest.raises(InvalidInput):
        engine.timers.dismiss_incident(incident["id"], world["admin"], "again")
    with pytest.raises(InvalidInput):
        engine.timers.retry_incident(incident["id"], world["admin"])
    assert database_rows(engine) == before


def test_a_case_incident_is_not_dismissed_it_is_retried_or_its_case_cancelled(engine, world, clock):
    engine.repository.deploy([("failing.bpmn", models.failing_timer())], world["zhou"])
    started = engine.runtime.start_instance("timed", world["wang"], {})
    clock.advance(hours=1, seconds=1)
    for _ in range(engine.settings.timer_max_attempts):
        engine.timers.fire_due()
        clock.advance(minutes=10)
    [incident] = engine.timers.list_incidents()
    assert incident["instance_id"] == started["id"] and incident["process_key"] == "timed"
    before = database_rows(engine)
    with pytest.raises(Conflict) as refused:
        engine.timers.dismiss_incident(incident["id"], world["admin"], "no")
    assert "belongs to a case" in refused.value.message
    assert database_rows(engine) == before


def _as_deployed_before_schedules(engine, key: str = "timed") -> None:
    """What a version deployed before migration 0019 looks like: no schedule, no `timer_starts` in its meta."""
    with engine.db.transaction() as scope:
        scope.execute(StartTimer.__table__.delete().where(StartTimer.process_key == key))
        for row in scope.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key)):
            own = {k: v for k, v in row.meta[key].items() if k != "timer_starts"}
            row.meta = {**row.meta, key: own}


def test_the_current_version_deployed_before_schedules_existed_is_scheduled_by_the_first_sweep(engine, world, clock):
    from engine.jobs import Sweeper

    engine.repository.deploy([("timed.bpmn", scheduled("R/PT3H"))], world["zhou"])
    engine.repository.deploy([("timed.bpmn", scheduled("R/PT1H"))], world["zhou"])
    _as_deployed_before_schedules(engine)
    sweeper = Sweeper(engine)
    sweeper.sweep()
    [row] = schedules(engine)
    with engine.db.read() as scope:
        current = scope.scalar(select(func.max(ProcessDefinition.id)).where(ProcessDefinition.key == "timed"))
    assert (row.definition_id, row.status, row.step_seconds) == (current, "pending", 3600)
    assert engine.start_timers.backfill() == 0  # recorded in the version's meta: once
    assert len(schedules(engine)) == 1
    clock.advance(hours=1, seconds=1)
    sweeper.sweep()
    [case] = cases(engine)
    assert open_elements(engine, case.id) == ["review"]  # started past its timer start event


def test_a_version_deployed_before_schedules_existed_without_timer_start_gets_none(engine, world):
    engine.repository.deploy([("approval.bpmn", models.one_task())], world["zhou"])
    with engine.db.transaction() as scope:
        row = scope.scalar(select(ProcessDefinition).where(ProcessDefinition.key == "approval"))
        row.meta = {"approval": {k: v for k, v in row.meta["approval"].items() if k != "timer_starts"}}
    assert engine.start_timers.backfill() == 0
    assert schedules(engine, "approval") == []
    with engine.db.read() as scope:
        row = scope.scalar(select(ProcessDefinition).where(ProcessDefinition.key == "approval"))
        assert row.meta["approval"]["timer_starts"] == []
