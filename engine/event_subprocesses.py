"""Event sub-processes as Camunda 7 runs them (issue 19).

SpiffWorkflow 3.2 starts a message or signal event sub-process only when the event reaches the top
process with nobody waiting for it (so a case never shows a wait for it, and one inside an embedded
sub-process is never started), ignores `isInterrupting`, and keeps a case open while the start of an
event sub-process still waits. Camunda 7 arms the start event while its scope (the process, or the
embedded sub-process it sits in) is active: an interrupting one cancels the scope's other work when
it fires, a non-interrupting one runs beside it and (message, signal) can fire again; the scope ends
when its own work is done, and the waits still armed are cancelled.

Here the start event of a message, signal or timer event sub-process waits as an ordinary catch
event from the moment its scope starts (so the message-wait and timer projections and a signal
broadcast find it), and these task specs do the rest. Error and escalation event sub-processes stay
SpiffWorkflow's (they are thrown inside the scope, never waited for).
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.parser.event_parsers import (
    CONDITIONAL_EVENT_XPATH,
    ERROR_EVENT_XPATH,
    ESCALATION_EVENT_XPATH,
    MESSAGE_EVENT_XPATH,
    SIGNAL_EVENT_XPATH,
    TIMER_EVENT_XPATH,
    StartEventParser,
)
from SpiffWorkflow.bpmn.parser.ProcessParser import ProcessParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer.default import BpmnProcessSpecConverter
from SpiffWorkflow.bpmn.serializer.default.task_spec import (
    BpmnStartTaskConverter,
    BpmnTaskSpecConverter,
    EventConverter,
)
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.control import BpmnStartTask, _EndJoin
from SpiffWorkflow.bpmn.specs.defaults import StartEvent as DefaultStartEvent
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util.event import EventManager
from SpiffWorkflow.util.task import TaskIterator, TaskState

# the start events an event sub-process waits at while its scope is active (the others are thrown to it);
# a conditional one is evaluated when its scope starts and at each change of a variable (engine/conditions.py)
_ARMED_KINDS = (MessageEventDefinition, SignalEventDefinition, TimerEventDefinition, ConditionalEventDefinition)
# the ones a non-interrupting event sub-process waits at again after firing (a timer fires once per scope)
_REARMED_KINDS = (MessageEventDefinition, SignalEventDefinition)


class ScopeStart(BpmnStartTask):
    """A process's or sub-process's start: arms its message, signal and timer event sub-processes."""

    def __init__(self, wf_spec, name, **kwargs):
        super().__init__(wf_spec, name, **kwargs)
        self.event_subprocesses: set[str] = set()  # their task specs (SpiffWorkflow parses them as sub-processes)

    def connect_or_add_trigger(self, task_spec, sp_spec):
        self.event_subprocesses.add(task_spec.name)
        if any(isinstance(ts.event_definition, _ARMED_KINDS) for ts in sp_spec.bpmn_start_events):
            self.connect(task_spec)
            task_spec.connect(self._wf_spec.end)
        else:
            super().connect_or_add_trigger(task_spec, sp_spec)


class ScopeEndJoin(_EndJoin):
    """A scope ends when its own work is done: event sub-processes still waiting to start do not
    hold it open, and are cancelled when it ends (their waits and timers settled with them)."""

    def _check_threshold_unstructured(self, my_task):
        armed = armed_event_subprocesses(my_task.workflow)
        for task in TaskIterator(my_task.workflow.task_tree, state=TaskState.NOT_FINISHED_MASK, end_at_spec=self.name):
            if task == my_task or task in armed or any(task.is_descendant_of(a) for a in armed):
                continue
            return False
        return True

    def _run_hook(self, my_task):
        for task in armed_event_subprocesses(my_task.workflow):
            task.cancel()
        return super()._run_hook(my_task)


class ScopeSpec(BpmnProcessSpec):
    """A process or sub-process spec with the start and end above."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        end = self.task_specs["End"]
        parsed: Any = self  # SpiffWorkflow's own start and end, replaced below
        del self.task_specs[parsed.start.name], self.task_specs[parsed.end.name]
        end.inputs = []
        self.start = ScopeStart(self, "Start")
        self.end = ScopeEndJoin(self, f"{self.name}.EndJoin")
        self.end.connect(end)


class ScopeProcessParser(ProcessParser):
    def create_spec(self):
        if not self.process_executable:
            raise ValidationException(
                f"Process {self.bpmn_id} is not executable.", node=self.node, file_name=self.filename
            )
        return ScopeSpec(name=self.bpmn_id, description=self.get_name(), filename=self.filename)


class EventStart(DefaultStartEvent):
    """A start event that knows `isInterrupting` (meaningful in an event sub-process only)."""

    def __init__(self, wf_spec, bpmn_id, event_definition, interrupting: bool = True, **kwargs):
        super().__init__(wf_spec, bpmn_id, event_definition, **kwargs)
        self.interrupting = interrupting

    def _run_hook(self, my_task):
        scope_task = event_subprocess_task(my_task)
        if scope_task is not None:
            if self.interrupting:
                interrupt(scope_task)
            elif isinstance(self.event_definition, _REARMED_KINDS):  # a thrown one starts anew each time
                rearm(scope_task)
        return super()._run_hook(my_task)


