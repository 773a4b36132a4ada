"""The engine's own expression filter runs at every evaluation, not only at deploy, and refuses what
simpleeval alone would accept; what modellers write elsewhere is translated exactly; run-time errors
come out as ExpressionError naming the cause. (tests/test_expressions.py: the hostile cases.)"""

from __future__ import annotations

import pytest
from simpleeval import EvalWithCompoundTypes

from engine.errors import ExpressionError
from engine.expressions import MAX_EXPRESSION_LENGTH, Evaluator, SafeScriptEngine, check, normalize, parse_script

# Each of these is evaluated by simpleeval as it stands: only the engine's filter refuses them.
FILTERED = [
    ("[x for x in xs]", "ListComp is not allowed in expressions"),
    ("{x: 1 for x in xs}", "DictComp is not allowed in expressions"),
    ("sorted(x for x in xs)", "GeneratorExp is not allowed in expressions"),
    ("[*xs]", "Starred is not allowed in expressions"),
    ("__hidden", "name '__hidden' is not allowed"),
    ("box._secret", "access to '_secret' is not allowed"),
]


class Box:
    _secret = "s3cret"


@pytest.mark.parametrize(("expression", "message"), FILTERED, ids=[f[0] for f in FILTERED])
def test_the_filter_refuses_at_evaluation_what_simpleeval_alone_accepts(expression, message):
    variables = {"xs": [1, 2], "__hidden": 1, "box": Box()}
    if expression != "box._secret":  # simpleeval refuses this one itself, with its own message
        EvalWithCompoundTypes(names=variables, functions={"sorted": sorted}).eval(expression)
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(")):
        Evaluator().evaluate(expression, variables)


@pytest.mark.parametrize(("expression", "message"), FILTERED, ids=[f[0] for f in FILTERED])
def test_scripts_and_model_validation_use_the_same_filter(expression, message):
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(")):
        parse_script(f"value = {expression}")
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(")):
        SafeScriptEngine().validate(expression)


def test_an_expression_of_the_maximum_length_runs_and_one_character_more_is_refused():
    longest = "'" + "a" * (MAX_EXPRESSION_LENGTH - 2) + "'"
    assert len(longest) == MAX_EXPRESSION_LENGTH == 2000
    check(longest)  # (evaluation caches what it parsed: the check itself, uncached)
    assert Evaluator().evaluate(longest, {}) == "a" * 1998
    with pytest.raises(ExpressionError, match="expression is longer than 2000 characters"):
        Evaluator().evaluate("'" + "a" * (MAX_EXPRESSION_LENGTH - 1) + "'", {})
    with pytest.raises(ExpressionError, match="longer than 2000"):
        check("1" + " " * 2000)


@pytest.mark.parametrize("statement", ["x = 1", "import os", "del x", "pass"])
def test_only_an_expression_is_accepted_never_a_statement(statement):
    with pytest.raises(ExpressionError, match="expression is not valid"):
        check(statement)


@pytest.mark.parametrize(
    ("expression", "variables", "error"),
    [
        ("1 / zero", {"zero": 0}, "ZeroDivisionError: division by zero"),
        ("int(text)", {"text": "x"}, "ValueError: invalid literal"),
        ("xs[5]", {"xs": []}, "IndexError: list index out of range"),
        ("d['k']", {"d": {}}, "KeyError: 'k'"),
        ("'a' + n", {"n": 1}, "TypeError: "),
        ("10.0 ** 400", {}, "OverflowError: "),
        ("missing + 1", {}, "'missing' is not defined for expression 'missing \\+ 1'"),
    ],
)
def test_run_time_errors_come_out_as_expression_errors_naming_the_cause(expression, variables, error):
    with pytest.raises(ExpressionError, match=error):
        Evaluator().evaluate(expression, variables)


@pytest.mark.parametrize(
    ("written", "python"),
    [
        ("${a&&b}", "a and b"),
        ("${a||b}", "a or b"),
        ("${!a}", "not a"),
        ("${a!=b}", "a!=b"),
        ("${!a&&b||c}", "not a and b or c"),
        ("${a  &&   b}", "a and b"),
        ("${X&&Y}", "X and Y"),
        ('${n == "x&&y"&&ok}', 'n == "x&&y" and ok'),
        ("#{a&&b}", "a and b"),
        ("=priority > 2", "priority > 2"),
        ("= a", "a"),
        ("{'a': 1}", "{'a': 1}"),
        ("a}", "a}"),
        ("  a == 1  ", "a == 1"),
        ("PT24H", "'PT24H'"),
        ("", ""),
        (None, ""),
    ],
)
def test_what_other_engines_write_is_translated_exactly(written, python):
    assert normalize(written) == python


@pytest.mark.parametrize(
    ("written", "variables", "expected"),
    [
        ("${a&&b}", {"a": True, "b": False}, False),
        ("${a&&b}", {"a": True, "b": True}, True),
        ("${a||b}", {"a": False, "b": True}, True),
        ("${!a&&b}", {"a": False, "b": True}, True),
    ],
)
def test_juel_operators_without_spaces_evaluate(written, variables, expected):
    assert Evaluator().evaluate(normalize(written), variables) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("len(xs)", 3),
        ("min(xs)", 1),
        ("max(xs)", 3),
        ("abs(-2)", 2),
        ("round(2.6)", 3),
        ("sorted([3, 1])", [1, 3]),
        ("int('7')", 7),
        ("float('1.5')", 1.5),
        ("str(7)", "7"),
        ("bool(0)", False),
        ("any([0, 1])", True),
        ("all([1, 0])", False),
        ("true and not false", True),
        ("null", None),
        ("var('xs')", [1, 2, 3]),
        ("var('missing')", None),
        ("var('missing', 7)", 7),
        ("var('xs', 7)", [1, 2, 3]),
        ("var('reopen_count', 0) + 1", 1),
    ],
)
def test_the_safe_functions_and_constants_are_available(expression, expected):
    assert Evaluator().evaluate(expression, {"xs": [1, 2, 3]}) == expected


def test_a_script_runs_one_assignment_per_line_skipping_blanks_and_comments():
    script = "a = 1\n\n  # a comment\nb = a + 1\nc = var('b') * 10\n"
    assert parse_script(script) == [("a", "1"), ("b", "a + 1"), ("c", "var('b') * 10")]
    assert parse_script(None) == [] and parse_script("") == []
    variables: dict = {}
    Evaluator().execute(script, variables)
    assert variables == {"a": 1, "b": 2, "c": 20}


@pytest.mark.parametrize(("script", "line"), [("bad", 1), ("a = 1\n\nb == 2", 3), ("a = 1\nprint(a)", 2)])
def test_a_script_line_that_is_not_an_assignment_is_refused_with_its_number(script, line):
    with pytest.raises(ExpressionError, match=f"line {line}: only 'name = expression' assignments are allowed"):
        parse_script(script)


def test_the_workflow_hook_evaluates_over_task_data_and_external_context_and_refuses_services():
    environment = SafeScriptEngine().environment
    assert environment.evaluate("a + b", {"a": 1}, {"b": 2}) == 3
    assert environment.evaluate("a * 2", {"a": 4}) == 8
    data = {"a": 1}
    assert environment.execute("b = a + 1", data) is True
    assert data == {"a": 1, "b": 2}
    with pytest.raises(ExpressionError, match="^service tasks are not supported$"):
        environment.call_service({}, operation_name="x")
    assert SafeScriptEngine(Evaluator()).environment.evaluate("1 + 1", {}) == 2


# --- the run-time limits, at their boundaries ----------------------------------------------------
def test_a_power_up_to_the_integer_limit_runs_and_one_bit_more_is_refused():
    from engine.expressions import MAX_INT_BITS

    assert Evaluator().evaluate("2 ** n", {"n": MAX_INT_BITS - 1}) == 2 ** (MAX_INT_BITS - 1)
    # 2 ** 4096 is computed (the power's bound), then refused as an integer of 4,097 bits
    with pytest.raises(ExpressionError, match="^an integer exceeds the expression limits"):
        Evaluator().evaluate("2 ** n", {"n": MAX_INT_BITS})
    with pytest.raises(ExpressionError, match=r"^a power exceeds the expression limits \(") as raised:
        Evaluator().evaluate("2 ** n", {"n": MAX_INT_BITS + 1})
    assert str(MAX_INT_BITS) in str(raised.value)
    with pytest.raises(ExpressionError, match="^a power exceeds"):
        Evaluator().evaluate("4 ** n", {"n": MAX_INT_BITS // 2 + 1})
    assert Evaluator().evaluate("1 ** n + (-1) ** n", {"n": 10**6}) == 2
    assert Evaluator().evaluate("2 ** n", {"n": -1}) == 0.5


def test_a_string_up_to_the_size_limit_is_built_and_one_character_more_is_refused():
    from engine.expressions import MAX_VALUE_SIZE

    assert len(Evaluator().evaluate("'a' * n", {"n": MAX_VALUE_SIZE})) == MAX_VALUE_SIZE
    with pytest.raises(ExpressionError, match="exceeds the expression limits"):
        Evaluator().evaluate("'a' * n", {"n": MAX_VALUE_SIZE + 1})


@pytest.mark.parametrize(
    ("expression", "allowed"),
    [
        ("f'{x:>12}'", True),
        ("f'{x:>999}'", True),
        ("f'{x:>9999}'", False),  # four digits: a width of thousands
        ("f'{x:<012.3f}'", True),
        ("f'{x:_<1234567890}'", False),
        ("f'{x:*^+#012,.10f}'", True),  # twelve characters
        ("f'{x:abcdefghijklm}'", False),  # thirteen
        ("f'{x:>{w}}'", False),  # a width from a variable
    ],
)
def test_a_format_spec_must_be_a_short_constant(expression, allowed):
    if allowed:
        check(expression)  # not the evaluator's cached parse: the check itself
        assert isinstance(Evaluator().evaluate(expression, {"x": 1.5, "w": 3}), str)
    else:
        with pytest.raises(ExpressionError, match="^a format spec must be a short constant$"):
            check(expression)


def test_a_method_that_could_grow_a_value_is_refused_by_name():
    assert Evaluator().evaluate("name.upper()", {"name": "li"}) == "LI"
    with pytest.raises(ExpressionError, match="^method 'ljust' is not allowed$"):
        Evaluator().evaluate("name.ljust(5)", {"name": "li"})
    # not called where it is named, so only the evaluation sees the method
    with pytest.raises(ExpressionError, match="^method 'ljust' is not allowed$"):
        Evaluator().evaluate("sorted([3], key=name.ljust)", {"name": "li"})


def test_the_workflow_engine_evaluates_over_the_task_data_and_the_external_context():
    from types import SimpleNamespace

    assert SafeScriptEngine().evaluate(SimpleNamespace(data={"a": 1}), "a + b", {"b": 2}) == 3


# A value's size: elements and characters of everything it holds, each container counting one more,
# an integer about its decimal digits. A variable itself is not measured (the request limits bound
# it): wrapping it in a list makes the evaluator measure it.
@pytest.mark.parametrize(
    ("element", "per_element", "container"),
    [
        (0, 1, list),  # a small integer: 1
        (7, 2, list),  # three bits: 1 + 3 // 3
        (1.5, 1, list),  # anything else counts 1
        ("abcde", 5, list),  # a string: its characters
        (0, 1, tuple),
    ],
    ids=["zero", "seven", "float", "string", "tuple"],
)
def test_a_value_up_to_the_size_limit_is_built_and_one_element_more_is_refused(element, per_element, container):
    from engine.expressions import MAX_VALUE_SIZE

    # [xs] counts 2 for the outer list, len(xs) + 1 for xs, and its elements: 3 + k * (per_element + 1)
    fits = (MAX_VALUE_SIZE - 3) // (per_element + 1)
    over = fits + 1
    assert len(Evaluator().evaluate("[xs]", {"xs": container([element] * fits)})[0]) == fits
    with pytest.raises(ExpressionError, match="^a value exceeds the expression limits"):
        Evaluator().evaluate("[xs]", {"xs": container([element] * over)})


def test_sets_and_dicts_are_measured_with_everything_they_hold():
    from engine.expressions import MAX_VALUE_SIZE

    keys = [f"{i:05d}" for i in range(20_000)]
    fits, over = 16_666, 16_667  # a set: 1 + len, 5 per key, 2 for the list: 6k + 3
    assert 6 * fits + 3 <= MAX_VALUE_SIZE < 6 * over + 3
    Evaluator().evaluate("[s]", {"s": set(keys[:fits])})
    Evaluator().evaluate("[s]", {"s": frozenset(keys[:fits])})
    with pytest.raises(ExpressionError, match="^a value exceeds"):
        Evaluator().evaluate("[s]", {"s": set(keys[:over])})
    with pytest.raises(ExpressionError, match="^a value exceeds"):
        Evaluator().evaluate("[s]", {"s": frozenset(keys[:over])})
    fits, over = 14_285, 14_286  # a dict: 1 + len, 5 per key, 1 per value, 2 for the list: 7k + 3
    assert 7 * fits + 3 <= MAX_VALUE_SIZE < 7 * over + 3
    Evaluator().evaluate("[d]", {"d": dict.fromkeys(keys[:fits], 0)})
    with pytest.raises(ExpressionError, match="^a value exceeds"):
        Evaluator().evaluate("[d]", {"d": dict.fromkeys(keys[:over], 0)})


def test_an_integer_past_the_bit_limit_inside_a_value_is_too_big_at_once():
    from engine.expressions import MAX_INT_BITS

    Evaluator().evaluate("[x]", {"x": 2 ** (MAX_INT_BITS - 1)})  # 4,096 bits: counted by its digits
    with pytest.raises(ExpressionError, match="^a value exceeds"):
        Evaluator().evaluate("[x]", {"x": 2**MAX_INT_BITS})


def test_a_repetition_is_refused_before_it_is_built():
    from engine.expressions import MAX_VALUE_SIZE

    with pytest.raises(ExpressionError, match="^a repeated sequence exceeds"):
        Evaluator().evaluate("xs * 1", {"xs": [0] * MAX_VALUE_SIZE})
    assert len(Evaluator().evaluate("xs * 2", {"xs": [0] * 1000})) == 2000


def test_a_model_calling_a_growing_method_is_refused_when_checked_not_only_when_run():
    check("name.upper()")
    with pytest.raises(ExpressionError, match="^method 'ljust' is not allowed$"):
        check("name.ljust(5)")


def test_a_constant_part_breaking_a_limit_is_refused_when_checked():
    with pytest.raises(ExpressionError, match="^a constant part breaks a limit: a power exceeds"):
        check("2 ** 5000 + x")
