"""Checkpointer: copies a SQLite database's write-ahead log into the database file off the request path.

SQLite's own (automatic) checkpoint runs inside the commit that takes the WAL past
`wal_autocheckpoint` pages: that commit then copies the log's pages into the database and fsyncs the
log and the database, slow on a virtual disk. A transaction that happens to cross the line pays
for all the others (docs/decisions/2026-12-engine-performance.md has the measurements). Here a thread
of the process does it instead, woken after write transactions: every `COMMITS` of them (about
SQLite's own 1,000-page interval, at the pages a change writes) it runs a PASSIVE checkpoint, which
neither waits for nor blocks readers and writers. The request connections keep SQLite's automatic
checkpoint as a backstop at `BACKSTOP` pages, for large transactions and in case the thread falls
behind.

The log's length is not read from its wal-index (the -shm file): opening and closing that file from
outside SQLite would drop every POSIX lock this process holds on it, SQLite's WAL locks included
(https://www.sqlite.org/howtocorrupt.html, 2.2): another process could then write at the same time.

One thread per process and database file: it starts with the first write of a process (so a forked
worker starts its own) and stops with `Database.dispose()` or at exit. A fork waits until the thread is out of
SQLite: a child forked while another thread held SQLite's mutexes would hang at its first connect.
"""

from __future__ import annotations

import atexit
import logging
import os
import sqlite3
import threading
import weakref

log = logging.getLogger(__name__)

# write transactions between two checkpoints of the thread
COMMITS = 32
# the request connections checkpoint themselves past this many pages (SQLite's default is 1,000)
BACKSTOP = 10_000


class Checkpointer:
    def __init__(self, path: str, commits: int = COMMITS):
        self.path = path
        self.commits = commits
        self.checkpoints = 0
        self._since = 0  # write transactions since the last checkpoint (a lost increment does no harm)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._in_sqlite = threading.Lock()  # held by the thread while it calls SQLite, and by a fork
        self._thread: threading.Thread | None = None  # this process's (a forked child starts without one)
        _LIVE.add(self)

    @staticmethod
    def backstop_pragma() -> str:
        return f"PRAGMA wal_autocheckpoint={BACKSTOP}"

    def wake(self) -> None:
        """Called after a write transaction committed."""
        if self._thread is None:
            self._start()
        self._since += 1
        if self._since >= self.commits and not self._wake.is_set():  # setting it again costs a lock
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stopping.is_set():
                return
            self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    def _run(self) -> None:
        connection = None
        try:
            with self._in_sqlite:
                connection = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping.is_set():
                    return
                if self._since >= self.commits:
                    self._since = 0
                    try:
                        with self._in_sqlite:
                            self._checkpoint(connection)
                        self.checkpoints += 1
                    except sqlite3.OperationalError:  # a full disk, an I/O error: try again next time
                        log.warning("SQLite checkpoint failed; retried after the next writes", exc_info=True)
        except sqlite3.Error:  # the database cannot be opened at all
            # the backstop (the request connections' automatic checkpoint) still bounds the log
            log.exception("the SQLite checkpointer stopped; commits checkpoint the log themselves")
        finally:
            if connection is not None:
                with self._in_sqlite:
                    connection.close()

    @staticmethod
    def _checkpoint(connection) -> None:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _before_fork(self) -> None:
        self._in_sqlite.acquire()

    def _after_fork_in_parent(self) -> None:
        self._in_sqlite.release()

    def _after_fork_in_child(self) -> None:
        # the parent's thread did not come along (the next write starts one), and its locks and event
        # may have been copied held: fresh ones (the copy of `_in_sqlite` is held by the fork itself)
        self._thread = None
        self._in_sqlite, self._lock, self._wake = threading.Lock(), threading.Lock(), threading.Event()


_LIVE: weakref.WeakSet[Checkpointer] = weakref.WeakSet()


def _each(method: str):
    return lambda: [getattr(checkpointer, method)() for checkpointer in list(_LIVE)]


os.register_at_fork(
    before=_each("_before_fork"),
    after_in_parent=_each("_after_fork_in_parent"),
    after_in_child=_each("_after_fork_in_child"),
)
# a daemon thread still inside SQLite while the interpreter tears its modules down could crash the exit
atexit.register(_each("stop"))
