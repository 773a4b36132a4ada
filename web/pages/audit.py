"""`/audit`: the audit trail for auditors, filterable by case, user and action; read-only."""

from __future__ import annotations

import re

from flask import Blueprint, render_template, request

from engine.errors import NotFound

from ..context import engine
from ..errors import ApiError

bp = Blueprint("audit", __name__, url_prefix="/audit")
PAGE = 100
_CASE = re.compile(r"^[0-9a-f-]{36}$")
_WORD = re.compile(r"^[A-Za-z0-9_.@-]{1,100}$")


@bp.get("")
def show():
    filters = {name: (request.args.get(name) or "").strip() for name in ("case", "user", "action")}
    case = filters["case"]
    if case and not _CASE.match(case):  # a business key names its case
        try:
            case = engine().runtime.get_instance_by_business_key(case, history=False)["id"]
        except NotFound:  # an unknown key matches nothing
            case = "00000000-0000-0000-0000-000000000000"
    for name in ("user", "action"):
        if filters[name] and not _WORD.match(filters[name]):
            raise ApiError(400, "invalid_query", f"invalid {name}")
    after = request.args.get("after", "")
    entries = engine().history.audit_trail(
        instance_id=case or None,
        actor=filters["user"] or None,
        action=filters["action"] or None,
        after_id=int(after) if after.isdigit() and len(after) < 19 else None,
        limit=PAGE,
    )
    return render_template(
        "audit.html", entries=entries, filters=filters, next_after=entries[-1]["id"] if len(entries) == PAGE else None
    )
