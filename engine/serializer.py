"""Workflow state <-> JSON, without the spec.

The spec is stored once per definition version and parsed once per process (cached by content
hash); instance blobs hold only tasks and data. The caller hands the already-parsed spec back in.
"""

from __future__ import annotations

import json
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnSubWorkflowConverter,
    BpmnWorkflowConverter,
)
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.deep_merge import DeepMerge

from . import json_codec
from .call_activities import CallActivity, CallActivityConverter
from .event_subprocesses import CONVERTERS as EVENT_SUBPROCESS_CONVERTERS
from .event_subprocesses import use_scope_events
from .expressions import SafeScriptEngine
from .io_mappings import CONVERTERS as IO_CONVERTERS


def _workflow_to_dict(converter, workflow) -> dict:
    """`WorkflowConverter.to_dict`, the same dict built in half the time: a state's serialization went
    mostly to the registry's dispatch per task, `Task.parent` lookups and stringifying each task id up
    to four times (tests/test_serializer.py compares both on every bundled and conformance model)."""
    registry = converter.registry
    convert = registry.convert
    tasks = workflow.tasks
    typename = registry.typenames[Task]
    updated, deleted = DeepMerge.get_updated_keys, DeepMerge.get_deleted_keys
    text = {task_id.int: str(task_id) for task_id in tasks}  # every id once; ids also name parents and children
    dct_tasks = {}
    for task_id, task in tasks.items():
        parent_id = task._parent
        parent = tasks.get(parent_id) if parent_id is not None else None
        if parent is None:
            data, delta = task.data, {}
        else:
            parent_data, data_now = parent.data, task.data
            data, delta = {}, {"updates": updated(parent_data, data_now), "deletions": deleted(parent_data, data_now)}
        name = text[task_id.int]  # the mapping's key is the task's own id
        dct_tasks[name] = {
            "id": name,
            "parent": (text.get(parent_id.int) or str(parent_id)) if parent is not None else None,
            "children": [text.get(child.int) or str(child) for child in task._children],
            "last_state_change": task.last_state_change,
            "state": task.state,
            "task_spec": task.task_spec.name,
            "triggered": task.triggered,
            "internal_data": convert(task.internal_data),
            "data": data,
            "delta": delta,
            "typename": typename,
        }
    return {
        "data": convert(registry.clean(workflow.data)),
        "correlations": workflow.correlations,
        "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
        "success": workflow.success,
        "completed": workflow.completed,
        "tasks": dct_tasks,
        "root": str(workflow.task_tree.id),
    }


class _SubWorkflowConverter(BpmnSubWorkflowConverter):
    def to_dict(self, workflow):
        dct = _workflow_to_dict(self, workflow)
        dct["parent_task_id"] = str(workflow.parent_task_id)
        dct["spec"] = workflow.spec.name
        return dct


class _SpeclessWorkflowConverter(BpmnWorkflowConverter):
    def to_dict(self, workflow):
        dct = _workflow_to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct):
        spec, subprocess_specs = dct.pop("spec"), dct.pop("subprocess_specs")
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        use_scope_events(workflow)  # before the tasks: the waiting ones register with it
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_CONFIG = dict(DEFAULT_CONFIG)
_CONFIG[BpmnWorkflow] = _SpeclessWorkflowConverter
_CONFIG[BpmnSubWorkflow] = _SubWorkflowConverter
_CONFIG[CallActivity] = CallActivityConverter
_CONFIG.update(IO_CONVERTERS)
_CONFIG.update(EVENT_SUBPROCESS_CONVERTERS)
_SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(_CONFIG))
_VERSION_KEY = _SERIALIZER.VERSION_KEY


def registry():
    """The converter registry (engine/migration.py compares task specs with it)."""
    return _SERIALIZER.registry


# SpiffWorkflow's own JSON encoder: its `default` writes typed task data (datetimes, ...) as typed
# values; orjson calls it for what it does not encode itself, and the whole encoder takes what orjson refuses
_SPIFF_ENCODER = _SERIALIZER._encoder_cls()


class WorkflowSerializer:
    """Dumps and loads instance state; every loaded workflow runs on the safe script engine."""

    def __init__(self, script_engine: SafeScriptEngine):
        self.script_engine = script_engine

    def new(self, spec, subprocess_specs) -> BpmnWorkflow:
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self.script_engine)
        use_scope_events(workflow)  # event sub-processes of embedded scopes (engine/event_subprocesses.py)
        return workflow

    def dumps(self, workflow: BpmnWorkflow) -> str:
        # serialize_json, with orjson (engine/json_codec.py): the standard library's encoder is slower
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
