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

from . import (
    call_activities,
    conditions,
    cycles,
    expressions,
    external_tasks,
    io_mappings,
    model_forms,
    multi_instance,
    start_timers,
)
from .errors import DeploymentInvalid, ExpressionError, TooLarge

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}

# No entities, no DTD, no network: an upload cannot read files or explode in memory.
_XML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)

# Elements SpiffWorkflow would parse but Fengqiao cannot run safely or at all: each sentence names
# the construct; the element's kind and id are put in front of it.
_UNSUPPORTED = {
    "serviceTask": 'service tasks run here only as external tasks: set camunda:type="external" and camunda:topic="…"',
    "sendTask": "send tasks are not supported; use a message end or throw event",
    "complexGateway": "complex gateways are not supported",
    "compensateEventDefinition": "compensation is not supported",
    "dataStore": "data stores have no implementation",
    "dataStoreReference": "data stores have no implementation",
    "adHocSubProcess": "ad-hoc sub-processes are not supported",
    "transaction": "transaction sub-processes are not supported",
}
# where Camunda, Flowable and Activiti keep the same extension attributes (they mean the same)
FLOWABLE_NS = "http://flowable.org/bpmn"
ACTIVITI_NS = "http://activiti.org/bpmn"
_EXTENSIONS = (CAMUNDA_NS, FLOWABLE_NS, ACTIVITI_NS)
_PREFIX_OF = {CAMUNDA_NS: "camunda", FLOWABLE_NS: "flowable", ACTIVITI_NS: "activiti"}
_JAVA = ("class", "delegateExpression", "expression")
JAVA_DELEGATE = 'Java delegates cannot run here; model it as an external task (camunda:type="external")'
_SCRIPT_LANGUAGES = {"groovy": "Groovy", "javascript": "JavaScript", "js": "JavaScript", "ecmascript": "JavaScript",
                     "juel": "JUEL", "jruby": "Ruby", "ruby": "Ruby", "nashorn": "JavaScript", "graal.js": "JavaScript",
                     "kotlin": "Kotlin", "jython": "Jython", "xslt": "XSLT"}  # fmt: skip
# references written as QNames (messageRef="tns:newInvoice"): the prefix is the document's own namespace
_REFERENCES = ("messageRef", "signalRef", "errorRef", "escalationRef", "default", "attachedToRef", "sourceRef",
               "targetRef", "calledElement")  # fmt: skip
_FLOW_NODES = frozenset(
    {"task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask", "businessRuleTask",
     "callActivity", "subProcess", "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
     "boundaryEvent", "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway"}
)  # fmt: skip
_RESERVED_IDS = frozenset({"Start", "End"})  # SpiffWorkflow's own task spec names: an element with one is lost

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
    forms: dict[str, Any] = field(default_factory=dict)  # forms made from the model's own fields

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


