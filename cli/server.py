"""`fengqiao serve`: gunicorn configured in code, one worker process with request threads.

One process because SQLite has one writer: the threads of a process take turns on a lock, while a
second process would wait in SQLite's busy handler. The app, its engine and the timer sweeper are
created in the worker, after the fork (threads and pooled connections do not survive one).
"""

from __future__ import annotations

import gc

from gunicorn import util
from gunicorn.app.base import BaseApplication

from web.errors import error_document


def settle_memory(_worker=None) -> None:
    """In a web process, once its app is loaded: leave what startup made (modules, parsed specs,
    compiled statements) out of every later collection (`gc.freeze`): full collections no longer walk
    them. The collector's thresholds stay Python's: collecting the young generation less often let
    web processes grow over a soak (docs/decisions/2026-12-engine-performance.md). Not for
    tests, which create many apps and whose garbage a freeze would keep."""
    gc.collect()
    gc.freeze()


def write_json_error(sock, status: int, reason: str, _message: str) -> None:
    """gunicorn's page for a request it refuses itself (an over-long URL or header, a malformed
    request line), written in the API's one JSON error shape instead of HTML. gunicorn calls
    `util.write_error` from its worker's `handle_error` for every such refusal."""
    body = error_document(status)
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def prepare_worker(worker=None) -> None:
    """gunicorn's `post_worker_init` for every web process: JSON error pages, then settled memory."""
    util.write_error = write_json_error
    settle_memory(worker)


class EmbeddedServer(BaseApplication):
    def __init__(self, host: str, port: int, threads: int, make_engine):
        self.make_engine = make_engine
        self.engine = None
        self.options = {
            "bind": f"{host}:{port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": threads,
            "loglevel": "warning",
            "graceful_timeout": 10,
            "worker_exit": self._worker_exit,
            "post_worker_init": prepare_worker,
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from web import create_app

        self.engine = self.make_engine()
        app = create_app(self.engine)
        self.engine.jobs.start()  # no Redis: the sweeper runs here; with Redis: `fengqiao worker`
        return app

    def _worker_exit(self, _server, _worker) -> None:
        if self.engine is not None:
            self.engine.close()
