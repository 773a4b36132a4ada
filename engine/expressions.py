"""The safe evaluator for conditions, timer, due-date and assignee expressions.

Model text is untrusted: it is never handed to Python's `eval`/`exec`. simpleeval interprets a
restricted expression language over the instance's variables (no attribute access to dunders, no
imports, bounded powers and string sizes). What modellers write elsewhere is accepted:
`${a && b}` (JUEL), `= a` (FEEL) and bare ISO 8601 literals such as `PT24H`.

Every evaluation is bounded (a model runs inside other stations' transactions): the size of every
intermediate value, counted through nested lists and dicts (repetition is checked before it
builds), the bits of an integer, the methods that may be called, and the time. Constant
sub-expressions are evaluated under the same bounds when an expression is checked, so a model whose
constants break them is refused at deploy.
"""

from __future__ import annotations

import ast
import functools
import gc
import math
import re
import threading
import time
from typing import Any

from simpleeval import (
    DEFAULT_OPERATORS,
    EvalWithCompoundTypes,
    FeatureNotAvailable,
    InvalidExpression,
    IterableTooLong,
    NameNotDefined,
    NumberTooHigh,
    SimpleEval,
    safe_mult,
    safe_power,
)
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from . import dates, juel
from .errors import ExpressionError, UnknownName

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
NESTED_TOO_DEEPLY = "the expression is nested too deeply"
MAX_VALUE_SIZE = 100_000  # elements and characters in any intermediate value, nested ones counted
MAX_INT_BITS = 4096
MAX_EVALUATION_SECONDS = 0.5  # of this thread's CPU time: a busy machine or the GIL must not fail a cheap expression
# methods whose result is no larger than their receiver and arguments (ljust, center, zfill, join,
# replace, expandtabs ... are not: 'x'.ljust(10**9) is a gigabyte)
SAFE_METHODS = frozenset(
    {
        "lower", "upper", "casefold", "capitalize", "title", "strip", "lstrip", "rstrip", "split",
        "startswith", "endswith", "count", "find", "index", "isdigit", "isalpha", "isalnum",
        "isdecimal", "isnumeric", "islower", "isupper", "isspace", "get", "keys", "values", "items",
    }
) | dates.METHODS  # fmt: skip
# what a well-formed expression can still raise on the wrong values
_RUN_ERRORS = (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, OverflowError, AttributeError)


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
        **dates.FUNCTIONS,
    }


_SAFE_FUNCTIONS = _safe_functions()
_CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


def normalize(expression: str) -> str:
    """Translate what other modellers write into the evaluator's language (done once, at deploy)."""
    text = (expression or "").strip()
    if ISO_LITERAL.fullmatch(text):
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
    return juel.rewrite(re.sub(r"\s+", " ", "".join(out)).strip())