def load_document(
    name: str, data: bytes | str, *, max_bytes: int, allow_scripts: bool, time_zone: str = "UTC"
) -> Document:
    """Parse, check and normalise one document. Raises DeploymentInvalid listing every problem."""
    root = parse_xml(data, name, max_bytes)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    _resolve_qnames(root)
    _assign_missing_ids(root)
    _refuse_unsupported(root, allow_scripts, problems, warnings)
    _check_depth(root, problems)
    _normalise_expressions(root, problems, time_zone)
    conditions.translate(root, problems, Problem)  # conditional events (engine/conditions.py)
    multi_instance.translate(root, problems)  # Camunda multi-instance attributes (engine/multi_instance.py)
    call_activities.translate(root, problems, warnings)  # camunda:in / camunda:out (engine/call_activities.py)
    io_mappings.translate(root, problems, _SCRIPT_LANGUAGES)  # camunda:inputOutput (engine/io_mappings.py)
    forms = model_forms.translate(root, problems)  # formData / formProperty fields (engine/model_forms.py)
    processes: dict[str, ProcessInfo] = {}
    lanes = _lane_groups(root)
    all_processes = list(root.iterfind("bpmn:process", NS))
    # Camunda 7 and Flowable run a process whose isExecutable is absent; "false" deploys for viewing
    # and editing but cannot be started (only when no process of the document is executable).
    runnable = [p for p in all_processes if (p.get("isExecutable") or "true").strip().lower() != "false"]
    for process in runnable or all_processes:
        key = process.get("id")
        if not key:
            problems.append(Problem(None, "a process has no id"))
            continue
        processes[key] = ProcessInfo(
            key=key,
            name=process.get("name"),
            called=sorted(
                {c.get("calledElement") for c in process.iter(f"{{{BPMN_NS}}}callActivity") if c.get("calledElement")}
            ),
            meta=_process_meta(process, lanes, problems, warnings) | {"executable": bool(runnable)},
        )
        if not runnable:
            warnings.append(
                Problem(key, 'the process is not executable (isExecutable="false"): it deploys but cannot be started')
            )
    for message in root.iterfind("bpmn:message", NS):
        if not message.get("name"):
            problems.append(Problem(message.get("id"), "message has no name"))
    _check_references(root, problems)
    if not processes and not problems:
        problems.append(Problem(None, "the document defines no executable process (it has no bpmn:process)"))
    if problems:
        raise DeploymentInvalid(f"{name}: the model cannot be deployed", [p.as_dict() for p in problems])
    xml = etree.tostring(root, encoding="unicode")
    return Document(
        name=name,
        xml=xml,
        sha256=hashlib.sha256(xml.encode()).hexdigest(),
        processes=processes,
        warnings=warnings,
        forms=forms,
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
    "isSequential": "false",
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
                signature[_local(child.tag)] = signature.get(_local(child.tag), "") + _canonical(child)
        found[element.get("id")] = signature
    return found


def _canonical(element) -> str:
    """A child element as a modeller means it: local names, attributes sorted and without their BPMN
    defaults, text stripped. bpmn-js writes the same content with other whitespace, prefixes and
    attribute order (and drops `isSequential="false"`), which is no change."""
    attributes = sorted(
        (etree.QName(name).localname, value)
        for name, value in element.attrib.items()
        if _DEFAULTS.get(etree.QName(name).localname) != value
    )
    children = "".join(_canonical(child) for child in element if isinstance(child.tag, str))
    return f"<{_local(element.tag)} {attributes}>{(element.text or '').strip()}{children}</{_local(element.tag)}>"


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


def _describe(element) -> str:
    return f"{_local(element.tag)} '{element.get('id')}'" if element.get("id") else _local(element.tag)


def _ext(element, attr: str) -> str | None:
    """An extension attribute as Camunda, Flowable or Activiti writes it (the first one present)."""
    for namespace in _EXTENSIONS:
        value = element.get(f"{{{namespace}}}{attr}")
        if value is not None:
            return value
    return None


def _ext_name(element, attr: str) -> str:
    for namespace in _EXTENSIONS:
        if element.get(f"{{{namespace}}}{attr}") is not None:
            return f"{_PREFIX_OF[namespace]}:{attr}"
    return attr


def _refuse_unsupported(root, allow_scripts: bool, problems: list[Problem], warnings: list[Problem]) -> None:
    for element in root.iter(tag=etree.Element):
        namespace = etree.QName(element).namespace
        local = _local(element.tag)
        if namespace in _EXTENSIONS and local in ("executionListener", "taskListener"):
            _listener(element, warnings)
            continue
        if namespace in _EXTENSIONS and local in ("formProperty", "formData") and _owner(element) is not None:
            owner = _owner(element)
            if _local(owner.tag) == "userTask" and not model_forms.has_form_key(owner):
                continue  # the fields become the task's form (engine/model_forms.py)
            if not any(w.element_id == owner.get("id") and "form fields" in w.message for w in warnings):
                warnings.append(
                    Problem(
                        owner.get("id"),
                        f"{_describe(owner)}: {_PREFIX_OF[namespace]}:{local} form fields are not read here: the "
                        "task takes no data unless a form is deployed under its form key",
                    )
                )
            continue
        if namespace != BPMN_NS:
            continue
        owner = element if element.get("id") else element.getparent()
        if local in _FLOW_NODES and element.get("id") in _RESERVED_IDS:
            problems.append(
                Problem(
                    element.get("id"),
                    f"{_describe(element)}: the id '{element.get('id')}' is reserved by the engine's parser "
                    "(the element would be lost); rename it",
                )
            )
        if local == "serviceTask" and external_tasks.is_external(element):  # engine/external_tasks.py
            problems.extend(
                Problem(element_id, message) for element_id, message in external_tasks.check_element(element)
            )
        elif local in ("serviceTask", "sendTask", "businessRuleTask") and any(_ext(element, a) for a in _JAVA):
            used = next(_ext_name(element, a) for a in _JAVA if _ext(element, a))
            problems.append(Problem(element.get("id"), f"{_describe(element)} uses {used}: {JAVA_DELEGATE}"))
        elif local in _UNSUPPORTED:
            problems.append(Problem(owner.get("id"), f"{_describe(owner)}: {_UNSUPPORTED[local]}"))
        elif local == "businessRuleTask":
            _check_business_rule_task(element, problems)
        elif local == "scriptTask":
            script_format = (element.get("scriptFormat") or "").strip().lower()
            language = _SCRIPT_LANGUAGES.get(script_format)
            if language:
                problems.append(
                    Problem(
                        element.get("id"),
                        f"{_describe(element)} is written in {language}: {language} scripts cannot run here; "
                        "only restricted 'name = expression' scripts do",
                    )
                )
                continue
            if _ext(element, "resource"):  # Camunda reads the script from a file of the deployment
                problems.append(
                    Problem(
                        element.get("id"),
                        f"{_describe(element)} reads its script from {_ext_name(element, 'resource')}="
                        f"'{_ext(element, 'resource')}', a file that is not deployed here; write the script "
                        "inline in the task",
                    )
                )
                continue
            if not allow_scripts:
                problems.append(
                    Problem(
                        element.get("id"),
                        "script tasks are disabled (set FENGQIAO_ALLOW_SCRIPT_TASKS to run restricted scripts)",
                    )
                )
                continue
            script = element.findtext("bpmn:script", default="", namespaces=NS)
            if not script.strip():
                problems.append(Problem(element.get("id"), f"{_describe(element)} has no script"))
                continue
            try:
                expressions.parse_script(script)
            except ExpressionError as exc:
                problems.append(Problem(element.get("id"), f"script refused: {exc.message}"))
        elif local in _EVENTS:
            _check_event(element, problems)
        elif local == "eventBasedGateway":
            _check_event_gateway(element, problems)
        elif local == "subProcess" and element.find("bpmn:endEvent", NS) is None:
            # Camunda ends a path with no outgoing flow implicitly; SpiffWorkflow's parser needs an end event
            problems.append(
                Problem(
                    element.get("id"),
                    f"{_describe(element)} has no end event: draw one where its paths end (Camunda 7 ends them "
                    "implicitly; this engine does not)",
                )
            )
        if local in ("messageEventDefinition", "signalEventDefinition") and _ext(element, "class"):
            warnings.append(
                Problem(
                    owner.get("id"), f"{_describe(owner)}: {_ext_name(element, 'class')} is ignored: {JAVA_DELEGATE}"
                )
            )


_EVENTS = frozenset({"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"})
# what an event sub-process may start on (a compensation start is refused as compensation)
_DEFINITIONS = ("message", "signal", "timer", "error", "escalation", "conditional", "compensate")


def _check_event(event, problems: list[Problem]) -> None:
    """Events Camunda 7 would not run as drawn: several event definitions on one event (Camunda
    refuses them when it parses the model), and event sub-process starts that are not one event."""
    definitions = [
        c for c in event if _local(c.tag).endswith("EventDefinition") or _local(c.tag) == "eventDefinitionRef"
    ]
    if len(definitions) > 1:
        kinds = ", ".join(_local(d.tag).removesuffix("EventDefinition") for d in definitions)
        how = "parallel multiple" if (event.get("parallelMultiple") or "").strip() == "true" else "multiple"
        problems.append(
            Problem(
                event.get("id"),
                f"{_describe(event)}: a {how} event ({kinds}) is not supported, as in Camunda 7; "
                "draw one event per definition (an event-based gateway waits for whichever comes first)",
            )
        )
        return
    parent = event.getparent()
    if _local(event.tag) != "startEvent" or parent is None or (parent.get("triggeredByEvent") or "").strip() != "true":
        return
    kind = _local(definitions[0].tag).removesuffix("EventDefinition") if definitions else None
    if kind not in _DEFINITIONS:
        problems.append(
            Problem(
                event.get("id"),
                f"{_describe(event)}: the start event of an event sub-process needs a message, timer, signal, "
                "error or escalation event definition",
            )
        )
    elif kind == "timer" and definitions[0].find("bpmn:timeCycle", NS) is not None:
        problems.append(
            Problem(
                event.get("id"),
                f"{_describe(event)}: a timer cycle on the start of an event sub-process is not supported (it "
                "fires once here); use timeDuration or timeDate",
            )
        )


def _check_event_gateway(gateway, problems: list[Problem]) -> None:
    """SpiffWorkflow's event-based gateway keeps one due time for all its timers: with two, the
    second fired at the first one's time. Camunda runs both; refuse rather than run it differently."""
    container = gateway.getparent()
    targets = {
        f.get("targetRef")
        for f in container.iterfind("bpmn:sequenceFlow", NS)
        if f.get("sourceRef") == gateway.get("id")
    }
    timers = [
        e.get("id") for e in container if e.get("id") in targets and e.find("bpmn:timerEventDefinition", NS) is not None
    ]
    if len(timers) > 1:
        problems.append(
            Problem(
                gateway.get("id"),
                f"{_describe(gateway)} is followed by {len(timers)} timer events ({', '.join(sorted(timers))}): an "
                "event-based gateway waits for one timer here; keep the earliest",
            )
        )


def _owner(element):
    owner = element.getparent()
    while owner is not None and not owner.get("id"):
        owner = owner.getparent()
    return owner


def _listener(element, warnings: list[Problem]) -> None:
    """Listeners (Java classes, expressions, scripts) do not run here: say so instead of ignoring them."""
    owner = _owner(element)
    how = next((_ext_name(element, a) for a in (*_JAVA,) if element.get(a) is not None), None)
    if how is None:
        how = "a script" if any(_local(c.tag) == "script" for c in element) else "a listener"
    else:
        how = how.split(":")[-1]
        how = f"{_PREFIX_OF[etree.QName(element).namespace]}:{_local(element.tag)} {how}"
    warnings.append(
        Problem(
            owner.get("id") if owner is not None else None,
            f"{_describe(owner) if owner is not None else 'an element'}: the {_local(element.tag)} "
            f"({how}, event '{element.get('event') or 'unset'}') is ignored: listeners do not run here",
        )
    )


def _resolve_qnames(root) -> None:
    """`messageRef="tns:newInvoice"` is valid BPMN; SpiffWorkflow looks ids up as written. A prefix
    bound to the document's own target namespace (or naming an id that exists) is dropped."""
    ids = {e.get("id") for e in root.iter(tag=etree.Element) if e.get("id")}
    for element in root.iter(tag=etree.Element):
        for attr in _REFERENCES:
            value = element.get(attr)
            if value and ":" in value and value not in ids:
                local = value.split(":", 1)[1]
                if local in ids:
                    element.set(attr, local)
    for ref in root.iter(f"{{{BPMN_NS}}}incoming", f"{{{BPMN_NS}}}outgoing", f"{{{BPMN_NS}}}flowNodeRef"):
        text = (ref.text or "").strip()
        if ":" in text and text not in ids and text.split(":", 1)[1] in ids:
            ref.text = text.split(":", 1)[1]


_REFERENCED = {"messageRef": "message", "signalRef": "signal", "errorRef": "error", "escalationRef": "escalation"}


def _check_references(root, problems: list[Problem]) -> None:
    """An event pointing at a message, signal, error or escalation the document does not define made
    SpiffWorkflow fail with an internal TypeError; name the event and the missing definition instead."""
    defined = {
        kind: {e.get("id") for e in root.iter(f"{{{BPMN_NS}}}{kind}") if e.get("id")} for kind in _REFERENCED.values()
    }
    anchor = next((e for e in root if _local(e.tag) in ("process", "collaboration")), None)
    for element in list(root.iter(tag=etree.Element)):
        if etree.QName(element).namespace != BPMN_NS or not _local(element.tag).endswith("EventDefinition"):
            continue
        for attr, kind in _REFERENCED.items():
            ref = element.get(attr)
            if ref and ref not in defined[kind] and kind == "error" and anchor is not None:
                # Camunda reads an errorRef naming no error as the error code itself: the same here
                error = etree.Element(f"{{{BPMN_NS}}}error", id=ref, name=ref, errorCode=ref)
                anchor.addprevious(error)
                defined[kind].add(ref)
            elif ref and ref not in defined[kind]:
                owner = _owner(element)
                problems.append(
                    Problem(
                        owner.get("id") if owner is not None else None,
                        f"{_describe(owner) if owner is not None else 'an event'} refers to {kind} '{ref}', "
                        f"which the document does not define (add a bpmn:{kind} with that id)",
                    )
                )


def _assign_missing_ids(root) -> None:
    """Camunda's test models often leave sequence flows without an id; SpiffWorkflow's parser then
    drops the flow silently. Give every such element a stable id made from what it connects."""
    taken = {e.get("id") for e in root.iter(tag=etree.Element) if e.get("id")}
    for element in root.iter(tag=etree.Element):
        if etree.QName(element).namespace != BPMN_NS or element.get("id"):
            continue
        local = _local(element.tag)
        if local == "sequenceFlow":
            base = f"sequenceFlow_{element.get('sourceRef')}_{element.get('targetRef')}"
        elif local in _FLOW_NODES or local in ("process", "message", "signal", "error", "escalation"):
            base = f"{local}_{len(taken) + 1}"
        else:
            continue
        candidate, n = re.sub(r"[^A-Za-z0-9_.-]", "_", base), 1
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        element.set("id", candidate)
        taken.add(candidate)


def graph_problems(process_xml, specs: list[Any]) -> tuple[list[Problem], list[Problem]]:
    """After parsing: every flow node and sequence flow of the XML must be in the parsed specs. What
    the parser left out is named (a deploy must never lose an element without a word): a refusal,
    except an element nothing leads to, which never runs in any engine (a warning)."""
    by_id: dict[str, list[Any]] = {}
    for spec in specs:
        for task_spec in spec.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id:
                by_id.setdefault(bpmn_id, []).append(task_spec)
    flows = list(process_xml.iter(f"{{{BPMN_NS}}}sequenceFlow"))
    targets = {f.get("targetRef") for f in flows}
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for element in process_xml.iter(tag=etree.Element):
        if etree.QName(element).namespace != BPMN_NS:
            continue
        local = _local(element.tag)
        if local in _FLOW_NODES and element.get("id") not in by_id:
            entered = (
                element.get("id") in targets
                or local in ("startEvent", "boundaryEvent")
                or element.find("bpmn:linkEventDefinition", NS) is not None
            )
            if element.find("bpmn:linkEventDefinition", NS) is not None:
                problems.append(
                    Problem(
                        element.get("id"),
                        f"{_describe(element)}: link events are not followed here; connect the flow with a "
                        "sequence flow instead",
                    )
                )
            elif entered:
                problems.append(Problem(element.get("id"), f"{_describe(element)} was not understood by the parser"))
            else:
                warnings.append(Problem(element.get("id"), f"{_describe(element)} has no incoming flow: it never runs"))
    for element in flows:
        source, target = element.get("sourceRef"), element.get("targetRef")
        reached = {getattr(out, "bpmn_id", None) for task_spec in by_id.get(source, []) for out in _outputs(task_spec)}
        if source in by_id and target in by_id and target not in reached:
            problems.append(
                Problem(
                    element.get("id"), f"{_describe(element)} from '{source}' to '{target}' could not be represented"
                )
            )
    return problems, warnings


def _outputs(task_spec) -> list[Any]:
    """A spec's successors, looking through the parser's own connecting specs (which have no id)."""
    found, stack, seen = [], list(task_spec.outputs), set()
    while stack:
        out = stack.pop()
        if id(out) in seen:
            continue
        seen.add(id(out))
        found.append(out)
        if not getattr(out, "bpmn_id", None):
            stack.extend(out.outputs)
    return found


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
                f"{_describe(element)}: business rule task names no decision: set camunda:decisionRef and deploy "
                "the .dmn file with the model",
            )
        )
    elif "{" in ref:
        problems.append(
            Problem(
                element.get("id"),
                f"{_describe(element)}: camunda:decisionRef '{ref}' must name a decision, not an expression",
            )
        )


