"""The supervisor's SLA board: the station's open tasks per department and per officer by SLA state,
filters, the breached list oldest first, and the supervisor's own tasks."""

from __future__ import annotations

from collections import Counter

from flask import Blueprint, g, render_template, request

from engine import tallies
from engine.tasks import MAX_LIMIT
from engine.vocabulary import OPEN_TASK_STATES, SlaState

from ..context import engine
from ..tasks import inbox
from .home import inbox_lists, with_cases
from .tasks import colleagues

bp = Blueprint("board", __name__, url_prefix="/board")
SLA_STATES = ("on_time", "warning", "breached")
OPEN = list(OPEN_TASK_STATES)


@bp.get("")
def show():
    return board_page()


def board_page():
    who = g.actor
    chosen = {
        "group": request.args.get("group") or None,
        "assignee": request.args.get("assignee") or None,
        "sla_state": request.args.get("sla_state") if request.args.get("sla_state") in SLA_STATES else None,
    }
    query = {"state": OPEN, "sort": "due", "limit": MAX_LIMIT, **{k: v for k, v in chosen.items() if v}}
    page = inbox(who, query)
    tasks = page["items"]
    by_department: dict[str, Counter] = {}
    by_officer: dict[str, Counter] = {}
    for task in tasks:
        state = task["sla_state"] or "on_time"
        for group in task["candidate_groups"] or [task["lane"] or "-"]:
            by_department.setdefault(group, Counter())[state] += 1
        by_officer.setdefault(task["assignee"] or "", Counter())[state] += 1
    breached = inbox(who, {"state": OPEN, "sla_state": SlaState.BREACHED, "sort": "due", "limit": 50})["items"]
    # returns and urges per department, extensions waiting for a decision (docs/operations.md)
    station = who.station_id if who.role == "supervisor" else None
    handling = sorted(tallies.department_tallies(engine(), station).items())
    extensions = tallies.pending_extensions(engine(), station)
    return render_template(
        "board.html",
        chosen=chosen,
        total=len(tasks),
        more=page["next_cursor"] is not None,
        states=SLA_STATES,
        by_department=sorted(by_department.items()),
        by_officer=sorted(by_officer.items()),
        breached=with_cases(who, breached),
        tasks=with_cases(who, tasks),
        lists=inbox_lists(who),
        colleagues=colleagues(),
        handling=handling,
        extensions=extensions,
    )
