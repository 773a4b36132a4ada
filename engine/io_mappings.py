"""Camunda 7's input/output mappings (`camunda:inputOutput`) and tasks that pass through.

Camunda Modeler writes input/output parameters on almost any activity. They mean, as in Camunda 7:

- `camunda:inputParameter name="x"` is a **local variable** of the activity, set when it starts:
  visible to its expressions, its script, an external task's worker and (for a sub-process)
  everything inside; it is never written to the case's variables, and a variable of the same name outside
  keeps its value;
- `camunda:outputParameter name="y"` is evaluated when the activity completes, in the activity's
  scope (its locals and what it wrote), and written to the enclosing scope. With output parameters
  present the activity's scope is local: what it wrote (a form's data, an external task's
  variables, a script's results) reaches the case only through them, except a receive task's
  message variables, which Camunda's correlation sets on the process instance;
- a parameter's value is a text constant, one `${…}` expression (translated like every condition,
  engine/expressions.py), a `camunda:list` or a `camunda:map` (nested, keys may be expressions), or
  empty (null). `camunda:script` is refused naming its language; so is a mapping on an event,
  a gateway or a multi-instance activity.

SpiffWorkflow 3.2 carries the mappings as a task spec's `update_event` (emitted when the task takes
its predecessor's data: before a sub-process or call activity starts its child, before a receive
task waits) and its `completed_event` (emitted when it completes, before its successors copy its
data). What an open activity needs to undo its locals is kept in its task's `internal_data` (their
names and the enclosing values they shadow, all of them with outputs; workflow variables, which never
hold personal fields), so a saved case reloads and continues.

`bpmn:manualTask` and `bpmn:task` are work done outside any system: Camunda 7 and Flowable pass
through them, and so does this engine (`PassThrough`); they never become a task row.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.task_parsers import SubWorkflowParser, TaskParser
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter, SubWorkflowConverter
from SpiffWorkflow.bpmn.specs.defaults import NoneTask, SubWorkflowTask
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition

from . import expressions
from .errors import ExpressionError

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ACTIVITI_NS = "http://activiti.org/bpmn"  # Camunda 7 still reads its predecessor's namespace
FLOWABLE_NS = "http://flowable.org/bpmn"
_NAMESPACES = {CAMUNDA_NS: "camunda", ACTIVITI_NS: "activiti"}
_ACTIVITIES = frozenset(
    {"task", "userTask", "manualTask", "scriptTask", "serviceTask", "receiveTask", "businessRuleTask",
     "callActivity", "subProcess"}
)  # fmt: skip
_SCOPE = "io_scope"  # the task's internal_data key: {"locals": [...], "entry": {...}}
Value = dict[str, Any]  # {"const": text} | {"expr": text} | {"list": [Value]} | {"map": [[Value, Value]]} | {}


def _local(element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _io_element(element):
    """The element's own inputOutput (not a connector's, which belongs to the refused connector)."""
    for extensions in element.iterfind(f"{{{BPMN_NS}}}extensionElements"):
        for namespace in _NAMESPACES:
            found = extensions.find(f"{{{namespace}}}inputOutput")
            if found is not None:
                return found
    return None


def translate(root, problems: list, script_languages: dict[str, str]) -> None:
    """Check every input/output mapping at deploy; `problems` gets bpmn.Problem objects naming the
    activity and the parameter."""
    from .bpmn import Problem  # bpmn calls this module: imported here to keep the import one-way

    for io in root.iter(*(f"{{{ns}}}inputOutput" for ns in (*_NAMESPACES, FLOWABLE_NS))):
        parent = io.getparent()
        owner = parent.getparent() if parent is not None and _local(parent) == "extensionElements" else None
        if owner is None:
            continue  # inside a connector: the service task that holds it is refused by name
        described = f"{_local(owner)} '{owner.get('id')}'"
        if etree.QName(io).namespace == FLOWABLE_NS:
            problems.append(
                Problem(
                    owner.get("id"),
                    f"{described}: flowable:inputOutput is not a Flowable construct (Flowable has no input/output "
                    "mappings); set the variables with a script task",
                )
            )
            continue
        prefix = _NAMESPACES[etree.QName(io).namespace]
        if _local(owner) not in _ACTIVITIES:
            problems.append(
                Problem(
                    owner.get("id"),
                    f"{described}: input/output mappings ({prefix}:inputOutput) run here only on tasks, "
                    "sub-processes and call activities",
                )
            )
            continue
        if owner.find(f"{{{BPMN_NS}}}multiInstanceLoopCharacteristics") is not None:
            problems.append(
                Problem(
                    owner.get("id"),
                    f"{described}: input/output mappings ({prefix}:inputOutput) on a multi-instance activity are "
                    "not supported; put them on an activity around it",
                )
            )
            continue
        for parameter in io:
            if not isinstance(parameter.tag, str):
                continue
            kind = _local(parameter)
            name = (parameter.get("name") or "").strip()
            if kind not in ("inputParameter", "outputParameter"):
                problems.append(Problem(owner.get("id"), f"{described}: {prefix}:{kind} is not understood here"))
            elif not name:
                problems.append(Problem(owner.get("id"), f"{described}: a {prefix}:{kind} has no name"))
            else:
                try:
                    _value(parameter, script_languages)
                except ValueError as exc:
                    problems.append(Problem(owner.get("id"), f"{described}: {prefix}:{kind} '{name}' {exc}"))


def _value(element, script_languages: dict[str, str]) -> Value:
    """A parameter's, list item's or map entry's value; ValueError with the rest of a sentence."""
    children = [c for c in element if isinstance(c.tag, str)]
    if not children:
        return _text(element.text or "")
    if len(children) > 1:
        raise ValueError("holds more than one value; wrap them in a camunda:list")
    child = children[0]
    kind = _local(child)
    if kind == "script":
        script_format = (child.get("scriptFormat") or "").strip()
        language = script_languages.get(script_format.lower(), script_format or "an unnamed language")
        raise ValueError(
            f"is a {language} script: {language} scripts cannot run here; write a ${{…}} expression instead"
        )
    if kind == "list":
        items = []
        for item in child:
            if not isinstance(item.tag, str):
                continue
            if _local(item) == "value":
                items.append(_value(item, script_languages))
            elif _local(item) in ("list", "map", "script"):
                wrapper = etree.Element("value")
                wrapper.append(deepcopy(item))
                items.append(_value(wrapper, script_languages))
            else:
                raise ValueError(f"has a list item camunda:{_local(item)} that is not understood here")
        return {"list": items}
    if kind == "map":
        entries = []
        for entry in child:
            if not isinstance(entry.tag, str):
                continue
            if _local(entry) != "entry" or entry.get("key") is None:
                raise ValueError("has a map entry without a key")
            entries.append([_text(entry.get("key")), _value(entry, script_languages)])
        return {"map": entries}
    raise ValueError(f"holds camunda:{kind}, which is not understood here")


