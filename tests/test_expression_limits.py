"""The expression limits at their exact boundaries: a value of exactly the limit is built, one element
or character more is refused, and each refusal names what broke (issue 23: the bounds of issue 15).

A value's size: every container counts its length plus one, a string its characters, an integer
1 + bits // 3, anything else 1. A variable itself is not measured (the request limits bound it);
wrapping it in a list makes the evaluator measure it, the outer list adding 2.
"""

from __future__ import annotations

import ast
import inspect
import os
import sys

import pytest
from simpleeval import FeatureNotAvailable

from engine.errors import DeploymentInvalid, ExpressionError
from engine.expressions import MAX_INT_BITS, MAX_VALUE_SIZE, Evaluator, _BoundedEval, check
from tests import models

LIMIT = MAX_VALUE_SIZE


def _keys(n: int) -> list[str]:
    return [f"{i:05d}" for i in range(n)]


# Each builds a value whose size is exactly `size` (at least ~6 more than a bare container): strings
# of 5 characters in the container, the last element's length adjusting the total.
def _list_of_size(size: int, kind=list):
    n = (size - 3) // 6  # 2 for the outer list, 1 for this one, 6 per element (5 characters + 1)
    rest = size - 3 - 6 * n
    return kind([*_keys(n - 1), "x" * (5 + rest)]) if rest else kind(_keys(n))


def _set_of_size(size: int, kind=set):
    n = (size - 3) // 6  # like a list: 1 + len for the set, 5 per key
    rest = size - 3 - 6 * n
    return kind([*_keys(n - 1), "y" * (5 + rest)]) if rest else kind(_keys(n))


def _dict_of_size(size: int):
    n = (size - 3) // 7  # 1 + len for the dict, 5 per key, 1 per value (0)
    rest = size - 3 - 7 * n
    value = {k: 0 for k in _keys(n)}
    if rest:
        value[_keys(n)[-1]] = "z" * (rest + 1)  # counts rest + 1 where 0 counted 1
    return value


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(_list_of_size, id="list"),
        pytest.param(lambda size: _list_of_size(size, tuple), id="tuple"),
        pytest.param(_set_of_size, id="set"),
        pytest.param(lambda size: _set_of_size(size, frozenset), id="frozenset"),
        pytest.param(_dict_of_size, id="dict"),
    ],
)
def test_a_container_of_exactly_the_limit_is_built_and_one_more_is_refused(build):
    assert Evaluator().evaluate("[v]", {"v": build(LIMIT)})[0]
    with pytest.raises(ExpressionError, match="^a value exceeds the expression limits"):
        Evaluator().evaluate("[v]", {"v": build(LIMIT + 1)})


def test_a_container_filling_the_limit_by_its_length_alone_still_counts_what_it_holds():
    # [xs]: 2 + (len + 1) reaches the limit exactly before xs's elements are counted
    xs = [0] * (LIMIT - 3)
    with pytest.raises(ExpressionError, match="^a value exceeds"):
        Evaluator().evaluate("[xs]", {"xs": xs})
    d = dict.fromkeys(range(LIMIT - 3), 0)
    with pytest.raises(ExpressionError, match="^a value exceeds"):
        Evaluator().evaluate("[d]", {"d": d})


def test_an_integer_counts_one_plus_a_third_of_its_bits_rounded_down():
    # 3 has 2 bits: 1 + 2 // 3 = 1, so it costs what 0 costs: 3 + 2k for k of them
    fits = (LIMIT - 3) // 2
    assert len(Evaluator().evaluate("[xs]", {"xs": [3] * fits})[0]) == fits
    with pytest.raises(ExpressionError, match="^a value exceeds"):
        Evaluator().evaluate("[xs]", {"xs": [3] * (fits + 1)})


def test_a_string_of_exactly_the_limit_is_built_and_one_more_is_refused_as_a_string():
    assert len(Evaluator().evaluate("s.upper()", {"s": "a" * LIMIT})) == LIMIT
    with pytest.raises(ExpressionError, match=r"^a string exceeds the expression limits \(100000 elements"):
        Evaluator().evaluate("s.upper()", {"s": "a" * (LIMIT + 1)})


# --- products and powers, checked before they are built --------------------------------------------
def test_a_product_is_refused_before_it_is_built_when_its_factors_have_too_many_bits():
    # 2049 + 2048 bits make at most 4,097 bits: computed (2**4095 has 4,096)
    assert Evaluator().evaluate("x * y", {"x": 2**2048, "y": 2**2047}) == 2**4095
    # 2049 + 2049 bits: refused as a product, never computed
    with pytest.raises(ExpressionError, match="^a product exceeds the expression limits"):
        Evaluator().evaluate("x * y", {"x": 2**2048, "y": 2**2048})
    assert Evaluator().evaluate("x * y", {"x": 2**3000, "y": 2**1000}) == 2**4000


