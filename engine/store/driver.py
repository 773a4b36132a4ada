"""Statements run on the driver's cursor: the engine's hot path, and the one place that reaches
into SQLAlchemy's private attributes.

Why they exist: SQLAlchemy's execution and result machinery cost more Python per statement than
the driver's own work for the small statements every request and every change makes (the token
check, a task row, the unit of work's writes). A `DriverStatement` (writes) or `DriverQuery` (reads)
is a Core statement compiled once per dialect and run on the DB-API cursor directly; parameters and
values still go through the columns' type processors, driver errors through SQLAlchemy's own
handling (a lost connection invalidates the pool and surfaces as `DBAPIError`), and cursor events
still fire. docs/benchmarks.md has the measurements.

Which way to the database for which purpose:
- the hot path (a change's writes, the reads of every request): `DriverStatement`, `DriverQuery`;
- other Core reads and writes: `scope.connection().execute(statement)`;
- the ORM (admin screens, the timer sweeper, rare writes): `scope.get(Model, id)`, `scope.add(row)`,
  `scope.scalars(select(Model))` (engine/store/db.py `Scope`).
The private attributes used here (`_bind_processors`, `_result_columns`, `_cached_result_processor`,
`_returning`, `_has_events`, `_handle_dbapi_exception`) are SQLAlchemy 2.1's; the lock pins it and
tests/test_driver_statements.py checks the behaviour they carry on both backends.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from sqlalchemy import bindparam


class DriverStatement:
    """A Core write statement compiled once per dialect (and column set) and run on the driver's cursor.

    SQLAlchemy's execution path costs more Python per statement than the driver's own work, and the
    unit of work runs about ten writes per change. Parameters still go
    through the columns' type processors; driver errors go through SQLAlchemy's handling (a lost
    connection invalidates the pool and surfaces as `DBAPIError`), and cursor events still fire.
    Statements with expanding (IN) parameters are not supported.
    """

    def __init__(self, statement):
        self.statement = statement
        self._plans: dict[tuple, tuple[str, list, bool]] = {}

    # PostgreSQL: rows inserted together go as one multi-row VALUES statement (one compiled plan per
    # row count and column set) of at most 32 rows and, past one row, at most 50 values (rows x the
    # columns given): psycopg parses the text of a statement with more parameters on every call and
    # never prepares it (MAX_CACHED_STATEMENT_PARAMS in psycopg/_queries.py): six timer rows cost
    # about twice the CPU as one statement as they do as two prepared ones.
    MAX_ROWS_PER_STATEMENT = 32
    MAX_PARAMETERS_PER_STATEMENT = 50

    def execute(self, scope, params: dict[str, Any] | list[dict[str, Any]]) -> int:
        """Execute with one parameter set or many (executemany); returns the rowcount."""
        rows: list[dict[str, Any]] = params if isinstance(params, list) else [params]
        if not rows:
            return 0
        connection = scope.connection()
        dialect = connection.dialect
        if len(rows) > 1 and self.statement.is_insert and dialect.name == "postgresql":
            # psycopg's executemany runs a pipeline whose Python loop was a visible share of a web
            # worker's time. One INSERT ... VALUES (...), (...) is one statement and one round trip.
            return sum(self._run(connection, plan, [values]) for plan, values in self._chunks(dialect, rows))
        columns = tuple(rows[0]) if self.statement.is_insert else None
        return self._run(connection, self._plan(dialect, columns, None), rows)

    def returning(self, scope, rows: list[dict[str, Any]]) -> list[Any]:
        """Insert rows and return what the INSERT's RETURNING names (as named tuples, in no particular
        order): one multi-row VALUES statement per chunk on both backends."""
        connection = scope.connection()
        found = []
        for (sql, binds, positional, row_type, processors), params in self._chunks(connection.dialect, rows):
            values = _bind_values(binds, positional, params)
            found += _rows(_fetch_all(connection, sql, values), row_type, processors)
        return found

    def _chunks(self, dialect, rows: list[dict[str, Any]]):
        """(plan, parameters) of one multi-row VALUES statement per chunk of rows (callers pass rows)."""
        step = self.MAX_ROWS_PER_STATEMENT
        if dialect.name == "postgresql":
            step = max(1, min(step, self.MAX_PARAMETERS_PER_STATEMENT // len(rows[0])))
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            yield self._plan(dialect, tuple(chunk[0]), len(chunk)), _flatten(chunk)

    def _plan(self, dialect, columns: tuple[str, ...] | None, multi_rows: int | None):
        key = (dialect.name, columns, multi_rows)
        plan = self._plans.get(key)
        if plan is None:
            if multi_rows is None:
                plan = self._compile(self.statement, dialect, columns)
            else:
                assert columns is not None  # rows inserted together name their columns
                table = self.statement.table
                statement = self.statement.values(
                    [{c: bindparam(f"r{i}_{c}", type_=table.c[c].type) for c in columns} for i in range(multi_rows)]
                )
                plan = self._compile(statement, dialect, results=bool(statement._returning))
            self._plans[key] = plan
        return plan

    @staticmethod
    def _run(connection, plan, rows: list[dict[str, Any]]) -> int:
        sql, binds, positional = plan[:3]
        values = [_bind_values(binds, positional, row) for row in rows]
        many = len(values) > 1  # SQLite's executemany is a loop in C
        cursor = driver_execute(connection, sql, values if many else values[0], many)
        count = cursor.rowcount
        cursor.close()
        return count

    @staticmethod
    def _compile(statement, dialect, column_keys=None, results: bool = False) -> tuple:
        """(SQL, binds, positional), and with `results` the result plan (`_result_plan`)."""
        compiled = statement.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        processors = compiled._bind_processors
        names = compiled.positiontup if compiled.positional else list(compiled.binds)
        binds = []
        for name in names:
            bind = compiled.binds[name]
            if bind.expanding:
                raise ValueError("DriverStatement does not support expanding parameters")
            named = not bind.key.startswith("%(")  # anonymous binds carry a literal value
            default = (
                None
                if named
                else (processors[name](bind.effective_value) if name in processors else bind.effective_value)
            )
            entry = (bind.key if named else None, default, processors.get(name) if named else None)
            binds.append(entry if compiled.positional else (name, entry))
        plan = (compiled.string, binds, compiled.positional)
        return plan + _result_plan(compiled, dialect) if results else plan


def _flatten(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The parameters of a multi-row VALUES statement: row i's column c is bound as r{i}_{c}."""
    return {f"r{i}_{column}": value for i, row in enumerate(rows) for column, value in row.items()}


