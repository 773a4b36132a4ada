"""Third-party BPMN (../shared/conformance): every model deploys or is refused by element, never a crash."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.errors import DeploymentInvalid

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "conformance"
FILES = (
    sorted(p for p in CORPUS.rglob("*") if p.suffix == ".bpmn" or p.name.endswith(".bpmn20.xml"))
    if CORPUS.is_dir()
    else []
)

if not FILES:  # a user's fresh clone has no ../shared; CI always has it
    if os.environ.get("CI"):
        raise RuntimeError(f"the conformance corpus is missing at {CORPUS}")
    pytestmark = pytest.mark.skip(reason=f"no conformance corpus at {CORPUS}")


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CORPUS)) for p in FILES])
def test_third_party_model_deploys_or_is_refused_by_element(engine, path):
    try:
        result = engine.repository.validate([(path.name, path.read_bytes())])
    except DeploymentInvalid as exc:
        assert exc.details, "a refusal must say what is wrong"
        for detail in exc.details:
            assert detail["message"] and "Traceback" not in detail["message"]
    else:
        assert result["processes"]


@pytest.mark.backends("sqlite")
def test_a_called_process_and_its_caller_deploy_together_from_the_corpus(engine):
    folder = CORPUS / "spiffworkflow" / "camunda"
    files = [
        (p.name, p.read_bytes())
        for p in (folder / "call_activity_with_message_parent.bpmn", folder / "call_activity_with_message.bpmn")
    ]
    result = engine.repository.deploy(files)
    assert {d["key"] for d in result["definitions"]} >= {"Subprocess"}


@pytest.mark.backends("sqlite")
def test_spiffworkflows_non_interrupting_timer_model_runs(engine, world, clock):
    from datetime import timedelta

    path = CORPUS / "spiffworkflow" / "bpmn" / "timer-non-interrupt-boundary.bpmn"
    result = engine.repository.deploy([(path.name, path.read_bytes())])
    assert any("WorkForm" in w["message"] for w in result["warnings"])  # its forms are not installed here
    case = engine.runtime.start_instance("NonInterruptTimer", world["wang"], {})
    assert [t["element_id"] for t in engine.runtime.get_instance(case["id"])["open_tasks"]] == ["Activity_Work"]
    clock.advance(timedelta(seconds=1))
    assert engine.timers.fire_due() == 1
    opened = sorted(t["element_id"] for t in engine.runtime.get_instance(case["id"])["open_tasks"])
    assert opened == ["Activity_Work", "GetReason"]
