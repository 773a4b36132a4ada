"""Checkpointer: copies a SQLite database's write-ahead log into the database file off the request path.

SQLite's own (automatic) checkpoint runs inside the commit that takes the WAL past
`wal_autocheckpoint` pages: that commit then copies the log's pages into the database and fsyncs the
log and the database, tens of milliseconds on a virtual disk, about every thirty changes. A
transaction that happens to cross the line pays for all the others: in the floor bench it was ~12 %
of the engine's time per case (bench/notes.md). Here a thread of the process does it instead, woken
after write transactions, with a PASSIVE checkpoint (it neither waits for nor blocks readers and
writers). The request connections keep SQLite's automatic checkpoint as a backstop at `BACKSTOP`
times the threshold, in case the thread falls behind.

One thread per process and database file: it starts with the first write of a process (so a forked
worker starts its own) and stops with `Database.dispose()`. A fork waits until the thread is out of
SQLite: a child forked while another thread held SQLite's mutexes would hang at its first connect.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import struct
import threading
import weakref

log = logging.getLogger(__name__)

# SQLite's default automatic checkpoint size, in pages
PAGES = 1000
# the request connections checkpoint themselves only past this many times PAGES
BACKSTOP = 10


class Checkpointer:
    def __init__(self, path: str, pages: int = PAGES, pause: float = 0.02):
        self.path = path
        self.shm = f"{path}-shm"
        self.pages = pages
        self.pause = pause  # commits meanwhile only set the event: one look at the log per pause
        self.checkpoints = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._in_sqlite = threading.Lock()  # held by the thread while it calls SQLite, and by a fork
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        _LIVE.add(self)

    def backstop_pragma(self) -> str:
        return f"PRAGMA wal_autocheckpoint={self.pages * BACKSTOP}"

    def wake(self) -> None:
        """Called after a write transaction committed."""
        if self._pid != os.getpid():
            self._start()
        if not self._wake.is_set():  # set already while the thread pauses: setting it again costs a lock
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid() or self._stopping.is_set():
                return
            # a forked child inherits the parent's objects but not its threads: it starts its own
            self._wake = threading.Event()
            self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer", daemon=True)
            self._pid = os.getpid()
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and self._pid == os.getpid() and thread is not threading.current_thread():
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
                if self._pending_frames() >= self.pages:
                    with self._in_sqlite:
                        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                if self._stopping.wait(self.pause):
                    return
        except sqlite3.Error:
            # the backstop (the request connections' automatic checkpoint) still bounds the log
            log.exception("the SQLite checkpointer stopped; commits checkpoint the log themselves")
        finally:
            if connection is not None:
                with self._in_sqlite:
                    connection.close()

    def _before_fork(self) -> None:
        self._in_sqlite.acquire()

    def _after_fork_in_parent(self) -> None:
        self._in_sqlite.release()

    def _after_fork_in_child(self) -> None:
        self._in_sqlite = threading.Lock()  # the copy is held (by the fork); the thread did not come along
        self._lock = threading.Lock()

    def _pending_frames(self) -> int:
        """Frames in the log not yet copied into the database: mxFrame less nBackfill, read from the
        wal-index header (https://www.sqlite.org/walformat.html, 2.1; native byte order). The log
        file's size would not do: SQLite reuses the file from its start after a checkpoint."""
        try:
            with open(self.shm, "rb") as shm:
                header = shm.read(100)
        except FileNotFoundError:
            return 0
        if len(header) < 100:
            return 0
        return struct.unpack_from("=I", header, 16)[0] - struct.unpack_from("=I", header, 96)[0]


_LIVE: weakref.WeakSet[Checkpointer] = weakref.WeakSet()


def _each(method: str):
    return lambda: [getattr(checkpointer, method)() for checkpointer in list(_LIVE)]


os.register_at_fork(before=_each("_before_fork"), after_in_parent=_each("_after_fork_in_parent"),
                    after_in_child=_each("_after_fork_in_child"))
