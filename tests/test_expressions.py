"""Model text is untrusted: expressions run in a restricted evaluator, never Python's eval."""

from __future__ import annotations

import pytest

from engine.errors import DeploymentInvalid, ExpressionError, WorkflowFailed
from engine.expressions import Evaluator, normalize
from tests import models
from tests.helpers import report_case

ESCAPES = [
    "().__class__.__base__.__subclasses__()",
    "[].__class__.__mro__[1].__subclasses__()",
    "__import__('os').system('id')",
    "(lambda: 1)()",
    "[x for x in ().__class__.__bases__]",
]


@pytest.mark.parametrize("expression", ESCAPES)
def test_malicious_condition_is_refused_at_deploy(engine, expression):
    with pytest.raises(DeploymentInvalid) as err:
        engine.repository.deploy([("evil.bpmn", models.gateway(expression))])
    assert err.value.details[0]["element_id"] == "f_yes"


@pytest.mark.parametrize("expression", ESCAPES + ["9**9**9**9", "'a' * 10**10"])
def test_malicious_expression_is_refused_by_the_evaluator(expression):
    with pytest.raises(ExpressionError):
        Evaluator().evaluate(expression, {})


def test_variables_cannot_smuggle_code_into_an_expression():
    evaluator = Evaluator()
    assert evaluator.evaluate("risk == 'red'", {"risk": "__import__('os')"}) is False


@pytest.mark.parametrize(
    ("written", "variables", "expected"),
    [
        ("${approved}", {"approved": True}, True),
        ("${amount > 1000 && !urgent}", {"amount": 1500, "urgent": False}, True),
        ("${a == 'x' || b != 'y'}", {"a": "z", "b": "y"}, False),
        ("#{status == 'open'}", {"status": "open"}, True),
        ("= priority > 2", {"priority": 3}, True),
        ("'civil_affairs' in departments", {"departments": ["civil_affairs"]}, True),
        ("${note == 'a && b'}", {"note": "a && b"}, True),
        ("approved == true", {"approved": True}, True),
    ],
)
def test_conditions_written_for_other_engines_are_normalised(written, variables, expected):
    assert Evaluator().evaluate(normalize(written), variables) is expected


@pytest.mark.parametrize("literal", ["PT24H", "P3D", "R3/PT1H", "2026-12-01T09:00:00+08:00", "P1Y2M10DT2H30M"])
def test_bare_iso_8601_literals_evaluate_to_themselves(literal):
    assert Evaluator().evaluate(literal, {}) == literal
    assert Evaluator().evaluate(normalize(literal), {}) == literal


def test_juel_condition_runs_in_a_deployed_model(engine, world):
    engine.repository.deploy([("juel.bpmn", models.gateway("${risk_level == 'red' &amp;&amp; urgent}"))])
    hit = engine.runtime.start_instance("gated", world["wang"], {"risk_level": "red", "urgent": True})
    miss = engine.runtime.start_instance("gated", world["wang"], {"risk_level": "blue", "urgent": True})
    assert [t["element_id"] for t in hit["open_tasks"]] == ["review"]
    assert miss["status"] == "completed"


def test_condition_on_a_missing_variable_fails_cleanly_and_stores_nothing(engine, world):
    from sqlalchemy import func, select

    from engine.store.models import ProcessInstance

    engine.repository.deploy([("gated.bpmn", models.gateway("missing_variable == 1"))])
    with pytest.raises(WorkflowFailed) as err:
        engine.runtime.start_instance("gated", world["wang"], {})
    assert err.value.details[0]["element_id"] in ("gw", "f_yes")
    with engine.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 0


def test_dispute_variables_with_code_are_just_data(engine, world):
    case = report_case(engine, world["wang"], description="().__class__.__base__.__subclasses__()")
    assert case["variables"]["description"].startswith("().__class__")


def test_threads_evaluating_at_once_each_see_their_own_variables():
    import sys
    from concurrent.futures import ThreadPoolExecutor

    evaluator = Evaluator()

    def run(n: int) -> list:
        return [evaluator.evaluate("level * 10 + len(name)", {"level": n, "name": "x" * n}) for _ in range(2000)]

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch inside evaluations
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(run, range(8)))
    finally:
        sys.setswitchinterval(interval)
    assert [set(r) for r in results] == [{n * 11} for n in range(8)]


# --- resource bounds: sizes, repetition, time (a hostile expression fails its change, not the worker) ---
HOSTILE_AT_RUN_TIME = [
    "sorted([[n] * 99999] * 500)[0][0] == 0",  # nested repetition: 50 million elements
    "len(str([[n] * 99999] * 300)) > 0",  # a 30 MB string from a small list
    "len([[[n] * 999] * 999] * 999) > 0",
    "(n + 8) ** 4000 ** 2 > 0",  # an integer of millions of digits
    "len(str((n + 9) ** 3000 * (n + 9) ** 3000)) > 0",
    "len(word * 99999 + word * 99999) > 0",
]


@pytest.mark.parametrize("expression", HOSTILE_AT_RUN_TIME)
def test_an_expression_over_the_size_bounds_is_refused_quickly(expression):
    import time

    started = time.monotonic()
    with pytest.raises(ExpressionError) as err:
        Evaluator().evaluate(expression, {"n": 0, "word": "ab"})
    assert time.monotonic() - started < 2
    assert "limit" in err.value.message


@pytest.mark.parametrize(
    "expression",
    ["word.ljust(10 ** 9) == ''", "word.center(n + 10 ** 9) == ''", "f'{n:>999999999}' == ''", "word.zfill(10**9)"],
)
def test_methods_and_format_specs_that_grow_a_value_are_refused(expression):
    with pytest.raises(ExpressionError):
        Evaluator().evaluate(expression, {"n": 0, "word": "ab"})


