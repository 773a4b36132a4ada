"""Conditional events: they fire when a condition on the case's variables holds, as in Camunda 7.

Camunda evaluates a conditional event's condition when its scope starts (an intermediate event when
reached, a boundary event when its activity starts) and again at every change of a variable the case
can see; a variable the condition names that does not exist reads as false (`tryEvaluate`). A
`camunda:variableName` limits the re-evaluation to changes of that variable, `camunda:variableEvents`
to its creation, update or deletion. Variables set while completing a task are evaluated before the
task's completion moves the case on, so an interrupting boundary event they satisfy takes the case.

Here the evaluation on entry is SpiffWorkflow's own (engine/expressions.py reads a missing name as
false for these events). The re-evaluation runs once per unit of work (`settle`) and before a task's
completion (`before_completion`): the variables the case can see now are compared with those seen
last, and each waiting conditional event whose filter matches a difference is evaluated over them.
Nothing is done for a case with no conditional event waiting, so other models pay nothing.

At deploy, `translate` normalises the conditions like every other expression (JUEL, FEEL) and
refuses what cannot run here, naming the event; `element_meta` keeps each event's filter.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.util.task import TaskState

from . import expressions, io_mappings
from .errors import ExpressionError, UnknownName, WorkflowFailed

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_EXTENSIONS = ("http://camunda.org/schema/1.0/bpmn", "http://flowable.org/bpmn", "http://activiti.org/bpmn")
VARIABLE_EVENTS = ("create", "update", "delete")
# rounds of firing and running on in one unit of work: conditions that keep each other firing are a
# modelling loop, refused as a failure of the model rather than run for ever
MAX_ROUNDS = 50
_SCRIPT_LANGUAGES = ("groovy", "javascript", "js", "ecmascript", "python", "jruby", "jython", "nashorn")


# --- deploy ------------------------------------------------------------------------------------------
def translate(root, problems: list, problem_type) -> None:
    """Normalise every conditional event's condition; refuse what cannot run, naming the event."""
    for definition in root.iter(f"{{{BPMN_NS}}}conditionalEventDefinition"):
        event = definition.getparent()
        event_id = event.get("id")
        describe = f"{etree.QName(event).localname} '{event_id}'"
        parent = event.getparent()
        interrupting = (event.get("isInterrupting") or "true").strip().lower() != "false"
        if etree.QName(event).localname == "startEvent" and not (_in_event_subprocess(parent) and interrupting):
            problems.append(
                problem_type(
                    event_id,
                    f"{describe}: a non-interrupting conditional start event of an event sub-process is not "
                    "supported; attach a non-interrupting conditional boundary event to the activities it "
                    "watches, or make it interrupting"
                    if _in_event_subprocess(parent)
                    else f"{describe}: a conditional start event of a process is started only by Camunda's "
                    "evaluateStartConditions call, which has no counterpart here; start the process with a "
                    "plain start event, or use a conditional event sub-process inside it",
                )
            )
            continue
        if _after_event_gateway(event):
            problems.append(
                problem_type(
                    event_id,
                    f"{describe}: a conditional event after an event-based gateway is not supported; wait for the "
                    "condition on its own path, or use a message or timer event after the gateway",
                )
            )
            continue
        condition = definition.find(f"{{{BPMN_NS}}}condition")
        text = (condition.text or "").strip() if condition is not None else ""
        if not text:
            problems.append(problem_type(event_id, f"{describe}: the conditional event has no condition"))
            continue
        language = (condition.get("language") or "").strip().lower()
        if language in _SCRIPT_LANGUAGES:
            problems.append(
                problem_type(
                    event_id, f"{describe}: a condition written as a {language} script cannot run here; write an "
                    "expression such as ${approved == true}",
                )
            )  # fmt: skip
            continue
        events = _attribute(definition, "variableEvents")
        unknown = [e for e in _split(events) if e not in VARIABLE_EVENTS]
        if unknown:
            problems.append(
                problem_type(
                    event_id,
                    f"{describe}: variableEvents '{', '.join(unknown)}' is not one of create, update, delete",
                )
            )
            continue
        normalised = expressions.normalize(text)
        try:
            expressions.check(normalised)
        except ExpressionError as exc:
            problems.append(problem_type(event_id, f"{describe}: condition refused: {exc.message}"))
            continue
        condition.text = normalised


def element_meta(process) -> dict[str, dict[str, Any]]:
    """event id -> {variable, events}: the filters of the process's conditional events that have one."""
    filters = {}
    for definition in process.iter(f"{{{BPMN_NS}}}conditionalEventDefinition"):
        variable = (_attribute(definition, "variableName") or "").strip() or None
        events = _split(_attribute(definition, "variableEvents"))
        if variable or events:
            filters[definition.getparent().get("id")] = {"variable": variable, "events": events}
    return filters


def _after_event_gateway(event) -> bool:
    """Whether a sequence flow leads to `event` from an event-based gateway (which waits in its stead)."""
    scope, event_id = event.getparent(), event.get("id")
    gateways = {g.get("id") for g in scope.iterfind(f"{{{BPMN_NS}}}eventBasedGateway")}
    return any(
        f.get("targetRef") == event_id and f.get("sourceRef") in gateways
        for f in scope.iterfind(f"{{{BPMN_NS}}}sequenceFlow")
    )