def _text(text: str) -> Value:
    """A constant, one `${…}` expression (checked by the evaluator), or null when empty."""
    stripped = text.strip()
    if not stripped:
        return {}
    opens = stripped.count("${") + stripped.count("#{")
    if opens == 0:
        return {"const": stripped}
    if opens > 1 or not (stripped.startswith(("${", "#{")) and stripped.endswith("}")):
        raise ValueError(f"mixes text and expressions ('{stripped}'): write one ${{…}} expression (text in quotes)")
    normalised = expressions.normalize(stripped)
    try:
        expressions.check(normalised)
    except ExpressionError as exc:
        raise ValueError(f"is refused: {exc.message}") from None
    return {"expr": normalised}


def read(element) -> tuple[list[tuple[str, Value]], list[tuple[str, Value]]]:
    """(inputs, outputs) of a deployed (already checked) activity."""
    io = _io_element(element)
    if io is None:
        return [], []
    result: tuple[list[tuple[str, Value]], list[tuple[str, Value]]] = ([], [])
    for parameter in io:
        if isinstance(parameter.tag, str) and _local(parameter) in ("inputParameter", "outputParameter"):
            target = result[0] if _local(parameter) == "inputParameter" else result[1]
            target.append((parameter.get("name").strip(), _value(parameter, {})))
    return result


