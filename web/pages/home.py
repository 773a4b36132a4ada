"""`/`: each role's home. Officers and liaisons get their inbox (my tasks, claimable), supervisors
the station's SLA board, auditors the audit trail; admins a pointer to their tools."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.vocabulary import HumanTaskState, Role, SlaState

from .. import access
from ..collaboration import checked_filters, view_query
from ..context import engine
from ..errors import ApiError
from ..tasks import inbox

bp = Blueprint("home", __name__)

# The inbox's lists, as the API's query parameters: the page lists exactly what GET /api/v1/tasks
# answers with them (tests/pages/test_parity.py).
INBOX_LISTS = {
    "mine": {"assignee": "me", "state": HumanTaskState.CLAIMED, "sort": "due", "limit": 20},
    "claimable": {"candidate": "me", "state": HumanTaskState.OPEN, "sort": "due", "limit": 20},
}
CURSOR_MAX = 200


@bp.get("/")
def index():
    role = g.actor.role
    if role == Role.SUPERVISOR:
        from .board import board_page

        return board_page()
    if role == Role.AUDITOR:
        return redirect(url_for("pages.audit.show"))
    if role == Role.ADMIN:
        return render_template("admin_home.html")
    views = engine().saved_views.list(g.actor)
    current = None
    lists = {}
    wanted = request.args.get("view", "")
    if wanted.isdigit() and len(wanted) < 19:
        current = next((v for v in views if v["id"] == int(wanted)), None)
        if current is None:
            raise ApiError(404, "not_found", "saved view not found")
        page = inbox(g.actor, {"sort": "due", "limit": 50, **view_query(current)})
        lists["view"] = {"rows": with_cases(g.actor, page["items"]), "more": page["next_cursor"] is not None}
    else:
        lists = inbox_lists(g.actor)
    return render_template(
        "inbox.html", lists=lists, views=views, current=current, sla_states=VIEW_SLA_STATES, windows=VIEW_WINDOWS
    )


# What the inbox's "save a view" form offers (the API takes any GET /tasks filter).
VIEW_LISTS = ("mine", "claimable")
VIEW_SLA_STATES = (SlaState.ON_TIME, SlaState.WARNING, SlaState.BREACHED)
VIEW_WINDOWS = (4, 24, 72)  # hours: "due within"


@bp.post("/views")
def save_view():
    """Save the chosen filters under a name and show them as a tab."""
    chosen = request.form.get("list")
    base = INBOX_LISTS[chosen if chosen in VIEW_LISTS else "mine"]
    filters = {k: str(v) for k, v in base.items() if k in ("assignee", "candidate", "state")}
    sla_state = request.form.get("sla_state") or ""
    if sla_state:
        filters["sla_state"] = sla_state[:20]
    for name in ("risk_level", "community"):
        value = (request.form.get(name) or "").strip()
        if value:
            filters[name] = value[:200]
    window = request.form.get("due_within") or ""
    if window:
        filters["due_within"] = window[:5]
    group = request.form.get("group") or ""
    if group:
        filters["group"] = group[:200]
    name = (request.form.get("name") or "")[:61]
    view = engine().saved_views.create(g.actor, name, checked_filters(g.actor, filters))
    flash(_("The view “%(name)s” was saved.", name=view["name"]), "ok")
    return redirect(url_for("pages.home.index", view=view["id"]))


@bp.post("/views/<int:view_id>/remove")
def remove_view(view_id: int):
    engine().saved_views.remove(g.actor, view_id)
    flash(_("The view was removed."), "ok")
    return redirect(url_for("pages.home.index"))


def inbox_lists(who) -> dict[str, dict[str, Any]]:
    """Each inbox list's rows (task plus its case's category and risk) and the cursor of its next page
    (`?mine=<cursor>` or `?claimable=<cursor>`: the API's keyset cursor)."""
    pages = {}
    for name, query in INBOX_LISTS.items():
        cursor = request.args.get(name, "")[:CURSOR_MAX]
        pages[name] = inbox(who, {**query, "cursor": cursor} if cursor else dict(query))
    rows = with_cases(who, [t for page in pages.values() for t in page["items"]])
    by_id = {row["task"]["id"]: row for row in rows}
    return {
        name: {
            "rows": [by_id[t["id"]] for t in page["items"]],
            "more": page["next_cursor"] is not None,
            "next": page["next_cursor"],
            "paged": bool(request.args.get(name)),
        }
        for name, page in pages.items()
    }


def with_cases(who, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of `tasks` with the case fields an inbox shows (one read for all of them)."""
    variables = engine().runtime.case_variables([t["instance_id"] for t in tasks])
    return [{"task": t, "case": access.case_variables(who, variables.get(t["instance_id"], {}))} for t in tasks]
