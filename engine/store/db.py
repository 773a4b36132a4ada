"""Database connections and schema migration.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every transaction begins
IMMEDIATE: writers queue for the write lock up front instead of failing half-way. PostgreSQL runs at
READ COMMITTED with explicit row locks taken by the unit of work.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from .. import json_codec
from ..errors import Unavailable
from .checkpointer import Checkpointer
from .driver import DriverQuery, driver_execute

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
            self.checkpointer = Checkpointer(self.engine.url.database or ":memory:")
            backstop = self.checkpointer.backstop_pragma()
            event.listen(self.engine, "connect", lambda dbapi, _record: dbapi.execute(backstop))
        else:
            # No parallel query: the engine's statements read a page of rows through indexes, and starting
            # parallel workers cost more than the whole query (bench/scale.py: group queue at 1M cases).
            # No pre-ping: it costs a round trip per transaction (a visible share of a web worker). A
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
        # and statement). Writers begin IMMEDIATE. Reads begin DEFERRED: they neither
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
    dispatch, cost more per transaction on SQLite before it did anything than a whole claim's
    statements. What still uses the ORM (`scope.get(Timer, id)`, `scope.add(row)`,
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
            driver_execute(connection, begin, ()).close()  # not exec_driver_sql: less Python per BEGIN
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
