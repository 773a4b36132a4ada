"""Database connections and schema migration.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every transaction begins
IMMEDIATE: writers queue for the write lock up front instead of failing half-way. PostgreSQL runs at
READ COMMITTED with explicit row locks taken by the unit of work.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from .. import json_codec
from ..errors import Unavailable
from .checkpointer import Checkpointer

HERE = Path(__file__).resolve().parent
# JSON columns (variables, audit details, outbox payloads, queue groups) encoded with orjson (engine/json_codec.py)
_JSON = {"json_serializer": json_codec.dumps}


class Database:
    checkpointer: Checkpointer | None = None  # SQLite: the WAL is checkpointed off the request path

    def __init__(self, url: str, echo: bool = False):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self._ensure_sqlite_dir(url)
            # LIFO: a transaction takes the connection used last. SQLite keeps a page cache per
            # connection and drops it when another connection wrote meanwhile; handing connections
            # round (FIFO) meant every transaction of a one-request-at-a-time server started cold.
            self.engine: Engine = create_engine(
                url,
                echo=echo,
                pool_use_lifo=True,
                connect_args={"timeout": 30, "check_same_thread": False},
                **_JSON,
            )
            event.listen(self.engine, "connect", _sqlite_connect)
            self.checkpointer = Checkpointer(self.engine.url.database)
            backstop = self.checkpointer.backstop_pragma()
            event.listen(self.engine, "connect", lambda dbapi, _record: dbapi.execute(backstop))
        else:
            # No parallel query: the engine's statements read a page of rows through indexes, and starting
            # parallel workers cost more than the whole query (bench/scale.py: group queue at 1M cases).
            # No pre-ping: it costs a round trip per transaction (~8% of a web worker under load). A
            # connection lost to a restart fails its transaction instead, which raises Unavailable; the
            # pool then replaces every older connection, and callers retry (`retrying`, the unit of work).
            # LIFO as on SQLite: the connections used last stay warm (prepared statements), idle ones idle.
            self.engine = create_engine(
                url,
                echo=echo,
                pool_size=10,
                max_overflow=10,
                pool_use_lifo=True,
                connect_args={"options": "-c max_parallel_workers_per_gather=0"},
                **_JSON,
            )
        # SQLite has one writer at a time. Threads of this process take turns on a lock instead of
        # polling the database lock (SQLite's busy handler sleeps and retries: under load some writers
        # starved for seconds); other processes still wait through the busy timeout.
        self._write_turn = threading.RLock() if self.is_sqlite else nullcontext()
        # SQLite's driver is in autocommit mode and `_scope` sends BEGIN itself (not from a "begin" event:
        # with any connection event registered, SQLAlchemy dispatches events around every begin, commit
        # and statement, ~35 µs a transaction). Writers begin IMMEDIATE. Reads begin DEFERRED: they neither
        # take nor wait for the write lock (WAL readers see the last committed state).
        self._begin = {"write": "BEGIN IMMEDIATE", "read": "BEGIN", "statement": None} if self.is_sqlite else {}
        # Reads of one statement need no transaction: on PostgreSQL they run in autocommit, which saves
        # the BEGIN and COMMIT round trips (a token check per request, an inbox page, a task).
        # On SQLite a statement outside BEGIN is its own read transaction.
        self._statement_engine = (
            self.engine if self.is_sqlite else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )

    @staticmethod
    def _ensure_sqlite_dir(url: str) -> None:
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def transaction(self):
        """One transaction (a `Scope`): committed on success, rolled back on any exception."""
        with self._write_turn:
            yield from _scope(self.engine, self._begin.get("write"))
        if self.checkpointer is not None:
            self.checkpointer.wake()

    @contextmanager
    def read(self):
        """A read-only transaction: like `transaction()`, but on SQLite it does not queue behind writers."""
        yield from _scope(self.engine, self._begin.get("read"))

    @contextmanager
    def read_statement(self):
        """For one read statement (each statement sees a consistent state of its own): no BEGIN and
        no COMMIT on either backend."""
        yield from _scope(self._statement_engine)

    def read_rows(self, query: DriverQuery, params: dict[str, Any]) -> list[tuple]:
        """One read statement on the driver (`DriverQuery`), as `read_statement()` runs it."""
        with self.read_statement() as scope:
            return query.all(scope.connection(), params)

    @staticmethod
    def retrying(fn, attempts: int = 2):
        """Run `fn()` (which opens its own transaction) again if the connection was lost under it."""
        for attempt in range(attempts):
            try:
                return fn()
            except Unavailable:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent)."""
        from alembic import command

        command.upgrade(alembic_config(self.url), "head")

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()