def _normalise_expressions(root, problems: list[Problem], time_zone: str = "UTC") -> None:
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
        if _local(element.tag) == "timeCycle" and cycles.is_cron(text):
            # an evenly spaced cron is an ISO 8601 cycle started at its next occurrence (station time)
            if cycles.spacing(text, time_zone) is None:
                problems.append(Problem(owner_id, cycles.refusal(text)))
                continue
            definition = element.getparent()
            event = definition.getparent() if definition is not None else None
            if event is not None and _local(event.tag) not in ("startEvent", "boundaryEvent"):
                problems.append(
                    Problem(
                        event.get("id") or owner_id,
                        f"{_describe(event)}: a cron cycle repeats only on a timer start or boundary event; "
                        "wait here with timeDuration or timeDate",
                    )
                )
                continue
            text = f"cron_cycle({' '.join(text.split())!r}, {time_zone!r})"
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
            groups = _groups(explicit)
        else:
            match = _LANE_PREFIX.fullmatch(lane.get("id") or "")
            groups = [match.group(1).lower()] if match else []
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            if ref.text:
                result[ref.text.strip()] = {"lane": lane.get("name") or lane.get("id"), "groups": groups}
    return result


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _group_key(name: str) -> str:
    """A candidate group as the key it matches: department keys and role names are lower case
    (engine/identity.py), so `SASWorkflowGroup` is the department `sasworkflowgroup`. Lowering here,
    not against the departments that exist at deploy, keeps a version's meta the same whenever it is
    deployed, and a department created after the deploy receives its tasks. An expression
    (`${department}`) names case variables and is kept as written."""
    return name if "{" in name else name.lower()


