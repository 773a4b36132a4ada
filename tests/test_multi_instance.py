"""Multi-instance user tasks as Camunda modellers write them (issue 19 item 3, issue 20 countersign):
each instance is its own task row in its own queue, claimable and completable on its own; completion
all / any / a share through completionCondition; parallel and sequential; JUEL in loopCardinality;
`${loopCounter}` in an assignee; early completion closes the other instances as not needed."""

from __future__ import annotations

import pytest

from engine.errors import DeploymentInvalid, InvalidInput, NotCandidate, TaskNotOpen
from tests.helpers import PASSWORD, database_rows, queue_of, rows_added
from tests.models import document
from tests.test_permission_refusals import refused

DEPARTMENTS = ["civil_affairs", "health", "justice"]
REASON = "不在本部门职责 not ours to sign"


def countersign(
    key: str = "joint",
    condition: str | None = None,
    sequential: bool = False,
    loop: str | None = None,
    task_attrs: str = 'camunda:candidateGroups="${department}"',
) -> str:
    """start -> multi-instance `sign` (over `departments` unless `loop` is given) -> `after` -> end."""
    inner = f"<bpmn:completionCondition>{condition}</bpmn:completionCondition>" if condition else ""
    over = 'camunda:collection="${departments}" camunda:elementVariable="department"' if loop is None else ""
    cardinality = f"<bpmn:loopCardinality>{loop}</bpmn:loopCardinality>" if loop is not None else ""
    return document(
        f'''<bpmn:process id="{key}" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sign"/>
  <bpmn:userTask id="sign" name="会签 Sign" {task_attrs} camunda:dueDate="PT24H">
    <bpmn:multiInstanceLoopCharacteristics isSequential="{str(sequential).lower()}" {over}>
      {cardinality}{inner}
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="sign" targetRef="after"/>
  <bpmn:userTask id="after" name="After" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>''',
        key=key,
    )


@pytest.fixture
def signers(engine, world):
    engine.identity.create_department("justice", "司法局", "agency")
    engine.identity.create_user("wu", "liaison", PASSWORD, ["justice"])
    for name in ("u0", "u1", "u2"):
        engine.identity.create_user(name, "liaison", PASSWORD, ["health"])
    return {**world, **{n: engine.identity.actor(n) for n in ("wu", "u0", "u1", "u2")}}


def start(engine, who, model: str, key: str = "joint", **variables):
    engine.repository.deploy([(f"{key}.bpmn", model)])
    return engine.runtime.start_instance(key, who, {"departments": DEPARTMENTS, **variables})


def open_of(engine, case, element_id: str = "sign") -> list[dict]:
    tasks = engine.runtime.get_instance(case["id"], history=False)["open_tasks"]
    return sorted((t for t in tasks if t["element_id"] == element_id), key=lambda t: t["candidate_groups"])


def by_group(engine, case) -> dict[str, dict]:
    return {t["candidate_groups"][0]: t for t in open_of(engine, case)}


def test_each_department_gets_its_own_task_in_its_own_queue_and_all_must_sign(engine, signers):
    case = start(engine, signers["wang"], countersign())
    tasks = by_group(engine, case)
    assert sorted(tasks) == sorted(DEPARTMENTS)
    assert {g: queue_of(engine, t["id"]) for g, t in tasks.items()} == {g: {g} for g in DEPARTMENTS}
    assert len({t["id"] for t in tasks.values()}) == 3 and all(t["due_at"] for t in tasks.values())
    # a liaison claims and completes only their own department's instance
    refused(
        engine,
        NotCandidate,
        "you are not a candidate for this task",
        engine.tasks.claim,
        tasks["health"]["id"],
        signers["li"],
    )
    engine.tasks.claim(tasks["civil_affairs"]["id"], signers["li"])
    engine.tasks.complete(tasks["civil_affairs"]["id"], signers["li"], {})
    engine.tasks.complete(tasks["health"]["id"], signers["zhao"], {})
    assert [t["candidate_groups"] for t in open_of(engine, case)] == [["justice"]]
    assert open_of(engine, case, "after") == []
    engine.tasks.complete(tasks["justice"]["id"], signers["wu"], {})
    assert len(open_of(engine, case, "after")) == 1
    variables = engine.runtime.get_instance(case["id"], history=False)["variables"]
    assert (variables["nrOfCompletedInstances"], variables["nrOfSignedInstances"]) == (3, 3)
    assert "department" not in variables and "loopCounter" not in variables


