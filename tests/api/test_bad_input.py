"""Every class of bad input gets the one error shape and the right status, never a 500, never a
stack trace, never the submitted personal data echoed back."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from tests.api.conftest import error_of
from tests.helpers import REPORT

START = {"definition_key": "dispute_resolution", "variables": REPORT}


def raw_post(caller, path, data: bytes | str, content_type="application/json"):
    return caller.post(path, data=data, content_type=content_type)


# --- malformed bodies: 400 ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        b"{",
        b"not json",
        b"{'single': 'quotes'}",
        b'{"a": 1,}',
        b"[1, 2",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": 1e400}',
        b"\xff\xfe{}",
        b'\xef\xbb\xbf{"definition_key": "dispute_resolution"}',
        b'{"a": "\xc3\x28"}',
        b"9" * 5000,
    ],
)
def test_malformed_json_is_400(api, data):
    error_of(raw_post(api.as_("wang"), "/process-instances", data), 400)


def test_deeply_nested_json_is_400(api):
    deep = "[" * 100_000 + "]" * 100_000
    error_of(raw_post(api.as_("wang"), "/process-instances", deep), 400, "malformed_json")
    nested = {"definition_key": "dispute_resolution", "variables": {"a": json.loads("[" * 40 + "]" * 40)}}
    error_of(api.as_("wang").post("/process-instances", nested), 400, "malformed_json")


@pytest.mark.parametrize("text", ["\\u0000", "a\\u0000b", "\\ud800", "x\\udfff", "\\ud83d"])
def test_nul_characters_and_lone_surrogates_are_400(api, text):
    body = '{"definition_key": "dispute_resolution", "variables": {"description": "' + text + '"}}'
    error_of(raw_post(api.as_("wang"), "/process-instances", body), 400, "invalid_text")
    key_body = '{"definition_key": "dispute_resolution", "variables": {"' + text + '": 1}}'
    error_of(raw_post(api.as_("wang"), "/process-instances", key_body), 400, "invalid_text")


def test_required_body_missing_is_400(api):
    error_of(
        api.as_("wang").post("/process-instances", data=b"", content_type="application/json"), 400, "body_required"
    )


# --- media types: 415 --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        "multipart/form-data; boundary=x",
        "application/jsonx",
    ],
)
def test_wrong_content_type_is_415(api, content_type):
    error_of(
        raw_post(api.as_("wang"), "/process-instances", json.dumps(START), content_type), 415, "unsupported_media_type"
    )


def test_json_with_a_charset_parameter_is_accepted(api):
    response = raw_post(api.as_("wang"), "/process-instances", json.dumps(START), "application/json; charset=utf-8")
    assert response.status_code == 201


# --- size: 413 ---------------------------------------------------------------------------------
def test_a_body_over_the_request_limit_is_413(api, engine):
    huge = json.dumps({**START, "variables": {**REPORT, "description": "x" * (engine.settings.max_request_bytes + 1)}})
    error_of(raw_post(api.as_("wang"), "/process-instances", huge), 413, "too_large")


def test_variables_over_the_engine_limit_are_413(api):
    big = {"definition_key": "dispute_resolution", "version": 1, "variables": {f"k{i}": "x" * 1000 for i in range(300)}}
    error_of(api.as_("wang").post("/process-instances", big), 413, "too_large")


def test_a_huge_query_string_or_header_is_refused_without_500(api):
    wang = api.as_("wang")
    assert wang.get("/tasks", query_string={"business_key": "x" * 100_000}).status_code == 400
    assert wang.get("/tasks", headers={"X-Junk": "y" * 100_000}).status_code == 200


# --- schema: 422 with field details --------------------------------------------------------------
def test_unknown_fields_are_422_naming_the_field(api):
    error = error_of(api.as_("wang").post("/process-instances", {**START, "priority": 1}), 422, "validation_failed")
    assert error["details"] == [{"field": "priority", "message": "unknown field"}]


def test_unknown_form_fields_are_422_naming_the_field(api):
    wang = api.as_("wang")
    error = error_of(
        wang.post("/process-instances", {**START, "variables": {**REPORT, "favourite": "x"}}), 422, "form_invalid"
    )
    assert error["details"][0]["field"] == "favourite"


def test_wrong_types_and_missing_fields_are_422(api):
    wang = api.as_("wang")
    error = error_of(wang.post("/process-instances", {"definition_key": 5, "variables": []}), 422)
    assert {d["field"] for d in error["details"]} == {"definition_key", "variables"}
    error = error_of(wang.post("/process-instances", {"variables": {}}), 422)
    assert error["details"] == [{"field": "definition_key", "message": "this field is required"}]


@pytest.mark.parametrize("body", [[], "text", 1, None, True])
def test_a_body_that_is_not_an_object_is_422(api, body):
    error_of(raw_post(api.as_("wang"), "/process-instances", json.dumps(body)), 422)


def test_invalid_form_data_is_422_with_field_details_and_no_personal_values(api):
    wang = api.as_("wang")
    secret = "99999919990101999X"
    variables = {**REPORT, "parties": [{"name": "张三", "id_number": secret + "Q"}], "risk_level": "purple"}
    response = wang.post("/process-instances", {**START, "variables": variables})
    error = error_of(response, 422, "form_invalid")
    assert {d["field"] for d in error["details"]} >= {"risk_level", "parties.0.id_number"}
    assert secret not in response.get_data(as_text=True)


def test_passwords_are_never_echoed_in_errors(api):
    response = api.as_("admin").post("/users", {"username": "u1", "role": "auditor", "password": "short"})
    error_of(response, 422)
    assert "short" not in json.dumps(response.json["error"]["details"])


# --- unicode that is fine ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "邻里纠纷 😀 emoji",
        "ÅÄÖ é ñ ß",
        "RTL \u202e reversed \u202c",
        "zero\u200bwidth",
        "组合 e\u0301",
        "\U0002a6a5 rare CJK",
        "tab\tand\nnewline",
    ],
)
def test_unicode_text_round_trips(api, text):
    wang = api.as_("wang")
    case = wang.report(description=text, parties=[{"name": text[:100]}])
    seen = wang.case(case)
    assert seen["variables"]["description"] == text
    assert seen["personal_data"]["records"][0]["data"]["parties"][0]["name"] == text[:100]


def test_unicode_in_usernames_and_paths_is_refused_cleanly(api):
    assert api.login("王警官").status_code == 401
    error_of(api.as_("admin").get("/users/%E7%8E%8B"), 404)
    error_of(api.as_("admin").get("/users/a%00b"), 404)
    error_of(api.as_("wang").get("/process-definitions/%F0%9F%98%80"), 404)
    error_of(api.as_("wang").get("/process-definitions/a%00b"), 404)


# --- query parameters: 400 -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "query",
    [
        {"limit": "ten"},
        {"limit": "0"},
        {"limit": "100000"},
        {"limit": "-1"},
        {"limit": "1.5"},
        {"state": "done"},
        {"sort": "name"},
        {"due_before": "yesterday"},
        {"due_before": "2026-11-30T01:00:00"},
        {"instance_id": "not-a-uuid"},
        {"cursor": "!!"},
        {"colour": "red"},
        {"business_key": "a b"},
        {"assignee": "a\x00"},
        {"limit": "9" * 40},
    ],
)
def test_bad_query_parameters_are_400(api, query):
    error_of(api.as_("wang").get("/tasks", query_string=query), 400)


def test_a_repeated_query_parameter_is_400(api):
    error_of(api.as_("wang").get("/tasks?state=open&state=claimed"), 400, "invalid_query")


def _cursor(payload: str) -> str:
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


DUE, ID = '"2026-12-01T09:00:00+00:00"', '"00000000-0000-0000-0000-000000000000"'
CRAFTED_CURSORS = [
    ("due", "[]"),
    ("due", '"x"'),
    ("due", "{}"),
    ("due", "[1, 2, 3]"),
    ("due", f"[{DUE}]"),  # one value short
    ("due", f"[{DUE}, {ID}, 1]"),  # one value too many
    ("due", f'["not-a-date", {ID}]'),
    ("due", f'["2026-12-01T09:00:00", {ID}]'),  # no time zone
    ("due", f'["0001-01-01T00:00:00+14:00", {ID}]'),  # before year 1 in UTC
    ("due", f'[{{"a": 1}}, {ID}]'),
    ("due", f"[[1], {ID}]"),
    ("due", f'[{DUE}, {{"id": 1}}]'),
    ("due", f"[{DUE}, [1]]"),
    ("due", f"[{DUE}, 7]"),
    ("due", f'[{DUE}, "a\\u0000b"]'),
    ("due", f'[{DUE}, "\\ud800"]'),
    ("priority", f"[1e308, {DUE}, {ID}]"),
    ("priority", f"[{2**63}, {DUE}, {ID}]"),
    ("priority", f"[{2**31}, {DUE}, {ID}]"),  # priority is a 32-bit integer column
    ("priority", f"[{-(2**31) - 1}, {DUE}, {ID}]"),
    ("priority", f"[NaN, {DUE}, {ID}]"),
    ("priority", f"[Infinity, {DUE}, {ID}]"),
    ("priority", f"[1.5, {DUE}, {ID}]"),
    ("priority", f"[true, {DUE}, {ID}]"),
    ("priority", f'["50", {DUE}, {ID}]'),
    ("priority", f"[{{}}, {DUE}, {ID}]"),
    ("priority", f"[null, {DUE}, {ID}]"),  # priority is never null
    ("created", f"[null, {ID}]"),  # creation time is never null
    ("created", f"[{DUE}, null]"),
]


@pytest.mark.parametrize(("sort", "payload"), CRAFTED_CURSORS)
@pytest.mark.parametrize("queue", [{}, {"candidate": "me"}], ids=["inbox", "claimable-queue"])
def test_a_crafted_task_cursor_is_400_invalid_query(api, sort, payload, queue):
    wang = api.as_("wang")
    wang.report()
    before = wang.tasks()
    query = {"sort": sort, "cursor": _cursor(payload), **queue}
    error_of(wang.get("/tasks", query_string=query), 400, "invalid_query")
    assert wang.tasks() == before


@pytest.mark.parametrize("payload", ["nope", "o:-1", "o:1e3", "o:²", "o:100001", "o:" + "9" * 30])
def test_a_crafted_case_cursor_is_400_invalid_query(api, payload):
    error_of(api.as_("wang").get("/process-instances", query_string={"cursor": _cursor(payload)}), 400, "invalid_query")


def test_a_cursor_of_extreme_but_valid_values_pages_normally(api):
    wang = api.as_("wang")
    wang.report()
    for payload in (f"[{2**31 - 1}, {DUE}, {ID}]", f"[{-(2**31)}, null, {ID}]"):
        page = wang.get("/tasks", query_string={"sort": "priority", "cursor": _cursor(payload)})
        assert page.status_code == 200, page.json


# --- routing: 404 and 405 ------------------------------------------------------------------------
def test_unknown_routes_are_404_in_the_error_shape(api, client):
    error_of(client.get("/api/v1/nothing-here"), 404, "not_found")
    error_of(client.get("/api/v2/tasks"), 404)  # "/" is the workbench's home now (tests/pages)
    error_of(api.as_("wang").get("/tasks/not-a-uuid"), 404)
    error_of(api.as_("wang").get(f"/tasks/{uuid.uuid4()}"), 404, "task_not_found")
    error_of(api.as_("wang").get(f"/process-instances/{uuid.uuid4()}"), 404, "instance_not_found")
    error_of(api.as_("admin").delete("/api-tokens/99999999999999999999999999"), 404)


def test_wrong_methods_are_405_with_allow(api):
    response = api.as_("wang").delete("/tasks")
    error_of(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    error_of(api.as_("wang").put("/process-instances"), 405)


def test_errors_are_not_cached_and_not_sniffed(api):
    response = api.as_("wang").get(f"/tasks/{uuid.uuid4()}")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_an_unexpected_exception_is_a_bare_500_without_details(app, api, monkeypatch):
    def explode(*_args, **_kwargs):
        raise RuntimeError("secret internals: 刘桂兰")

    monkeypatch.setattr(app.extensions["fengqiao"].repository, "list_definitions", explode)
    response = api.as_("wang").get("/process-definitions")
    error = error_of(response, 500, "internal_error")
    assert "secret" not in response.get_data(as_text=True) and error["details"] == []


def test_a_database_connection_lost_twice_is_503_and_writes_nothing(api, engine, monkeypatch):
    from engine.errors import Unavailable

    wang = api.as_("wang")
    case = wang.report()
    task = wang.task(case, "assess_case")
    calls = []

    def lost(*_args, **_kwargs):
        calls.append(1)
        raise Unavailable("the database connection was lost; nothing was written, try again")

    monkeypatch.setattr(engine.repository, "load", lost)  # inside the unit of work, after the lock
    error = error_of(
        wang.post(f"/tasks/{task['id']}/complete", {"data": {"resolution": "on_spot"}}), 503, "database_unavailable"
    )
    assert "try again" in error["message"] and len(calls) == 2  # retried once, then told the client
    monkeypatch.undo()
    assert wang.task(case, "assess_case")["state"] == "open"
