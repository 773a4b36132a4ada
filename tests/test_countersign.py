"""The bundled workflow's joint meeting (联席会议): the assessment names the departments and the signing
(会签: every department signs; 或签: any one); each department's liaison signs with an opinion on its
own task; a department returning its task declines. Agreed: feedback to the resident; not agreed:
the case owner re-assesses."""

from __future__ import annotations

from engine.errors import FormInvalid
from tests.helpers import complete_as, database_rows, queue_of, report_case, rows_added
from tests.test_permission_refusals import refused

OPINION = {"joint_opinion": "同意联合调处 we agree to mediate together", "joint_measures": "派员参加"}
REASON = "不属于本部门职责 not ours"


def joint(engine, world, mode: str, departments=("civil_affairs", "health")):
    case = report_case(engine, world["wang"], risk_level="yellow")
    data = {"resolution": "joint", "departments": list(departments), "joint_mode": mode}
    complete_as(engine, world["wang"], case, "assess_case", data)
    return case


def instances(engine, case) -> dict[str, dict]:
    tasks = engine.runtime.get_instance(case["id"], history=False)["open_tasks"]
    return {t["candidate_groups"][0]: t for t in tasks if t["element_id"] == "joint_meeting"}


def open_elements(engine, case) -> list[str]:
    return sorted(t["element_id"] for t in engine.runtime.get_instance(case["id"], history=False)["open_tasks"])


def test_every_department_signs_then_feedback(engine, world):
    case = joint(engine, world, "all")
    tasks = instances(engine, case)
    assert {g: queue_of(engine, t["id"]) for g, t in tasks.items()} == {
        "civil_affairs": {"civil_affairs"},
        "health": {"health"},
    }
    assert all(t["form_key"] == "joint_opinion" and t["due_at"] for t in tasks.values())
    engine.tasks.complete(tasks["civil_affairs"]["id"], world["li"], OPINION)
    assert open_elements(engine, case) == ["joint_meeting"]
    engine.tasks.complete(tasks["health"]["id"], world["zhao"], OPINION)
    assert open_elements(engine, case) == ["feedback_to_resident"]
    signed = engine.tasks.get_task(tasks["health"]["id"])
    assert signed["state"] == "completed" and signed["outcome"]["joint_opinion"] == OPINION["joint_opinion"]


def test_countersign_with_one_department_declining_goes_back_to_the_assessment(engine, world):
    case = joint(engine, world, "all")
    tasks = instances(engine, case)
    engine.tasks.return_task(tasks["health"]["id"], world["zhao"], REASON)
    assert open_elements(engine, case) == ["joint_meeting"]  # the others still sign
    engine.tasks.complete(tasks["civil_affairs"]["id"], world["li"], OPINION)
    assert open_elements(engine, case) == ["assess_case"]
    back = [t for t in engine.runtime.get_instance(case["id"], history=False)["open_tasks"]][0]
    assert back["assignee"] == "wang"
    # re-assessed: on the spot this time
    complete_as(engine, world["wang"], case, "assess_case", {"resolution": "on_spot"})
    assert open_elements(engine, case) == ["handle_on_spot"]


def test_any_one_signs_closes_the_other_department_as_not_needed(engine, world):
    case = joint(engine, world, "any")
    tasks = instances(engine, case)
    before = database_rows(engine)
    engine.tasks.complete(tasks["health"]["id"], world["zhao"], OPINION)
    assert open_elements(engine, case) == ["feedback_to_resident"]
    other = engine.tasks.get_task(tasks["civil_affairs"]["id"])
    assert other["state"] == "cancelled" and queue_of(engine, other["id"]) == set()
    [entry] = [r for r in rows_added(engine, before, "audit_log") if r["action"] == "task.cancelled"]
    assert entry["details"]["not_needed"] is True and entry["task_id"] == other["id"]


def test_any_one_signs_after_a_decline(engine, world):
    case = joint(engine, world, "any")
    tasks = instances(engine, case)
    engine.tasks.return_task(tasks["civil_affairs"]["id"], world["li"], REASON)
    assert open_elements(engine, case) == ["joint_meeting"]
    engine.tasks.complete(tasks["health"]["id"], world["zhao"], OPINION)
    assert open_elements(engine, case) == ["feedback_to_resident"]


def test_a_signature_needs_an_opinion_and_a_joint_meeting_needs_its_signing(engine, world):
    case = joint(engine, world, "all")
    tasks = instances(engine, case)
    refused(
        engine,
        FormInvalid,
        "form 'joint_opinion' has invalid fields",
        engine.tasks.complete,
        tasks["health"]["id"],
        world["zhao"],
        {"joint_measures": "x"},
    )
    other = report_case(engine, world["wang"])
    assess = [t for t in engine.runtime.get_instance(other["id"], history=False)["open_tasks"]][0]
    data = {"resolution": "joint", "departments": ["health"]}
    error = refused(
        engine,
        FormInvalid,
        "form 'assess_case' has invalid fields",
        engine.tasks.complete,
        assess["id"],
        world["wang"],
        data,
    )
    assert [d["field"] for d in error.details] == ["joint_mode"]


def test_the_owner_withdraws_an_unclaimed_joint_meeting(engine, world):
    case = joint(engine, world, "all")
    tasks = instances(engine, case)
    engine.tasks.withdraw(tasks["health"]["id"], world["wang"], "补充信息后再议")
    assert open_elements(engine, case) == ["assess_case"]
    assert {engine.tasks.get_task(t["id"])["state"] for t in tasks.values()} == {"cancelled"}
    # and the meeting can be called again: the instances start clean
    complete_as(
        engine,
        world["wang"],
        case,
        "assess_case",
        {"resolution": "joint", "departments": ["health"], "joint_mode": "any"},
    )
    [again] = instances(engine, case).values()
    engine.tasks.complete(again["id"], world["zhao"], OPINION)
    assert open_elements(engine, case) == ["feedback_to_resident"]


def test_a_second_joint_meeting_after_a_decline_starts_clean(engine, world):
    case = joint(engine, world, "all", departments=("health",))
    [only] = instances(engine, case).values()
    engine.tasks.return_task(only["id"], world["zhao"], REASON)
    assert open_elements(engine, case) == ["assess_case"]
    complete_as(
        engine,
        world["wang"],
        case,
        "assess_case",
        {"resolution": "joint", "departments": ["civil_affairs", "health"], "joint_mode": "all"},
    )
    tasks = instances(engine, case)
    assert sorted(tasks) == ["civil_affairs", "health"]
    engine.tasks.complete(tasks["civil_affairs"]["id"], world["li"], OPINION)
    engine.tasks.complete(tasks["health"]["id"], world["zhao"], OPINION)
    assert open_elements(engine, case) == ["feedback_to_resident"]
    variables = engine.runtime.get_instance(case["id"], history=False)["variables"]
    assert (variables["nrOfSignedInstances"], variables["nrOfDeclinedInstances"]) == (2, 0)