def _groups(value: str | None) -> list[str]:
    return [_group_key(g) for g in _split(value)]


def _expression_attr(element, attr: str, problems: list[Problem], raw: str | None = None) -> str | None:
    raw = _ext(element, attr) if raw is None else raw
    if raw is None or not raw.strip():
        return None
    normalised = expressions.normalize(raw)
    try:
        expressions.check(normalised)
    except ExpressionError as exc:
        problems.append(Problem(element.get("id"), f"{_ext_name(element, attr)} refused: {exc.message}"))
        return None
    return normalised


_RESOURCE_PART = re.compile(r"^(user|group)\((.+)\)$")


def _performers(task) -> tuple[list[str], list[str], str | None]:
    """BPMN's own `potentialOwner` / `humanPerformer` (resourceAssignmentExpression): groups, users and
    the assignee they name. As in Activiti and Flowable, `user(x)` is a user, `group(x)` or a bare
    name a group; a human performer is the assignee."""
    groups: list[str] = []
    users: list[str] = []
    assignee = None
    for role in ("potentialOwner", "humanPerformer", "performer"):
        for found in task.iterfind(f"bpmn:{role}", NS):
            text = found.findtext("bpmn:resourceAssignmentExpression/bpmn:formalExpression", default="", namespaces=NS)
            for part in _split(text):
                match = _RESOURCE_PART.fullmatch(part)
                kind, name = (match.group(1), match.group(2).strip()) if match else (None, part)
                if role != "potentialOwner" and kind != "group":
                    assignee = name
                elif kind == "user":
                    users.append(name)
                else:
                    groups.append(_group_key(name))
    return groups, users, assignee


