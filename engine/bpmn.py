"""BPMN documents: hardened parsing, deploy-time normalisation and the attributes SpiffWorkflow ignores.

This is the one step between uploaded XML and SpiffWorkflow's parser. It refuses what cannot run
(naming each element and why), translates what other modellers write (`${...}` conditions, FEEL,
bare ISO 8601 timer literals) and reads the Camunda human-task attributes once, at deploy.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from . import expressions
from .errors import DeploymentInvalid, ExpressionError, TooLarge

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}

# No entities, no DTD, no network: an upload cannot read files or explode in memory.
_XML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)

# Elements SpiffWorkflow would parse but Fengqiao cannot run safely or at all.
_UNSUPPORTED = {
    "serviceTask": "service tasks are not supported (no connector is configured)",
    "sendTask": "send tasks are not supported; use a message end or throw event",
    "complexGateway": "complex gateways are not supported",
    "compensateEventDefinition": "compensation is not supported",
    "dataStore": "data stores have no implementation",
    "dataStoreReference": "data stores have no implementation",
    "adHocSubProcess": "ad-hoc sub-processes are not supported",
    "transaction": "transaction sub-processes are not supported",
}

_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_TIMER_TAGS = ("timeDuration", "timeDate", "timeCycle")
MAX_FLOW_DEPTH = 300  # elements in a row along sequence flows (the parser recurses once per element)
_LANE_PREFIX = re.compile(r"^lane[_-]([A-Za-z][A-Za-z0-9_]*)$", re.IGNORECASE)


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


@dataclass
class Problem:
    element_id: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"element_id": self.element_id, "message": self.message}


@dataclass
class ProcessInfo:
    key: str
    name: str | None
    called: list[str]
    meta: dict[str, Any]


@dataclass
class Document:
    """One normalised BPMN document and the executable processes it defines."""

    name: str
    xml: str
    sha256: str
    processes: dict[str, ProcessInfo] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)

    def tree(self) -> etree._Element:
        return etree.fromstring(self.xml.encode("utf-8"), _XML_PARSER)


def parse_xml(data: bytes | str, name: str, max_bytes: int) -> etree._Element:
    """Parse untrusted XML: size first, then a parser that resolves nothing; DOCTYPEs are refused."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise TooLarge(f"{name}: {len(raw)} bytes exceeds the limit of {max_bytes} bytes")
    if _DOCTYPE.search(raw[:8192]):
        raise DeploymentInvalid(
            f"{name}: DOCTYPE declarations are not allowed",
            [Problem(None, "DOCTYPE declarations are not allowed").as_dict()],
        )
    try:
        root = etree.fromstring(raw, _XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise DeploymentInvalid(f"{name}: not well-formed XML", [Problem(None, str(exc)).as_dict()]) from None
    doctype = root.getroottree().docinfo
    if doctype.doctype or doctype.internalDTD is not None:
        raise DeploymentInvalid(
            f"{name}: DOCTYPE declarations are not allowed",
            [Problem(None, "DOCTYPE declarations are not allowed").as_dict()],
        )
    if etree.QName(root).namespace != BPMN_NS or _local(root.tag) != "definitions":
        raise DeploymentInvalid(
            f"{name}: not a BPMN 2.0 document", [Problem(None, "root element must be bpmn:definitions").as_dict()]
        )
    return root


def load_document(name: str, data: bytes | str, *, max_bytes: int, allow_scripts: bool) -> Document:
    """Parse, check and normalise one document. Raises DeploymentInvalid listing every problem."""
    root = parse_xml(data, name, max_bytes)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    _refuse_unsupported(root, allow_scripts, problems)
    _check_depth(root, problems)
    _normalise_expressions(root, problems)
    processes: dict[str, ProcessInfo] = {}
    lanes = _lane_groups(root)
    for process in root.iterfind("bpmn:process", NS):
        if process.get("isExecutable", "false").lower() != "true":
            continue
        key = process.get("id")
        processes[key] = ProcessInfo(
            key=key,
            name=process.get("name"),
            called=sorted(
                {c.get("calledElement") for c in process.iter(f"{{{BPMN_NS}}}callActivity") if c.get("calledElement")}
            ),
            meta=_process_meta(process, lanes, problems, warnings),
        )
    for message in root.iterfind("bpmn:message", NS):
        if not message.get("name"):
            problems.append(Problem(message.get("id"), "message has no name"))
    if not processes:
        problems.append(Problem(None, 'the document defines no executable process (isExecutable="true")'))
    if problems:
        raise DeploymentInvalid(f"{name}: the model cannot be deployed", [p.as_dict() for p in problems])
    xml = etree.tostring(root, encoding="unicode")
    return Document(
        name=name, xml=xml, sha256=hashlib.sha256(xml.encode()).hexdigest(), processes=processes, warnings=warnings
    )


# BPMN's attribute defaults: a modeller writes them or leaves them out, the model is the same
_DEFAULTS = {
    "cancelActivity": "true",
    "isInterrupting": "true",
    "isForCompensation": "false",
    "parallelMultiple": "false",
    "isImmediate": "true",
    "startQuantity": "1",
    "completionQuantity": "1",
    "isClosed": "false",
    "gatewayDirection": "Unspecified",
}


def element_signatures(xml: str) -> dict[str, dict[str, str]]:
    """Every identified model element of a deployed document (not the diagram's shapes): id ->
    {attribute or child: value}, what two versions are compared by (repository.diff)."""
    root = etree.fromstring(xml.encode("utf-8"), _XML_PARSER)
    found: dict[str, dict[str, str]] = {}
    for element in root.iter():
        if not isinstance(element.tag, str) or etree.QName(element).namespace != BPMN_NS or not element.get("id"):
            continue
        if _local(element.tag) in ("definitions", "incoming", "outgoing"):
            continue
        signature = {"type": _local(element.tag)}
        signature.update(
            {
                etree.QName(name).localname: value
                for name, value in element.attrib.items()
                if name != "id" and _DEFAULTS.get(etree.QName(name).localname) != value
            }
        )
        for child in element:  # unidentified children: conditions, timer and message definitions, properties
            if isinstance(child.tag, str) and not child.get("id") and _local(child.tag) not in ("incoming", "outgoing"):
                text = etree.tostring(child, encoding="unicode", with_tail=False)
                signature[_local(child.tag)] = signature.get(_local(child.tag), "") + text
        found[element.get("id")] = signature
    return found


def _check_depth(root, problems: list[Problem]) -> None:
    """SpiffWorkflow's parser follows sequence flows by recursion, one level per element in a row:
    a path of ~490 elements ran out of Python's stack. Refuse long paths first, with a sentence,
    walking each process and sub-process depth-first in document order as the parser does."""
    for container in root.iter(f"{{{BPMN_NS}}}process", f"{{{BPMN_NS}}}subProcess"):
        outgoing: dict[str, list[str]] = {}
        for flow in container.iterfind("bpmn:sequenceFlow", NS):
            outgoing.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
        targets = {target for flows in outgoing.values() for target in flows}
        seen: set[str] = set()
        stack = [(source, 1) for source in reversed(outgoing) if source not in targets]
        while stack:
            element, depth = stack.pop()
            if element in seen:
                continue
            seen.add(element)
            if depth > MAX_FLOW_DEPTH:
                problems.append(
                    Problem(
                        element,
                        f"the model is too deep: more than {MAX_FLOW_DEPTH} elements follow one another on a path "
                        "to here; split it into call activities",
                    )
                )
                return
            stack.extend((target, depth + 1) for target in reversed(outgoing.get(element, [])))


def _refuse_unsupported(root, allow_scripts: bool, problems: list[Problem]) -> None:
    for element in root.iter(tag=etree.Element):
        local = _local(element.tag)
        if etree.QName(element).namespace != BPMN_NS:
            continue
        owner = element if element.get("id") else element.getparent()
        if local in _UNSUPPORTED:
            problems.append(Problem(owner.get("id"), _UNSUPPORTED[local]))
        elif local == "businessRuleTask":
            _check_business_rule_task(element, problems)
        elif local == "scriptTask":
            if not allow_scripts:
                problems.append(
                    Problem(
                        element.get("id"),
                        "script tasks are disabled (set FENGQIAO_ALLOW_SCRIPT_TASKS to run restricted scripts)",
                    )
                )
                continue
            script = element.findtext("bpmn:script", default="", namespaces=NS)
            try:
                expressions.parse_script(script)
            except ExpressionError as exc:
                problems.append(Problem(element.get("id"), f"script refused: {exc.message}"))


def _check_business_rule_task(element, problems: list[Problem]) -> None:
    """A business rule task runs a DMN decision deployed with the model (engine/decisions.py), nothing else."""
    ref = element.get(f"{{{CAMUNDA_NS}}}decisionRef")
    if any(element.get(f"{{{CAMUNDA_NS}}}{a}") for a in ("class", "delegateExpression", "expression")):
        problems.append(
            Problem(
                element.get("id"),
                "Java delegates cannot run here; a business rule task runs a DMN decision (camunda:decisionRef)",
            )
        )
    elif not ref:
        problems.append(
            Problem(
                element.get("id"),
                "business rule task names no decision: set camunda:decisionRef and deploy the .dmn file with the model",
            )
        )
    elif "{" in ref:
        problems.append(
            Problem(element.get("id"), f"camunda:decisionRef '{ref}' must name a decision, not an expression")
        )


def _normalise_expressions(root, problems: list[Problem]) -> None:
    for element in root.iter(f"{{{BPMN_NS}}}conditionExpression", *(f"{{{BPMN_NS}}}{t}" for t in _TIMER_TAGS)):
        owner = element.getparent()
        while owner is not None and not owner.get("id"):
            owner = owner.getparent()
        owner_id = owner.get("id") if owner is not None else None
        language = (element.get("language") or "").lower()
        if "xpath" in language:
            problems.append(Problem(owner_id, "XPath expressions are not supported"))
            continue
        text = (element.text or "").strip()
        if not text:
            if _local(element.tag) == "conditionExpression":
                problems.append(Problem(owner_id, "condition expression is empty"))
            else:
                problems.append(Problem(owner_id, "timer has no expression"))
            continue
        normalised = expressions.normalize(text)
        try:
            expressions.check(normalised)
        except ExpressionError as exc:
            problems.append(Problem(owner_id, f"expression refused: {exc.message}"))
            continue
        element.text = normalised


def _lane_groups(root) -> dict[str, dict[str, Any]]:
    """flow node id -> {lane, groups}: a lane names its group by `camunda:candidateGroups` or `lane_<group>`."""
    result = {}
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        explicit = lane.get(f"{{{CAMUNDA_NS}}}candidateGroups")
        if explicit:
            groups = _split(explicit)
        else:
            match = _LANE_PREFIX.fullmatch(lane.get("id") or "")
            groups = [match.group(1).lower()] if match else []
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            if ref.text:
                result[ref.text.strip()] = {"lane": lane.get("name") or lane.get("id"), "groups": groups}
    return result


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _expression_attr(element, attr: str, problems: list[Problem]) -> str | None:
    raw = element.get(f"{{{CAMUNDA_NS}}}{attr}")
    if raw is None or not raw.strip():
        return None
    normalised = expressions.normalize(raw)
    try:
        expressions.check(normalised)
    except ExpressionError as exc:
        problems.append(Problem(element.get("id"), f"camunda:{attr} refused: {exc.message}"))
        return None
    return normalised


def _process_meta(process, lanes, problems: list[Problem], warnings: list[Problem]) -> dict[str, Any]:
    tasks: dict[str, Any] = {}
    for task in process.iter(f"{{{BPMN_NS}}}userTask"):
        task_id = task.get("id")
        lane = lanes.get(task_id, {})
        groups = _split(task.get(f"{{{CAMUNDA_NS}}}candidateGroups")) or list(lane.get("groups", []))
        users = _split(task.get(f"{{{CAMUNDA_NS}}}candidateUsers"))
        assignee = task.get(f"{{{CAMUNDA_NS}}}assignee")
        if assignee and (assignee.startswith("${") or assignee.startswith("#{")):
            assignee = _expression_attr(task, "assignee", problems)
            assignee_is_expression = True
        else:
            assignee_is_expression = False
        priority = _expression_attr(task, "priority", problems)
        if not groups and not users and not assignee:
            warnings.append(
                Problem(task_id, "user task has no candidate group, user or assignee: only a supervisor can assign it")
            )
        tasks[task_id] = {
            "warn": _properties(task).get("slaWarning"),
            "name": task.get("name"),
            "lane": lane.get("lane"),
            "groups": groups,
            "users": users,
            "assignee": assignee,
            "assignee_is_expression": assignee_is_expression,
            "due": _expression_attr(task, "dueDate", problems),
            "follow_up": _expression_attr(task, "followUpDate", problems),
            "priority": priority,
            "form_key": task.get(f"{{{CAMUNDA_NS}}}formKey"),
        }
    start_form = None
    for start in process.iterfind("bpmn:startEvent", NS):
        if len(start) == 0 or all(
            _local(c.tag) in ("incoming", "outgoing", "extensionElements", "documentation") for c in start
        ):
            start_form = start.get(f"{{{CAMUNDA_NS}}}formKey") or start_form
    boundaries = {b.get("id"): b.get("attachedToRef") for b in process.iter(f"{{{BPMN_NS}}}boundaryEvent")}
    return {
        "tasks": tasks,
        "start_form": start_form,
        "boundaries": boundaries,
        "sla_warning": _properties(process).get("slaWarning"),
    }


def _properties(element) -> dict[str, str]:
    """`camunda:properties` of the element itself (bpmn-js's 'Extension properties')."""
    found = {}
    for prop in element.iterfind("bpmn:extensionElements/camunda:properties/camunda:property", NS):
        if prop.get("name"):
            found[prop.get("name")] = prop.get("value") or ""
    return found
