"""Forms deployed with their models (issue 17): a deployment may carry the JSON Schemas its tasks
name; the tasks of that version use them before the installed forms/; an unusable schema refuses the
whole deployment naming the form; the version list shows who deployed what, with which comment."""

from __future__ import annotations

import io
import json

from tests import models
from tests.api.conftest import error_of
from tests.helpers import database_rows

VISIT_NOTE = {
    "title": "Visit note",
    "type": "object",
    "additionalProperties": False,
    "required": ["note"],
    "properties": {"note": {"type": "string", "title": "Note", "minLength": 2, "maxLength": 200}},
}


def visit_model(key: str = "visit", label: str = "Visit") -> str:
    return models.one_task(
        key, task_attrs='camunda:candidateGroups="officer" camunda:formKey="visit_note"', label=label
    )


def deploy_bundle(caller, bpmn: str, forms=None, comment=None):
    return caller.post("/process-definitions", {"bpmn": bpmn, "forms": forms or {}, "comment": comment})


def test_a_model_deployed_with_its_form_takes_that_forms_data(api):
    admin = api.as_("admin")
    response = deploy_bundle(admin, visit_model(), {"visit_note": VISIT_NOTE}, "first visit model")
    assert response.status_code == 201, response.json
    assert not [w for w in response.json["warnings"] if "visit_note" in w["message"]]

    wang = api.as_("wang")
    started = wang.post("/process-instances", {"definition_key": "visit", "variables": {}})
    assert started.status_code == 201, started.json
    task = wang.task(started.json, "review")
    assert wang.get(f"/tasks/{task['id']}").json["form"] == VISIT_NOTE
    error = error_of(wang.post(f"/tasks/{task['id']}/complete", {"data": {"note": "x"}}), 422, "form_invalid")
    assert error["details"][0]["field"] == "note"
    done = wang.post(f"/tasks/{task['id']}/complete", {"data": {"note": "visited, all well"}})
    assert done.status_code == 200, done.json

    versions = admin.get("/process-definitions/visit/versions").json["items"]
    assert [(v["version"], v["deployed_by"], v["comment"], v["forms"]) for v in versions] == [
        (1, "admin", "first visit model", ["visit_note"])
    ]
    forms = admin.get("/process-definitions/visit/forms", query_string={"version": 1}).json
    assert forms == {"version": 1, "forms": {"visit_note": VISIT_NOTE}}


def test_the_same_bundle_again_is_a_no_op_and_a_changed_form_is_a_new_version(api):
    admin = api.as_("admin")
    assert deploy_bundle(admin, visit_model(), {"visit_note": VISIT_NOTE}).status_code == 201
    again = deploy_bundle(admin, visit_model(), {"visit_note": VISIT_NOTE}, "same again")
    assert again.status_code == 200 and again.json["definitions"][0]["created"] is False
    longer = json.loads(json.dumps(VISIT_NOTE))
    longer["properties"]["note"]["maxLength"] = 500
    changed = deploy_bundle(admin, visit_model(), {"visit_note": longer}, "longer notes")
    assert changed.status_code == 201 and changed.json["definitions"][0]["version"] == 2
    versions = admin.get("/process-definitions/visit/versions").json["items"]
    assert [(v["version"], v["comment"]) for v in versions] == [(2, "longer notes"), (1, None)]


def test_running_cases_are_counted_per_version(api):
    admin = api.as_("admin")
    deploy_bundle(admin, visit_model(), {"visit_note": VISIT_NOTE})
    wang = api.as_("wang")
    for _ in range(2):
        assert wang.post("/process-instances", {"definition_key": "visit", "variables": {}}).status_code == 201
    deploy_bundle(admin, visit_model(label="Visit again"), {"visit_note": VISIT_NOTE})
    versions = admin.get("/process-definitions/visit/versions").json["items"]
    assert [(v["version"], v["running_cases"]) for v in versions] == [(2, 0), (1, 2)]


