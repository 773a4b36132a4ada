"""DMN decisions: decision tables deployed with a model and run by its business rule tasks.

A `.dmn` document is read once, at deploy, into plain JSON (stored in the definition's meta with
the business rule tasks that use it). Every cell is translated to the restricted evaluator
(engine/expressions.py): FEEL simple unary tests (`< 250`, `[250..1000]`, `"a","b"`, `not(...)`,
`-`) become comparisons of the cell's input, literal expressions are checked like conditions.
What cannot be translated is refused at deploy with a sentence naming the decision and the rule.

SpiffWorkflow 3.2's own DMN engine matches UNIQUE on the first rule, knows neither FIRST nor RULE
ORDER, nor decision requirements, nor Camunda's `resultVariable`: the task spec is SpiffWorkflow's
business rule task (BusinessRuleTaskMixin, plugged in through its parser's override table), and
the table is evaluated here.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.TaskParser import TaskParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.mixins import BpmnSpecMixin
from SpiffWorkflow.dmn.specs import BusinessRuleTaskMixin

from . import expressions
from .errors import DeploymentInvalid, ExpressionError, TooLarge

DMN_NAMESPACES = frozenset(
    {
        "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
        "http://www.omg.org/spec/DMN/20180521/MODEL/",
        "https://www.omg.org/spec/DMN/20191111/MODEL/",
        "https://www.omg.org/spec/DMN/20211108/MODEL/",
        "https://www.omg.org/spec/DMN/20230324/MODEL/",
    }
)
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_BPMN_NS = "http://camunda.org/schema/1.0/bpmn"
CAMUNDA_DMN_NS = "http://camunda.org/schema/1.0/dmn"

HIT_POLICIES = ("UNIQUE", "FIRST", "COLLECT", "RULE ORDER")
AGGREGATIONS = ("SUM", "MIN", "MAX", "COUNT")
RESULT_MAPPINGS = ("resultList", "singleResult", "singleEntry", "collectEntries")
CELL_INPUT = "cellInput"  # Camunda's name for the value a cell tests (camunda:inputVariable renames it)
MAX_REQUIREMENT_DEPTH = 20

_XML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_NUMBER = r"-?\d+(?:\.\d+)?"
_STRING = r'"(?:[^"\\]|\\.)*"'
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ENDPOINT = rf"(?:{_NUMBER}|{_STRING}|{_NAME})"
_COMPARISON = re.compile(rf"^(<=|>=|<|>)\s*({_ENDPOINT})$")
_RANGE = re.compile(rf"^([\[\]\(])\s*({_ENDPOINT})\s*\.\.\s*({_ENDPOINT})\s*([\[\]\)])$")
_ALONE = re.compile(rf"^{_ENDPOINT}$")
_FEEL_WORDS = frozenset({"and", "or", "not", "in", "between", "instance", "of", "if", "then", "else", "for", "some"})


def is_dmn(data: bytes | str) -> bool:
    """Whether a deployed file is a DMN document: the namespace bound to its root element's prefix
    (not its file name, nor any DMN namespace a BPMN document merely declares)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    root = re.search(rb"<(?:([A-Za-z_][\w.-]*):)?definitions\b([^>]*)>", raw[:8192])
    if root is None:
        return False
    prefix = b":" + root.group(1) if root.group(1) else b""
    bound = re.search(rb"\bxmlns" + re.escape(prefix) + rb"\s*=\s*[\"']([^\"']+)[\"']", root.group(2))
    return bound is not None and bound.group(1).decode("utf-8", "replace") in DMN_NAMESPACES


