"""External tasks (engine/external_tasks.py): BPMN service tasks a department system fetches, locks and
completes; lock expiry, failures and incidents, BPMN errors caught by a boundary event, and every
refusal leaving the database as it was."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.errors import DeploymentInvalid, Forbidden, FormInvalid, InvalidInput
from engine.external_tasks import STATES, ExternalTaskLockLost, ExternalTaskNotFound, NoErrorBoundary, state_of
from engine.identity import Actor
from tests import models
from tests.helpers import database_rows, open_tasks, rows_added

TOPIC = "civil.records"
WORKER = Actor.system("civil-records", department="civil_affairs", topics=frozenset({TOPIC}))
OTHER_TOPIC = Actor.system("health-system", department="health", topics=frozenset({"health.check"}))
PLAIN_API = Actor.system("civil-system", department="civil_affairs")
LOCK = 60_000


@pytest.fixture
def deployed(engine):
    engine.repository.deploy([("records.bpmn", models.external_task())])
    engine.repository.deploy(
        [("records_form.bpmn", models.external_task("records_form", "civil.form", "department_result"))]
    )
    return engine


def start(engine, world, key: str = "records_check", **variables):
    return engine.runtime.start_instance(key, world["wang"], {"category": "neighbour", **variables})


def fetch(engine, worker_id: str = "w1", max_tasks: int = 10, actor: Actor = WORKER, topic: str = TOPIC, lock=LOCK):
    return engine.external_tasks.fetch_and_lock(
        actor, worker_id, max_tasks, [{"topicName": topic, "lockDuration": lock}]
    )


def test_a_service_task_becomes_an_external_task_a_worker_completes(deployed, world):
    case = start(deployed, world)
    assert open_tasks(deployed, case) == []  # no human task: the case waits at the service task
    [task] = fetch(deployed)
    assert task["topicName"] == TOPIC and task["activityId"] == "check" and task["workerId"] == "w1"
    assert task["processInstanceId"] == case["id"] and task["businessKey"] == case["business_key"]
    assert task["variables"]["category"] == {"value": "neighbour", "type": "String"}
    assert fetch(deployed, "w2") == []  # locked: nobody else gets it
    before = database_rows(deployed)
    deployed.external_tasks.complete(task["id"], WORKER, "w1", {"found": {"value": True, "type": "Boolean"}})
    assert [t["element_id"] for t in open_tasks(deployed, case)] == ["review"]
    assert deployed.runtime.get_instance(case["id"])["variables"]["found"] is True
    assert deployed.external_tasks.list(instance_id=case["id"]) == []
    actions = [row["action"] for row in rows_added(deployed, before, "audit_log")]
    assert "external_task.completed" in actions and "task.created" in actions
    assert "external_task.completed" in [row["type"] for row in rows_added(deployed, before, "outbox")]


def test_creating_the_task_is_audited_and_announced(deployed, world):
    before = database_rows(deployed)
    start(deployed, world)
    assert "external_task.created" in [row["type"] for row in rows_added(deployed, before, "outbox")]
    assert "external_task.created" in [row["action"] for row in rows_added(deployed, before, "audit_log")]


def test_an_expired_lock_makes_the_task_fetchable_again(deployed, world, clock):
    start(deployed, world)
    [task] = fetch(deployed, "w1")
    clock.advance(timedelta(seconds=59))
    assert fetch(deployed, "w2") == []
    clock.advance(timedelta(seconds=2))
    [again] = fetch(deployed, "w2")
    assert again["id"] == task["id"] and again["workerId"] == "w2"
    before = database_rows(deployed)
    with pytest.raises(ExternalTaskLockLost):
        deployed.external_tasks.complete(task["id"], WORKER, "w1", None)
    assert database_rows(deployed) == before
    deployed.external_tasks.complete(task["id"], WORKER, "w2", None)


def test_completing_after_the_lock_expired_is_refused(deployed, world, clock):
    start(deployed, world)
    [task] = fetch(deployed)
    clock.advance(timedelta(seconds=61))
    before = database_rows(deployed)
    with pytest.raises(ExternalTaskLockLost):
        deployed.external_tasks.complete(task["id"], WORKER, "w1", None)
    assert database_rows(deployed) == before


def test_extend_lock_keeps_the_holder(deployed, world, clock):
    start(deployed, world)
    [task] = fetch(deployed)
    clock.advance(timedelta(seconds=50))
    deployed.external_tasks.extend_lock(task["id"], WORKER, "w1", 120_000)
    clock.advance(timedelta(seconds=60))
    assert fetch(deployed, "w2") == []
    before = database_rows(deployed)
    with pytest.raises(ExternalTaskLockLost):
        deployed.external_tasks.extend_lock(task["id"], WORKER, "w2", 1000)
    assert database_rows(deployed) == before
    deployed.external_tasks.complete(task["id"], WORKER, "w1", None)


def test_failure_retries_then_incident_then_admin_retry(deployed, world, clock):
    case = start(deployed, world)
    [task] = fetch(deployed)
    deployed.external_tasks.failure(task["id"], WORKER, "w1", "registry offline", 1, 30_000)
    assert fetch(deployed, "w1") == []  # the retry timeout holds it back
    clock.advance(timedelta(seconds=31))
    [again] = fetch(deployed, "w1")
    assert again["retries"] == 1 and again["errorMessage"] == "registry offline"
    deployed.external_tasks.failure(task["id"], WORKER, "w1", "still offline", 0)
    clock.advance(timedelta(hours=1))
    assert fetch(deployed, "w1") == []  # no retries left: an incident, not fetchable
    [incident] = deployed.timers.list_incidents(instance_id=case["id"])
    assert incident["kind"] == "external_task" and incident["external_task_id"] == task["id"]
    assert incident["element_id"] == "check" and "still offline" in incident["error"]
    deployed.timers.retry_incident(incident["id"], world["admin"])
    [fetched] = fetch(deployed, "w3")
    assert fetched["id"] == task["id"]
    deployed.external_tasks.complete(task["id"], WORKER, "w3", None)
    assert [t["element_id"] for t in open_tasks(deployed, case)] == ["review"]


def test_a_bpmn_error_takes_the_boundary_path(deployed, world):
    case = start(deployed, world)
    [task] = fetch(deployed)
    deployed.external_tasks.bpmn_error(task["id"], WORKER, "w1", "NOT_FOUND", "no such household")
    assert [t["element_id"] for t in open_tasks(deployed, case)] == ["manual_check"]
    assert deployed.external_tasks.list(instance_id=case["id"]) == []


def test_a_bpmn_error_no_boundary_catches_changes_nothing(deployed, world):
    start(deployed, world)
    [task] = fetch(deployed)
    before = database_rows(deployed)
    with pytest.raises(NoErrorBoundary):
        deployed.external_tasks.bpmn_error(task["id"], WORKER, "w1", "OTHER_CODE")
    assert database_rows(deployed) == before


def test_results_are_checked_against_the_tasks_form(deployed, world):
    case = start(deployed, world, "records_form")
    [task] = fetch(
        deployed,
        topic="civil.form",
        actor=Actor.system("c", department="civil_affairs", topics=frozenset({"civil.form"})),
    )
    worker = Actor.system("c", department="civil_affairs", topics=frozenset({"civil.form"}))
    before = database_rows(deployed)
    with pytest.raises(FormInvalid) as refused:
        deployed.external_tasks.complete(task["id"], worker, "w1", {"outcome": {"value": "maybe"}})
    assert {d["field"] for d in refused.value.details} >= {"outcome"}
    assert database_rows(deployed) == before
    deployed.external_tasks.complete(
        task["id"], worker, "w1", {"outcome": {"value": "resolved"}, "summary": {"value": "household found"}}
    )
    assert deployed.runtime.get_instance(case["id"])["variables"]["outcome"] == "resolved"


def test_tokens_without_the_topic_are_refused_and_nothing_changes(deployed, world):
    start(deployed, world)
    before = database_rows(deployed)
    for actor in (OTHER_TOPIC, PLAIN_API):
        with pytest.raises(Forbidden):
            fetch(deployed, actor=actor)
    assert database_rows(deployed) == before
    [task] = fetch(deployed)
    before = database_rows(deployed)
    for call in (
        lambda: deployed.external_tasks.complete(task["id"], OTHER_TOPIC, "w1", None),
        lambda: deployed.external_tasks.failure(task["id"], OTHER_TOPIC, "w1", "x", 0),
        lambda: deployed.external_tasks.extend_lock(task["id"], OTHER_TOPIC, "w1", 1000),
        lambda: deployed.external_tasks.bpmn_error(task["id"], OTHER_TOPIC, "w1", "NOT_FOUND"),
    ):
        with pytest.raises(Forbidden):
            call()
    assert database_rows(deployed) == before


def test_bad_input_is_refused_and_nothing_changes(deployed, world):
    start(deployed, world)
    [task] = fetch(deployed)
    before = database_rows(deployed)
    service = deployed.external_tasks
    for call in (
        lambda: service.fetch_and_lock(WORKER, "", 1, [{"topicName": TOPIC, "lockDuration": 1}]),
        lambda: service.fetch_and_lock(WORKER, "w1", 0, [{"topicName": TOPIC, "lockDuration": 1}]),
        lambda: service.fetch_and_lock(WORKER, "w1", 1, []),
        lambda: service.fetch_and_lock(WORKER, "w1", 1, [{"topicName": TOPIC, "lockDuration": 0}]),
        lambda: service.complete(task["id"], WORKER, "w1", {"x": 1}),  # not a typed variable
        lambda: service.complete(task["id"], WORKER, "w1", []),
        lambda: service.failure(task["id"], WORKER, "w1", "x", -1),
        lambda: service.extend_lock(task["id"], WORKER, "w1", 0),
        lambda: service.bpmn_error(task["id"], WORKER, "w1", ""),
    ):
        with pytest.raises(InvalidInput):
            call()
    with pytest.raises(ExternalTaskNotFound):
        service.complete("00000000-0000-0000-0000-000000000000", WORKER, "w1", None)
    assert database_rows(deployed) == before


def test_cancelling_the_case_removes_its_external_task(deployed, world):
    case = start(deployed, world)
    deployed.runtime.cancel_instance(case["id"], world["admin"], "reported twice")
    assert deployed.external_tasks.list(instance_id=case["id"]) == []
    assert fetch(deployed) == []


@pytest.mark.backends("sqlite")
def test_other_service_tasks_stay_refused(engine):
    plain = models.external_task().replace('camunda:type="external" camunda:topic="civil.records"', "")
    with pytest.raises(DeploymentInvalid) as refused:
        engine.repository.deploy([("plain.bpmn", plain)])
    assert [d["element_id"] for d in refused.value.details] == ["check"]
    no_topic = models.external_task().replace(' camunda:topic="civil.records"', "")
    with pytest.raises(DeploymentInvalid) as refused:
        engine.repository.deploy([("no_topic.bpmn", no_topic)])
    assert "camunda:topic" in refused.value.details[0]["message"]


def test_a_suspended_cases_task_is_not_fetched_until_resumed(deployed, world):
    case = start(deployed, world)
    deployed.runtime.suspend_instance(case["id"], world["zhou"], "waiting for the family")
    assert fetch(deployed) == []
    deployed.runtime.resume_instance(case["id"], world["zhou"], "family back")
    [task] = fetch(deployed)
    assert task["processInstanceId"] == case["id"]


def test_a_boundary_timer_cancels_the_external_task(engine, world, clock):
    timer = "<bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>"
    model = models.external_task().replace('<bpmn:errorEventDefinition errorRef="error_not_found"/>', timer)
    engine.repository.deploy([("timed.bpmn", model)])
    case = start(engine, world)
    [task] = fetch(engine)
    clock.advance(timedelta(hours=2))
    assert engine.timers.fire_due() == 1
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["manual_check"]
    assert engine.external_tasks.list(instance_id=case["id"]) == []
    with pytest.raises(ExternalTaskNotFound):
        engine.external_tasks.complete(task["id"], WORKER, "w1", None)


def test_personal_fields_of_a_result_are_sealed_not_in_the_case(engine, world):
    form = {
        "type": "object",
        "additionalProperties": False,
        "required": ["found"],
        "properties": {"found": {"type": "boolean"}, "head_of_household": {"type": "string", "x-pii": True}},
    }
    engine.repository.deploy(
        [("sealed.bpmn", models.external_task("sealed_check", "civil.sealed", "household_result"))],
        forms={"household_result": form},
    )
    case = start(engine, world, "sealed_check")
    worker = Actor.system("c", department="civil_affairs", topics=frozenset({"civil.sealed"}))
    [task] = fetch(engine, topic="civil.sealed", actor=worker)
    result = {"found": {"value": True}, "head_of_household": {"value": "刘桂兰"}}
    engine.external_tasks.complete(task["id"], worker, "w1", result)
    variables = engine.runtime.get_instance(case["id"])["variables"]
    assert variables["found"] is True and "head_of_household" not in variables
    [record] = engine.runtime.personal_data(case["id"], world["zhou"], "verify the household check")
    assert record["data"] == {"head_of_household": "刘桂兰"} and record["source"] == "household_result"


# --- the list, unlock and retries (admins; workers for their own topics) ---------------------------
def test_the_list_filters_waiting_tasks_and_carries_no_variables(deployed, world, clock):
    cases = []
    for _ in range(3):  # a second apart: the list is oldest first
        cases.append(start(deployed, world))
        clock.advance(timedelta(seconds=1))
    first, second, third = cases
    [locked] = fetch(deployed, "w1", max_tasks=1)
    [failed] = fetch(deployed, "w2", max_tasks=1)
    deployed.external_tasks.failure(failed["id"], WORKER, "w2", "registry down", 0)
    admin, query = world["admin"], deployed.external_tasks.query
    listed = query(admin)
    assert [t["processInstanceId"] for t in listed] == [first["id"], second["id"], third["id"]]
    assert all("variables" not in t for t in listed)
    assert [t["id"] for t in query(admin, locked=True)] == [locked["id"]]
    assert [t["processInstanceId"] for t in query(admin, locked=False)] == [second["id"], third["id"]]
    assert [t["id"] for t in query(admin, worker_id="w1")] == [locked["id"]]
    assert query(admin, worker_id="w2") == []  # a failure releases the lock
    assert [t["id"] for t in query(admin, retries_left=False)] == [failed["id"]]
    assert len(query(admin, retries_left=True)) == 2
    assert [t["processInstanceId"] for t in query(admin, instance_id=third["id"])] == [third["id"]]
    assert [t["processInstanceId"] for t in query(admin, business_key=second["business_key"])] == [second["id"]]
    assert [t["processInstanceId"] for t in query(admin, first=1, limit=1)] == [second["id"]]
    assert query(admin, topic="civil.form") == []
    clock.advance(timedelta(milliseconds=LOCK + 1))
    assert query(admin, locked=True) == []  # an expired lock is no lock
    assert [t["id"] for t in query(WORKER)] == [t["id"] for t in listed]  # a worker: its own topic
    assert deployed.external_tasks.get(locked["id"], WORKER)["activityId"] == "check"


def test_each_waiting_task_is_in_exactly_one_state_and_the_overview_counts_them(deployed, world, clock):
    for _ in range(4):
        start(deployed, world)
    start(deployed, world, "records_form")
    [locked] = fetch(deployed, "w1", max_tasks=1)
    [failed, incident] = fetch(deployed, "w2", max_tasks=2)
    deployed.external_tasks.failure(failed["id"], WORKER, "w2", "registry down", 2, 60_000)
    deployed.external_tasks.failure(incident["id"], WORKER, "w2", "registry down", 0)
    admin, query = world["admin"], deployed.external_tasks.query
    ids = {state: [t["id"] for t in query(admin, state=state)] for state in STATES}
    assert ids["locked"] == [locked["id"]] and ids["failed"] == [failed["id"]] and ids["incident"] == [incident["id"]]
    assert len(ids["available"]) == 2 and sorted(sum(ids.values(), [])) == sorted(t["id"] for t in query(admin))
    assert all(state_of(t, clock.now()) == state for state in STATES for t in query(admin, state=state))
    assert [t["processDefinitionKey"] for t in query(admin, process_key="records_form")] == ["records_form"]
    assert deployed.external_tasks.overview(admin) == {
        "topics": [
            {"topic": "civil.form", "total": 1, "available": 1, "locked": 0, "failed": 0, "incident": 0},
            {"topic": TOPIC, "total": 4, "available": 1, "locked": 1, "failed": 1, "incident": 1},
        ],
        "processes": ["records_check", "records_form"],
    }
    clock.advance(timedelta(milliseconds=LOCK + 1))  # the lock expires: available again, the failure stays failed
    assert locked["id"] in [t["id"] for t in query(admin, state="available")] and query(admin, state="locked") == []
    assert [t["id"] for t in query(admin, state="failed")] == [failed["id"]]
    with pytest.raises(InvalidInput):
        query(admin, state="waiting")
    for actor in (WORKER, world["zhou"]):
        with pytest.raises(Forbidden):
            deployed.external_tasks.overview(actor)


def test_reading_tasks_is_refused_outside_the_tokens_topics(deployed, world):
    task = start(deployed, world) and fetch(deployed)[0]
    service = deployed.external_tasks
    assert service.query(OTHER_TOPIC) == []  # its own topics only: none of this one's tasks
    for call in (
        lambda: service.query(OTHER_TOPIC, topic=TOPIC),
        lambda: service.query(PLAIN_API),
        lambda: service.query(world["wang"]),
        lambda: service.get(task["id"], OTHER_TOPIC),
        lambda: service.get(task["id"], world["zhou"]),
    ):
        with pytest.raises(Forbidden):
            call()
    with pytest.raises(ExternalTaskNotFound):
        service.get("00000000-0000-0000-0000-000000000000", world["admin"])


def test_an_admin_unlocks_a_task_and_another_worker_fetches_it(deployed, world):
    start(deployed, world)
    [task] = fetch(deployed, "w1")
    before = database_rows(deployed)
    deployed.external_tasks.unlock(task["id"], world["admin"])
    [again] = fetch(deployed, "w2")
    assert again["id"] == task["id"] and again["workerId"] == "w2"
    [audit] = [r for r in rows_added(deployed, before, "audit_log") if r["action"] == "external_task.unlocked"]
    assert audit["details"]["worker_id"] == "w1" and audit["actor"] == "admin"
    [event] = [r for r in rows_added(deployed, before, "outbox") if r["type"] == "external_task.unlocked"]
    assert event["payload"]["task_id"] == task["id"] and event["payload"]["worker_id"] == "w1"
    with pytest.raises(ExternalTaskLockLost):
        deployed.external_tasks.complete(task["id"], WORKER, "w1", None)


def test_the_holding_worker_unlocks_its_own_task(deployed, world):
    start(deployed, world)
    [task] = fetch(deployed, "w1")
    deployed.external_tasks.unlock(task["id"], WORKER, "w1")
    assert deployed.external_tasks.get(task["id"], WORKER)["workerId"] is None
    assert [t["id"] for t in fetch(deployed, "w2")] == [task["id"]]


def test_unlock_refusals_change_nothing(deployed, world, clock):
    start(deployed, world)
    start(deployed, world)
    [task] = fetch(deployed, "w1", max_tasks=1)
    [waiting] = deployed.external_tasks.query(world["admin"], locked=False)
    service = deployed.external_tasks
    before = database_rows(deployed)
    for call, refusal in (
        (lambda: service.unlock(task["id"], world["zhou"], "w1"), Forbidden),  # wrong role
        (lambda: service.unlock(task["id"], PLAIN_API, "w1"), Forbidden),  # a token without topics
        (lambda: service.unlock(task["id"], OTHER_TOPIC, "w1"), Forbidden),  # another topic's worker
        (lambda: service.unlock(task["id"], WORKER, "w2"), ExternalTaskLockLost),  # not the holder
        (lambda: service.unlock(task["id"], world["admin"], "w2"), ExternalTaskLockLost),
        (lambda: service.unlock(task["id"], WORKER, None), InvalidInput),  # a worker names itself
        (lambda: service.unlock(waiting["id"], world["admin"]), ExternalTaskLockLost),  # never locked
        (lambda: service.unlock("00000000-0000-0000-0000-000000000000", world["admin"]), ExternalTaskNotFound),
    ):
        with pytest.raises(refusal):
            call()
    clock.advance(timedelta(milliseconds=LOCK + 1))
    with pytest.raises(ExternalTaskLockLost) as expired:
        service.unlock(task["id"], WORKER, "w1")
    assert expired.value.code == "external_task_not_locked"
    assert database_rows(deployed) == before


def test_setting_retries_resolves_the_incident_and_the_task_is_fetchable_again(deployed, world):
    start(deployed, world)
    [task] = fetch(deployed)
    deployed.external_tasks.failure(task["id"], WORKER, "w1", "registry down", 0, retry_timeout_ms=3_600_000)
    [incident] = deployed.timers.list_incidents(status="open")
    before = database_rows(deployed)
    view = deployed.external_tasks.set_retries(task["id"], world["admin"], 3)
    assert view["retries"] == 3 and view["lockExpirationTime"] is None
    assert deployed.timers.list_incidents(status="open") == []
    [resolved] = deployed.timers.list_incidents(status="resolved")
    assert resolved["id"] == incident["id"] and resolved["resolution"] == "retried"
    actions = [r["action"] for r in rows_added(deployed, before, "audit_log")]
    assert actions == ["external_task.retries_set", "incident.retried"]
    assert [r["type"] for r in rows_added(deployed, before, "outbox")] == ["external_task.retries_set"]
    [again] = fetch(deployed, "w2")  # at once: the failure's retry timeout no longer holds it back
    assert again["id"] == task["id"] and again["retries"] == 3


def test_setting_retries_to_zero_opens_an_incident(deployed, world):
    start(deployed, world)
    [task] = fetch(deployed)
    deployed.external_tasks.unlock(task["id"], world["admin"])
    deployed.external_tasks.set_retries(task["id"], world["admin"], 0)
    [incident] = deployed.timers.list_incidents(status="open")
    assert incident["external_task_id"] == task["id"] and incident["kind"] == "external_task"
    assert fetch(deployed) == []
    deployed.external_tasks.set_retries(task["id"], world["admin"], 0)  # no second incident
    assert len(deployed.timers.list_incidents(status="open")) == 1


def test_set_retries_refusals_change_nothing(deployed, world):
    start(deployed, world)
    [task] = fetch(deployed)
    service = deployed.external_tasks
    before = database_rows(deployed)
    for call, refusal in (
        (lambda: service.set_retries(task["id"], WORKER, 3), Forbidden),
        (lambda: service.set_retries(task["id"], world["zhou"], 3), Forbidden),
        (lambda: service.set_retries(task["id"], world["admin"], -1), InvalidInput),
        (lambda: service.set_retries(task["id"], world["admin"], True), InvalidInput),
        (lambda: service.set_retries("00000000-0000-0000-0000-000000000000", world["admin"], 1), ExternalTaskNotFound),
    ):
        with pytest.raises(refusal):
            call()
    assert database_rows(deployed) == before
