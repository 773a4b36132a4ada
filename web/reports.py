"""KPI reports (supervisor: their station; auditor: every station): the period's bulletin, the trend
of its headline figures, and the bulletin exported as CSV or XLSX (docs/reports.md)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from engine.reports import export

from .context import actor, args, engine

bp = Blueprint("reports", __name__, url_prefix="/api/v1/reports")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/bulletin")
def bulletin():
    return jsonify(_bulletin(args()))


@bp.get("/trend")
def trend():
    query = args()
    return jsonify(
        engine().reports.trend(
            actor(), query.get("kind", "week"), query.get("count", 12), query.get("until"), query.get("station")
        )
    )


@bp.get("/bulletin/export")
def export_bulletin():
    query = args()
    return exported(_bulletin(query), query.get("format", "csv"))


def _bulletin(query: dict[str, Any]) -> dict[str, Any]:
    return engine().reports.bulletin(actor(), query.get("kind", "week"), query.get("period"), query.get("station"))


def exported(report: dict[str, Any], kind: str) -> Response:
    """The bulletin as a download: `fengqiao-<station>-<period>.csv|xlsx`."""
    name = f"fengqiao-{report['station'] or 'all'}-{report['period']['label']}.{kind}"
    if kind == "xlsx":
        response = Response(export.to_xlsx(report), mimetype=XLSX)
    else:
        # a byte-order mark: spreadsheet programs then read the Chinese station names as UTF-8
        response = Response("\ufeff" + export.to_csv(report), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