def test_any_one_signs_and_the_other_instances_close_as_not_needed(engine, signers):
    case = start(engine, signers["wang"], countersign(condition="${nrOfCompletedInstances >= 1}"))
    tasks = by_group(engine, case)
    engine.tasks.claim(tasks["justice"]["id"], signers["wu"])
    before = database_rows(engine)
    engine.tasks.complete(tasks["health"]["id"], signers["zhao"], {})
    assert open_of(engine, case) == [] and len(open_of(engine, case, "after")) == 1
    for group in ("civil_affairs", "justice"):
        row = engine.tasks.get_task(tasks[group]["id"])
        assert row["state"] == "cancelled" and queue_of(engine, row["id"]) == set()
    cancelled = [r for r in rows_added(engine, before, "audit_log") if r["action"] == "task.cancelled"]
    assert sorted(r["task_id"] for r in cancelled) == sorted([tasks["civil_affairs"]["id"], tasks["justice"]["id"]])
    assert all(r["details"]["not_needed"] for r in cancelled)
    # their SLA marks are settled: no pending timer of a closed instance
    pending = [r for r in rows_added(engine, {**before, "timers": []}, "timers") if r["status"] == "pending"]
    assert {r["task_id"] for r in pending} & {tasks["civil_affairs"]["id"], tasks["justice"]["id"]} == set()
    events = [e for e in rows_added(engine, before, "outbox") if e["type"] == "task.cancelled"]
    assert len(events) == 2 and all(e["payload"]["not_needed"] for e in events)


def test_two_of_three_with_one_department_returning(engine, signers):
    model = countersign(condition="${nrOfSignedInstances >= 2}")
    case = start(engine, signers["wang"], model)
    tasks = by_group(engine, case)
    before = database_rows(engine)
    returned = engine.tasks.return_task(tasks["civil_affairs"]["id"], signers["li"], REASON)
    assert returned["state"] == "returned" and queue_of(engine, returned["id"]) == set()
    [entry] = [r for r in rows_added(engine, before, "audit_log") if r["action"] == "task.returned"]
    assert (entry["actor"], entry["actor_id"], entry["task_id"]) == ("li", signers["li"].id, returned["id"])
    details = {"element_id": "sign", "reason": REASON, "groups": ["civil_affairs"], "declined": True}
    assert entry["details"] == details
    [event] = [e for e in rows_added(engine, before, "outbox") if e["type"] == "task.returned"]
    assert event["task_id"] == returned["id"]
    assert {k: event["payload"][k] for k in ("task_id", "element_id", "candidate_groups", "owner_id", "declined")} == {
        "task_id": returned["id"],
        "element_id": "sign",
        "candidate_groups": ["civil_affairs"],
        "owner_id": None,  # this model's cases have no owner (the bundled one's joint meeting has)
        "declined": True,
    }
    # a decline is no signature: the other two still sign
    assert sorted(t["candidate_groups"][0] for t in open_of(engine, case)) == ["health", "justice"]
    engine.tasks.complete(tasks["health"]["id"], signers["zhao"], {})
    assert len(open_of(engine, case)) == 1
    engine.tasks.complete(tasks["justice"]["id"], signers["wu"], {})
    assert len(open_of(engine, case, "after")) == 1
    variables = engine.runtime.get_instance(case["id"], history=False)["variables"]
    assert (variables["nrOfSignedInstances"], variables["nrOfDeclinedInstances"]) == (2, 1)