# --- deploy: read and translate ----------------------------------------------------------------
def load(name: str, data: bytes | str, max_bytes: int) -> dict[str, dict[str, Any]]:
    """The decisions of one DMN document (id -> JSON table), or DeploymentInvalid naming every problem."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise TooLarge(f"{name}: {len(raw)} bytes exceeds the limit of {max_bytes} bytes")
    if _DOCTYPE.search(raw[:8192]):
        raise DeploymentInvalid(
            f"{name}: DOCTYPE declarations are not allowed",
            [{"element_id": None, "message": "DOCTYPE declarations are not allowed"}],
        )
    try:
        root = etree.fromstring(raw, _XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise DeploymentInvalid(f"{name}: not well-formed XML", [{"element_id": None, "message": str(exc)}]) from None
    ns = etree.QName(root).namespace
    if ns not in DMN_NAMESPACES or etree.QName(root).localname != "definitions":
        raise DeploymentInvalid(
            f"{name}: not a DMN document", [{"element_id": None, "message": "root element must be dmn:definitions"}]
        )
    problems: list[dict[str, Any]] = []
    found: dict[str, dict[str, Any]] = {}
    for element in root.iterfind(f"{{{ns}}}decision"):
        decision_id = element.get("id")
        if not decision_id:
            problems.append({"element_id": None, "message": "a decision has no id"})
            continue
        table = _decision(element, ns, problems)
        if table is not None:
            found[decision_id] = table
    for decision_id, table in found.items():
        for required in table["required"]:
            if required not in found:
                problems.append(
                    _problem(decision_id, table, f"requires decision '{required}', which this document does not define")
                )
    if not found and not problems:
        problems.append({"element_id": None, "message": "the document defines no decision"})
    if problems:
        raise DeploymentInvalid(f"{name}: the decisions cannot be deployed", problems)
    return found


def _problem(decision_id: str, table: dict[str, Any] | None, message: str) -> dict[str, Any]:
    label = f"decision '{decision_id}'" + (f" ({table['name']})" if table and table.get("name") else "")
    return {"element_id": decision_id, "message": f"{label} {message}"}


def _decision(element, ns: str, problems: list[dict[str, Any]]) -> dict[str, Any] | None:
    decision_id = element.get("id")
    named = {"name": element.get("name")}
    required = []
    for requirement in element.iterfind(f"{{{ns}}}informationRequirement/{{{ns}}}requiredDecision"):
        href = requirement.get("href") or ""
        required.append(href.split("#", 1)[-1])
    if element.find(f"{{{ns}}}knowledgeRequirement") is not None:
        problems.append(_problem(decision_id, named, "requires a business knowledge model, which cannot run here"))
    table_element = element.find(f"{{{ns}}}decisionTable")
    if table_element is None:
        kind = next((etree.QName(c).localname for c in element if etree.QName(c).localname in _EXPRESSIONS), None)
        problems.append(
            _problem(
                decision_id,
                named,
                f"is a {kind or 'decision without a table'}; only decision tables can run here",
            )
        )
        return None
    hit_policy = (table_element.get("hitPolicy") or "UNIQUE").upper().replace("_", " ")
    aggregation = (table_element.get("aggregation") or "").upper() or None
    if hit_policy not in HIT_POLICIES:
        problems.append(
            _problem(decision_id, named, f"has hit policy {hit_policy}; supported are {', '.join(HIT_POLICIES)}")
        )
    if aggregation and (hit_policy != "COLLECT" or aggregation not in AGGREGATIONS):
        problems.append(
            _problem(decision_id, named, f"has aggregation {aggregation}; only COLLECT with SUM, MIN, MAX or COUNT")
        )
    inputs, outputs, rules = [], [], []
    for number, clause in enumerate(table_element.iterfind(f"{{{ns}}}input"), start=1):
        text = clause.findtext(f"{{{ns}}}inputExpression/{{{ns}}}text") or ""
        expression = _literal(text, decision_id, named, f"input {number} ({clause.get('label') or ''})", problems)
        variable = clause.get(f"{{{CAMUNDA_DMN_NS}}}inputVariable") or CELL_INPUT
        inputs.append({"label": clause.get("label"), "expression": expression, "variable": variable})
    for number, clause in enumerate(table_element.iterfind(f"{{{ns}}}output"), start=1):
        name = clause.get("name") or ""
        if not name:
            problems.append(_problem(decision_id, named, f"output {number} has no name (the variable it sets)"))
        outputs.append(name)
    if len(outputs) > 1 and aggregation:
        problems.append(
            _problem(decision_id, named, "aggregates with several outputs; a COLLECT aggregation needs one")
        )
    for row, rule in enumerate(table_element.iterfind(f"{{{ns}}}rule"), start=1):
        where = f"rule {row} ({rule.get('id')})"
        cells = rule.findall(f"{{{ns}}}inputEntry")
        results = rule.findall(f"{{{ns}}}outputEntry")
        if len(cells) != len(inputs) or len(results) != len(outputs):
            problems.append(_problem(decision_id, named, f"{where} has not one entry per input and output"))
            continue
        tests = []
        for cell, clause in zip(cells, inputs, strict=True):
            text = cell.findtext(f"{{{ns}}}text") or ""
            try:
                tests.append(unary_test(text, clause["variable"]))
            except ExpressionError as exc:
                problems.append(_problem(decision_id, named, f"{where}: input entry '{text[:80]}' {exc.message}"))
                tests.append(None)
        values = [
            _literal(r.findtext(f"{{{ns}}}text") or "", decision_id, named, f"{where} output", problems, empty=True)
            for r in results
        ]
        rules.append({"id": rule.get("id"), "row": row, "tests": tests, "outputs": values})
    return {
        "id": decision_id,
        "name": element.get("name"),
        "hit_policy": hit_policy,
        "aggregation": aggregation,
        "inputs": inputs,
        "outputs": outputs,
        "rules": rules,
        "required": required,
    }


_EXPRESSIONS = ("literalExpression", "context", "invocation", "relation", "list", "functionDefinition")


def _literal(text: str, decision_id: str, named, where: str, problems, empty: bool = False) -> str | None:
    """A FEEL literal expression (an input or an output value) in the evaluator's language."""
    text = text.strip()
    if not text:
        if empty:
            return None
        problems.append(_problem(decision_id, named, f"{where} has no expression"))
        return None
    normalised = expressions.normalize(text)
    try:
        expressions.check(normalised)
    except ExpressionError as exc:
        problems.append(_problem(decision_id, named, f"{where}: '{text[:80]}' is refused ({exc.message})"))
        return None
    return normalised