def test_a_repetition_zero_or_fewer_times_builds_an_empty_value():
    assert Evaluator().evaluate("xs * 0", {"xs": [0] * LIMIT}) == []
    assert Evaluator().evaluate("s * -3", {"s": "a" * LIMIT}) == ""


def test_a_power_of_a_large_base_is_refused_before_it_is_built():
    # the exponent 1 computes nothing new, but the base is past the limit: a power, not an integer
    with pytest.raises(ExpressionError, match="^a power exceeds the expression limits"):
        Evaluator().evaluate("x ** 1", {"x": 2 ** (MAX_INT_BITS + 1)})
    assert Evaluator().evaluate("0 ** n", {"n": 10**6}) == 0


# --- what is refused when a model is checked, before anything runs ---------------------------------
@pytest.mark.parametrize(
    ("expression", "broken"),
    [
        ("str(2 ** 4000) * 100 + x", "a repeated sequence exceeds"),  # a safe function's result
        ("f('ab' * 60000)", "a repeated sequence exceeds"),  # an argument of an unknown function
        ("('ab' * 60000 if true else '') + x", "a repeated sequence exceeds"),  # the engine's constants
        ("(-1) ** 5000001 + x", "Sorry! I don't want to evaluate -1 \\*\\* 5000001"),  # simpleeval's own bound
        ("'a' * 60000 + 'b' * 60000 + x", "Sorry, adding those two together would make something too long"),
    ],
)
def test_a_constant_part_breaking_a_limit_is_refused_when_the_model_is_checked(expression, broken):
    with pytest.raises(ExpressionError, match=f"^a constant part breaks a limit: {broken}"):
        check(expression)


def test_parts_naming_a_variable_are_left_to_run_time():
    # only a part that names no variable can be evaluated before the case's data exists
    check("str(2 ** 4000) * (100 if true else x)")
    check("[str(2 ** 4000) * (100 if true else x), y]")  # a part naming a variable, inside another
    check("f(str(2 ** 4000) * (100 if true else x))")  # as a call's argument
    check("n == 1 or f(x + 1)")
    with pytest.raises(ExpressionError, match="^a repeated sequence exceeds"):
        Evaluator().evaluate("str(2 ** 4000) * (100 if true else x)", {"x": 1})


# --- nesting, the filter's last line, and non-values -----------------------------------------------
@pytest.mark.parametrize("expression", ["-" * 1999 + "1", "not " * 499 + "x"])
def test_an_expression_nested_too_deeply_is_refused_with_a_sentence(expression):
    with pytest.raises(ExpressionError, match="^the expression is nested too deeply$"):
        check(expression)
    with pytest.raises(ExpressionError, match="^the expression is nested too deeply$"):
        Evaluator().evaluate(expression, {"x": 1})


def test_an_expression_that_fits_when_checked_but_recurses_too_deeply_where_it_runs_fails_with_the_sentence():
    # a workflow evaluates its conditions deep in its own call stack, after the model was checked
    text = "-" * 100 + "x"
    assert Evaluator().evaluate(text, {"x": 1}) == 1  # checked and parsed (and cached) here
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + 60)  # little stack left where it runs now
    try:
        with pytest.raises(ExpressionError, match="^the expression is nested too deeply$"):
            Evaluator().evaluate(text, {"x": 1})
    finally:
        sys.setrecursionlimit(limit)


def test_a_model_with_a_condition_nested_too_deeply_is_refused_at_deploy_naming_its_flow(engine):
    with pytest.raises(DeploymentInvalid) as err:
        engine.repository.validate([("deep.bpmn", models.gateway("-" * 1999 + "1"))])
    assert err.value.details == [
        {"element_id": "f_yes", "message": "expression refused: the expression is nested too deeply"}
    ]


def test_a_node_kind_the_filter_missed_is_still_refused_by_the_evaluator_naming_it():
    # the evaluator refuses what it has no handler for, whatever check() let through
    tree = ast.parse("lambda: 1", mode="eval").body
    with pytest.raises(FeatureNotAvailable, match="^Lambda is not available in expressions$"):
        _BoundedEval(names={}, functions={}).eval("", previously_parsed=tree)


def test_a_module_handed_in_as_a_variable_is_refused():
    with pytest.raises(ExpressionError, match="^Sorry, modules are not allowed$"):
        Evaluator().evaluate("m", {"m": os})


def test_a_non_finite_result_is_refused_with_a_sentence():
    with pytest.raises(
        ExpressionError,
        match=r"^the expression produced a non-finite number \(NaN or infinity\), which JSON cannot hold$",
    ):
        Evaluator().evaluate("x * 2", {"x": 1e308})
