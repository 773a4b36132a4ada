"""`/reports`: the KPI reports page (supervisors: their station; auditors: every station or one).

The bulletin of a chosen week, month or quarter with the plan's targets beside its figures, the trend
of the headline figures as server-rendered SVG (no chart library: the app serves no script for it),
the open backlog, and the bulletin as CSV or XLSX. Same engine facade and rules as /api/v1/reports.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template, request

from engine.reports import PERIOD_KINDS

from ..context import engine
from ..reports import exported

bp = Blueprint("reports", __name__, url_prefix="/reports")
TREND_POINTS = 12
# the line chart's frame (SVG user units), scaled to the page's width by the viewBox; a phone gets a
# narrower frame of the last six periods, so that its labels stay legible
WIDE, NARROW, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 640, 340, 220, 44, 28, 12, 36
NARROW_POINTS = 6
SERIES = ("response_rate", "on_spot_rate", "satisfaction_rate")


def _chosen() -> dict[str, Any]:
    kind = request.args.get("kind") if request.args.get("kind") in PERIOD_KINDS else "week"
    return {
        "kind": kind,
        "period": (request.args.get("period") or "").strip() or None,
        "station": (request.args.get("station") or "").strip() or None,
    }


@bp.get("")
def show():
    chosen = _chosen()
    reports = engine().reports
    bulletin = reports.bulletin(g.actor, chosen["kind"], chosen["period"], chosen["station"])
    trend = reports.trend(g.actor, chosen["kind"], TREND_POINTS, bulletin["period"]["label"], chosen["station"])
    return render_template(
        "reports.html",
        chosen={**chosen, "period": bulletin["period"]["label"]},
        kinds=PERIOD_KINDS,
        bulletin=bulletin,
        charts=[("wide", line_chart(trend, WIDE)), ("narrow", line_chart(trend, NARROW, NARROW_POINTS))],
        stations=_stations() if g.actor.role == "auditor" else [],
    )


@bp.get("/export")
def export():
    chosen = _chosen()
    kind = "xlsx" if request.args.get("format") == "xlsx" else "csv"
    return exported(engine().reports.bulletin(g.actor, chosen["kind"], chosen["period"], chosen["station"]), kind)


def _stations() -> list[dict[str, Any]]:
    return [d for d in engine().identity.list_departments() if d["kind"] == "station"]


def line_chart(trend: dict[str, Any], width: int, last: int = TREND_POINTS) -> dict[str, Any]:
    """Coordinates of the trend chart over the `last` periods: one polyline per headline rate (0-100 %),
    the targets as dashed lines."""
    points = trend["points"][-last:]
    inner_w, inner_h = width - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = inner_w / max(1, len(points) - 1)

    def x(i: int) -> float:
        return round(LEFT + i * step, 1)

    def y(value: float) -> float:
        return round(TOP + inner_h * (1 - value), 1)

    series = []
    for name in SERIES:
        dots = [(x(i), y(p[name]), p[name]) for i, p in enumerate(points) if p[name] is not None]
        series.append(
            {
                "name": name,
                "points": " ".join(f"{px},{py}" for px, py, _ in dots),
                "dots": dots,
                "target": y(trend["targets"][name]),
            }
        )
    return {
        "width": width,
        "height": HEIGHT,
        "left": LEFT,
        "right": width - RIGHT,
        "grid": [(y(v), f"{int(v * 100)}%") for v in (0, 0.25, 0.5, 0.75, 1)],
        "labels": [(x(i), p["period"]) for i, p in enumerate(points) if i % 2 == (len(points) - 1) % 2],
        "base": HEIGHT - BOTTOM,
        "series": series,
    }
