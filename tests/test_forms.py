"""Forms: server-side validation, field-level errors, declared fields only, nothing stored on error."""

from __future__ import annotations

import pytest

from engine.errors import FormInvalid, InvalidInput
from tests.helpers import DEPARTMENT_RESULT, REPORT, report_case, task_of


def snapshot(engine, case):
    view = engine.runtime.get_instance(case["id"])
    return view["version"], len(view["history"]), [(t["id"], t["state"]) for t in view["open_tasks"]]


def test_invalid_form_data_reports_each_field_and_stores_nothing(engine, world):
    wang = world["wang"]
    case = report_case(engine, wang)
    task = task_of(engine, case, "assess_case")
    before = snapshot(engine, case)
    with pytest.raises(FormInvalid) as err:
        engine.tasks.complete(task["id"], wang, {"resolution": "shrug", "departments": ["police"]})
    fields = {d["field"] for d in err.value.details}
    assert {"resolution", "departments.0"} <= fields
    assert snapshot(engine, case) == before


def test_escalation_without_departments_is_a_field_error(engine, world):
    case = report_case(engine, world["wang"])
    with pytest.raises(FormInvalid) as err:
        engine.tasks.complete(task_of(engine, case, "assess_case")["id"], world["wang"], {"resolution": "escalate"})
    assert err.value.details[0]["field"] == "departments"


def test_unknown_fields_are_refused_not_stored(engine, world):
    case = report_case(engine, world["wang"])
    with pytest.raises(FormInvalid) as err:
        engine.tasks.complete(
            task_of(engine, case, "assess_case")["id"],
            world["wang"],
            {"resolution": "on_spot", "favourite_colour": "red"},
        )
    assert "favourite_colour" in err.value.details[0]["message"]


def test_missing_required_field_names_the_field(engine, world):
    case = report_case(engine, world["wang"])
    with pytest.raises(FormInvalid) as err:
        engine.tasks.complete(task_of(engine, case, "assess_case")["id"], world["wang"], {})
    assert err.value.details == [{"field": "resolution", "message": "this field is required"}]


def test_start_form_validates_the_report(engine, world):
    with pytest.raises(FormInvalid) as err:
        engine.runtime.start_instance("dispute_resolution", world["wang"], {**REPORT, "risk_level": "purple"})
    assert err.value.details[0]["field"] == "risk_level"


def test_invalid_personal_field_error_does_not_echo_the_value(engine, world):
    bad = {**REPORT, "parties": [{"name": "刘桂兰", "id_number": "not-an-id-987654"}]}
    with pytest.raises(FormInvalid) as err:
        engine.runtime.start_instance("dispute_resolution", world["wang"], bad)
    assert "not-an-id-987654" not in str(err.value.details) and "刘桂兰" not in str(err.value.details)


def test_only_declared_fields_reach_the_workflow(engine, world):
    wang = world["wang"]
    case = report_case(engine, wang)
    engine.tasks.complete(
        task_of(engine, case, "assess_case")["id"], wang, {"resolution": "on_spot", "assessment": "可就地化解"}
    )
    variables = engine.runtime.get_instance(case["id"])["variables"]
    assert variables["resolution"] == "on_spot" and variables["assessment"] == "可就地化解"
    assert "parties" not in variables and "household" not in variables


def test_task_without_a_form_refuses_data(engine, world):
    from tests import models

    engine.repository.deploy([("approval.bpmn", models.one_task())])
    case = engine.runtime.start_instance("approval", world["wang"], {})
    with pytest.raises(InvalidInput):
        engine.tasks.complete(task_of(engine, case, "review")["id"], world["wang"], {"x": 1})


def test_task_view_carries_its_form_schema(engine, world):
    case = report_case(engine, world["wang"])
    task = engine.tasks.get_task(task_of(engine, case, "assess_case")["id"])
    assert task["form"]["properties"]["resolution"]["enum"] == ["on_spot", "escalate", "joint"]


