"""Keyset paging of the inbox: sort orders, opaque cursors, and the 'strictly after' condition.

A cursor is the sort key of the last row of a page (base64url of a JSON list); the next page is the
rows strictly after it in the same order (ties broken by the task id).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, and_, or_

from ..errors import InvalidQuery
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
    """Keyset condition 'strictly after `values`' (from `decode_cursor`) for an ORDER BY with NULLS LAST."""
    clauses = []
    for i, (column, desc) in enumerate(order[: len(values)]):
        equal = [(c == v) if v is not None else c.is_(None) for (c, _d), v in zip(order[:i], values[:i], strict=True)]
        value = values[i]
        if value is None:
            continue  # nothing sorts after NULL within this column (NULLS LAST)
        beyond = column < value if desc else column > value
        clauses.append(and_(*equal, or_(beyond, column.is_(None))))
    return or_(*clauses) if clauses else _T.id.is_(None)


# what the column's integer type holds on both SQLite and PostgreSQL (PostgreSQL binds an Integer as int4)
_INTEGER_RANGES = {True: range(-(2**63), 2**63), False: range(-(2**31), 2**31)}


def _cursor_value(column, value):
    """One decoded cursor value as its sort column's Python type; ValueError unless it could be one."""
    if value is None:
        if not column.nullable:
            raise ValueError
        return None
    kind = column.type.python_type
    if kind is datetime and isinstance(value, str):
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError
        try:
            return moment.astimezone(UTC)
        except OverflowError:  # a moment outside the years 1 to 9999 in UTC
            raise ValueError from None
    if kind is int and type(value) is int and value in _INTEGER_RANGES[isinstance(column.type, BigInteger)]:
        return value
    if kind is str and isinstance(value, str) and len(value) <= 64 and value.isascii() and value.isprintable():
        return value
    raise ValueError


def encode_cursor(view: dict[str, Any], sort: str) -> str:
    """The cursor after `view` (a task view) in `sort` order."""
    keys = {"priority": ["priority", "due_at", "id"], "created": ["created_at", "id"]}.get(sort, ["due_at", "id"])
    return base64.urlsafe_b64encode(json.dumps([view[k] for k in keys]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, sort: str) -> list | None:
    """The sort columns' values a cursor carries, checked one by one: it comes back from the client."""
    if not cursor:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        order = sort_order(sort)
        if not isinstance(values, list) or len(values) != len(order):
            raise ValueError
        return [_cursor_value(column, value) for (column, _desc), value in zip(order, values, strict=True)]
    except (ValueError, TypeError):
        raise InvalidQuery("invalid cursor", [{"field": "cursor", "message": "invalid"}]) from None