def check(expression: str) -> None:
    """Refuse, before anything runs, an expression the evaluator would refuse or that looks hostile."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        _check(expression)
    except RecursionError:  # '-' * 1999 + '1' fits the length; walking it recursively does not
        raise ExpressionError(NESTED_TOO_DEEPLY) from None


def _check(expression: str) -> None:
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
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr not in SAFE_METHODS:
            raise ExpressionError(f"method '{node.func.attr}' is not allowed")
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None and not _plain_spec(node.format_spec):
            raise ExpressionError("a format spec must be a short constant")
    _check_constants(tree.body)


def _plain_spec(spec: ast.expr) -> bool:
    """A format spec of a few constant characters: no width of thousands of columns (f'{x:>999999999}')."""
    parts = getattr(spec, "values", [])
    if not all(isinstance(v, ast.Constant) for v in parts):  # a spec's constants are strings
        return False
    text = "".join(v.value for v in parts)
    return len(text) <= 12 and not re.search(r"\d{4}", text)


def _check_constants(tree: ast.expr) -> None:
    """Evaluate the constant sub-expressions (no variables) under the run-time bounds: a constant that
    breaks one would break every run, so it is refused now, when the model is checked."""
    interpreter = _BoundedEval(names=dict(_CONSTANTS), functions=dict(_SAFE_FUNCTIONS))
    for node in _constant_roots(tree):
        interpreter.deadline = cpu_seconds() + MAX_EVALUATION_SECONDS
        try:
            interpreter.eval("", previously_parsed=node)
        except ExpressionError as exc:
            raise ExpressionError(f"a constant part breaks a limit: {exc.message}") from None
        except (IterableTooLong, NumberTooHigh) as exc:
            raise ExpressionError(f"a constant part breaks a limit: {exc}") from None
        except (InvalidExpression, *_RUN_ERRORS):
            pass  # a constant that fails otherwise (1/0, 'a' + 1) may sit in a branch never taken


def _constant_roots(tree: ast.expr) -> list[ast.expr]:
    """The largest sub-expressions that name no variable (only constants and the safe functions)."""
    roots: list[Any] = []  # expressions (call arguments, keywords and child nodes)

    def constant(node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in _CONSTANTS
        if isinstance(node, ast.Call):
            flags = [constant(n) for n in (*node.args, *node.keywords)]
            func = node.func
            known = isinstance(func, ast.Name) and func.id in _SAFE_FUNCTIONS or constant(func)
            result = known and all(flags)
            if not result:
                roots.extend(n for n, f in zip((*node.args, *node.keywords), flags, strict=True) if f and _worth(n))
            return result
        children = list(ast.iter_child_nodes(node))
        flags = [constant(child) for child in children]
        if all(flags):
            return True
        roots.extend(child for child, flag in zip(children, flags, strict=True) if flag and _worth(child))
        return False

    if constant(tree) and _worth(tree):
        roots.append(tree)
    return roots


def _worth(node: ast.AST) -> bool:
    """An expression node that computes something (a literal or a name alone cannot break a bound)."""
    return isinstance(node, ast.expr) and not isinstance(node, ast.Constant | ast.Name)


@functools.lru_cache(maxsize=2048)
def _parsed(text: str):
    """Checked and parsed once per expression text (a model's expressions run on every change)."""
    check(text)
    return SimpleEval.parse(text)


# --- bounds ------------------------------------------------------------------------------------
def _size(value: Any, limit: int = MAX_VALUE_SIZE) -> int:
    """Elements and characters in `value` and everything it holds (an integer counts about its
    digits), counted until past `limit`; a list repeating one big list counts it each time, as
    str() and sorted() would walk it."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        kind = type(item)
        if kind is int:
            if item.bit_length() > MAX_INT_BITS:
                return limit + 1
            total += 1 + item.bit_length() // 3
        elif kind is str or kind is bytes:
            total += len(item)
        elif kind is list or kind is tuple or kind is set or kind is frozenset:
            total += len(item) + 1
            if total <= limit:
                stack.extend(item)
        elif kind is dict:
            total += len(item) + 1
            if total <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        else:
            total += 1
    return total


def _too_big(what: str) -> ExpressionError:
    return ExpressionError(
        f"{what} exceeds the expression limits ({MAX_VALUE_SIZE} elements and characters, "
        f"integers of {MAX_INT_BITS} bits)"
    )


def _bounded_mult(a: Any, b: Any) -> Any:
    """Repetition and products checked before they are built."""
    for sequence, times in ((a, b), (b, a)):
        repeated = isinstance(sequence, str | bytes | list | tuple) and type(times) is int
        if repeated and _size(sequence) * times > MAX_VALUE_SIZE:  # times <= 0 builds an empty one
            raise _too_big("a repeated sequence")
    if type(a) is int and type(b) is int and a.bit_length() + b.bit_length() > MAX_INT_BITS + 1:
        raise _too_big("a product")
    return safe_mult(a, b)


def _bounded_power(a: Any, b: Any) -> Any:
    # at least (bits - 1) * b bits; 0, 1 and -1 (bits - 1 <= 0) and b <= 0 never grow
    if type(a) is int and type(b) is int and (abs(a).bit_length() - 1) * b > MAX_INT_BITS:
        raise _too_big("a power")
    return safe_power(a, b)


_OPERATORS = {**DEFAULT_OPERATORS, ast.Mult: _bounded_mult, ast.Pow: _bounded_power}
_UNCHECKED = frozenset({ast.Name, ast.Constant})  # variables are bounded by the request limits, literals by the length


class _BoundedEval(EvalWithCompoundTypes):
    """simpleeval with every node's result size-checked, only safe methods, and a deadline."""

    deadline = math.inf

    def __init__(self, names: dict[str, Any], functions: dict[str, Any]):
        super().__init__(operators=dict(_OPERATORS), names=names, functions=functions)

    def _eval(self, node):
        if cpu_seconds() > self.deadline:
            raise ExpressionError(f"the expression ran past its time limit of {MAX_EVALUATION_SECONDS} s")
        handler = self.nodes.get(type(node))
        if handler is None:
            raise FeatureNotAvailable(f"{type(node).__name__} is not available in expressions")
        result = handler(node)
        if type(result) is float and not math.isfinite(result):
            raise ExpressionError(
                "the expression produced a non-finite number (NaN or infinity), which JSON cannot hold"
            )
        if type(node) not in _UNCHECKED:
            self._check_size(result)
        self._check_disallowed_items(result)
        return result

    @staticmethod
    def _check_size(result: Any) -> None:
        kind = type(result)
        if kind is str:  # the common results first, without walking
            if len(result) > MAX_VALUE_SIZE:
                raise _too_big("a string")
        elif kind is int:
            if result.bit_length() > MAX_INT_BITS:
                raise _too_big("an integer")
        elif kind is not bool and kind is not float and result is not None and _size(result) > MAX_VALUE_SIZE:
            raise _too_big("a value")

    def _eval_attribute(self, node):
        result = super()._eval_attribute(node)
        if callable(result) and node.attr not in SAFE_METHODS:
            raise ExpressionError(f"method '{node.attr}' is not allowed")
        return result


_local = threading.local()
_collections = threading.local()  # this thread's garbage-collection seconds (`started`, `total`)


def _time_collections(phase: str, _info: dict) -> None:
    """gc's callback, run in the thread that collects: a full collection of a large heap can take
    more than an expression's whole budget, and it is not the expression's work."""
    if phase == "start":
        _collections.started = time.thread_time()
    elif getattr(_collections, "started", None) is not None:
        _collections.total = getattr(_collections, "total", 0.0) + time.thread_time() - _collections.started
        _collections.started = None


gc.callbacks.append(_time_collections)


def cpu_seconds() -> float:
    """This thread's CPU time without its garbage collections: what the expression deadline counts."""
    return time.thread_time() - getattr(_collections, "total", 0.0)


def _interpreter() -> _BoundedEval:
    """This thread's interpreter. Building one binds a method per node type and copies the operator
    table, which cost more than evaluating a due time; its names and functions are set per call."""
    interpreter = getattr(_local, "interpreter", None)
    if interpreter is None:
        interpreter = _local.interpreter = _BoundedEval(names={}, functions=dict(_SAFE_FUNCTIONS))
    return interpreter


class Evaluator:
    """Evaluates one expression over a mapping of variables."""

    def evaluate(self, expression: str, variables: dict[str, Any]) -> Any:
        text = expression.strip()
        if ISO_LITERAL.fullmatch(text):
            return text
        tree = _parsed(text)
        names = dict(_CONSTANTS)
        names.update(variables)
        functions = dict(_SAFE_FUNCTIONS)
        functions["var"] = lambda name, default=None: variables.get(name, default)
        interpreter = _interpreter()
        interpreter.names, interpreter.functions = names, functions
        interpreter.deadline = cpu_seconds() + MAX_EVALUATION_SECONDS
        try:
            result = interpreter.eval(text, previously_parsed=tree)
            if callable(result):  # `${duration}` with no such variable names the date function
                raise ExpressionError(f"'{text[:60]}' is a function, not a value: is a variable missing?")
            return dates.plain(result)
        except NameNotDefined as exc:
            raise UnknownName(str(exc)) from None
        except InvalidExpression as exc:
            raise ExpressionError(str(exc)) from None
        except _RUN_ERRORS as exc:
            raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
        except RecursionError:
            raise ExpressionError(NESTED_TOO_DEEPLY) from None
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

    def evaluate(self, task, expression, external_context=None):
        """SpiffWorkflow's evaluation, with the evaluator's reason (a limit, a refused method) in its error."""
        definition = getattr(getattr(task, "task_spec", None), "event_definition", None)
        try:
            value = super().evaluate(task, expression, external_context)
        except WorkflowTaskException as exc:
            reason = exc.__context__
            if isinstance(reason, UnknownName) and isinstance(definition, ConditionalEventDefinition):
                return False  # Camunda's tryEvaluate: a variable that does not exist reads as false
            if isinstance(reason, ExpressionError):
                raise WorkflowTaskException(f"the expression failed: {reason.message}", task=task) from None
            raise
        if isinstance(definition, TimerEventDefinition):
            try:
                dates.check_timer_value(definition, value)
            except ExpressionError as exc:
                raise WorkflowTaskException(exc.message, task=task) from None
        return value

    def validate(self, expression):
        check(expression)
