"""DMN decisions read back over the API (issue 19): the tables a version runs, one table's summary,
and the DMN document as it was uploaded; who may read them; what an unknown one answers."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.api.conftest import error_of
from tests.helpers import database_rows

MODELS = Path(__file__).resolve().parent.parent / "models"
INVOICE_DMN = (MODELS / "invoiceBusinessDecisions.dmn").read_bytes()
INVOICE_BPMN = (MODELS / "invoice_decision.bpmn").read_bytes()


@pytest.fixture
def invoice(api):
    files = {"files": [(io.BytesIO(INVOICE_BPMN), "invoice.bpmn"), (io.BytesIO(INVOICE_DMN), "发票决策.dmn")]}
    response = api.as_("admin").post("/process-definitions", data=files, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return response.json


def test_the_decisions_of_a_version_are_listed_with_hit_policy_inputs_outputs_and_rule_count(api, invoice):
    response = api.as_("wang").get("/process-definitions/invoice/decisions")
    assert response.status_code == 200, response.json
    by_id = {d["id"]: d for d in response.json["items"]}
    assert sorted(by_id) == ["invoice-assign-approver", "invoiceClassification"]
    approver = by_id["invoice-assign-approver"]
    assert approver["name"] == "Assign Approver Group"
    assert (approver["hit_policy"], approver["aggregation"], approver["rules"]) == ("COLLECT", None, 3)
    assert (
        approver["outputs"] == ["result"]
        and approver["tasks"] == ["assignApprover"]
        and approver["process_key"] == "invoice"
    )
    assert approver["required"] == ["invoiceClassification"] and approver["document"] == "发票决策.dmn"
    classification = by_id["invoiceClassification"]
    assert [i["label"] for i in classification["inputs"]] == ["Invoice Amount", "Invoice Category"]
    assert classification["outputs"] == ["invoiceClassification"]
    assert (classification["hit_policy"], classification["rules"], classification["tasks"]) == ("UNIQUE", 5, [])


def test_one_decision_is_a_json_summary_and_its_dmn_document_downloads_as_uploaded(api, invoice):
    wang = api.as_("wang")
    summary = wang.get("/process-definitions/invoice/decisions/invoiceClassification", query_string={"version": 1})
    assert summary.status_code == 200 and summary.mimetype == "application/json"
    assert summary.json["id"] == "invoiceClassification" and "xml" not in summary.json
    for response in (
        wang.get("/process-definitions/invoice/decisions/invoiceClassification/xml"),
        wang.get("/process-definitions/invoice/decisions/invoiceClassification", headers={"Accept": "application/xml"}),
    ):
        assert response.status_code == 200 and response.mimetype == "application/xml"
        assert response.data == INVOICE_DMN  # byte for byte, as deployed
        assert (
            response.headers["Content-Disposition"]
            == "attachment; filename*=UTF-8''%E5%8F%91%E7%A5%A8%E5%86%B3%E7%AD%96.dmn"
        )


def test_a_version_without_decisions_lists_none(api, engine, world):
    from tests import models

    engine.repository.deploy([("approval.bpmn", models.one_task())], world["admin"])
    assert api.as_("wang").get("/process-definitions/approval/decisions").json == {"items": []}


@pytest.mark.parametrize(
    "path",
    [
        "/process-definitions/nope/decisions",
        "/process-definitions/invoice/decisions?version=9",
        "/process-definitions/invoice/decisions/nope",
        "/process-definitions/invoice/decisions/nope/xml",
        "/process-definitions/invoice/decisions/invoiceClassification?version=9",
    ],
)
def test_an_unknown_definition_version_or_decision_is_404(api, invoice, path):
    error_of(api.as_("wang").get(path), 404)


def test_a_bad_version_is_400(api, invoice):
    error_of(api.as_("wang").get("/process-definitions/invoice/decisions", query_string={"version": "x"}), 400)


@pytest.mark.parametrize(
    "path",
    [
        "/process-definitions/invoice/decisions",
        "/process-definitions/invoice/decisions/invoiceClassification",
        "/process-definitions/invoice/decisions/invoiceClassification/xml",
    ],
)
def test_decisions_are_read_by_people_as_definitions_are_not_by_a_department_system_nor_anonymously(
    api, engine, invoice, path
):
    for who in ("wang", "li", "zhou", "admin", "sun"):
        assert api.as_(who).get(path).status_code == 200, who
    system = api.with_token(engine.tokens.create_api_token("civil_affairs")["token"])
    before = database_rows(engine)
    error_of(system.get(path), 403)
    error_of(api.anonymous("GET", path), 401)
    assert database_rows(engine) == before