class EventStartParser(StartEventParser):
    def create_task(self):
        # SpiffWorkflow 3.2 reads no error or escalation definition on a start event: the start of such
        # an event sub-process parsed as a plain start, and the handler ran as soon as its scope started
        definition = self.get_event_definition(
            [MESSAGE_EVENT_XPATH, SIGNAL_EVENT_XPATH, TIMER_EVENT_XPATH, CONDITIONAL_EVENT_XPATH, ERROR_EVENT_XPATH,
             ESCALATION_EVENT_XPATH]
        )  # fmt: skip
        task = self._create_task(definition)
        self.spec.start.connect(task)
        return task

    def _create_task(self, event_definition, cancel_activity=None, parallel=None):
        task = super()._create_task(event_definition, cancel_activity, parallel)
        task.interrupting = (self.node.get("isInterrupting") or "true").strip().lower() != "false"
        return task


class ScopeEventManager(EventManager):
    """SpiffWorkflow's event manager, and an error or escalation thrown in a scope starts that scope's
    event sub-process for it (SpiffWorkflow looks for one on the top process only, after every
    enclosing scope's boundary events): the innermost handler catches, as in Camunda 7."""

    def catch(self, event, internal=True):
        target = event.target
        if target is not None and not any(
            t.workflow == target and t.task_spec.event_definition.catches(t, event) for t in self.tasks.values()
        ):
            started = _start_triggered(target, event)
            if started:
                for task in started:
                    task.task_spec.catch(task, event)
                    task.task_spec._update(task)
                return len(started)
        return super().catch(event, internal)


def _start_triggered(scope, event) -> list:
    """Start the event sub-process of `scope` whose start event catches `event`; its waiting start."""
    start = scope.spec.start
    for name in getattr(start, "trigger_specs", ()):
        sp_spec = scope.top_workflow.subprocess_specs.get(name)
        if sp_spec is None or not any(
            ts.event_definition == event.event_definition for ts in sp_spec.bpmn_start_events
        ):
            continue
        child_id = start.trigger_wf(scope.task_tree, name)
        # SpiffWorkflow adds the task without its path to the scope's end: it completed and the scope never did
        task = scope.tasks[child_id]
        task.task_spec._predict(task, mask=TaskState.NOT_FINISHED_MASK)
        sub = scope.top_workflow.subprocesses[child_id]
        return [
            t
            for t in sub.tasks.values()
            if t.task_spec in sp_spec.bpmn_start_events
            and t.state == TaskState.WAITING
            and t.task_spec.catches(t, event)
        ]
    return []


def use_scope_events(workflow) -> None:
    """Give a new or loaded workflow the event manager above (keeping the waits it knows)."""
    manager = ScopeEventManager(workflow)
    manager.tasks = workflow.event_manager.tasks
    workflow.event_manager = manager


def event_subprocess_task(start_task):
    """The event sub-process task (in its scope) whose start event `start_task` is, or None."""
    workflow = start_task.workflow
    parent = workflow.parent_workflow
    if parent is None:
        return None
    task = parent.tasks.get(workflow.parent_task_id)
    return task if task is not None and is_event_subprocess(task) else None


def is_event_subprocess(task) -> bool:
    return task.task_spec.name in getattr(task.workflow.spec.start, "event_subprocesses", ())


def armed_event_subprocesses(scope) -> list:
    """The event sub-process tasks of a scope whose start event has not fired (still waiting)."""
    found = []
    for task in scope.task_tree.children:
        if not is_event_subprocess(task) or task.has_state(TaskState.FINISHED_MASK):
            continue
        sub = scope.top_workflow.subprocesses.get(task.id)
        starts = [] if sub is None else [t for t in sub.tasks.values() if t.task_spec in sub.spec.bpmn_start_events]
        if not any(t.has_state(TaskState.READY | TaskState.STARTED | TaskState.COMPLETED) for t in starts):
            found.append(task)
    return found


def interrupt(esp_task) -> None:
    """An interrupting event sub-process fired: cancel everything else its scope was doing."""
    for task in list(esp_task.workflow.task_tree.children):
        if task is not esp_task:
            task.cancel()


def rearm(esp_task) -> None:
    """A non-interrupting event sub-process fired: its start event waits again beside it."""
    child = esp_task.workflow.task_tree._add_child(esp_task.task_spec, TaskState.FUTURE)
    child.triggered = True
    child.task_spec._predict(child, mask=TaskState.NOT_FINISHED_MASK)
    child.task_spec._update(child)


# for the serializer's registry (engine/migration.py compares specs with it): what the parents are
CONVERTERS = {
    ScopeSpec: BpmnProcessSpecConverter,
    ScopeStart: BpmnStartTaskConverter,
    ScopeEndJoin: BpmnTaskSpecConverter,
    EventStart: EventConverter,
}
