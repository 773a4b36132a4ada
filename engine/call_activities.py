"""Call activities with Camunda 7's (and Flowable's) variable semantics.

SpiffWorkflow hands the called process a copy of all the caller's data and, when it ends, replaces
the caller's data with all of the called process's: a model written for Camunda ran differently
here. In Camunda 7 and Flowable the called process sees only what `camunda:in` passes and the caller
gets back only what `camunda:out` returns:

- `<camunda:in source="a" target="b"/>`: the called process starts with `b` = the caller's `a`
  (null when the caller has no `a`); `sourceExpression="${a + 1}"` computes the value instead;
- `<camunda:in variables="all"/>`: all the caller's variables; `flowable:inheritVariables="true"` too;
- `camunda:out` the same the other way (`variables="all"`: all the called process's variables),
  merged into the caller's, which keeps the rest of its own;
- `camunda:in businessKey="…"` / `flowable:businessKey`: the called process runs inside the calling
  case and shares its business key (a deploy warning says so).

What cannot run is refused at deploy naming the call activity: Java variable mappings
(`camunda:variableMappingClass`, `variableMappingDelegateExpression`), `local="true"` (there are no
local variables without input/output mappings), a mapping with no source, an expression the
evaluator refuses. Expressions are normalised at deploy like every condition (engine/expressions.py).
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.task_parsers import CallActivityParser as SpiffCallActivityParser
from SpiffWorkflow.bpmn.parser.task_parsers import SubprocessParser
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.serializer.default.task_spec import SubWorkflowConverter
from SpiffWorkflow.bpmn.specs.defaults import CallActivity as SpiffCallActivity

from . import expressions
from .errors import ExpressionError

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_EXTENSIONS = {
    "http://camunda.org/schema/1.0/bpmn": "camunda",
    "http://flowable.org/bpmn": "flowable",
    "http://activiti.org/bpmn": "activiti",
}
_JAVA_MAPPINGS = ("variableMappingClass", "variableMappingDelegateExpression")
Mapping = dict[str, Any]  # {"source": name} | {"expression": text} | {"all": True}, with "target"


def _ext(element, attr: str) -> tuple[str, str] | None:
    """(prefix, value) of an extension attribute as Camunda, Flowable or Activiti writes it."""
    for namespace, prefix in _EXTENSIONS.items():
        value = element.get(f"{{{namespace}}}{attr}")
        if value is not None:
            return prefix, value
    return None


def _mapping_elements(call, direction: str) -> list[Any]:
    found = []
    for extensions in call.iterfind(f"{{{BPMN_NS}}}extensionElements"):
        for namespace in _EXTENSIONS:
            found.extend(extensions.iterfind(f"{{{namespace}}}{direction}"))
    return found


def translate(root, problems: list, warnings: list) -> None:
    """Check every call activity's mappings and normalise their expressions (done once, at deploy).
    `problems` and `warnings` get bpmn.Problem objects."""
    from .bpmn import Problem  # bpmn calls this module: imported here to keep the import one-way

    for call in root.iter(f"{{{BPMN_NS}}}callActivity"):
        call_id = call.get("id")
        described = f"callActivity '{call_id}'"
        for attr in _JAVA_MAPPINGS:
            found = _ext(call, attr)
            if found:
                problems.append(
                    Problem(
                        call_id,
                        f"{described} uses {found[0]}:{attr}: Java variable mappings cannot run here; "
                        f"pass the variables with {found[0]}:in and {found[0]}:out",
                    )
                )
        business_key = _ext(call, "businessKey")
        if business_key:
            warnings.append(Problem(call_id, _shared_business_key(described, f"{business_key[0]}:businessKey")))
        for direction in ("in", "out"):
            for element in _mapping_elements(call, direction):
                name = f"{_prefix(element)}:{direction}"
                problem = _check_mapping(element, direction, name)
                if problem == "business key":
                    warnings.append(Problem(call_id, _shared_business_key(described, f"{name} businessKey")))
                elif problem:
                    problems.append(Problem(call_id, f"{described}: {problem}"))


def _prefix(element) -> str:
    return _EXTENSIONS.get(element.tag[1:].split("}", 1)[0], "camunda")


def _shared_business_key(described: str, construct: str) -> str:
    return (
        f"{described}: {construct} is not read: the called process runs inside the calling case and "
        "shares its business key"
    )


def _check_mapping(element, direction: str, name: str) -> str | None:
    """None when the mapping can run, "business key" for a business key mapping, else the sentence."""
    if (element.get("local") or "false").strip().lower() == "true":
        return f'{name} local="true" is not supported (there are no local variables here); leave it out'
    if element.get("businessKey") is not None and direction == "in":
        return "business key"
    if (element.get("variables") or "").strip().lower() == "all":
        return None
    target = (element.get("target") or "").strip()
    source = (element.get("source") or "").strip()
    expression = element.get("sourceExpression")
    if expression is not None:
        normalised = expressions.normalize(expression)
        try:
            expressions.check(normalised)
        except ExpressionError as exc:
            return f"{name} sourceExpression refused: {exc.message}"
        element.set("sourceExpression", normalised)
    elif not source:
        return f'{name} needs a source, a sourceExpression or variables="all"'
    if not target:
        return f"{name} needs a target (the variable it sets)"
    return None


def read_mappings(call) -> tuple[list[Mapping], list[Mapping]]:
    """The call activity's (inputs, outputs), from its already checked and normalised XML."""
    result: tuple[list[Mapping], list[Mapping]] = ([], [])
    inherit = _ext(call, "inheritVariables")
    if inherit and inherit[1].strip().lower() == "true":
        result[0].append({"all": True})
    for mappings, direction in zip(result, ("in", "out"), strict=True):
        for element in _mapping_elements(call, direction):
            if (element.get("variables") or "").strip().lower() == "all":
                mappings.append({"all": True})
            elif element.get("sourceExpression") is not None:
                mappings.append({"expression": element.get("sourceExpression"), "target": element.get("target")})
            elif element.get("source"):
                mappings.append({"source": element.get("source").strip(), "target": element.get("target").strip()})
    return result


