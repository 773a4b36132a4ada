"""Process definitions over HTTP: read by everyone who works cases, deploy and validate by admins."""

from __future__ import annotations

import io

from tests import models
from tests.api.conftest import error_of


def deploy_xml(caller, xml: str, name: str | None = None):
    query = {"name": name} if name else {}
    return caller.post("/process-definitions", data=xml.encode(), content_type="application/xml", query_string=query)


def test_definitions_are_listed_and_read_with_their_xml(api):
    wang = api.as_("wang")
    items = wang.get("/process-definitions").json["items"]
    assert [(d["key"], d["version"], d["start_form"]) for d in items] == [("dispute_resolution", 1, "report_case")]
    one = wang.get("/process-definitions/dispute_resolution").json
    assert one["key"] == "dispute_resolution" and "xml" not in one
    xml = wang.get("/process-definitions/dispute_resolution/xml")
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert "assess_case" in xml.get_data(as_text=True)
    error_of(wang.get("/process-definitions/nothing"), 404, "definition_not_found")
    error_of(wang.get("/process-definitions/dispute_resolution", query_string={"version": 9}), 404)


def test_admin_deploys_a_new_definition_then_a_new_version_and_unchanged_xml_is_200(api):
    admin = api.as_("admin")
    first = deploy_xml(admin, models.one_task("approval"), "approval.bpmn")
    assert first.status_code == 201, first.json
    assert [(d["key"], d["version"], d["created"]) for d in first.json["definitions"]] == [("approval", 1, True)]
    again = deploy_xml(admin, models.one_task("approval"))
    assert again.status_code == 200 and again.json["definitions"][0]["created"] is False
    changed = deploy_xml(admin, models.one_task("approval", label="Review again"))
    assert changed.status_code == 201 and changed.json["definitions"][0]["version"] == 2
    wang = api.as_("wang")
    assert wang.get("/process-definitions/approval").json["version"] == 2
    assert wang.get("/process-definitions/approval", query_string={"version": 1}).json["version"] == 1
    assert wang.get("/process-definitions/approval").json["resource_name"] == "upload.bpmn"


def test_several_documents_deploy_together_as_multipart(api):
    files = {
        "files": [
            (io.BytesIO(models.caller("parent", "child").encode()), "parent.bpmn"),
            (io.BytesIO(models.one_task("child").encode()), "child.bpmn"),
        ]
    }
    response = api.as_("admin").post("/process-definitions", data=files, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    assert sorted(d["key"] for d in response.json["definitions"]) == ["child", "parent"]


def test_an_invalid_model_is_422_naming_the_elements(api):
    broken = models.document("""<bpmn:process id="bad" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:serviceTask id="call_api"/>
</bpmn:process>""")
    error = error_of(deploy_xml(api.as_("admin"), broken), 422, "deployment_invalid")
    assert any(d["element_id"] == "call_api" for d in error["details"])
    assert all(set(d) == {"element_id", "message"} for d in error["details"])
    error_of(deploy_xml(api.as_("admin"), "<not-bpmn/>"), 422, "deployment_invalid")
    error_of(deploy_xml(api.as_("admin"), "<unclosed"), 422, "deployment_invalid")
    error_of(deploy_xml(api.as_("admin"), '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'), 422)


def test_validate_is_a_dry_run(api):
    admin = api.as_("admin")
    response = admin.post(
        "/process-definitions/validate", data=models.one_task("dry").encode(), content_type="application/xml"
    )
    assert response.status_code == 200 and response.json["processes"] == ["dry"]
    error_of(api.as_("wang").get("/process-definitions/dry"), 404)


def test_deploy_refuses_json_empty_bodies_and_oversized_documents(api, engine):
    admin = api.as_("admin")
    error_of(admin.post("/process-definitions", {"xml": "<x/>"}), 422, "validation_failed")  # JSON wants {bpmn}
    error_of(admin.post("/process-definitions", data=b"x", content_type="text/plain"), 415)
    error_of(admin.post("/process-definitions", data=b"", content_type="application/xml"), 400)
    error_of(admin.post("/process-definitions", data={}, content_type="multipart/form-data"), 400)
    huge = models.one_task("huge").replace(
        "</bpmn:definitions>", "<!--" + "x" * engine.settings.max_bpmn_bytes + "--></bpmn:definitions>"
    )
    error_of(deploy_xml(admin, huge), 413, "too_large")