class Mapping:
    """One activity's parameters: `enter` when it starts, `leave` when it has run."""

    def __init__(self, inputs: list[tuple[str, Value]], outputs: list[tuple[str, Value]]):
        self.inputs = inputs
        self.outputs = outputs

    def enter(self, my_task) -> None:
        if _SCOPE not in my_task.internal_data:
            names = [name for name, _ in self.inputs]
            # with outputs the whole scope is local: keep what the enclosing scope held
            kept = my_task.data if self.outputs else {n: my_task.data[n] for n in names if n in my_task.data}
            my_task.internal_data[_SCOPE] = {"locals": names, "entry": deepcopy(kept)}
        values = {name: self._evaluate(my_task, value, my_task.data, f"input parameter '{name}'")
                  for name, value in self.inputs}  # fmt: skip
        my_task.data.update(values)

    def leave(self, my_task) -> None:
        scope = my_task.internal_data.pop(_SCOPE, None) or {"locals": [], "entry": {}}
        values = {
            name: self._evaluate(my_task, value, my_task.data, f"output parameter '{name}'")
            for name, value in self.outputs
        }
        if self.outputs:
            received = _received(my_task, scope)
            my_task.data = scope["entry"]
            my_task.data.update(received)
        else:
            for name in scope["locals"]:
                my_task.data.pop(name, None)
            my_task.data.update(scope["entry"])
        my_task.data.update(values)

    def updated(self, workflow, my_task) -> None:
        self.enter(my_task)  # again after each update: the predecessor's data was merged in anew

    def completed(self, workflow, my_task) -> None:
        self.leave(my_task)

    def _evaluate(self, my_task, value: Value, data: dict[str, Any], what: str) -> Any:
        if "const" in value:
            return value["const"]
        if "list" in value:
            return [self._evaluate(my_task, item, data, what) for item in value["list"]]
        if "map" in value:
            return {
                str(self._evaluate(my_task, key, data, what)): self._evaluate(my_task, item, data, what)
                for key, item in value["map"]
            }
        if "expr" in value:
            try:
                return my_task.workflow.script_engine.environment.evaluate(value["expr"], data)
            except ExpressionError as exc:
                raise WorkflowTaskException(f"the {what} failed: {exc.message}", task=my_task) from None
        return None


def _received(my_task, scope: dict[str, Any]) -> dict[str, Any]:
    """A receive task's message variables: Camunda's correlation sets them on the process instance,
    so they reach the case whatever its output parameters say (a receive task writes nothing else)."""
    if not isinstance(getattr(my_task.task_spec, "event_definition", None), MessageEventDefinition):
        return {}
    entry, local = scope["entry"], set(scope["locals"])
    return {k: v for k, v in my_task.data.items() if k not in local and (k not in entry or entry[k] != v)}


def attach(spec, node) -> None:
    """Give every task spec of a parsed process whose element has a mapping its hooks: inputs each time
    the task is updated with its predecessor's data (`update_event`: a waiting receive task or external
    task, a sub-process before its child starts), outputs when it completes (`completed_event`, before
    its successors copy its data)."""
    elements = {e.get("id"): e for e in node.iter(*(f"{{{BPMN_NS}}}{a}" for a in _ACTIVITIES))}
    for task_spec in spec.task_specs.values():
        element = elements.get(getattr(task_spec, "bpmn_id", None))
        if element is None or getattr(task_spec, "io_mapping", None) is not None:
            continue
        inputs, outputs = read(element)
        if inputs or outputs:
            mapping = Mapping(inputs, outputs)
            task_spec.io_mapping = mapping
            task_spec.update_event.connect(mapping.updated)
            task_spec.completed_event.connect(mapping.completed)


def visible(task) -> dict[str, Any]:
    """The task's data as the case sees it: without its activity's locals, nor those of the embedded
    sub-processes around it (their data holds the sub-process's input parameters)."""
    data, current = task.data, task
    while current is not None:
        scope = current.internal_data.get(_SCOPE)
        if scope:
            data = {k: v for k, v in data.items() if k not in scope["locals"]}
            data |= {k: v for k, v in scope["entry"].items() if k in scope["locals"]}
        current = _enclosing_sub_process(current)
    return data


def _enclosing_sub_process(task):
    parent_id = getattr(task.workflow, "parent_task_id", None)
    parent = task.workflow.top_workflow.get_task_from_id(parent_id) if parent_id is not None else None
    return parent if parent is not None and isinstance(parent.task_spec, SubProcess) else None


class PassThrough(NoneTask):
    """`bpmn:task` and `bpmn:manualTask`: nothing to wait for (work done outside any system). A task
    row opened for one before they passed through may still be completed (engine/tasks/commands.py)."""

    passes_through = True

    def __init__(self, wf_spec, bpmn_id, **kwargs):
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.manual = False


class SubProcess(SubWorkflowTask):
    """An embedded sub-process: its data, input parameters included, is copied into its child (the
    tasks inside see them), so the case's view of those tasks leaves them out (`visible`)."""


PARSER_CLASSES = {
    full_tag("task"): (TaskParser, PassThrough),
    full_tag("manualTask"): (TaskParser, PassThrough),
    full_tag("subProcess"): (SubWorkflowParser, SubProcess),
}
CONVERTERS = {PassThrough: BpmnTaskSpecConverter, SubProcess: SubWorkflowConverter}
