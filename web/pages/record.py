"""The printable case record and the mediation agreement (调解协议书), as PDF (WeasyPrint).

The record: header (business key, station, owner), each step with who, when, the form's answers,
its deadline met or missed; the department results; the resident's rating; the timeline (the case
page's, web.pages.cases.case_timeline: whatever entries it yields, opinions and comments included
once they are there); the attachments, images embedded unless `?images=0`. Personal fields appear in
clear only for a caller who may see them (web.access.personal_visibility), masked otherwise; the
personal-data read the record makes is audited with the purpose "case record (PDF)".
"""

from __future__ import annotations

import base64
from typing import Any
from uuid import UUID

from flask import Blueprint, Response, g, render_template, request

from engine.config import PROJECT_ROOT
from engine.vocabulary import Role
from forms import renderer

from .. import access
from ..attachments import case_attachments
from ..context import engine
from .cases import case_timeline
from .formatting import locale_name

bp = Blueprint("record", __name__, url_prefix="/cases")
PRINT_CSS = PROJECT_ROOT / "web" / "static" / "css" / "print.css"
AGREEMENT_RESULT = "mediated_agreement"  # handle_on_spot's `result` for a dispute settled by agreement


@bp.get("/<uuid:instance_id>/record.pdf")
def record(instance_id: UUID):
    view = record_view(g.actor, instance_id, purpose="case record (PDF)")
    if request.args.get("images") != "0":
        _embed_thumbnails(view["attachments"])
    return pdf(render_template("record.html", **view), f"{view['case']['business_key']}.pdf")


@bp.get("/<uuid:instance_id>/agreement.pdf")
def agreement(instance_id: UUID):
    view = record_view(g.actor, instance_id, purpose="mediation agreement (PDF)")
    return pdf(render_template("agreement.html", **view), f"{view['case']['business_key']}-agreement.pdf")


def record_view(who, instance_id: UUID | str, purpose: str) -> dict[str, Any]:
    """Everything the record shows, as `who` may see it (a 404 for a case they may not know)."""
    case = engine().runtime.get_instance(str(instance_id))
    all_tasks = engine().tasks.query(instance_id=case["id"], limit=200)["items"]
    access.check_instance(who, case, all_tasks if who.role == Role.LIAISON else None)
    liaison_tasks = all_tasks if who.role == Role.LIAISON else None
    visibility = access.personal_visibility(who, case, liaison_tasks)
    records = engine().runtime.personal_data(case["id"], who, purpose)
    personal = access.personal_view(who, records, visibility, liaison_tasks)
    tasks = [t for t in all_tasks if access.task_visible(who, t)]
    case = {**case, "variables": access.case_variables(who, case["variables"]), "personal_data": personal}
    departments = engine().identity.list_departments()
    agencies = {d["key"] for d in departments if d["kind"] == "agency"}
    steps = [_step(t, personal["records"], agencies) for t in sorted(tasks, key=lambda t: t["created_at"])]
    return {
        "case": case,
        "station": next((d["name"] for d in departments if d["key"] == case["station"]), case["station"] or ""),
        "steps": steps,
        "departments": [s for s in steps if s["department"]],
        "rating": next((s for s in reversed(steps) if "satisfaction" in (s["task"]["outcome"] or {})), None),
        "timeline": case_timeline(case, tasks, engine().comments.list(case["id"])) if who.role != Role.LIAISON else [],
        "attachments": case_attachments(who, case["id"])["items"],
        "visibility": visibility,
        "printed_by": who.username,
        "agreement_step": next(
            (s for s in steps if (s["task"]["outcome"] or {}).get("result") == AGREEMENT_RESULT), None
        ),
    }


def _step(task: dict[str, Any], records: list[dict[str, Any]], agencies: set[str]) -> dict[str, Any]:
    """A task with its answers in words: the declared outcome fields, then its personal fields."""
    schema = engine().forms.get(task["form_key"]).schema if task["form_key"] in engine().forms else {}
    locale = locale_name()
    answers = []
    for key, value in (task["outcome"] or {}).items():
        shown = (
            ", ".join(renderer.option_label(schema, key, v, locale) for v in value)
            if isinstance(value, list)
            else renderer.option_label(schema, key, value, locale)
        )
        answers.append((renderer.field_title(schema, key, locale), shown))
    for record in records:
        if record["task_id"] == task["id"]:
            answers += [(renderer.field_title(schema, k, locale), str(v)) for k, v in record["data"].items()]
    return {
        "task": task,
        "answers": answers,
        "department": bool(agencies & set(task["candidate_groups"])),
    }


def _embed_thumbnails(items: list[dict[str, Any]]) -> None:
    """Images as data URIs: the PDF renderer fetches nothing over the network."""
    for item in items:
        if item["has_thumbnail"]:
            _meta, data = engine().attachments.read(item["id"], g.actor, thumbnail=True)
            item["data_uri"] = "data:image/jpeg;base64," + base64.b64encode(data).decode()


def pdf(html: str, filename: str) -> Response:
    from weasyprint import CSS, HTML  # type: ignore[import-untyped]  # imported on first print: loads pango
    from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

    # embedded images (data: URLs) and nothing else: no file, no network
    fetcher = URLFetcher(allowed_protocols=("data",))
    stylesheet = CSS(string=PRINT_CSS.read_text(encoding="utf-8"))
    document = HTML(string=html, url_fetcher=fetcher).write_pdf(stylesheets=[stylesheet])
    response = Response(document, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
