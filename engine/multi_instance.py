"""Multi-instance user tasks: countersign (会签), any-one-signs (或签) and a share of signatures.

SpiffWorkflow runs BPMN's standard multiInstanceLoopCharacteristics (loopCardinality,
loopDataInputRef + inputDataItem, completionCondition), parallel and sequential; each instance is a
READY user task of its own, so the projection gives it its own row and queue entries. What modellers
write for Camunda is translated here, at deploy, and the variables Camunda gives the instances are
provided at run time:

- `camunda:collection="${departments}"` / `camunda:elementVariable="department"` become
  loopDataInputRef / inputDataItem; JUEL in loopCardinality and completionCondition is normalised like
  every other condition.
- each instance sees its element variable and `loopCounter` (0-based) when its task row is made, so
  `camunda:candidateGroups="${department}"` and `camunda:assignee="${'user' + str(loopCounter)}"` work;
- when an instance completes it carries `nrOfInstances`, `nrOfActiveInstances`,
  `nrOfCompletedInstances` (as Camunda counts them) and Fengqiao's `nrOfSignedInstances` /
  `nrOfDeclinedInstances` (a declined, i.e. returned, instance is completed but not signed), which is
  what SpiffWorkflow evaluates the completion condition on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import (
    MultiInstanceTask,
    SequentialMultiInstanceTask,
)
from SpiffWorkflow.util.task import TaskState

from . import expressions
from .errors import ExpressionError

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
_NS = {"bpmn": BPMN_NS}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ITEM_ID_PREFIX = "mi_item_"  # inputDataItem ids must be unique XML ids; the variable is its name
DECLINED = "fq_declined"  # internal_data mark of an instance completed by a decline (return)
COUNT_VARIABLES = (
    "nrOfInstances",
    "nrOfActiveInstances",
    "nrOfCompletedInstances",
    "nrOfSignedInstances",
    "nrOfDeclinedInstances",
)


def _bare(value: str) -> str:
    text = value.strip()
    if (text.startswith("${") or text.startswith("#{")) and text.endswith("}"):
        return text[2:-1].strip()
    return text


def translate(root, problems: list) -> None:
    """Rewrite each multiInstanceLoopCharacteristics into what SpiffWorkflow's BPMN parser runs, and
    check the expressions of candidate groups. `problems` gets bpmn.Problem-like objects."""
    from .bpmn import Problem  # bpmn calls this module: imported here to keep the import one-way

    for loop in root.iter(f"{{{BPMN_NS}}}multiInstanceLoopCharacteristics"):
        owner = loop.getparent()
        owner_id = owner.get("id") if owner is not None else None
        collection = loop.get(f"{{{CAMUNDA_NS}}}collection")
        element_variable = loop.get(f"{{{CAMUNDA_NS}}}elementVariable")
        cardinality = loop.find("bpmn:loopCardinality", _NS)
        data_input = loop.find("bpmn:loopDataInputRef", _NS)
        if collection is not None and data_input is None:
            name = _bare(collection)
            if not _IDENTIFIER.fullmatch(name):
                problems.append(Problem(owner_id, "camunda:collection must name a list variable, e.g. ${departments}"))
                continue
            if cardinality is not None:
                problems.append(Problem(owner_id, "a multi-instance task has either a collection or a cardinality"))
                continue
            data_input = etree.Element(f"{{{BPMN_NS}}}loopDataInputRef")
            data_input.text = name
            loop.insert(0, data_input)
        if element_variable is not None and loop.find("bpmn:inputDataItem", _NS) is None:
            if not _IDENTIFIER.fullmatch(element_variable.strip()):
                problems.append(Problem(owner_id, "camunda:elementVariable must be a variable name"))
                continue
            item = etree.Element(f"{{{BPMN_NS}}}inputDataItem")
            item.set("id", f"{_ITEM_ID_PREFIX}{owner_id}")
            item.set("name", element_variable.strip())
            # the schema's order: loopCardinality, loopDataInputRef, loopDataOutputRef, inputDataItem, ...
            anchor = loop.find("bpmn:loopDataOutputRef", _NS)
            anchor = anchor if anchor is not None else data_input
            if anchor is not None:
                anchor.addnext(item)
            else:
                loop.insert(0, item)
        if cardinality is None and loop.find("bpmn:loopDataInputRef", _NS) is None:
            problems.append(
                Problem(owner_id, "a multi-instance task needs loopCardinality or a collection (camunda:collection)")
            )
            continue
        for tag in ("loopCardinality", "completionCondition"):
            element = loop.find(f"bpmn:{tag}", _NS)
            if element is None:
                continue
            text = (element.text or "").strip()
            if not text:
                problems.append(Problem(owner_id, f"{tag} is empty"))
                continue
            normalised = expressions.normalize(text)
            try:
                expressions.check(normalised)
            except ExpressionError as exc:
                problems.append(Problem(owner_id, f"{tag} refused: {exc.message}"))
                continue
            element.text = normalised
    for task in root.iter(f"{{{BPMN_NS}}}userTask"):
        for group in (task.get(f"{{{CAMUNDA_NS}}}candidateGroups") or "").split(","):
            if _is_expression(group):
                try:
                    expressions.check(expressions.normalize(group.strip()))
                except ExpressionError as exc:
                    problems.append(Problem(task.get("id"), f"camunda:candidateGroups refused: {exc.message}"))


def _is_expression(value: str) -> bool:
    text = value.strip()
    return text.startswith("${") or text.startswith("#{")


def _body(task) -> MultiInstanceTask | None:
    """The multi-instance body whose instance `task` is, or None."""
    parent = task.parent
    spec = getattr(parent, "task_spec", None) if parent is not None else None
    if isinstance(spec, MultiInstanceTask) and task.task_spec.name == spec.task_spec:
        return spec
    return None


def is_instance(task) -> bool:
    return _body(task) is not None


def _instances(task) -> list:
    spec = _body(task)
    return [c for c in task.parent.children if c.task_spec.name == spec.task_spec] if spec else []


def prepare(ready_manual: list) -> None:
    """Give every ready instance among the ready user tasks its element variable (by the modeller's
    name) and `loopCounter`. Called on each change before the workflow is saved; an instance that has
    them is left alone."""
    for task in ready_manual:
        spec = _body(task)
        if spec is None or "loopCounter" in task.data:
            continue
        index = task.internal_data.get("key_or_index")
        if index is None:  # a cardinality loop's item is its index
            index = task.internal_data.get("item")
        if isinstance(index, int):
            task.data["loopCounter"] = index
        item = spec.input_item
        if item is not None and item.bpmn_name and item.bpmn_name != item.bpmn_id and item.bpmn_id in task.data:
            task.data[item.bpmn_name] = task.data.pop(item.bpmn_id)


def before_completion(task, *, declined: bool = False) -> None:
    """An instance about to complete: mark a decline and write the counts its completion condition
    reads. Its own element variable and loop counter stay out of the data it hands back (a later
    instance of a sequential loop, or the next round of the loop, must not find them set)."""
    spec = _body(task)
    if spec is None:
        return
    if declined:
        task.internal_data[DECLINED] = True
    body = task.parent
    merged = set(body.internal_data.get("merged", []))
    instances = _instances(task)
    done = [c for c in instances if str(c.id) in merged]
    completed = len(done) + 1
    declined_count = sum(1 for c in done if c.internal_data.get(DECLINED)) + (1 if declined else 0)
    if isinstance(spec, SequentialMultiInstanceTask):
        total = body.internal_data.get("cardinality")
        if total is None:
            total = completed + len(body.internal_data.get("remaining", []))
        active = 0
    else:
        total = len(instances)
        active = sum(1 for c in instances if c is not task and str(c.id) not in merged and c.state == TaskState.READY)
    task.data.update(
        nrOfInstances=total,
        nrOfActiveInstances=active,
        nrOfCompletedInstances=completed,
        nrOfSignedInstances=completed - declined_count,
        nrOfDeclinedInstances=declined_count,
    )
    task.data.pop("loopCounter", None)
    if spec.input_item is not None:
        task.data.pop(spec.input_item.bpmn_name or spec.input_item.bpmn_id, None)
        task.data.pop(spec.input_item.bpmn_id, None)


def not_needed(workflow, task_id) -> bool:
    """A cancelled instance whose body finished: its completion condition was met early."""
    task = workflow.tasks.get(task_id)  # None: a reset removed it
    if task is None or task.state != TaskState.CANCELLED or _body(task) is None:
        return False
    return task.parent.state in (TaskState.READY, TaskState.COMPLETED)


def expand_groups(groups: Sequence[str], variables: Mapping[str, Any], evaluate: Callable) -> list[str]:
    """Candidate groups with `${expression}` entries evaluated (a string or a list of strings each)."""
    found: list[str] = []
    for group in groups:
        if not _is_expression(group):
            found.append(group)
            continue
        value = evaluate(expressions.normalize(group.strip()), dict(variables))
        values = value if isinstance(value, list | tuple) else [value]
        for one in values:
            if not isinstance(one, str) or not one.strip():
                raise ValueError(f"candidate group {group} is {one!r}, not a group key")
            found.append(one.strip())
    return list(dict.fromkeys(found))
