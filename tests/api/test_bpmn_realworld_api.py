"""Real-world BPMN over HTTP (issue 19): a non-executable definition says so and starting it is 409;
a timer value that is not ISO 8601 is a 422 sentence; neither writes anything."""

from __future__ import annotations

from tests import models
from tests.api.conftest import error_of
from tests.helpers import database_rows


def deploy(api, xml: str, name: str):
    response = api.as_("admin").post(
        "/process-definitions", data=xml.encode(), content_type="application/xml", query_string={"name": name}
    )
    assert response.status_code == 201, response.json
    return response.json


def test_a_non_executable_definition_reads_as_such_and_starting_it_is_409(api, engine):
    xml = models.one_task("viewed").replace('isExecutable="true"', 'isExecutable="false"')
    deployed = deploy(api, xml, "viewed.bpmn")
    assert any(w["element_id"] == "viewed" and "cannot be started" in w["message"] for w in deployed["warnings"])
    wang = api.as_("wang")
    definition = wang.get("/process-definitions/viewed").json
    assert (definition["executable"], definition["status"]) == (False, "not_executable")
    before = database_rows(engine)
    error = error_of(wang.post("/process-instances", {"definition_key": "viewed"}), 409, "definition_not_executable")
    assert 'isExecutable="false"' in error["message"]
    assert database_rows(engine) == before


def test_a_process_without_is_executable_starts_over_http(api):
    xml = models.one_task("plain").replace(' isExecutable="true"', "")
    deploy(api, xml, "plain.bpmn")
    assert api.as_("wang").get("/process-definitions/plain").json["status"] == "executable"
    assert api.as_("wang").post("/process-instances", {"definition_key": "plain"}).status_code == 201


def test_a_timer_variable_in_prose_is_a_422_sentence_not_a_500(api, engine):
    deploy(api, models.timed("${wait}", attached="catch"), "timed.bpmn")
    wang = api.as_("wang")
    before = database_rows(engine)
    response = wang.post("/process-instances", {"definition_key": "timed", "variables": {"wait": "5 minutes"}})
    error = error_of(response, 422)
    assert "'5 minutes' is not an ISO 8601 duration such as PT5M" in error["message"]
    assert database_rows(engine) == before
