"""The conformance run over tests/conformance (issue 19): no model does worse than its MANIFEST says,
and docs/conformance.md holds the table the run writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine import conformance
from engine.conformance import Result

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