def _named(schema, key: str) -> list:
    """Every value a schema gives under `key` (enum values, consts, property names), at any depth."""
    found = []
    if isinstance(schema, dict):
        if key == "properties":
            found += list(schema.get("properties", {}))
        elif key in schema:
            found += list(schema[key]) if key == "enum" else [schema[key]]
        for value in schema.values():
            found += _named(value, key)
    elif isinstance(schema, list):
        for value in schema:
            found += _named(value, key)
    return found


VALID = {
    "assess_case": {"resolution": "on_spot"},
    "department_result": DEPARTMENT_RESULT,
    "feedback_to_resident": {"satisfaction": "satisfied"},
    "handle_on_spot": {"result": "resolved", "measures": "调解"},
    "report_case": REPORT,
    "supervisor_review": {"decision": "close", "comment": "依规结案"},
}


def _data_for(schema, valid: dict | None = None):
    """Objects built from the schema's own names and values (and a valid example, changed a little):
    generated data reaches both valid and invalid cases of every rule."""
    from hypothesis import strategies as st

    names = st.one_of(st.sampled_from(sorted(set(_named(schema, "properties"))) or ["x"]), st.text(max_size=5))
    leaves = st.one_of(
        st.sampled_from(_named(schema, "enum") + _named(schema, "const") or [None]),
        st.text(max_size=12),
        st.text(min_size=190, max_size=4100),
        st.from_regex(r"1[3-9]\d{9}"),
        st.integers(),
        st.floats(allow_nan=False),
        st.booleans(),
        st.none(),
    )
    values = st.recursive(
        leaves,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=4)),
        max_leaves=8,
    )
    objects = st.dictionaries(names, values, max_size=8)
    if valid is None:
        return objects
    changed = st.builds(
        lambda changes, dropped: {k: v for k, v in {**valid, **changes}.items() if k not in dropped},
        st.dictionaries(names, values, max_size=2),
        st.sets(st.sampled_from(sorted(valid)), max_size=1),
    )
    return st.one_of(objects, st.just(valid), changed)


@pytest.mark.parametrize("key", sorted(VALID))
def test_the_quick_validator_agrees_with_jsonschema_on_generated_form_data(key):
    from hypothesis import HealthCheck, given, settings

    from forms import FormRegistry

    validator = FormRegistry().get(key).validator
    seen = set()

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_data_for(validator.schema, VALID[key]))
    def agrees(data):
        valid = not list(validator.detailed.iter_errors(data))
        assert validator._quick.is_valid(data) == valid  # noqa: SLF001 - the two validators compared
        assert (list(validator.iter_errors(data)) == []) == valid
        seen.add(valid)

    agrees()
    assert seen == {True, False}  # both kinds were generated


def _request_schemas():
    from web.openapi import REQUEST_SCHEMAS

    return sorted(REQUEST_SCHEMAS.items())


@pytest.mark.parametrize(("name", "schema"), _request_schemas())
def test_no_request_body_the_quick_validator_accepts_is_refused_by_jsonschema(name, schema):
    from hypothesis import HealthCheck, given, settings

    from forms.validator import SchemaValidator

    validator = SchemaValidator(schema)

    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_data_for(schema))
    def never_looser(data):
        if validator._quick.is_valid(data):  # noqa: SLF001 - the quick answer checked against the detailed one
            assert not list(validator.detailed.iter_errors(data)), name

    never_looser()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), [1.5, float("nan")]])
def test_a_form_refuses_non_finite_numbers_instead_of_storing_null(tmp_path, value):
    import json

    from forms import FormRegistry

    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"score": {}, "note": {"type": "string"}},
    }
    (tmp_path / "scored.json").write_text(json.dumps(schema))
    form = FormRegistry([tmp_path]).get("scored")
    with pytest.raises(FormInvalid) as err:
        form.validate({"score": value, "note": "ok"})
    assert err.value.details[0]["field"].startswith("score") and "finite" in err.value.details[0]["message"]
    assert form.validate({"score": 1.5, "note": "ok"}) == ({"score": 1.5, "note": "ok"}, {})