def unary_test(text: str, variable: str = CELL_INPUT) -> str | None:
    """A FEEL simple unary test as an expression over `variable`; None for `-` or an empty cell (any value).

    Comparisons (`< 250`), ranges (`[1..5]`, `]1..5[`, `(1..5)`), literals and names, lists of these
    (`"a","b"`) and `not(...)` are translated; anything else raises ExpressionError."""
    text = text.strip()
    if text in ("", "-"):
        return None
    negated = False
    if text.startswith("not(") and text.endswith(")"):
        negated, text = True, text[4:-1].strip()
    parts = [_one_test(p.strip(), variable) for p in _split_list(text)]
    joined = parts[0] if len(parts) == 1 else " or ".join(f"({p})" for p in parts)
    translated = f"not ({joined})" if negated else joined
    expressions.check(translated)
    return translated


def _split_list(text: str) -> list[str]:
    """Split on the commas outside strings (ranges hold no comma: FEEL writes them with '..')."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if quoted:
            quoted = escaped or ch != '"'
            escaped = not escaped and ch == "\\"
        elif ch == '"':
            quoted = True
        elif ch == ",":
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    if quoted or any(not p.strip() for p in parts):
        raise ExpressionError("is not a FEEL simple unary test (an unbalanced quote or an empty list item)")
    return parts


def _endpoint(text: str) -> str:
    if re.fullmatch(_NAME, text):
        if text in _FEEL_WORDS:
            raise ExpressionError(f"uses '{text}', which is not a FEEL simple unary test")
        return {"true": "True", "false": "False", "null": "None"}.get(text, text)
    return text


def _one_test(text: str, variable: str) -> str:
    match = _COMPARISON.fullmatch(text)
    if match:
        op, value = match.group(1), _endpoint(match.group(2))
        return f"{variable} is not None and {variable} {op} {value}"
    match = _RANGE.fullmatch(text)
    if match:
        opening, low, high, closing = match.groups()
        low_op = ">=" if opening == "[" else ">"
        high_op = "<=" if closing == "]" else "<"
        low, high = _endpoint(low), _endpoint(high)
        return f"{variable} is not None and {variable} {low_op} {low} and {variable} {high_op} {high}"
    if _ALONE.fullmatch(text):
        return f"{variable} == {_endpoint(text)}"
    raise ExpressionError(
        "is not a FEEL simple unary test (supported: comparisons such as < 250, ranges such as [1..5], "
        'literals and variable names, lists of these such as "a","b", not(...) and -)'
    )


# --- deploy: the business rule tasks of a BPMN document -----------------------------------------
def rule_tasks(tree, available: dict[str, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Per executable process key: {"tasks": {element id: {decision, result_variable, map}}, "decisions":
    the tables they need (with their requirements)}; and the problems found."""
    problems: list[dict[str, Any]] = []
    found: dict[str, dict[str, Any]] = {}
    for process in tree.iterfind(f"{{{BPMN_NS}}}process"):
        tasks: dict[str, Any] = {}
        needed: dict[str, Any] = {}
        for task in process.iter(f"{{{BPMN_NS}}}businessRuleTask"):
            task_id = task.get("id")
            ref = task.get(f"{{{CAMUNDA_BPMN_NS}}}decisionRef")
            mapping = task.get(f"{{{CAMUNDA_BPMN_NS}}}mapDecisionResult") or "resultList"
            variable = task.get(f"{{{CAMUNDA_BPMN_NS}}}resultVariable") or None
            if not ref:
                continue  # bpmn.py refuses a business rule task without a decision
            if ref not in available:
                problems.append(
                    {
                        "element_id": task_id,
                        "message": f"business rule task '{task_id}' calls decision '{ref}', which is in no "
                        "DMN document of this deployment: deploy its .dmn file with the model",
                    }
                )
                continue
            if mapping not in RESULT_MAPPINGS:
                problems.append(
                    {
                        "element_id": task_id,
                        "message": f"business rule task '{task_id}': camunda:mapDecisionResult '{mapping}' is not "
                        f"one of {', '.join(RESULT_MAPPINGS)}",
                    }
                )
                continue
            if mapping in ("singleEntry", "collectEntries") and len(available[ref]["outputs"]) > 1:
                problems.append(
                    {
                        "element_id": task_id,
                        "message": f"business rule task '{task_id}': camunda:mapDecisionResult '{mapping}' needs "
                        f"one output, decision '{ref}' has {len(available[ref]['outputs'])}",
                    }
                )
                continue
            if variable is not None and not re.fullmatch(_NAME, variable):
                problems.append(
                    {
                        "element_id": task_id,
                        "message": f"business rule task '{task_id}': camunda:resultVariable must be a plain name",
                    }
                )
                continue
            tasks[task_id] = {"decision": ref, "result_variable": variable, "map": mapping}
            _with_requirements(ref, available, needed, task_id, problems)
        if tasks:
            found[process.get("id")] = {"tasks": tasks, "decisions": needed}
    return found, problems


