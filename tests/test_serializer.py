"""The engine's fast state serialization writes exactly what SpiffWorkflow's own converters write.

`engine/serializer.py` builds a workflow's task mapping itself instead of going through the converter
registry per task. Every bundled model and every model of the conformance corpus that parses is run
step by step (engine steps, then the first ready manual task completed with nested and typed data),
and at each step both serializations must be the same JSON, key order included.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine import bpmn
from engine.errors import DeploymentInvalid
from engine.expressions import SafeScriptEngine
from engine.serializer import _SERIALIZER
from tests.helpers import DEPARTMENT_RESULT, complete_as, escalate, report_case
from tests.test_conformance import FILES

ROOT = Path(__file__).resolve().parent.parent
MODELS = sorted((ROOT / "workflows").glob("*.bpmn")) + list(FILES)
STEPS = 12


class _StockConverter(BpmnWorkflowConverter):
    """SpiffWorkflow's top-level converter without the spec, as the engine stores it: the reference."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct


_STOCK_CONFIG = dict(DEFAULT_CONFIG)
_STOCK_CONFIG[BpmnWorkflow] = _StockConverter
_STOCK = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(_STOCK_CONFIG))


def _json(serializer, workflow) -> str:
    registry = serializer.registry
    registry._encoder_mode = True  # as the engine's dumps (and SpiffWorkflow's serialize_json)
    try:
        return json.dumps(serializer.to_dict(workflow), cls=serializer._encoder_cls)
    finally:
        registry._encoder_mode = False


def _specs(path: Path):
    """(spec, subprocess specs) of every process in the file, read by the parser the engine uses after
    the engine's deploy-time normalisation (the bundled model's multi-instance attributes need it)."""
    parser = BpmnParser()
    try:
        try:
            document = bpmn.load_document(path.name, path.read_bytes(), max_bytes=10_000_000, allow_scripts=True)
            parser.add_bpmn_str(document.xml.encode("utf-8"), filename=path.name)
        except DeploymentInvalid:  # refused by the engine: SpiffWorkflow's own reading is still compared
            parser.add_bpmn_file(str(path))
        return [(parser.get_spec(key), parser.get_subprocess_specs(key)) for key in parser.get_process_ids()]
    except Exception:  # noqa: BLE001 - a model the plain parser refuses is refused by the engine too
        return []


def _run_and_compare(spec, subprocess_specs) -> int:
    """Steps compared; each step's two serializations must be identical."""
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=SafeScriptEngine())
    when = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    compared = 0
    for step in range(STEPS):
        assert _json(_SERIALIZER, workflow) == _json(_STOCK, workflow), f"step {step}"
        compared += 1
        try:
            workflow.do_engine_steps()
            ready = workflow.get_tasks(state=TaskState.READY, manual=True)
            if not ready:
                break
            ready[0].set_data(step=step, nested={"at": [when], "n": {"step": step}}, within=timedelta(hours=step))
            workflow.run_task_from_id(ready[0].id)
        except Exception:  # noqa: BLE001 - a model failing mid-run is still compared where it stopped
            break
    assert _json(_SERIALIZER, workflow) == _json(_STOCK, workflow), "last step"
    return compared + 1


def test_fast_serialization_equals_spiffworkflows_on_every_model():
    specs = [(path, spec, subs) for path in MODELS for spec, subs in _specs(path)]
    assert len(specs) >= (20 if FILES else 1), "too few models parsed to prove anything"
    steps = sum(_run_and_compare(spec, subs) for _path, spec, subs in specs)
    assert steps > 2 * len(specs)


@pytest.mark.backends("sqlite")
def test_fast_serialization_equals_spiffworkflows_through_an_escalated_case(engine, world):
    wang, li, zhao = world["wang"], world["li"], world["zhao"]
    case = report_case(engine, wang)
    steps = [
        lambda: escalate(engine, wang, case, ["civil_affairs", "health"]),
        lambda: complete_as(engine, li, case, "handle_civil_affairs", DEPARTMENT_RESULT),
        lambda: complete_as(engine, zhao, case, "handle_health", DEPARTMENT_RESULT),
    ]
    for step in [lambda: None, *steps]:
        step()
        workflow = engine.workflows._entries[case["id"]].workflow  # what the last change serialized
        assert _json(_SERIALIZER, workflow) == _json(_STOCK, workflow)
