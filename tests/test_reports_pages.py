"""The reports page without a browser (issue 21): the same rules as the API (a supervisor's own
station, auditors every one, other roles refused), bad periods answered with an error page, never a
500, and the page's downloads are the API's bulletin."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from engine.reports import export
from tests.helpers import report_case
from tests.pages.conftest import PageUser
from web import create_app


@pytest.fixture
def app(engine, world):
    report_case(engine, world["wang"])
    report_case(engine, world["liu"])
    return create_app(engine)


def test_supervisors_and_auditors_open_the_page_and_others_are_refused(app, engine, world):
    supervisor = PageUser(app, "zhou").text("/reports?kind=month&period=2026-11")
    assert 'id="by-station"' not in supervisor and "2026-11" in supervisor
    auditor = PageUser(app, "sun").text("/reports?station=dongfeng")
    assert 'data-figure="cases_reported">1<' in auditor
    for username in ("wang", "li", "admin"):
        assert PageUser(app, username).get("/reports").status_code == 403
    assert PageUser(app, "zhou").get("/reports?station=dongfeng").status_code == 403
    assert PageUser(app, "zhou").get("/reports/export?station=dongfeng").status_code == 403
    assert PageUser(app, "sun").get("/reports?station=nowhere").status_code == 404
    for bad in ("period=2026-13&kind=month", "period=next", "kind=week&period=2025-W53"):
        response = PageUser(app, "sun").get(f"/reports?{bad}")
        assert response.status_code in (400, 422), (bad, response.status_code)


def test_the_pages_downloads_hold_the_bulletin(app, engine, world, tmp_path):
    auditor = PageUser(app, "sun")
    bulletin = engine.reports.bulletin(world["sun"], "week")
    csv_text = auditor.get("/reports/export?format=csv").get_data(as_text=True)
    assert csv_text.lstrip("\ufeff") == export.to_csv(bulletin)
    target = tmp_path / "week.xlsx"
    target.write_bytes(auditor.get("/reports/export?format=xlsx").data)
    rows = list(load_workbook(target).active.iter_rows(values_only=True))
    assert rows[1][:3] == ("total", "*", 2)