def test_a_share_of_half_completes_at_the_second_signature(engine, signers):
    case = start(engine, signers["wang"], countersign(condition="${nrOfCompletedInstances/nrOfInstances >= 0.5}"))
    tasks = by_group(engine, case)
    engine.tasks.complete(tasks["health"]["id"], signers["zhao"], {})
    assert len(open_of(engine, case)) == 2
    engine.tasks.complete(tasks["justice"]["id"], signers["wu"], {})
    assert open_of(engine, case) == [] and len(open_of(engine, case, "after")) == 1
    assert engine.tasks.get_task(tasks["civil_affairs"]["id"])["state"] == "cancelled"


def test_sequential_instances_come_one_after_another_in_the_collection_order(engine, signers):
    case = start(engine, signers["wang"], countersign(sequential=True))
    for group, who in (("civil_affairs", "li"), ("health", "zhao"), ("justice", "wu")):
        [task] = open_of(engine, case)
        assert task["candidate_groups"] == [group]
        engine.tasks.complete(task["id"], signers[who], {})
    assert len(open_of(engine, case, "after")) == 1


def test_sequential_any_one_signs_stops_after_the_first_signature_a_decline_does_not(engine, signers):
    case = start(engine, signers["wang"], countersign(sequential=True, condition="${nrOfSignedInstances >= 1}"))
    [first] = open_of(engine, case)
    engine.tasks.return_task(first["id"], signers["li"], REASON)
    [second] = open_of(engine, case)
    assert second["candidate_groups"] == ["health"]
    engine.tasks.complete(second["id"], signers["zhao"], {})
    assert open_of(engine, case) == [] and len(open_of(engine, case, "after")) == 1


@pytest.mark.parametrize("loop,count", [("${5-2}", 3), ("${nrOfLoops}", 2)])
def test_loop_cardinality_in_juel_and_loop_counter_in_the_assignee(engine, signers, loop, count):
    attrs = "camunda:assignee=\"${'u' + str(loopCounter)}\""
    case = start(engine, signers["wang"], countersign(loop=loop, task_attrs=attrs), nrOfLoops=2)
    tasks = open_of(engine, case)
    assert sorted(t["assignee"] for t in tasks) == [f"u{i}" for i in range(count)]
    for task in tasks:
        engine.tasks.complete(task["id"], signers[task["assignee"]], {})
    assert len(open_of(engine, case, "after")) == 1


def test_a_returned_instance_changes_nothing_when_refused(engine, signers):
    case = start(engine, signers["wang"], countersign())
    tasks = by_group(engine, case)
    civil = tasks["civil_affairs"]["id"]
    refused(engine, InvalidInput, ".*reason.*", engine.tasks.return_task, civil, signers["li"], " ")
    says = "only the department the task is escalated to may return it"
    refused(engine, NotCandidate, says, engine.tasks.return_task, civil, signers["zhao"], REASON)
    engine.tasks.complete(civil, signers["li"], {})
    refused(engine, TaskNotOpen, "the task is completed: only an open department task is returned",
            engine.tasks.return_task, civil, signers["li"], REASON)  # fmt: skip


@pytest.mark.parametrize(
    "attrs,says",
    [
        ('camunda:collection="${departments[0]}" camunda:elementVariable="department"', "must name a list variable"),
        ('camunda:collection="departments" camunda:elementVariable="a b"', "must be a variable name"),
        ("", "needs loopCardinality or a collection"),
    ],
)
def test_a_multi_instance_that_cannot_run_is_refused_at_deploy(engine, attrs, says):
    model = countersign().replace('camunda:collection="${departments}" camunda:elementVariable="department"', attrs)
    with pytest.raises(DeploymentInvalid) as caught:
        engine.repository.deploy([("joint.bpmn", model)])
    assert any(says in p["message"] and p["element_id"] == "sign" for p in caught.value.details)


def test_a_refused_completion_condition_is_named_at_deploy(engine):
    with pytest.raises(DeploymentInvalid) as caught:
        engine.repository.deploy([("joint.bpmn", countersign(condition="${__import__('os')}"))])
    assert any("completionCondition refused" in p["message"] for p in caught.value.details)