def test_forms_deploy_as_json_files_of_a_multipart_bundle_with_its_comment(api):
    files = {
        "files": [
            (io.BytesIO(visit_model().encode()), "visit.bpmn"),
            (io.BytesIO(json.dumps(VISIT_NOTE).encode()), "visit_note.json"),
        ],
        "comment": "uploaded",
    }
    admin = api.as_("admin")
    response = admin.post("/process-definitions", data=files, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    version = admin.get("/process-definitions/visit/versions").json["items"][0]
    assert (version["forms"], version["comment"]) == (["visit_note"], "uploaded")


def test_an_invalid_form_schema_refuses_the_deployment_naming_the_form_and_stores_nothing(api, engine):
    admin = api.as_("admin")
    before = database_rows(engine)
    bad = {"type": "object", "properties": {"note": {"type": 5}}}
    error = error_of(deploy_bundle(admin, visit_model(), {"visit_note": bad}), 422, "deployment_invalid")
    assert error["details"][0]["form"] == "visit_note" and "visit_note" in error["message"]
    not_object = {"type": "string"}
    error = error_of(deploy_bundle(admin, visit_model(), {"visit_note": not_object}), 422, "deployment_invalid")
    assert error["details"][0]["form"] == "visit_note"
    error = error_of(deploy_bundle(admin, visit_model(), {"Bad Key!": VISIT_NOTE}), 422, "deployment_invalid")
    assert "form key" in error["details"][0]["message"]
    files = {
        "files": [(io.BytesIO(visit_model().encode()), "visit.bpmn"), (io.BytesIO(b"{not json"), "visit_note.json")]
    }
    error = error_of(admin.post("/process-definitions", data=files, content_type="multipart/form-data"), 422)
    assert error["details"][0]["form"] == "visit_note"
    error_of(deploy_bundle(admin, visit_model(), comment="x" * 1001), 422)
    error_of(admin.post("/process-definitions", {"forms": {}}), 422, "validation_failed")
    assert database_rows(engine) == before


def test_validate_warns_of_unknown_candidate_groups_and_forms_not_installed(api):
    admin = api.as_("admin")
    model = models.one_task("odd", task_attrs='camunda:candidateGroups="nobody" camunda:formKey="missing_form"')
    response = admin.post("/process-definitions/validate", data=model.encode(), content_type="application/xml")
    assert response.status_code == 200, response.json
    warnings = {(w["element_id"], w["message"]) for w in response.json["warnings"]}
    assert ("review", "candidate group 'nobody' is neither a department nor a role") in warnings
    assert ("review", "form 'missing_form' is not installed: the task takes no data") in warnings
    with_form = admin.post(
        "/process-definitions/validate",
        {"bpmn": visit_model(), "forms": {"visit_note": VISIT_NOTE}},
    )
    assert with_form.status_code == 200 and with_form.json["warnings"] == []


def test_diff_names_the_elements_added_removed_and_changed_between_versions(api):
    admin = api.as_("admin")
    deploy_bundle(admin, models.one_task("approval"))
    deploy_bundle(admin, models.one_task("approval", task_attrs='camunda:candidateGroups="supervisor"'))
    diff = admin.get("/process-definitions/approval/diff", query_string={"from": 1, "to": 2}).json
    assert diff["changed"] == [{"element_id": "review", "fields": ["candidateGroups"]}]
    assert diff["added"] == [] and diff["removed"] == []
    error_of(admin.get("/process-definitions/approval/diff", query_string={"from": 1}), 400)
    error_of(admin.get("/process-definitions/approval/diff", query_string={"from": 1, "to": 9}), 404)


def test_only_admins_read_versions_forms_and_diffs(api):
    wang = api.as_("wang")
    for path in ("versions", "forms", "diff?from=1&to=1"):
        error_of(wang.get(f"/process-definitions/dispute_resolution/{path}"), 403)


def test_a_field_a_deployed_form_marks_personal_is_refused_as_a_plain_variable_and_nothing_changes(api, engine):
    admin = api.as_("admin")
    personal_note = json.loads(json.dumps(VISIT_NOTE))
    personal_note["properties"]["note"]["x-pii"] = True
    assert deploy_bundle(admin, visit_model(), {"visit_note": personal_note}).status_code == 201
    case = api.as_("wang").post("/process-instances", {"definition_key": "visit", "variables": {}}).json
    before = database_rows(engine)
    response = admin.post(
        f"/process-instances/{case['id']}/variables", {"variables": {"note": "张三 13912345678"}, "reason": "fix"}
    )
    error_of(response, 422, "personal_field")
    assert database_rows(engine) == before
