"""Keyset paging of the inbox: sort orders, opaque cursors, and the 'strictly after' condition.

A cursor is the sort key of the last row of a page (base64url of a JSON list); the next page is the
rows strictly after it in the same order (ties broken by the task id).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_

from ..errors import InvalidInput
from ..store.models import HumanTask

_T = HumanTask.__table__.c


def sort_order(sort: str):
    """Sort columns as (column, descending); the id always breaks ties."""
    if sort == "priority":
        return [(_T.priority, True), (_T.due_at, False), (_T.id, False)]
    if sort == "created":
        return [(_T.created_at, False), (_T.id, False)]
    return [(_T.due_at, False), (_T.id, False)]


def after(order, values):
    """Keyset condition 'strictly after `values`' for an ORDER BY with NULLS LAST."""
    values = [_cursor_value(column, value) for (column, _desc), value in zip(order, values, strict=False)]
    clauses = []
    for i, (column, desc) in enumerate(order[: len(values)]):
        equal = [(c == v) if v is not None else c.is_(None) for (c, _d), v in zip(order[:i], values[:i], strict=True)]
        value = values[i]
        if value is None:
            continue  # nothing sorts after NULL within this column (NULLS LAST)
        beyond = column < value if desc else column > value
        clauses.append(and_(*equal, or_(beyond, column.is_(None))))
    return or_(*clauses) if clauses else _T.id.is_(None)


def _cursor_value(column, value):
    try:
        if value is not None and column.type.python_type is datetime:
            return datetime.fromisoformat(value)
        if value is not None and column.type.python_type is int:
            return int(value)
    except (TypeError, ValueError):
        raise InvalidInput("invalid cursor", [{"field": "cursor", "message": "invalid"}]) from None
    return value


def encode_cursor(view: dict[str, Any], sort: str) -> str:
    """The cursor after `view` (a task view) in `sort` order."""
    keys = {"priority": ["priority", "due_at", "id"], "created": ["created_at", "id"]}.get(sort, ["due_at", "id"])
    return base64.urlsafe_b64encode(json.dumps([view[k] for k in keys]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list | None:
    """The sort key a cursor carries (None for no cursor); a malformed cursor is invalid input."""
    if not cursor:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or not values:
            raise ValueError
        return values
    except (ValueError, TypeError):
        raise InvalidInput("invalid cursor", [{"field": "cursor", "message": "invalid"}]) from None
