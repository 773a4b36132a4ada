"""Migrating running cases to a newer version (engine/migration.py, issue 17): the diff first, a case
moved keeps its open task (same id, same data) and completes on the new version; a migration that
would drop an active task is refused with nothing changed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from engine.errors import DefinitionNotFound, Forbidden, InvalidInput
from engine.migration import MigrationRefused
from tests import models
from tests.conftest import ROOT
from tests.helpers import database_rows, report_case, rows_added, status, task_of


def steps(*tasks: str, key: str = "visit", timer: bool = False) -> str:
    """start -> user tasks in order -> end; `timer`: a non-interrupting reminder on the first task."""
    flows, body = ["start", *tasks, "end"], []
    for i, (source, target) in enumerate(zip(flows, flows[1:], strict=False)):
        body.append(f'<bpmn:sequenceFlow id="f{i}" sourceRef="{source}" targetRef="{target}"/>')
    body += [f'<bpmn:userTask id="{t}" name="{t}" camunda:candidateGroups="officer"/>' for t in tasks]
    if timer:
        body.append(
            f'<bpmn:boundaryEvent id="remind" attachedToRef="{tasks[0]}" cancelActivity="false">'
            '<bpmn:timerEventDefinition><bpmn:timeDuration>"P3D"</bpmn:timeDuration>'
            "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
            '<bpmn:sequenceFlow id="f_remind" sourceRef="remind" targetRef="reminded"/>'
            '<bpmn:endEvent id="reminded"/>'
        )
    return models.document(
        f'<bpmn:process id="{key}" isExecutable="true"><bpmn:startEvent id="start"/>'
        + "".join(body)
        + '<bpmn:endEvent id="end"/></bpmn:process>',
        key=key,
    )


def deploy(engine, xml: str) -> int:
    result = engine.repository.deploy([("model.bpmn", xml)], None)
    return result["definitions"][0]["version"]


def start(engine, world, key: str = "visit") -> dict:
    return engine.runtime.start_instance(key, world["wang"], {"note": "kept"})


def test_a_case_moved_to_v2_keeps_its_task_and_completes_on_v2(engine, world):
    deploy(engine, steps("review", timer=True))
    case = start(engine, world)
    waiting = task_of(engine, case, "review")
    deploy(engine, steps("review", "check", timer=True))

    plan = engine.migration.plan("visit", 1, 2)
    assert plan["safe"] and plan["elements"]["added"] == ["check", "f2"]
    [entry] = plan["cases"]
    assert entry["business_key"] == case["business_key"] and entry["removed"] == []
    assert entry["mapped"] == {"remind": "remind", "review": "review"}

    before = database_rows(engine)
    result = engine.migration.migrate("visit", 1, 2, world["admin"], reason="新增复核 adds a check")
    assert result["migrated"] == [case["business_key"]] and result["skipped"] == []
    view = engine.runtime.get_instance(case["id"], history=False)
    assert view["definition_version"] == 2
    moved = task_of(engine, case, "review")
    assert moved["id"] == waiting["id"] and moved["state"] == waiting["state"]
    audit = [(r["action"], r["details"]) for r in rows_added(engine, before, "audit_log")]
    assert audit == [
        (
            "instance.migrated",
            {
                "from_version": 1,
                "to_version": 2,
                "mapped": {"remind": "remind", "review": "review"},
                "reason": "新增复核 adds a check",
            },
        )
    ]
    after = database_rows(engine)
    assert after["human_tasks"] == before["human_tasks"] and after["timers"] == before["timers"]

    engine.tasks.complete(moved["id"], world["wang"], {})
    check = task_of(engine, case, "check")  # only version 2 has it
    assert check["process_key"] == "visit"
    engine.tasks.complete(check["id"], world["wang"], {})
    assert status(engine, case) == "completed"


def test_a_migration_that_drops_an_active_task_is_refused_and_nothing_changes(engine, world):
    deploy(engine, steps("review", "check"))
    at_review, at_check = start(engine, world), start(engine, world)
    engine.tasks.complete(task_of(engine, at_check, "review")["id"], world["wang"], {})
    deploy(engine, steps("review"))  # `check` is gone

    plan = engine.migration.plan("visit", 1, 2)
    by_key = {case["business_key"]: case for case in plan["cases"]}
    assert by_key[at_review["business_key"]]["safe"] and not plan["safe"]
    assert by_key[at_check["business_key"]]["removed"] == ["check"]

    before = database_rows(engine)
    with pytest.raises(MigrationRefused) as refused:
        engine.migration.migrate("visit", 1, 2, world["admin"])
    assert refused.value.details[0]["element_id"] == "check"
    with pytest.raises(MigrationRefused):
        engine.migration.migrate("visit", 1, 2, world["admin"], instance_id=at_check["id"])
    assert database_rows(engine) == before

    # the safe case alone may move
    moved = engine.migration.migrate("visit", 1, 2, world["admin"], instance_id=at_review["id"])
    assert moved["migrated"] == [at_review["business_key"]]
    engine.tasks.complete(task_of(engine, at_review, "review")["id"], world["wang"], {})
    assert status(engine, at_review) == "completed"


def test_a_task_aligned_by_structure_to_a_renamed_element_moves_under_its_new_name(engine, world):
    deploy(engine, steps("review", "check"))
    case = start(engine, world)
    engine.tasks.complete(task_of(engine, case, "review")["id"], world["wang"], {})
    waiting = task_of(engine, case, "check")
    deploy(engine, steps("review", "decide"))  # `check` renamed: same place between review and the end

    [entry] = engine.migration.plan("visit", 1, 2)["cases"]
    assert entry["mapped"] == {"check": "decide"} and entry["safe"]
    engine.migration.migrate("visit", 1, 2, world["admin"])
    renamed = task_of(engine, case, "decide")
    assert renamed["id"] == waiting["id"] and renamed["name"] == "decide"
    engine.tasks.complete(renamed["id"], world["wang"], {})
    assert status(engine, case) == "completed"


def test_a_dry_run_changes_nothing_and_other_refusals_write_nothing(engine, world):
    deploy(engine, steps("review"))
    case = start(engine, world)
    deploy(engine, steps("review", "check"))
    before = database_rows(engine)
    assert engine.migration.migrate("visit", 1, 2, world["admin"], dry_run=True)["migrated"] == [case["business_key"]]
    with pytest.raises(Forbidden):
        engine.migration.migrate("visit", 1, 2, world["zhou"])
    with pytest.raises(InvalidInput):
        engine.migration.migrate("visit", 2, 2, world["admin"])
    with pytest.raises(DefinitionNotFound):
        engine.migration.migrate("visit", 1, 3, world["admin"])
    assert database_rows(engine) == before


def test_the_bundled_dispute_case_moves_to_a_new_deadline_version_and_goes_on(engine, world):
    xml = (engine.settings.workflows_dir / "dispute_resolution.bpmn").read_text(encoding="utf-8")
    case = report_case(engine, world["wang"], risk_level="yellow")
    assess = task_of(engine, case, "assess_case")
    changed = xml.replace('name="研判案件 Assess case"', 'name="研判案件（新） Assess case"')
    assert changed != xml
    engine.repository.deploy([("dispute_resolution.bpmn", changed)], None, allow_scripts=True)

    plan = engine.migration.plan("dispute_resolution", 1, 2, case["id"])
    assert plan["safe"] and "assess_case" in plan["cases"][0]["mapped"]
    engine.migration.migrate("dispute_resolution", 1, 2, world["admin"], instance_id=case["id"])
    assert engine.runtime.get_instance(case["id"], history=False)["definition_version"] == 2
    assert task_of(engine, case, "assess_case")["id"] == assess["id"]
    engine.tasks.complete(assess["id"], world["wang"], {"resolution": "on_spot"})
    assert task_of(engine, case, "handle_on_spot")


def test_the_migrate_command_shows_the_diff_then_moves_the_cases(engine, world, settings, tmp_path):
    deploy(engine, steps("review"))
    case = start(engine, world)
    deploy(engine, steps("review", "check"))
    env = {**os.environ, "FENGQIAO_DATABASE_URL": settings.database_url, "FENGQIAO_INSTANCE_PATH": str(tmp_path)}

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "cli.main", "migrate", "visit", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    dry = run("--from", "1", "--to", "2", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "added check, f2" in dry.stdout and f"{case['business_key']}" in dry.stdout
    assert "would migrate 1 case(s)" in dry.stdout
    assert engine.runtime.get_instance(case["id"], history=False)["definition_version"] == 1
    refused = run("--from", "1", "--to", "1")
    assert refused.returncode == 1 and refused.stderr.startswith("error: choose two different versions")
    moved = run("--from", "1", "--to", "2", "--case", case["id"], "--reason", "adds a check")
    assert moved.returncode == 0 and "migrated 1 case(s)" in moved.stdout, moved.stderr
    assert engine.runtime.get_instance(case["id"], history=False)["definition_version"] == 2


def test_two_processes_migrating_the_same_version_move_each_case_exactly_once(engine, world, settings, tmp_path):
    deploy(engine, steps("review"))
    cases = [start(engine, world) for _ in range(6)]
    deploy(engine, steps("review", "check"))
    env = {**os.environ, "FENGQIAO_DATABASE_URL": settings.database_url, "FENGQIAO_INSTANCE_PATH": str(tmp_path)}
    command = [sys.executable, "-m", "cli.main", "migrate", "visit", "--from", "1", "--to", "2", "--batch-size", "2"]
    runs = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=180) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(err for _, err in outputs)
    moved = [int(out.split("migrated ")[1].split(" ")[0]) for out, _ in outputs]
    assert sum(moved) == len(cases)  # the other process found each of its cases on version 2 already
    for case in cases:
        assert engine.runtime.get_instance(case["id"], history=False)["definition_version"] == 2
    history = [engine.runtime.get_instance(case["id"])["history"] for case in cases]
    assert [sum(e["action"] == "instance.migrated" for e in entries) for entries in history] == [1] * len(cases)
