"""Names shown for ids: usernames, department keys and definition versions, looked up together.

Views of cases and tasks name the users, stations and definition versions their rows hold by id;
one UNION statement reads every kind at once, on the driver, compiled once per shape.
"""

from __future__ import annotations

from sqlalchemy import String, bindparam, cast, literal, select, union_all

from .store.driver import DriverQuery
from .store.models import Department, ProcessDefinition, User

_NAME_COLUMNS = {
    "v": (ProcessDefinition.id, cast(ProcessDefinition.version, String)),
    "u": (User.id, User.username),
    "d": (Department.id, Department.key),
}
_NAMES: dict[tuple[tuple[str, int], ...], DriverQuery] = {}


def _names_query(shape: tuple[tuple[str, int], ...]) -> DriverQuery:
    """One UNION of the name lookups, for `count` ids of each kind (parameters v0, v1, u0, ...)."""
    query = _NAMES.get(shape)
    if query is None:
        parts = [
            select(literal(kind), id_column, value).where(
                id_column.in_([bindparam(f"{kind}{i}") for i in range(count)])
            )
            for kind, count in shape
            for id_column, value in [_NAME_COLUMNS[kind]]
        ]
        query = _NAMES[shape] = DriverQuery(union_all(*parts))
    return query


def lookup_names(scope, ids: dict[str, set]) -> dict[str, dict]:
    """Names of ids by kind ("u": usernames, "d": department keys, "v": definition versions), read
    on the driver with one statement (none when there are no ids)."""
    found: dict[str, dict] = {"u": {}, "d": {}, "v": {}}
    # counts rounded up to a power of two (the last id repeated): a bounded number of compiled shapes
    shape = tuple((kind, 1 << (len(ids[kind]) - 1).bit_length()) for kind in "vud" if ids.get(kind))
    if not shape:
        return found
    params = {}
    for kind, count in shape:
        values = sorted(ids[kind])
        params.update({f"{kind}{i}": values[min(i, len(values) - 1)] for i in range(count)})
    for kind, row_id, value in _names_query(shape).all(scope.connection(), params):
        found[kind][row_id] = int(value) if kind == "v" else value
    return found