def _process_meta(process, lanes, problems: list[Problem], warnings: list[Problem]) -> dict[str, Any]:
    tasks: dict[str, Any] = {}
    for task in process.iter(f"{{{BPMN_NS}}}userTask"):
        task_id = task.get("id")
        lane = lanes.get(task_id, {})
        std_groups, std_users, std_assignee = _performers(task)
        # candidate groups may be computed per case (`${department}`: engine/multi_instance.py evaluates
        # them when the task opens); candidate users may not: name them, or set an assignee expression
        if "{" in (_ext(task, "candidateUsers") or ""):
            problems.append(
                Problem(
                    task_id,
                    f"{_describe(task)}: {_ext_name(task, 'candidateUsers')} given by an expression is not "
                    "supported; name the users, or set an assignee expression",
                )
            )
        # as in Camunda, the extension attributes and potentialOwner add up; a lane's group is the fallback
        named = list(dict.fromkeys(_groups(_ext(task, "candidateGroups")) + std_groups))
        groups = named or list(lane.get("groups", []))
        users = list(dict.fromkeys(_split(_ext(task, "candidateUsers")) + std_users))
        assignee = _ext(task, "assignee") or std_assignee
        if assignee and (assignee.startswith("${") or assignee.startswith("#{")):
            assignee = _expression_attr(task, "assignee", problems, raw=assignee)
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
            "form_key": _ext(task, "formKey"),
        }
    start_form = None
    # camunda:initiator: the variable that holds who started the case (assignee="${initiator}")
    initiator = next(
        (_ext(s, "initiator") for s in process.iterfind("bpmn:startEvent", NS) if _ext(s, "initiator")), None
    )
    for start in process.iterfind("bpmn:startEvent", NS):
        if len(start) == 0 or all(
            _local(c.tag) in ("incoming", "outgoing", "extensionElements", "documentation") for c in start
        ):
            start_form = _ext(start, "formKey") or start_form
    boundaries = {b.get("id"): b.get("attachedToRef") for b in process.iter(f"{{{BPMN_NS}}}boundaryEvent")}
    return {
        "timer_starts": _timer_starts(process, problems),
        "starter_groups": _groups(_ext(process, "candidateStarterGroups")),
        "tasks": tasks,
        "start_form": start_form,
        "initiator": initiator,
        "boundaries": boundaries,
        "sla_warning": _properties(process).get("slaWarning"),
        "external_tasks": external_tasks.element_meta(process),
        "conditions": conditions.element_meta(process),
    }


