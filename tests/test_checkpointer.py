"""The SQLite write-ahead log is copied into the database file by a thread of the process, not by the
commit that happens to cross SQLite's automatic checkpoint size."""

from __future__ import annotations

import os
import sqlite3
import time

from sqlalchemy import text

from engine.store.checkpointer import BACKSTOP
from engine.store.db import Database

ROWS_PER_TRANSACTION = 40
PAYLOAD = 4000  # about a page per row


def _database(tmp_path, commits: int = 1) -> Database:
    """commits=1: the thread copies whatever the log holds after each write, so it ends with nothing left."""
    db = Database(f"sqlite:///{tmp_path / 'fengqiao.db'}")
    db.checkpointer.commits = commits
    with db.transaction() as scope:
        scope.connection().execute(text("CREATE TABLE filler (id INTEGER PRIMARY KEY, payload BLOB)"))
    return db


def _write(db: Database, transactions: int) -> None:
    for _ in range(transactions):
        with db.transaction() as scope:
            scope.connection().execute(
                text("INSERT INTO filler (payload) VALUES (randomblob(:n))"), [{"n": PAYLOAD}] * ROWS_PER_TRANSACTION
            )


def _rows_in_database_file(path) -> int:
    """Rows the database file itself holds: `immutable` reads it without the log (-1: caught mid-copy)."""
    try:
        with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as connection:
            if not connection.execute("SELECT 1 FROM sqlite_schema WHERE name = 'filler'").fetchall():
                return 0  # not even the table has reached the file yet
            return connection.execute("SELECT count(*) FROM filler").fetchone()[0]
    except sqlite3.DatabaseError:  # "malformed": an immutable reader met a checkpoint writing the file
        return -1


def _eventually(predicate, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_the_log_is_copied_into_the_database_file_by_the_checkpointer_thread(tmp_path):
    db = _database(tmp_path)
    try:
        _write(db, 6)  # ~240 pages, far below the commits' own backstop
        written = 6 * ROWS_PER_TRANSACTION
        assert _eventually(lambda: db.checkpointer.checkpoints >= 1)
        assert _eventually(lambda: _rows_in_database_file(tmp_path / "fengqiao.db") == written)
    finally:
        db.dispose()


def test_request_connections_checkpoint_themselves_only_past_the_backstop(tmp_path):
    db = _database(tmp_path)
    try:
        with db.transaction() as scope:
            setting = scope.connection().exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert setting == BACKSTOP
    finally:
        db.dispose()


def test_the_log_is_left_to_grow_until_enough_transactions_wrote_to_it(tmp_path):
    db = _database(tmp_path, commits=5)
    try:
        _write(db, 3)  # four write transactions with the table's
        # the thread acts only when woken, and four commits did not wake it: no waiting can make it
        # checkpoint now, so what the file holds is what the commits themselves copied (nothing)
        assert (db.checkpointer._since, db.checkpointer._wake.is_set()) == (4, False)
        assert db.checkpointer._thread.is_alive() and db.checkpointer.checkpoints == 0
        assert _rows_in_database_file(tmp_path / "fengqiao.db") == 0
        _write(db, 1)  # the fifth wakes it
        assert _eventually(lambda: db.checkpointer.checkpoints == 1)
        assert _eventually(lambda: _rows_in_database_file(tmp_path / "fengqiao.db") == 4 * ROWS_PER_TRANSACTION)
    finally:
        db.dispose()


def test_dispose_stops_the_thread_and_later_writes_do_not_restart_it(tmp_path):
    db = _database(tmp_path)
    thread = db.checkpointer._thread
    assert thread is not None and thread.is_alive()
    db.dispose()
    assert not thread.is_alive()
    _write(db, 1)  # a disposed engine's pool reconnects; its checkpointer stays stopped
    assert db.checkpointer._thread is thread and not thread.is_alive()
    db.dispose()


def test_a_forked_worker_checkpoints_with_a_thread_of_its_own(tmp_path):
    db = _database(tmp_path)
    db.engine.dispose()  # as a pre-fork server does: the child makes its own connections
    before = db.checkpointer.checkpoints
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread did not come along
        code = 1
        try:
            _write(db, 6)
            # the parent writes nothing meanwhile, and the commits' backstop is far: the child's thread copies
            copied = _eventually(lambda: _rows_in_database_file(tmp_path / "fengqiao.db") == 6 * ROWS_PER_TRANSACTION)
            code = 0 if copied and db.checkpointer.checkpoints > before and db.checkpointer._thread.is_alive() else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    try:
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        db.dispose()


def test_a_failed_checkpoint_is_retried_after_later_writes(tmp_path):
    db = _database(tmp_path)
    assert _eventually(lambda: db.checkpointer.checkpoints == 1)  # the table's: done before the fault
    failures = []
    real = db.checkpointer._checkpoint

    def flaky(connection):
        if not failures:
            failures.append(1)
            raise sqlite3.OperationalError("disk I/O error")
        real(connection)

    db.checkpointer._checkpoint = flaky
    before = db.checkpointer.checkpoints
    try:
        _write(db, 1)
        assert _eventually(lambda: failures == [1])
        _write(db, 1)
        assert _eventually(lambda: db.checkpointer.checkpoints > before)
        assert db.checkpointer._thread.is_alive()
    finally:
        db.dispose()
