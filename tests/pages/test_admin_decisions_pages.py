"""The console deploys a model with its `.dmn` files (issue 19): validate reads the attached tables,
deploy stores them with the model, the version's source hands them back for a redeploy of the BPMN
alone, and the versions page shows the deployed decisions read-only; refusals write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import database_rows
from tests.pages.test_admin_console_pages import post_json

MODELS = Path(__file__).resolve().parent.parent / "models"
INVOICE_DMN = (MODELS / "invoiceBusinessDecisions.dmn").read_text()
INVOICE_BPMN = (MODELS / "invoice_decision.bpmn").read_text()
DMN = [{"name": "invoiceBusinessDecisions.dmn", "xml": INVOICE_DMN}]


def test_validate_reads_the_attached_decisions_and_without_them_names_the_missing_decision(browse):
    admin = browse("admin")
    alone = post_json(admin, "/admin/validate", {"bpmn": INVOICE_BPMN})
    assert alone.status_code == 200 and alone.json["decisions"] == {}
    assert [e["element_id"] for e in alone.json["errors"]] == ["assignApprover"]
    attached = post_json(admin, "/admin/validate", {"bpmn": INVOICE_BPMN, "dmn": DMN})
    assert attached.status_code == 200 and attached.json["errors"] == []
    tables = attached.json["decisions"]["invoiceBusinessDecisions.dmn"]
    assert [(d["id"], d["hit_policy"], d["rules"]) for d in tables] == [
        ("invoice-assign-approver", "COLLECT", 3),
        ("invoiceClassification", "UNIQUE", 5),
    ]


def test_a_model_deploys_with_its_dmn_and_its_source_hands_them_back_for_a_redeploy(browse, engine):
    admin = browse("admin")
    deployed = post_json(admin, "/admin/deploy", {"bpmn": INVOICE_BPMN, "dmn": DMN, "comment": "发票"})
    assert deployed.status_code == 200, deployed.json
    assert deployed.json["definitions"][0]["created"] is True
    source = admin.get("/admin/definitions/invoice/1/source").json
    assert source["dmn"] == DMN
    # the modeler sends the BPMN with the documents it was given: the same content, no new version
    again = post_json(admin, "/admin/deploy", {"bpmn": source["xml"], "dmn": source["dmn"]})
    assert again.status_code == 200 and again.json["definitions"][0]["created"] is False
    page = admin.text("/admin/definitions/invoice")
    assert 'data-decision="invoice-assign-approver"' in page and 'data-decision="invoiceClassification"' in page
    assert "COLLECT" in page and "invoiceBusinessDecisions.dmn" in page


@pytest.mark.parametrize(
    "dmn",
    [
        "not a list",
        [{"name": "a.dmn"}],
        [{"name": "a.dmn", "xml": INVOICE_DMN}, {"name": "a.dmn", "xml": INVOICE_DMN}],
        [{"name": "model.bpmn", "xml": INVOICE_DMN}],
        [{"name": f"d{i}.dmn", "xml": INVOICE_DMN} for i in range(20)],
    ],
)
def test_a_malformed_dmn_attachment_is_400_and_writes_nothing(browse, engine, dmn):
    admin = browse("admin")
    before = database_rows(engine)
    answer = post_json(admin, "/admin/deploy", {"bpmn": INVOICE_BPMN, "dmn": dmn})
    assert answer.status_code == 400
    assert database_rows(engine) == before


def test_a_bpmn_attached_as_dmn_or_a_broken_table_is_refused_and_writes_nothing(browse, engine):
    admin = browse("admin")
    before = database_rows(engine)
    answer = post_json(admin, "/admin/deploy", {"bpmn": INVOICE_BPMN, "dmn": [{"name": "x.dmn", "xml": INVOICE_BPMN}]})
    assert answer.status_code == 422 and answer.json["error"]["code"] == "deployment_invalid"
    broken = INVOICE_DMN.replace('hitPolicy="COLLECT"', 'hitPolicy="ANY"')
    answer = post_json(admin, "/admin/deploy", {"bpmn": INVOICE_BPMN, "dmn": [{"name": "x.dmn", "xml": broken}]})
    assert answer.status_code == 422 and "ANY" in answer.json["error"]["message"] + str(answer.json["error"]["details"])
    assert database_rows(engine) == before


def test_only_admins_read_a_versions_decisions_on_the_console(browse, engine, world):
    engine.repository.deploy(
        [("invoice.bpmn", INVOICE_BPMN), ("invoiceBusinessDecisions.dmn", INVOICE_DMN)], world["admin"]
    )
    assert browse("wang").get("/admin/definitions/invoice").status_code == 403
    assert browse("wang").get("/admin/definitions/invoice/1/source").status_code == 403