def _in_event_subprocess(element) -> bool:
    return (
        element is not None
        and etree.QName(element).localname == "subProcess"
        and (element.get("triggeredByEvent") or "").strip().lower() == "true"
    )


def _attribute(element, name: str) -> str | None:
    for namespace in _EXTENSIONS:
        value = element.get(f"{{{namespace}}}{name}")
        if value is not None:
            return value
    return None


def _split(value: str | None) -> list[str]:
    return [v.strip().lower() for v in (value or "").split(",") if v.strip()]


# --- run time ----------------------------------------------------------------------------------------
def waiting(workflow) -> list:
    """The conditional events waiting now (from SpiffWorkflow's event manager: no walk of the tree)."""
    return [
        t
        for t in workflow.event_manager.tasks.values()
        if t.state == TaskState.WAITING and isinstance(t.task_spec.event_definition, ConditionalEventDefinition)
    ]


def baseline(workflow) -> dict[str, Any] | None:
    """The variables the case can see as loaded, when a conditional event waits (else None: nothing to compare)."""
    return visible_variables(workflow) if waiting(workflow) else None


def visible_variables(workflow) -> dict[str, Any]:
    """The case's variables: merged from its active tasks, the waiting events' older copies first."""
    merged: dict[str, Any] = {}
    active = workflow.get_tasks(state=TaskState.READY | TaskState.STARTED | TaskState.WAITING)
    for task in sorted(active, key=lambda t: t.state != TaskState.WAITING):  # ready and started win
        merged.update(io_mappings.visible(task))
    return merged


def before_completion(change, task) -> bool:
    """Evaluate the conditional events over what completing `task` sets, before the case moves on.

    False when an event that fired cancelled the task (an interrupting boundary event on it or on a
    sub-process around it): the completion was accepted and the case took the event's path instead.
    """
    settle(change, first=task)
    return not task.has_state(TaskState.FINISHED_MASK)


def settle(change, first=None) -> None:
    """Fire the waiting conditional events whose condition now holds, and run the case on; repeated
    while firing changes the variables again (the events' paths may set some)."""
    workflow = change.workflow
    for _ in range(MAX_ROUNDS):
        events = waiting(workflow)
        if not events:
            change.conditions_seen = None
            return
        now = visible_variables(workflow)
        if first is not None:  # the completing task's values are the newest
            now.update(io_mappings.visible(first))
            first = None
        before, change.conditions_seen = change.conditions_seen, now
        changed = _changes(before, now) if before is not None else {}
        if not changed:
            return
        fired = False
        for task in events:
            if task.state == TaskState.WAITING and _triggered(change, task, changed) and _holds(task, now):
                # what SpiffWorkflow's update does when the event has fired, except that the event
                # carries the case's variables now (its own copy is as of when it started waiting)
                task._inherit_data()
                task.set_data(**now)
                task._ready()
                fired = True
                if isinstance(task.task_spec, BoundaryEvent) and not task.task_spec.cancel_activity:
                    _listen_again(workflow, task)
        if not fired:
            return
        workflow.do_engine_steps()
    raise WorkflowFailed(
        f"conditional events fired {MAX_ROUNDS} times in one step: their conditions keep each other true",
        [{"element_id": None, "message": "conditional events fire in a loop"}],
    )


def _listen_again(workflow, fired) -> None:
    """A non-interrupting boundary event keeps listening while its activity runs (Camunda keeps the
    subscription): a waiting copy beside the one that fired, cancelled with the others when it ends."""
    copy = fired.parent._add_child(fired.task_spec, TaskState.FUTURE)
    copy.task_spec._predict_hook(copy)  # its path's tasks, as SpiffWorkflow predicted the first one's
    copy._set_state(TaskState.WAITING)  # not evaluated now: the next change of a variable does
    copy._inherit_data()
    workflow.event_manager.add_task(copy)


def _changes(before: dict[str, Any], now: dict[str, Any]) -> dict[str, str]:
    """name -> create, update or delete: how each variable changed between two views."""
    changed = {name: "create" for name in now.keys() - before.keys()}
    changed.update({name: "delete" for name in before.keys() - now.keys()})
    changed.update({name: "update" for name in now.keys() & before.keys() if now[name] != before[name]})
    return changed


def _triggered(change, task, changed: dict[str, str]) -> bool:
    from .uow.waits import owning_process  # the unit of work imports this module

    meta = change.loaded.meta.get(owning_process(task, change.loaded.meta), {}) if change.loaded else {}
    rule = meta.get("conditions", {}).get(task.task_spec.bpmn_id)
    if rule is None:
        return True  # any change of a variable
    names = [rule["variable"]] if rule["variable"] else list(changed)
    return any(name in changed and (not rule["events"] or changed[name] in rule["events"]) for name in names)


def _holds(task, variables: dict[str, Any]) -> bool:
    expression = task.task_spec.event_definition.expression
    try:
        return bool(expressions.Evaluator().evaluate(expression, variables))
    except UnknownName:
        return False  # Camunda's tryEvaluate: a variable that does not exist reads as false
    except ExpressionError as exc:
        element = task.task_spec.bpmn_id
        message = f"the condition failed: {exc.message}"
        raise WorkflowFailed(
            f"the process failed at '{element}': {message}", [{"element_id": element, "message": message}]
        ) from None