def _with_requirements(ref, available, needed, task_id, problems, depth=0) -> None:
    if ref in needed:
        return
    if depth > MAX_REQUIREMENT_DEPTH:
        problems.append(
            {"element_id": task_id, "message": f"decision '{ref}': requirements nest too deeply (a cycle?)"}
        )
        return
    needed[ref] = available[ref]
    for required in available[ref]["required"]:
        _with_requirements(required, available, needed, task_id, problems, depth + 1)


def summary(table: dict[str, Any]) -> dict[str, Any]:
    """What a reader needs of a deployed table (the API, the console): not its translated cells."""
    return {
        "id": table["id"],
        "name": table.get("name"),
        "hit_policy": table["hit_policy"],
        "aggregation": table.get("aggregation"),
        "inputs": [{"label": i.get("label"), "expression": i.get("expression")} for i in table["inputs"]],
        "outputs": list(table["outputs"]),
        "rules": len(table["rules"]),
        "required": list(table.get("required") or []),
    }


def digest(decisions: dict[str, Any]) -> str:
    """The decisions' share of a definition's content hash: a changed table is a new version."""
    return hashlib.sha256(json.dumps(decisions, sort_keys=True).encode()).hexdigest()


# --- run ---------------------------------------------------------------------------------------
class DecisionFailed(Exception):
    """A decision could not give its result (two UNIQUE rules matched, a cell failed on a value)."""


