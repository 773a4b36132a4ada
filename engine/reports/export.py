"""The bulletin as a table: one row per station, department and officer, with the plan's targets and
whether each was met; written as CSV, XLSX (openpyxl) or aligned text (the command line)."""

from __future__ import annotations

import csv
import io
from typing import Any

COLUMNS = (
    "level",
    "name",
    "cases_reported",
    "answered",
    "answered_within_24h",
    "response_rate",
    "response_target",
    "response_met",
    "claim_median_min",
    "claim_p90_min",
    "closed",
    "closed_on_spot",
    "on_spot_rate",
    "on_spot_target",
    "on_spot_met",
    "rated",
    "satisfied",
    "satisfaction_rate",
    "satisfaction_target",
    "satisfaction_met",
    "reopened",
    "reopen_rate",
    "supervisor_reviews",
    "cancelled",
    "escalations",
    "department_claimed",
    "department_claim_median_min",
    "department_claim_p90_min",
    "department_handled",
    "department_handling_median_min",
    "department_handling_p90_min",
    "within_deadline",
    "within_deadline_rate",
    "breaches",
    "returns",
    "transfers",
    "time_zone",  # a station's calendar (each station's own period); last: the columns before keep their place
)


def _case_row(level: str, name: str, figures: dict[str, Any], time_zone: str | None = None) -> dict[str, Any]:
    targets = {t["figure"]: t for t in figures["targets"]}
    response = figures["response"]

    def target(figure: str) -> dict[str, Any]:
        return {"target": targets[figure]["target"], "met": targets[figure]["met"]}

    return {
        "level": level,
        "name": name,
        "time_zone": time_zone,
        "cases_reported": figures["cases_reported"],
        "answered": response["answered"],
        "answered_within_24h": response["within_24h"],
        "response_rate": response["rate"],
        "response_target": target("response_rate")["target"],
        "response_met": target("response_rate")["met"],
        "claim_median_min": response["claim_minutes"]["median"],
        "claim_p90_min": response["claim_minutes"]["p90"],
        "closed": figures["closed"],
        "closed_on_spot": figures["closed_on_spot"],
        "on_spot_rate": figures["on_spot_rate"],
        "on_spot_target": target("on_spot_rate")["target"],
        "on_spot_met": target("on_spot_rate")["met"],
        "rated": figures["rated"],
        "satisfied": figures["satisfied"],
        "satisfaction_rate": figures["satisfaction_rate"],
        "satisfaction_target": target("satisfaction_rate")["target"],
        "satisfaction_met": target("satisfaction_rate")["met"],
        "reopened": figures["reopened"],
        "reopen_rate": figures["reopen_rate"],
        "supervisor_reviews": figures["supervisor_reviews"],
        "cancelled": figures["cancelled"],
        "escalations": figures["escalations"],
    }


def _department_row(figures: dict[str, Any]) -> dict[str, Any]:
    return {
        "level": "department",
        "name": figures["department"],
        "escalations": figures["escalations"],
        "department_claimed": figures["claimed"],
        "department_claim_median_min": figures["claim_minutes"]["median"],
        "department_claim_p90_min": figures["claim_minutes"]["p90"],
        "department_handled": figures["handled"],
        "department_handling_median_min": figures["handling_minutes"]["median"],
        "department_handling_p90_min": figures["handling_minutes"]["p90"],
        "within_deadline": figures["within_deadline"],
        "within_deadline_rate": figures["within_deadline_rate"],
        "breaches": figures["breaches"],
        "returns": figures["returns"],
        "transfers": figures["transfers"],
    }


def rows(bulletin: dict[str, Any]) -> list[dict[str, Any]]:
    """The bulletin's rows: everyone in scope, then each station, department and officer."""
    # each station counted in its own calendar: the total's zone only when every station shares one
    zones = {s["time_zone"] for s in bulletin["period"].get("station_time_zones", ())} or {None}
    total_zone = bulletin["period"]["time_zone"] if bulletin["station"] else (zones.pop() if len(zones) == 1 else None)
    table = [_case_row("total", bulletin["station"] or "*", bulletin["summary"], total_zone)]
    table += [_case_row("station", s["station"], s, s["time_zone"]) for s in bulletin["stations"]]
    table += [_department_row(d) for d in bulletin["departments"]]
    table += [_case_row("officer", o["officer"], o) for o in bulletin["officers"]]
    return [{column: row.get(column) for column in COLUMNS} for row in table]


def _cell(value: Any) -> Any:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "" if value is None else value


def to_csv(bulletin: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows(bulletin):
        writer.writerow([_cell(row[column]) for column in COLUMNS])
    return out.getvalue()


def to_xlsx(bulletin: dict[str, Any]) -> bytes:
    """One sheet, the same rows as the CSV; numbers stay numbers, rates formatted as percentages."""
    from openpyxl import Workbook  # type: ignore[import-untyped]  # imported here: only exports need it

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = bulletin["period"]["label"]
    sheet.append(list(COLUMNS))
    for row in rows(bulletin):
        sheet.append([_cell(row[column]) for column in COLUMNS])
    for index, column in enumerate(COLUMNS, start=1):
        if column.endswith(("_rate", "_target")):
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = "0.0%"
    sheet.freeze_panes = "C2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_text(bulletin: dict[str, Any]) -> str:
    """The bulletin for a terminal: a few headline columns, aligned."""
    shown = (
        "level",
        "name",
        "cases_reported",
        "response_rate",
        "response_met",
        "on_spot_rate",
        "on_spot_met",
        "satisfaction_rate",
        "satisfaction_met",
        "escalations",
        "within_deadline_rate",
        "breaches",
    )
    period = bulletin["period"]
    lines = [[column for column in shown]]
    for row in rows(bulletin):
        lines.append([_text(row[column]) for column in shown])
    widths = [max(len(line[i]) for line in lines) for i in range(len(shown))]
    out = [f"{period['kind']} {period['label']} ({period['time_zone']}) {bulletin['station'] or 'all stations'}"]
    out += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines]
    backlog = bulletin["backlog"]
    out.append(f"open backlog: {backlog['total']} " + " ".join(f"{k}={v}" for k, v in backlog["by_sla_state"].items()))
    return "\n".join(out) + "\n"


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1%}" if value <= 1 else f"{value:g}"
    return str(_cell(value)) if value is not None else "-"