class DriverQuery:
    """A Core SELECT compiled once per dialect and read on the driver's cursor (the reads of every
    request: the token check, a case's or an actor's tasks).

    SQLAlchemy's execution and result machinery cost several times the driver's own work for the
    token check. Parameters go through the columns' bind
    processors and values through their result processors, as SQLAlchemy would; driver errors go
    through SQLAlchemy's handling. Rows are named tuples (`row.column`).
    """

    def __init__(self, statement):
        self.statement = statement
        self._plans: dict[str, tuple] = {}

    def all(self, connection, params: dict[str, Any]) -> list[Any]:
        """The rows, as named tuples (`row.column`)."""
        dialect = connection.dialect
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = self._compile(dialect)
        sql, binds, positional, row_type, processors = plan
        values = _bind_values(binds, positional, params)
        return _rows(_fetch_all(connection, sql, values), row_type, processors)

    def _compile(self, dialect):
        return DriverStatement._compile(self.statement, dialect, results=True)


def _result_plan(compiled, dialect) -> tuple:
    """A named-tuple type for a compiled statement's result columns, and their result processors
    (None: none)."""
    columns = compiled._result_columns
    row_type = namedtuple("Row", [str(c.keyname) for c in columns], rename=True)  # type: ignore[misc]  # unnamed: _0, _1
    processors = [c.type._cached_result_processor(dialect, None) for c in columns]
    return row_type, processors if any(processors) else None


def _rows(rows: list[tuple], row_type, processors) -> list[Any]:
    if processors is None:
        return [row_type._make(row) for row in rows]
    return [row_type._make([proc(v) if proc else v for proc, v in zip(processors, row, strict=True)]) for row in rows]


def _bind_values(binds: list, positional: bool, row: dict[str, Any]):
    """A statement's driver parameters from named values, through the columns' bind processors."""
    if positional:
        return [(proc(row[k]) if proc else row[k]) if k is not None else default for k, default, proc in binds]
    return {
        name: (proc(row[k]) if proc else row[k]) if k is not None else default for name, (k, default, proc) in binds
    }


def driver_execute(connection, sql: str, parameters, many: bool = False):
    """Run a statement on a cursor of the connection's driver connection, with SQLAlchemy's cursor
    events and error handling (a lost connection invalidates the pool and raises `DBAPIError`); the
    caller closes the cursor. A plain function, not a context manager: it runs for every statement."""
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        if connection._has_events or connection.engine._has_events:
            connection.dispatch.before_cursor_execute(connection, cursor, sql, parameters, None, many)
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        return cursor
    except Exception as exc:
        cursor.close()
        connection._handle_dbapi_exception(exc, sql, parameters, cursor, None)
        raise  # unreachable: the handler raises


def _fetch_all(connection, sql: str, parameters) -> list[tuple]:
    """A statement's rows (SQLite steps through them in fetchall: its errors are handled the same way)."""
    cursor = driver_execute(connection, sql, parameters)
    try:
        return cursor.fetchall()
    except Exception as exc:
        connection._handle_dbapi_exception(exc, sql, parameters, cursor, None)
        raise  # unreachable: the handler raises
    finally:
        cursor.close()