def timer_starts_of(xml: str, key: str) -> list[dict[str, str]]:
    """The timer start events of process `key` in a stored (already normalised) document, as deploy
    reads them; none when the process is gone or its timers give no schedule."""
    root = etree.fromstring(xml.encode("utf-8"), _XML_PARSER)
    process = next((p for p in root.iterfind("bpmn:process", NS) if p.get("id") == key), None)
    problems: list[Problem] = []
    found = _timer_starts(process, problems) if process is not None else []
    return [] if problems else found


def _timer_starts(process, problems: list[Problem]) -> list[dict[str, str]]:
    """The process's timer start events (not an event sub-process's): deploying schedules each
    (engine/start_timers.py), so a timer that gives no schedule is refused here."""
    found: list[dict[str, str]] = []
    if (process.get("isExecutable") or "true").strip().lower() == "false":
        return found  # deployed for viewing: never scheduled, so its timer is not judged
    for start in process.iterfind("bpmn:startEvent", NS):
        timer = next(
            (c for c in start.iterfind("bpmn:timerEventDefinition/*", NS) if _local(c.tag) in _TIMER_TAGS), None
        )
        if timer is None or any(p.element_id == start.get("id") for p in problems):
            continue  # no timer, or one already refused (empty, a cron with gaps)
        kind, expression = _local(timer.tag), timer.text.strip()
        refusal = start_timers.check(kind, expression)
        if refusal:
            problems.append(Problem(start.get("id"), f"{_describe(start)}: {refusal}"))
            continue
        found.append({"element_id": start.get("id"), "kind": kind, "expression": expression})
    return found


def _properties(element) -> dict[str, str]:
    """`camunda:properties` of the element itself (bpmn-js's 'Extension properties')."""
    found = {}
    for prop in element.iterfind("bpmn:extensionElements/camunda:properties/camunda:property", NS):
        if prop.get("name"):
            found[prop.get("name")] = prop.get("value") or ""
    return found