def evaluate(
    tables: dict[str, dict[str, Any]], ref: str, variables: dict[str, Any], evaluator: expressions.Evaluator
) -> list[dict[str, Any]]:
    """The matched rules' outputs of decision `ref` (one dict per rule, after aggregation), in rule order."""
    table = tables[ref]
    context = dict(variables)
    for required in table["required"]:
        results = evaluate(tables, required, variables, evaluator)
        # a required decision's outputs are variables of this one: a value, or a list when several rules matched
        for output in tables[required]["outputs"]:
            values = [r.get(output) for r in results]
            context[output] = values[0] if len(values) == 1 else (values or None)
    try:
        inputs = [
            evaluator.evaluate(clause["expression"], context) if clause["expression"] else None
            for clause in table["inputs"]
        ]
    except ExpressionError as exc:
        raise DecisionFailed(f"decision '{ref}': an input failed: {exc.message}") from None
    matched = []
    for rule in table["rules"]:
        if all(
            _passes(test, clause, value, context, evaluator, ref, rule)
            for test, clause, value in zip(rule["tests"], table["inputs"], inputs, strict=True)
        ):
            matched.append(rule)
            if table["hit_policy"] == "FIRST":
                break
    if table["hit_policy"] == "UNIQUE" and len(matched) > 1:
        rows = ", ".join(f"{r['row']} ({r['id']})" for r in matched)
        raise DecisionFailed(f"decision '{ref}' has hit policy UNIQUE, but rules {rows} all match")
    results = []
    for rule in matched:
        try:
            results.append(
                {
                    name: (evaluator.evaluate(expression, context) if expression else None)
                    for name, expression in zip(table["outputs"], rule["outputs"], strict=True)
                }
            )
        except ExpressionError as exc:
            raise DecisionFailed(
                f"decision '{ref}', rule {rule['row']} ({rule['id']}): the output failed: {exc.message}"
            ) from None
    if table["aggregation"]:
        name = table["outputs"][0]
        values = [r[name] for r in results if r[name] is not None]
        try:
            total = (
                _AGGREGATE[table["aggregation"]](values) if values or table["aggregation"] in ("SUM", "COUNT") else None
            )
        except TypeError:
            raise DecisionFailed(f"decision '{ref}': {table['aggregation']} of {values!r} is not defined") from None
        results = [{name: total}]
    return results


_AGGREGATE: dict[str, Callable[[list[Any]], Any]] = {"SUM": sum, "MIN": min, "MAX": max, "COUNT": len}


def _passes(test, clause, value, context, evaluator, ref, rule) -> bool:
    if test is None:
        return True
    try:
        return bool(evaluator.evaluate(test, {**context, clause["variable"]: value}))
    except ExpressionError as exc:
        raise DecisionFailed(
            f"decision '{ref}', rule {rule['row']} ({rule['id']}): the test of input "
            f"'{clause['label'] or clause['expression']}' failed on {value!r}: {exc.message}"
        ) from None


def mapped(results: list[dict[str, Any]], mapping: str, ref: str) -> Any:
    """The decision result as Camunda's camunda:mapDecisionResult puts it in the result variable."""
    if mapping == "resultList":
        return results
    if mapping == "collectEntries":
        return [next(iter(r.values())) for r in results]
    if len(results) > 1:
        raise DecisionFailed(f"decision '{ref}' gave {len(results)} results; {mapping} takes at most one")
    if mapping == "singleResult":
        return results[0] if results else None
    return next(iter(results[0].values())) if results else None  # singleEntry


# --- SpiffWorkflow: the task spec and its parser ------------------------------------------------
class Decider:
    """What SpiffWorkflow's business rule task calls `dmnEngine`: one task's decision and result mapping."""

    def __init__(self, tables: dict[str, dict[str, Any]], ref: str, result_variable: str | None, mapping: str):
        self.tables, self.ref, self.result_variable, self.mapping = tables, ref, result_variable, mapping
        self.evaluator = expressions.Evaluator()

    def result(self, task) -> dict[str, Any]:
        value = mapped(evaluate(self.tables, self.ref, task.data, self.evaluator), self.mapping, self.ref)
        # without camunda:resultVariable Camunda keeps the result nowhere; so does Fengqiao
        return {self.result_variable: value} if self.result_variable else {}


class DecisionTask(BusinessRuleTaskMixin, BpmnSpecMixin):
    def _run_hook(self, my_task):
        try:
            my_task.data.update(self.dmnEngine.result(my_task))  # replace, not SpiffWorkflow's deep merge
        except DecisionFailed as exc:
            raise WorkflowTaskException(str(exc), task=my_task) from None
        return BpmnSpecMixin._run_hook(self, my_task)


class DecisionTaskParser(TaskParser):
    def create_task(self):
        ref = self.node.get(f"{{{CAMUNDA_BPMN_NS}}}decisionRef")
        tables = getattr(self.process_parser.parser, "decision_tables", {})
        if ref not in tables:
            raise ValidationException(f"decision '{ref}' is not deployed with this model", node=self.node)
        return self.spec_class(
            self.spec,
            self.bpmn_id,
            dmnEngine=Decider(
                tables,
                ref,
                self.node.get(f"{{{CAMUNDA_BPMN_NS}}}resultVariable") or None,
                self.node.get(f"{{{CAMUNDA_BPMN_NS}}}mapDecisionResult") or "resultList",
            ),
            **self.bpmn_attributes,
        )