class Scope:
    """One transaction on one connection, with an ORM session only if something asks for one.

    The engine's changes and reads run their statements on the connection (`DriverStatement`,
    `DriverQuery`, Core); a session, with its transaction state machine, identity map and event
    dispatch, cost ~150 µs per transaction on SQLite before it did anything, more than a whole
    claim's statements. What still uses the ORM (`scope.get(Timer, id)`, `scope.add(row)`,
    `scope.scalars(select(Model))`) reaches a session made on first use, bound to the same
    connection and transaction: its changes are flushed before the commit, which is the
    connection's.
    """

    __slots__ = ("_connection", "_session")

    def __init__(self, connection):
        self._connection = connection
        self._session: Session | None = None

    def connection(self):
        return self._connection

    @property
    def bind(self):
        return self._connection

    @property
    def session(self) -> Session:
        if self._session is None:
            # joins the connection's transaction: the session never commits it; a rollback of the
            # session rolls it back
            self._session = Session(
                bind=self._connection, expire_on_commit=False, autoflush=False, join_transaction_mode="rollback_only"
            )
        return self._session

    def flush(self) -> None:
        if self._session is not None:
            self._session.flush()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    def __getattr__(self, name: str):
        return getattr(self.session, name)  # the rest of Session's interface: execute, get, add, ...


def _scope(engine, begin: str | None = None):
    """Yield a Scope in a transaction of `engine`: flushed and committed, or rolled back. `begin`: the
    statement that opens it on the driver (SQLite), after SQLAlchemy's own begin (a no-op there)."""
    with _lost_connection_is_unavailable(), engine.connect() as connection, connection.begin():
        if begin is not None:
            _driver_execute(connection, begin, ()).close()  # not exec_driver_sql: ~40 µs less
        scope = Scope(connection)
        try:
            yield scope
            scope.flush()
        finally:
            scope.close()


@contextmanager
def _lost_connection_is_unavailable():
    try:
        yield
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable("the database connection was lost; nothing was written, try again") from exc
        raise


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def _sqlite_connect(dbapi_connection, _record) -> None:
    # Autocommit at the driver level: a transaction's scope sends its own BEGIN (`_scope`).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class DriverStatement:
    """A Core write statement compiled once per dialect (and column set) and run on the driver's cursor.

    SQLAlchemy's execution path costs ~40 µs (SQLite) to ~90 µs (PostgreSQL) of Python per statement
    on top of the driver; the unit of work runs about ten writes per change. Parameters still go
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
    # never prepares it (MAX_CACHED_STATEMENT_PARAMS in psycopg/_queries.py). Six timer rows (66
    # parameters) cost ~340 µs of CPU as one statement, ~150 µs as four rows and two.
    MAX_ROWS_PER_STATEMENT = 32
    MAX_PARAMETERS_PER_STATEMENT = 50

    def execute(self, session, params: dict[str, Any] | list[dict[str, Any]]) -> int:
        """Execute with one parameter set or many (executemany); returns the rowcount."""
        many = isinstance(params, list)
        rows = params if many else [params]
        if not rows:
            return 0
        connection = session.connection()
        dialect = connection.dialect
        if len(rows) > 1 and self.statement.is_insert and dialect.name == "postgresql":
            # psycopg's executemany runs a pipeline: ~10 % of a web worker's time went into its Python
            # loop. One INSERT ... VALUES (...), (...) is one statement and one round trip.
            return sum(self._run(connection, plan, [params]) for plan, params in self._chunks(dialect, rows))
        columns = tuple(rows[0]) if self.statement.is_insert else None
        return self._run(connection, self._plan(dialect, columns, None), rows)

    def returning(self, session, rows: list[dict[str, Any]]) -> list[tuple]:
        """Insert rows and return what the INSERT's RETURNING names (as named tuples, in no particular
        order): one multi-row VALUES statement per chunk on both backends."""
        connection = session.connection()
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
        cursor = _driver_execute(connection, sql, values if many else values[0], many)
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

    SQLAlchemy's execution and result machinery cost ~50 µs on SQLite and ~150 µs of CPU on PostgreSQL
    for the token check, several times the driver's own work. Parameters go through the columns' bind
    processors and values through their result processors, as SQLAlchemy would; driver errors go
    through SQLAlchemy's handling. Rows are named tuples (`row.column`).
    """

    def __init__(self, statement):
        self.statement = statement
        self._plans: dict[str, tuple] = {}

    def all(self, connection, params: dict[str, Any]) -> list[tuple]:
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
    row_type = namedtuple("Row", [str(c.keyname) for c in columns], rename=True)  # unnamed: _0, _1
    processors = [c.type._cached_result_processor(dialect, None) for c in columns]
    return row_type, processors if any(processors) else None


def _rows(rows: list[tuple], row_type, processors) -> list[tuple]:
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


def _driver_execute(connection, sql: str, parameters, many: bool = False):
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
    cursor = _driver_execute(connection, sql, parameters)
    try:
        return cursor.fetchall()
    except Exception as exc:
        connection._handle_dbapi_exception(exc, sql, parameters, cursor, None)
        raise  # unreachable: the handler raises
    finally:
        cursor.close()
