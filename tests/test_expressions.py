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
