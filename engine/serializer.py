"""Workflow state <-> JSON, without the spec.

The spec is stored once per definition version and parsed once per process (cached by content
hash); instance blobs hold only tasks and data. The caller hands the already-parsed spec back in.
"""

from __future__ import annotations

import json
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

from . import json_codec
from .expressions import SafeScriptEngine


class _SpeclessWorkflowConverter(BpmnWorkflowConverter):
    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct):
        spec, subprocess_specs = dct.pop("spec"), dct.pop("subprocess_specs")
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_CONFIG = dict(DEFAULT_CONFIG)
_CONFIG[BpmnWorkflow] = _SpeclessWorkflowConverter
_SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(_CONFIG))
_VERSION_KEY = _SERIALIZER.VERSION_KEY


# SpiffWorkflow's own JSON encoder: its `default` writes typed task data (datetimes, ...) as typed
# values; orjson calls it for what it does not encode itself, and the whole encoder takes what orjson refuses
_SPIFF_ENCODER = _SERIALIZER._encoder_cls()


class WorkflowSerializer:
    """Dumps and loads instance state; every loaded workflow runs on the safe script engine."""

    def __init__(self, script_engine: SafeScriptEngine):
        self.script_engine = script_engine

    def new(self, spec, subprocess_specs) -> BpmnWorkflow:
        return BpmnWorkflow(spec, subprocess_specs, script_engine=self.script_engine)

    def dumps(self, workflow: BpmnWorkflow) -> str:
        # serialize_json, with orjson: the standard library's encoder was ~10 % of a completion
        registry = _SERIALIZER.registry
        registry._encoder_mode = True  # as serialize_json: typed values in task data left to the encoder
        try:
            dct = _SERIALIZER.to_dict(workflow)
        finally:
            registry._encoder_mode = False
        dct[_VERSION_KEY] = _SERIALIZER.VERSION
        return json_codec.dumps(dct, _SPIFF_ENCODER.default, _SPIFF_ENCODER.encode)

    def loads(self, state: str, spec, subprocess_specs) -> BpmnWorkflow:
        dct = json.loads(state)
        dct.pop(_VERSION_KEY, None)  # written by this exact pinned version; no migration applies
        dct["spec"], dct["subprocess_specs"] = spec, subprocess_specs
        workflow = _SERIALIZER.from_dict(dct)
        workflow.script_engine = self.script_engine
        return workflow
