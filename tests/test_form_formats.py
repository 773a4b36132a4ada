"""Form and request validation, rule by rule: formats are checked by both validators (the API's
request schemas use `uuid` and `date-time`), errors name their field without echoing personal values,
and the registry loads what it is given."""

from __future__ import annotations

import json

import pytest
from jsonschema.exceptions import SchemaError

from engine.errors import FormInvalid, FormNotFound
from forms import MAX_ERRORS, FormRegistry
from forms.validator import SchemaValidator

FORMATS = {
    "type": "object",
    "properties": {
        "at": {"type": "string", "format": "date-time"},
        "id": {"type": "string", "format": "uuid"},
        "mail": {"type": "string", "format": "email"},
    },
}


@pytest.mark.parametrize(
    "data",
    [{"at": "yesterday"}, {"at": "2026-13-01T00:00:00Z"}, {"id": "not-a-uuid"}, {"id": "1234"}, {"mail": "nobody"}],
    ids=repr,
)
def test_a_value_of_the_wrong_format_is_refused(data):
    errors = list(SchemaValidator(FORMATS).iter_errors(data))
    assert [e.validator for e in errors] == ["format"]


@pytest.mark.parametrize(
    "data",
    [
        {"at": "2026-12-06T20:00:00+08:00"},
        {"id": "9f1c2a4e-8a1b-4c3d-9e2f-0a1b2c3d4e5f"},
        {"mail": "li@example.org"},
        {},
    ],
    ids=repr,
)
def test_a_value_of_the_right_format_is_accepted(data):
    assert list(SchemaValidator(FORMATS).iter_errors(data)) == []


BAD_FORMAT = {"uuid": "not-a-uuid", "date-time": "someday"}


def test_the_request_schemas_refuse_a_malformed_uuid_and_date_time():
    from web.openapi import REQUEST_SCHEMAS

    checked = 0
    for schema in REQUEST_SCHEMAS.values():
        for name, prop in schema.get("properties", {}).items():
            bad = BAD_FORMAT.get(prop.get("format")) if isinstance(prop, dict) else None
            if bad is not None:
                checked += 1
                assert [e.validator for e in SchemaValidator(schema).iter_errors({name: bad})] != [], name
    assert checked > 0


def _registry(tmp_path, **schemas) -> FormRegistry:
    for key, schema in schemas.items():
        (tmp_path / f"{key}.json").write_text(json.dumps(schema), encoding="utf-8")
    return FormRegistry([tmp_path])


VISIT = {
    "title": "走访 Visit",
    "type": "object",
    "additionalProperties": False,
    "required": ["when", "count"],
    "properties": {
        "when": {"type": "string", "format": "date-time"},
        "count": {"type": "integer", "minimum": 0},
        "notes": {"type": "array", "items": {"type": "object", "properties": {"text": {"type": "string"}}}},
        "code": {"type": "string", "pattern": "^a$"},
        "phone": {"type": "string", "pattern": "^1[3-9][0-9]{9}$", "x-pii": True},
        "name": {"type": "string", "x-pii": True},
        "flag": True,
    },
}
GOOD = {"when": "2026-12-06T20:00:00Z", "count": 1}


@pytest.fixture
def visit(tmp_path):
    return _registry(tmp_path, visit=VISIT).get("visit")


def details(form, data) -> list[dict]:
    with pytest.raises(FormInvalid) as raised:
        form.validate(data)
    return raised.value.details


def test_personal_fields_are_split_off_and_nothing_else(visit):
    assert visit.personal_fields == frozenset({"phone", "name"})
    plain, personal = visit.validate({**GOOD, "phone": "13912345678", "name": "刘", "flag": 1})
    assert plain == {**GOOD, "flag": 1} and personal == {"phone": "13912345678", "name": "刘"}
    assert visit.title == "走访 Visit"


@pytest.mark.parametrize("data", [None, [], "x", 1], ids=repr)
def test_form_data_must_be_an_object(visit, data):
    assert details(visit, data) == [{"field": None, "message": "not an object"}]


def test_a_wrong_format_in_a_form_is_a_field_error(visit):
    assert details(visit, {**GOOD, "when": "tomorrow"}) == [
        {"field": "when", "message": "'tomorrow' is not a 'date-time'"}
    ]


def test_errors_name_each_field_in_path_order(visit):
    data = {"when": 1, "count": -1, "notes": [{"text": 5}]}
    assert details(visit, data) == [
        {"field": "count", "message": "-1 is less than the minimum of 0"},
        {"field": "notes.0.text", "message": "5 is not of type 'string'"},
        {"field": "when", "message": "1 is not of type 'string'"},
    ]


def test_a_missing_field_and_unknown_fields_are_named(visit):
    assert details(visit, {"when": GOOD["when"]}) == [{"field": "count", "message": "this field is required"}]
    assert details(visit, {**GOOD, "extra": 1}) == [{"field": "extra", "message": "unknown field(s): extra"}]
    assert details(visit, {**GOOD, "b": 1, "a": 2}) == [{"field": None, "message": "unknown field(s): a, b"}]


