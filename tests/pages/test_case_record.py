"""The printable case record and the mediation agreement: PDFs whose Chinese text can be extracted,
personal fields in clear only for those who may see them (masked otherwise), the read audited, and a
case of another station a 404."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from tests.attachment_files import jpeg
from tests.helpers import complete_as, database_rows, report_case, rows_added

from .conftest import PageUser


def text_of(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(response.data))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.fixture
def settled(engine, world):
    """A case the owner settled on the spot by a mediation agreement, with a photo attached."""
    wang = world["wang"]
    case = report_case(engine, wang)
    engine.attachments.add(case["id"], wang, "调解现场.jpg", jpeg())
    complete_as(engine, wang, case, "assess_case", {"resolution": "on_spot", "assessment": "邻里纠纷，可当场调解"})
    complete_as(
        engine, wang, case, "handle_on_spot", {"result": "mediated_agreement", "measures": "双方同意分摊维修费用"}
    )
    return case


def test_the_record_renders_chinese_text_with_steps_and_personal_fields_in_clear_for_the_owner(app, engine, settled):
    wang = PageUser(app, "wang")
    before = database_rows(engine)
    text = text_of(wang.get(f"/cases/{settled['id']}/record.pdf"))
    assert settled["business_key"] in text and "新桥派出所" in text
    assert "研判案件" in text and "双方同意分摊维修费用" in text
    assert "刘桂兰" in text and "13912345678" in text
    assert "调解现场.jpg" in text
    audit = rows_added(engine, before, "audit_log")
    assert [(a["action"], a["details"]["purpose"]) for a in audit] == [("personal_data.read", "case record (PDF)")]


def test_the_record_masks_personal_fields_for_an_officer_who_does_not_handle_the_case(app, engine, settled):
    text = text_of(PageUser(app, "chen").get(f"/cases/{settled['id']}/record.pdf"))
    assert settled["business_key"] in text
    assert "刘桂兰" not in text and "13912345678" not in text and "11010119450101123X" not in text
    assert "刘*兰" in text and "139****5678" in text
    assert "调解现场.jpg" not in text  # attachments are personal data too


def test_the_mediation_agreement_has_the_parties_terms_and_lines_to_sign(app, settled):
    text = text_of(PageUser(app, "wang").get(f"/cases/{settled['id']}/agreement.pdf"))
    assert "人民调解协议书" in text and "刘桂兰" in text and "双方同意分摊维修费用" in text
    assert text.count("签名") >= 3


def test_another_station_gets_404_and_nothing_is_read(app, engine, settled):
    liu = PageUser(app, "liu")
    before = database_rows(engine)
    assert liu.get(f"/cases/{settled['id']}/record.pdf").status_code == 404
    assert liu.get(f"/cases/{settled['id']}/agreement.pdf").status_code == 404
    assert database_rows(engine) == before