def test_an_expression_that_runs_past_the_time_bound_is_refused(monkeypatch):
    from engine import expressions

    monkeypatch.setattr(expressions, "MAX_EVALUATION_SECONDS", 0.01)
    slow = " + ".join(["len(sorted(big))"] * 60) + " > 0"
    with pytest.raises(ExpressionError) as err:
        Evaluator().evaluate(slow, {"big": list(range(15_000, 0, -1))})
    assert "time limit" in err.value.message


def test_a_garbage_collection_during_an_expression_does_not_count_against_its_time_bound():
    import gc
    import time

    from engine import expressions

    heap = [[i] for i in range(300_000)]  # a large heap: a full collection walks all of it
    for item in heap:
        item.append(item)  # cycles, so the collector has work
    del item
    cpu_before, thread_before = expressions.cpu_seconds(), time.thread_time()
    gc.collect()
    collected = time.thread_time() - thread_before
    counted = expressions.cpu_seconds() - cpu_before
    del heap
    gc.collect()
    assert collected > 0.01  # the collection itself took time on this thread
    assert counted < collected / 4  # and the deadline's clock did not see it


def test_ordinary_expressions_stay_within_the_bounds():
    evaluator = Evaluator()
    variables = {"parties": [{"name": "x" * 100}] * 20, "description": "d" * 4000, "level": 3}
    assert evaluator.evaluate("len(parties) == 20 and parties[0]['name'].startswith('x')", variables) is True
    assert evaluator.evaluate("len(description.strip().lower()) + level * 2 ** 64", variables) == 4000 + 3 * 2**64
    assert evaluator.evaluate("sorted([level, 1, 2])[0] == 1 and 'PT' + str(level) + 'H' == 'PT3H'", variables)


def test_a_hostile_condition_fails_its_case_start_only(engine, world):
    import time

    from sqlalchemy import func, select

    from engine.store.models import ProcessInstance

    engine.repository.deploy([("heavy.bpmn", models.gateway("sorted([[n] * 99999] * 500)[0][0] == 0", key="heavy"))])
    engine.repository.deploy([("gated.bpmn", models.gateway("n == 1"))])
    started = time.monotonic()
    with pytest.raises((WorkflowFailed, ExpressionError)) as err:
        engine.runtime.start_instance("heavy", world["wang"], {"n": 0})
    assert time.monotonic() - started < 2 and "limit" in err.value.message
    with engine.db.read() as session:
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 0
    assert engine.runtime.start_instance("gated", world["wang"], {"n": 1})["status"] == "running"


# --- hostile constants are refused at deploy, naming the element ---------------------------------
HOSTILE_CONSTANTS = [
    "9**9**9",
    "9**9**9 == 1",
    "sorted([[0] * 99999] * 500)[0][0] == 0",
    "len(str([[0] * 99999] * 300)) > 0",
    "n == 1 or len('ab' * 99999 + 'ab' * 99999) > 0",  # a constant inside a variable expression
    "'x'.ljust(10**9) == n",
]


@pytest.mark.parametrize("expression", HOSTILE_CONSTANTS)
def test_a_hostile_constant_condition_is_refused_at_validate_and_deploy(engine, expression):
    from engine.store.models import ProcessDefinition

    xml = models.gateway(expression)
    for check in (engine.repository.validate, engine.repository.deploy):
        with pytest.raises(DeploymentInvalid) as err:
            check([("hostile.bpmn", xml)])
        assert [d["element_id"] for d in err.value.details] == ["f_yes"]
    with engine.db.read() as session:
        assert session.query(ProcessDefinition).filter_by(key="gated").count() == 0


@pytest.mark.parametrize("attribute", ["dueDate", "followUpDate", "priority"])
def test_a_hostile_constant_task_attribute_is_refused_at_deploy(engine, attribute):
    xml = models.one_task(task_attrs=f'camunda:candidateGroups="officer" camunda:{attribute}="${{9**9**9}}"')
    with pytest.raises(DeploymentInvalid) as err:
        engine.repository.deploy([("hostile.bpmn", xml)])
    assert [d["element_id"] for d in err.value.details] == ["review"]
    assert attribute in err.value.details[0]["message"]


def test_constants_within_the_bounds_and_variable_powers_deploy(engine, world):
    xml = models.gateway("n ** 2 > 2 ** 10 and 'PT' + '24H' == 'PT24H'")
    engine.repository.deploy([("fine.bpmn", xml)])
    case = engine.runtime.start_instance("gated", world["wang"], {"n": 40})
    assert [t["element_id"] for t in case["open_tasks"]] == ["review"]


# --- non-finite numbers are refused where they would enter, never stored as null -----------------
@pytest.mark.parametrize(
    "expression", ["float('nan') == 1", "float('inf') > n", "n * 1e308 * 10 > 0", "len([float('-inf')]) == 1"]
)
def test_an_expression_producing_a_non_finite_number_is_refused(expression):
    with pytest.raises(ExpressionError) as err:
        Evaluator().evaluate(expression, {"n": 1})
    assert "finite" in err.value.message


def test_a_script_assigning_nan_fails_the_change_and_stores_nothing(engine, world):
    from sqlalchemy import func, select

    from engine.store.models import ProcessInstance

    engine.repository.deploy([("nan.bpmn", models.script("score = n * 1e308 * 10", key="nan"))], allow_scripts=True)
    with pytest.raises(WorkflowFailed) as err:
        engine.runtime.start_instance("nan", world["wang"], {"n": 1})
    assert "finite" in err.value.message
    with engine.db.read() as session:
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 0
