"""The safe evaluator for conditions, timer, due-date and assignee expressions.

Model text is untrusted: it is never handed to Python's `eval`/`exec`. simpleeval interprets a
restricted expression language over the instance's variables (no attribute access to dunders, no
imports, bounded powers and string sizes). What modellers write elsewhere is accepted:
`${a && b}` (JUEL), `= a` (FEEL) and bare ISO 8601 literals such as `PT24H`.
"""

from __future__ import annotations

import ast
import functools
import re
import threading
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression, SimpleEval
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from .errors import ExpressionError

# PT24H, P3D, P1Y2M, R3/PT1H, R/2026-01-01T00:00:00Z/PT1H, 2026-12-01T09:00:00+08:00, 2026-12-01
_DURATION = r"P(?:\d+(?:[.,]\d+)?[YMWD])*(?:T(?:\d+(?:[.,]\d+)?[HMS])+)?"
_DATETIME = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
ISO_LITERAL = re.compile(
    rf"^(?:R\d*/(?:{_DATETIME}/)?{_DURATION}(?:/{_DATETIME})?|{_DURATION}|{_DATETIME})$", re.IGNORECASE
)

_FORBIDDEN_NODES = (
    ast.Lambda,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.NamedExpr,
    ast.Await,
    ast.Yield,
    ast.YieldFrom,
    ast.Starred,
)

MAX_EXPRESSION_LENGTH = 2000


def _safe_functions() -> dict[str, Any]:
    return {
        "len": len,
        "min": min,
        "max": max,
        "abs": abs,
        "round": round,
        "sorted": sorted,
        "int": int,
        "float": float,
        "str": str,
        "bool": bool,
        "any": any,
        "all": all,
    }


_SAFE_FUNCTIONS = _safe_functions()
_CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


def normalize(expression: str) -> str:
    """Translate what other modellers write into the evaluator's language (done once, at deploy)."""
    text = (expression or "").strip()
    if ISO_LITERAL.match(text):
        return repr(text)
    if text.startswith(("${", "#{")) and text.endswith("}"):
        text = _juel_to_python(text[2:-1].strip())
    elif text.startswith("="):  # FEEL (Camunda 8)
        text = text[1:].strip()
    return text


def _juel_to_python(text: str) -> str:
    out, i, quote = [], 0, None
    while i < len(text):
        ch = text[i]
        if quote:
            out.append(ch)
            if ch == quote:
                quote = None
            i += 1
            continue
        if ch in "'\"":
            quote = ch
            out.append(ch)
            i += 1
            continue
        two = text[i : i + 2]
        if two == "&&":
            out.append(" and ")
            i += 2
        elif two == "||":
            out.append(" or ")
            i += 2
        elif ch == "!" and two != "!=":
            out.append(" not ")
            i += 1
        else:
            out.append(ch)
            i += 1
    return re.sub(r"\s+", " ", "".join(out)).strip()


def check(expression: str) -> None:
    """Refuse, before anything runs, an expression the evaluator would refuse or that looks hostile."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"expression is not valid: {exc.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionError(f"access to '{node.attr}' is not allowed")
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            raise ExpressionError(f"name '{node.id}' is not allowed")
        if isinstance(node, _FORBIDDEN_NODES):
            raise ExpressionError(f"{type(node).__name__} is not allowed in expressions")


@functools.lru_cache(maxsize=2048)
def _parsed(text: str):
    """Checked and parsed once per expression text (a model's expressions run on every change)."""
    check(text)
    return SimpleEval.parse(text)


_local = threading.local()


def _interpreter() -> EvalWithCompoundTypes:
    """This thread's interpreter. Building one binds a method per node type and copies the operator
    table, which cost more than evaluating a due time; its names and functions are set per call."""
    interpreter = getattr(_local, "interpreter", None)
    if interpreter is None:
        interpreter = _local.interpreter = EvalWithCompoundTypes(names={}, functions=dict(_SAFE_FUNCTIONS))
    return interpreter


class Evaluator:
    """Evaluates one expression over a mapping of variables."""

    def evaluate(self, expression: str, variables: dict[str, Any]) -> Any:
        text = expression.strip()
        if ISO_LITERAL.match(text):
            return text
        tree = _parsed(text)
        names = dict(_CONSTANTS)
        names.update(variables)
        functions = dict(_SAFE_FUNCTIONS)
        functions["var"] = lambda name, default=None: variables.get(name, default)
        interpreter = _interpreter()
        interpreter.names, interpreter.functions = names, functions
        try:
            return interpreter.eval(text, previously_parsed=tree)
        except InvalidExpression as exc:
            raise ExpressionError(str(exc)) from None
        except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, OverflowError) as exc:
            raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
        finally:
            interpreter.names = interpreter.functions = {}  # keep no case's variables past the call

    def execute(self, script: str, variables: dict[str, Any]) -> None:
        """Run a restricted script: one `name = expression` assignment per line."""
        for name, expression in parse_script(script):
            variables[name] = self.evaluate(expression, variables)


_ASSIGNMENT = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\s*=(?!=)\s*(.+)$")


def parse_script(script: str) -> list[tuple[str, str]]:
    """Split a restricted script into assignments; anything else is refused."""
    statements = []
    for number, raw in enumerate((script or "").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ASSIGNMENT.match(line)
        if not match:
            raise ExpressionError(f"line {number}: only 'name = expression' assignments are allowed")
        check(match.group(2))
        statements.append((match.group(1), match.group(2)))
    return statements


class _SafeEnvironment(BasePythonScriptEngineEnvironment):
    def __init__(self, evaluator: Evaluator):
        super().__init__({})
        self.evaluator = evaluator

    def evaluate(self, expression, context, external_context=None):
        variables = dict(external_context or {})
        variables.update(context)
        return self.evaluator.evaluate(expression, variables)

    def execute(self, script, context, external_context=None):
        self.evaluator.execute(script, context)
        return True

    def call_service(self, context, **kwargs):
        raise ExpressionError("service tasks are not supported")


class SafeScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's hook for expressions and scripts, bound to the safe evaluator."""

    def __init__(self, evaluator: Evaluator | None = None):
        super().__init__(environment=_SafeEnvironment(evaluator or Evaluator()))

    def validate(self, expression):
        check(expression)
