"""The reports page in chromium (issue 21): a supervisor's and an auditor's bulletin with its SVG
trend, phone and desktop, Chinese and English, no script errors, axe, photographed; the XLSX and
CSV links download the period's bulletin."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.browser.conftest import DESKTOP, PHONE
from tests.test_reports import simulate


@pytest.fixture
def generated(engine, world, clock):
    simulate(engine, world, clock, count=14)
    return world


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_reports_page_fits_a_phone_is_accessible_and_is_photographed(open_as, generated, engine, locale):
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        for username in ("zhou", "sun"):
            watched = open_as(username, viewport=viewport, locale=locale)
            watched.go("/reports?kind=week&period=2026-W48")
            bulletin = engine.reports.bulletin(generated[username], "week", "2026-W48")
            page = watched.page
            assert page.locator("#kpis .kpi").count() == 3
            assert page.locator("#summary [data-figure=cases_reported]").inner_text() == str(
                bulletin["summary"]["cases_reported"]
            )
            assert page.locator("#trend-chart polyline").count() >= 1
            assert page.locator("#by-department tbody tr").count() == max(1, len(bulletin["departments"]))
            assert page.locator("#by-station").count() == (1 if username == "sun" else 0)
            for table in ("by-risk", "by-department", "by-officer"):  # drawn as tables: headers above rows
                head = page.locator(f"#{table} thead").bounding_box()
                first = page.locator(f"#{table} tbody tr").first.bounding_box()
                assert head["y"] + head["height"] <= first["y"] + 1 and head["width"] <= first["width"] + 1, table
            watched.shot(f"reports-{username}-{size}-{locale}")
            assert watched.axe_violations() == [], (username, size)
            if size == "phone":
                assert watched.layout_problems() == [], username


def test_the_top_bar_leads_supervisors_and_auditors_to_the_reports_and_the_export_downloads(open_as, generated):
    supervisor = open_as("zhou", viewport=DESKTOP)
    supervisor.go("/")
    supervisor.page.click("nav.nav a[href='/reports']")
    supervisor.page.wait_for_selector("#kpis")
    with supervisor.page.expect_download() as download:
        supervisor.page.click("#export-xlsx")
    sheet = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active  # saved without a suffix
    assert [row[0] for row in sheet.iter_rows(min_row=2, max_col=1, values_only=True)][0] == "total"
    officer = open_as("wang", viewport=DESKTOP)
    officer.go("/")
    assert officer.page.locator("nav.nav a[href='/reports']").count() == 0


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_an_auditor_sees_each_stations_time_zone_when_they_differ(open_as, engine, world, clock, locale):
    engine.identity.set_time_zone("dongfeng", "Asia/Urumqi")
    simulate(engine, world, clock, count=14)
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        watched = open_as("sun", viewport=viewport, locale=locale)
        watched.go("/reports?kind=week&period=2026-W48")
        page = watched.page
        zones = page.locator("#station-zones").inner_text()
        assert "dongfeng Asia/Urumqi" in zones and "xinqiao Asia/Shanghai" in zones
        assert "Asia/Urumqi" in page.locator("#by-station tr[data-name=dongfeng] th").inner_text()
        watched.shot(f"reports-time-zones-{size}-{locale}")
        assert watched.axe_violations() == [], size
        if size == "phone":
            assert watched.layout_problems() == []
    supervisor = open_as("qian", viewport=DESKTOP, locale=locale)  # one station: its own zone, no list
    supervisor.go("/reports?kind=week&period=2026-W48")
    assert "Asia/Urumqi" in supervisor.page.locator("#period-line").inner_text()
    assert supervisor.page.locator("#station-zones").count() == 0