class CallActivity(SpiffCallActivity):
    """A call activity that passes only the mapped variables, both ways."""

    def __init__(self, wf_spec, bpmn_id, subworkflow_spec, in_mappings=None, out_mappings=None, **kwargs):
        super().__init__(wf_spec, bpmn_id, subworkflow_spec, **kwargs)
        # not `inputs` / `outputs`: TaskSpec's names for the specs before and after this one
        self.in_mappings: list[Mapping] = list(in_mappings or [])
        self.out_mappings: list[Mapping] = list(out_mappings or [])

    def copy_data(self, my_task, subworkflow):
        start = subworkflow.get_next_task(subworkflow.task_tree, skip_subprocesses=True, spec_name="Start")
        start.set_data(**_mapped(my_task, self.in_mappings, my_task.data, "in"))

    def update_data(self, my_task, subworkflow):
        # the caller keeps its own variables; what the called process returns is merged in
        my_task.data.update(_mapped(my_task, self.out_mappings, subworkflow.last_task.data, "out"))


def _mapped(my_task, mappings: list[Mapping], data: dict[str, Any], direction: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for mapping in mappings:
        if mapping.get("all"):
            result.update(deepcopy(data))
        elif "expression" in mapping:
            try:
                value = my_task.workflow.script_engine.environment.evaluate(mapping["expression"], data)
            except ExpressionError as exc:
                raise WorkflowTaskException(
                    f"the {direction} mapping to '{mapping['target']}' failed: {exc.message}", task=my_task
                ) from None
            result[mapping["target"]] = value
        else:
            result[mapping["target"]] = deepcopy(data.get(mapping["source"]))
    return result


class CallActivityParser(SpiffCallActivityParser):
    def create_task(self):
        inputs, outputs = read_mappings(self.node)
        return self.spec_class(
            self.spec,
            self.bpmn_id,
            subworkflow_spec=SubprocessParser.get_call_activity_spec(self),
            in_mappings=inputs,
            out_mappings=outputs,
            **self.bpmn_attributes,
        )


class CallActivityConverter(SubWorkflowConverter):
    """The spec's mappings in the serializer's registry (engine/migration.py compares specs with it)."""

    def to_dict(self, spec):
        dct = super().to_dict(spec)
        dct["in_mappings"], dct["out_mappings"] = spec.in_mappings, spec.out_mappings
        return dct


PARSER_CLASSES = {full_tag("callActivity"): (CallActivityParser, CallActivity)}
