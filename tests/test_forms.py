"""Forms: server-side validation, field-level errors, declared fields only, nothing stored on error."""

from __future__ import annotations

import pytest

from engine.errors import FormInvalid, InvalidInput
from tests.helpers import REPORT, report_case, task_of


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
        engine.tasks.complete(task_of(engine, case, "assess_case")["id"], world["wang"],
                              {"resolution": "on_spot", "favourite_colour": "red"})
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
    engine.tasks.complete(task_of(engine, case, "assess_case")["id"], wang,
                          {"resolution": "on_spot", "assessment": "可就地化解"})
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
    assert task["form"]["properties"]["resolution"]["enum"] == ["on_spot", "escalate"]
