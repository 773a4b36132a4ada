"""KPI reports over HTTP (issue 21): the bulletin, the trend and the CSV/XLSX exports hold the same
numbers; supervisors see their own station, auditors every one, other roles get a 403; bad periods a
400/422; nothing is written by a refused request."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from engine.reports import export
from tests.api.conftest import error_of
from tests.helpers import database_rows
from tests.test_reports import simulate


@pytest.fixture
def generated(engine, world, clock):
    simulate(engine, world, clock, count=12)
    return world


def _json(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.json


def test_the_bulletin_over_http_is_the_engines(api, engine, generated):
    body = _json(api.as_("sun").get("/reports/bulletin", query_string={"kind": "week", "period": "2026-W48"}))
    direct = engine.reports.bulletin(generated["sun"], "week", "2026-W48")
    assert body["summary"] == direct["summary"] and body["departments"] == direct["departments"]
    assert body["period"]["label"] == "2026-W48" and body["period"]["time_zone"] == "Asia/Shanghai"
    assert body["summary"]["cases_reported"] > 0
    mine = _json(api.as_("zhou").get("/reports/bulletin", query_string={"kind": "month", "period": "2026-11"}))
    assert mine["station"] == "xinqiao" and {s["station"] for s in mine["stations"]} == {"xinqiao"}
    trend = _json(api.as_("qian").get("/reports/trend", query_string={"kind": "week", "count": 3, "until": "2026-W49"}))
    assert trend["station"] == "dongfeng" and [p["period"] for p in trend["points"]] == [
        "2026-W47",
        "2026-W48",
        "2026-W49",
    ]


def test_the_xlsx_and_the_csv_hold_the_apis_numbers(api, generated):
    query = {"kind": "week", "period": "2026-W48"}
    bulletin = _json(api.as_("sun").get("/reports/bulletin", query_string=query))
    response = api.as_("sun").get("/reports/bulletin/export", query_string={**query, "format": "xlsx"})
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert 'filename="fengqiao-all-2026-W48.xlsx"' in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert tuple(rows[0]) == export.COLUMNS
    table = {(r[0], r[1]): dict(zip(export.COLUMNS, r, strict=True)) for r in rows[1:]}
    total = table[("total", "*")]
    summary = bulletin["summary"]
    assert total["cases_reported"] == summary["cases_reported"]
    assert total["closed_on_spot"] == summary["closed_on_spot"]
    assert total["on_spot_rate"] == summary["on_spot_rate"]
    assert total["satisfaction_rate"] == summary["satisfaction_rate"]
    assert total["response_rate"] == summary["response"]["rate"]
    assert total["on_spot_target"] == 0.85 and total["satisfaction_target"] == 0.92
    met = {t["figure"]: t["met"] for t in summary["targets"]}
    assert total["on_spot_met"] == {True: "yes", False: "no", None: None}[met["on_spot_rate"]]
    for station in bulletin["stations"]:
        assert table[("station", station["station"])]["cases_reported"] == station["cases_reported"]
    for department in bulletin["departments"]:
        row = table[("department", department["department"])]
        assert (row["escalations"], row["breaches"], row["returns"], row["transfers"]) == (
            department["escalations"],
            department["breaches"],
            department["returns"],
            department["transfers"],
        )
    for officer in bulletin["officers"]:
        assert table[("officer", officer["officer"])]["rated"] == officer["rated"]
    assert len(rows) - 1 == 1 + len(bulletin["stations"]) + len(bulletin["departments"]) + len(bulletin["officers"])

    response = api.as_("sun").get("/reports/bulletin/export", query_string=query)
    assert response.mimetype == "text/csv"
    lines = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r["level"], r["name"]) for r in lines] == [(r[0], r[1]) for r in rows[1:]]
    assert int(lines[0]["cases_reported"]) == summary["cases_reported"]


def test_only_supervisors_of_the_station_and_auditors_read_reports_and_refusals_change_nothing(api, engine, world):
    for username in ("wang", "li", "admin", "zhou", "sun"):
        api.as_(username)  # logged in before: a login writes its token
    before = database_rows(engine)
    for username in ("wang", "li", "admin"):
        for path in ("/reports/bulletin", "/reports/trend", "/reports/bulletin/export"):
            error_of(api.as_(username).get(path), 403)
    error_of(api.as_("zhou").get("/reports/bulletin", query_string={"station": "dongfeng"}), 403)
    error_of(api.as_("zhou").get("/reports/bulletin/export", query_string={"station": "dongfeng"}), 403)
    error_of(api.as_("sun").get("/reports/bulletin", query_string={"station": "nowhere"}), 404)
    error_of(api.as_("sun").get("/reports/bulletin", query_string={"kind": "month", "period": "2026-W48"}), 422)
    error_of(api.as_("sun").get("/reports/bulletin", query_string={"period": "next week"}), 400)
    error_of(api.as_("sun").get("/reports/trend", query_string={"count": 99}), 400)
    error_of(api.as_("sun").get("/reports/bulletin/export", query_string={"format": "pdf"}), 400)
    error_of(api.anonymous("GET", "/reports/bulletin"), 401)
    assert database_rows(engine) == before
