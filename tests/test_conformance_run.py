"""The conformance run over tests/conformance (issue 19): no model does worse than its MANIFEST says,
and docs/conformance.md holds the table the run writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine import conformance
from engine.conformance import Result
from engine.identity import Actor

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "conformance"


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> list[Result]:
    """One run of the whole corpus, as `fengqiao conformance` does it (its own database and clock)."""
    from engine import Engine, Settings
    from engine.clock import ManualClock

    folder = tmp_path_factory.mktemp("conformance")
    settings = Settings.from_env(
        {"FENGQIAO_DATABASE_URL": f"sqlite:///{folder}/run.db", "FENGQIAO_INSTANCE_PATH": str(folder)}
    )
    clock = ManualClock()
    engine = Engine(settings, clock)
    engine.migrate()
    try:
        return conformance.run(engine, clock, CORPUS)
    finally:
        engine.close()


def test_every_model_has_an_expected_outcome_and_meets_it(results):
    assert len(results) >= 50
    assert [r.file for r in results if r.expected is None] == []
    worse = [(r.file, r.expected, r.outcome, r.reason) for r in results if not r.meets_expectation]
    assert worse == []


def test_a_refusal_names_the_construct_in_a_sentence_without_internal_text(results):
    for result in results:
        if result.outcome == "refused":
            assert result.reason and "Error:" not in result.reason and "Traceback" not in result.reason
            assert "'" in result.reason  # the element (or process) is named


def test_the_documented_table_is_the_one_the_run_writes(results):
    documented = (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8")
    assert conformance.table(results) in documented, "run `fengqiao conformance tests/conformance` and update it"


def test_worse_than_expected_is_a_failure_of_the_run():
    assert not Result("a.bpmn", "run", "deployed", "stopped").meets_expectation
    assert not Result("a.bpmn", "refuse", "ran", "ran").meets_expectation  # may run differently than meant
    assert not Result("a.bpmn", None, "crash", "TypeError").meets_expectation
    assert Result("a.bpmn", "deploy", "ran", "ran").meets_expectation


def test_the_command_prints_the_table_and_exits_1_when_a_model_does_worse(tmp_path):
    model = CORPUS / "fengqiao" / "unparsable-timer-variable.bpmn"
    (tmp_path / "m.bpmn").write_bytes(model.read_bytes())
    (tmp_path / "m.json").write_bytes(model.with_suffix(".json").read_bytes())
    (tmp_path / "MANIFEST.md").write_text("| file | expect |\n|---|---|\n| m.bpmn | run |\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "conformance", str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 1, done.stderr
    assert "| m.bpmn | run | deployed ✗ |" in done.stdout
    assert "'5 minutes' is not an ISO 8601 duration" in done.stdout
    (tmp_path / "MANIFEST.md").write_text("| file | expect |\n|---|---|\n| m.bpmn | deploy |\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "conformance", str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _folder_with(tmp_path: Path, model: str, sidecar: dict | None, expect: str = "run") -> Path:
    (tmp_path / "m.bpmn").write_bytes((CORPUS / model).read_bytes())
    if sidecar is not None:
        (tmp_path / "m.json").write_text(json.dumps(sidecar), encoding="utf-8")
    (tmp_path / "MANIFEST.md").write_text(f"| file | expect |\n|---|---|\n| m.bpmn | {expect} |\n", encoding="utf-8")
    return tmp_path


def test_the_run_completes_an_external_task_as_a_worker_with_the_sidecar_variables(engine, clock, tmp_path):
    folder = _folder_with(tmp_path, "fengqiao/external-task.bpmn", {"tasks": {"lookup": {"partyKnown": True}}})
    [result] = conformance.run(engine, clock, folder)
    assert (result.outcome, result.reason) == ("ran", "ran to its end")
    [case] = engine.runtime.list_instances(process_key="external_lookup")
    assert case["status"] == "completed" and case["variables"]["partyKnown"] is True
    history = engine.runtime.get_instance(case["id"])["history"]
    assert any(e["action"] == "external_task.locked" for e in history), history
    assert engine.external_tasks.list(instance_id=case["id"]) == []
    assert [t["element_id"] for t in engine.tasks.query(instance_id=case["id"], state="completed")["items"]] == [
        "review"
    ]


def test_an_external_task_the_run_cannot_fetch_stops_the_case_there_with_a_sentence(engine, clock, tmp_path):
    folder = _folder_with(tmp_path, "fengqiao/external-task.bpmn", None, expect="deploy")
    conformance._ensure_runner(engine)
    runner = engine.identity.actor(conformance.RUNNER)
    engine.repository.deploy([("m.bpmn", (folder / "m.bpmn").read_bytes())], runner)
    other = engine.runtime.start_instance("external_lookup", runner, {})
    worker = Actor.system("other_worker", topics=frozenset({"party_lookup"}))
    [held] = engine.external_tasks.fetch_and_lock(
        worker, "w1", 1, [{"topicName": "party_lookup", "lockDuration": 60000}]
    )
    assert held["processInstanceId"] == other["id"]
    problem = conformance._work_external(engine, held, {})
    assert problem == "it was not fetched (locked by another worker or out of retries)"
    assert engine.runtime.get_instance(other["id"], history=False)["status"] == "running"
    assert [t["id"] for t in engine.external_tasks.list(instance_id=other["id"])] == [held["id"]]
