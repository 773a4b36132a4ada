"""The admin console's pages and JSON endpoints without a browser (issue 17): admins only, CSRF on
every POST, the modeler's validate answering errors and warnings by element, refusals that write
nothing, and the preview's limits."""

from __future__ import annotations

import json

from tests import models
from tests.helpers import database_rows


def post_json(user, path: str, body, token: str | None = None):
    headers = {"X-CSRFToken": token if token is not None else user.csrf("/admin/modeler")}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return user.client.post(path, data=raw, content_type="application/json", headers=headers)


def test_the_console_pages_are_for_admins_only(browse):
    wang = browse("wang")
    for path in ("/admin/definitions", "/admin/definitions/dispute_resolution", "/admin/modeler"):
        assert wang.get(path).status_code == 403
    admin = browse("admin")
    assert "dispute_resolution" in admin.text("/admin/definitions")
    assert "/admin/definitions/dispute_resolution/1/edit" in admin.text("/admin/definitions/dispute_resolution")
    assert admin.get("/admin/definitions/nothing").status_code == 404
    assert admin.get("/admin/definitions/dispute_resolution/9/edit").status_code == 404
    assert admin.get("/admin/definitions/dispute_resolution/diff?from=x&to=1").status_code == 400


def test_the_modeler_page_allows_inline_styles_and_no_other_page_does(browse):
    admin = browse("admin")
    modeler = admin.get("/admin/modeler").headers["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in modeler and "script-src 'self';" in modeler
    assert "unsafe-inline" not in admin.get("/admin/definitions").headers["Content-Security-Policy"]


def test_validate_reports_errors_and_warnings_by_element(browse):
    admin = browse("admin")
    broken = models.gateway("", key="gated").replace('default="f_default"', "")
    answer = post_json(admin, "/admin/validate", {"bpmn": broken, "forms": {}})
    assert answer.status_code == 200
    assert answer.json["errors"] and all("element_id" in e for e in answer.json["errors"])
    odd = models.one_task("odd", task_attrs='camunda:candidateGroups="nobody"')
    answer = post_json(admin, "/admin/validate", {"bpmn": odd})
    assert answer.json["errors"] == []
    assert {
        "element_id": "review",
        "message": "候选组“nobody”既不是部门也不是角色",  # the console speaks the user's language (zh by default)
        "original": "candidate group 'nobody' is neither a department nor a role",
    } in answer.json["warnings"]


def test_console_posts_without_csrf_or_by_officers_are_refused_and_write_nothing(browse, engine):
    admin, wang = browse("admin"), browse("wang")
    before = database_rows(engine)
    bundle = {"bpmn": models.one_task("approval"), "comment": "x"}
    assert post_json(admin, "/admin/deploy", bundle, token="").status_code == 400
    assert post_json(wang, "/admin/deploy", bundle, token=wang.csrf("/")).status_code == 403
    assert post_json(admin, "/admin/deploy", b"not json").status_code == 400
    refused = post_json(admin, "/admin/deploy", {**bundle, "forms": {"note": {"type": "string"}}})
    assert refused.status_code == 422 and refused.json["error"]["details"][0]["form"] == "note"
    assert database_rows(engine) == before
    deployed = post_json(admin, "/admin/deploy", bundle)
    assert deployed.status_code == 200 and deployed.json["definitions"][0]["created"] is True


def test_the_form_preview_renders_a_schema_and_refuses_a_bad_or_oversized_one(browse):
    admin = browse("admin")
    schema = {"type": "object", "properties": {"note": {"type": "string", "title": "Note"}}}
    answer = post_json(admin, "/admin/forms/preview", {"key": "note", "schema": schema})
    assert answer.status_code == 200 and answer.mimetype == "text/html" and 'name="note"' in answer.get_data(True)
    refused = post_json(admin, "/admin/forms/preview", {"key": "note", "schema": {"type": 5}})
    assert refused.status_code == 422 and "JSON Schema" in refused.json["error"]["message"]
    huge = {"key": "note", "schema": {**schema, "description": "x" * 70_000}}
    assert post_json(admin, "/admin/forms/preview", huge).status_code == 413
