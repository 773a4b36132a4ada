"""`/`: each role's home. Officers and liaisons get their inbox (my tasks, claimable), supervisors
the station's SLA board, auditors the audit trail; admins a pointer to their tools."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for

from engine.vocabulary import HumanTaskState, Role

from .. import access
from ..context import engine
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
    return render_template("inbox.html", lists=inbox_lists(g.actor))


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