def test_an_invalid_personal_value_is_never_echoed(visit):
    refused = details(visit, {**GOOD, "phone": "12345"})
    assert refused == [{"field": "phone", "message": "invalid value (fails 'pattern')"}]


def test_long_messages_are_cut_to_200_characters(visit):
    # "'<value>' does not match '^a$'": 23 characters around the value
    fits, over = "b" * 177, "b" * 178
    assert details(visit, {**GOOD, "code": fits})[0]["message"] == f"'{fits}' does not match '^a$'"
    cut = details(visit, {**GOOD, "code": over})[0]["message"]
    assert len(cut) == 200 and cut.endswith("…") and cut.startswith(f"'{over[:100]}")


def test_at_most_fifty_errors_are_reported(tmp_path):
    many = {"type": "object", "properties": {f"f{i:02}": {"type": "integer"} for i in range(60)}}
    form = _registry(tmp_path, many=many).get("many")
    reported = details(form, {f"f{i:02}": "x" for i in range(60)})
    assert MAX_ERRORS == 50 and len(reported) == 50
    assert [d["field"] for d in reported] == [f"f{i:02}" for i in range(50)]


def test_the_registry_loads_every_directory_and_refuses_a_broken_schema(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "one.json").write_text(json.dumps({"type": "object"}))
    (tmp_path / "b" / "two.json").write_text(json.dumps({"type": "object", "title": "Two"}))
    registry = FormRegistry([tmp_path / "a", tmp_path / "b"])
    assert registry.keys() == ["one", "two"] and "one" in registry and "three" not in registry
    assert registry.get("one").title == "one" and registry.get("two").title == "Two"
    with pytest.raises(FormNotFound, match="form 'three' does not exist"):
        registry.get("three")
    (tmp_path / "b" / "broken.json").write_text(json.dumps({"type": "no-such-type"}))
    with pytest.raises(SchemaError):
        FormRegistry([tmp_path / "b"])


def test_the_default_registry_holds_the_bundled_forms():
    assert FormRegistry().keys() == [
        "assess_case",
        "department_result",
        "feedback_to_resident",
        "handle_on_spot",
        "joint_opinion",
        "report_case",
        "supervisor_review",
    ]


def test_refusals_say_what_is_wrong(visit):
    with pytest.raises(FormInvalid, match="^form data must be a JSON object$"):
        visit.validate([])
    with pytest.raises(FormInvalid, match="^form 'visit' has invalid fields$"):
        visit.validate({})


def test_a_missing_field_inside_a_list_is_named_with_its_path(tmp_path):
    schema = {
        "type": "object",
        "properties": {"parties": {"type": "array", "items": {"type": "object", "required": ["name"]}}},
    }
    form = _registry(tmp_path, parties=schema).get("parties")
    assert details(form, {"parties": [{"name": "x"}, {}]}) == [
        {"field": "parties.1.name", "message": "this field is required"}
    ]


def test_a_form_declaring_no_fields_names_every_field_sent_as_unknown(tmp_path):
    form = _registry(tmp_path, closed={"type": "object", "additionalProperties": False}).get("closed")
    assert details(form, {"a": 1}) == [{"field": "a", "message": "unknown field(s): a"}]


def test_a_rule_on_the_whole_form_names_no_field(tmp_path):
    form = _registry(tmp_path, some={"type": "object", "minProperties": 1}).get("some")
    [detail] = details(form, {})
    assert detail["field"] is None and detail["message"]


def test_a_partial_update_checks_only_the_declared_fields_it_sends(visit):
    visit.check_fields({"count": 3})  # `when` is required by the form, not by a partial update
    visit.check_fields({"undeclared": "anything", "count": 0})
    with pytest.raises(FormInvalid, match="^form 'visit' has invalid fields$") as raised:
        visit.check_fields({"when": "soon", "count": -1, "undeclared": -1})
    assert raised.value.details == [
        {"field": "count", "message": "-1 is less than the minimum of 0"},
        {"field": "when", "message": "'soon' is not a 'date-time'"},
    ]


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"type": "string", "pattern": "^[0-9]+$"}, "12\n"),  # Python's `$` matches before a final newline
        ({"type": "string", "pattern": "[0-9]+"}, "a1"),  # a pattern matches the whole string
        ({"type": "array", "items": {"type": "string", "pattern": "[0-9]+"}}, ["1", "a1"]),
        ({"type": "object", "properties": {"p": {"type": "string", "pattern": "[0-9]+"}}}, {"p": "1a"}),
    ],
    ids=["newline", "partial", "in-items", "in-properties"],
)
def test_a_pattern_must_match_the_whole_string_in_both_validators(schema, value):
    validator = SchemaValidator(schema)
    assert validator.schema is schema
    assert [e.validator for e in validator.iter_errors(value)] == ["pattern"]


def test_a_partial_update_of_a_form_declaring_no_fields_checks_nothing(tmp_path):
    form = _registry(tmp_path, bare={"type": "object"}).get("bare")
    form.check_fields({"anything": 1})
