"""Servers for the HTTP benches: `fengqiao serve` on SQLite, gunicorn + `fengqiao worker` on PostgreSQL.

Each prepares its own database (migrated, bundled workflow, the bench world), runs as child
processes on loopback, and is stopped by `close()`. `rss()` reads resident memory from /proc.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from abc import ABC, abstractmethod
from pathlib import Path

from . import common


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) in KiB of a live process."""
    try:
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
        )
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError):
        return None


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def wait_ready(base: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{base} not ready after {timeout} s")


class Server(ABC):
    base: str
    procs: list[subprocess.Popen]
    users: list[dict[str, str]]

    def _prepare(self, url: str, instance: Path, redis_url: str | None = None) -> None:
        engine = common.make_engine(url, instance, redis_url=redis_url)
        names = common.build_world(engine)
        engine.close()
        self.users = [
            {
                "officer": o,
                "civil_affairs": names["civil_affairs"][i % len(names["civil_affairs"])],
                "health": names["health"][i % len(names["health"])],
            }
            for i, o in enumerate(names["officer"])
        ]

    def _spawn(self, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        out = open(log, "w")  # noqa: SIM115 - closed with the process
        return subprocess.Popen(
            args, cwd=common.ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )

    @abstractmethod
    def web_pids(self) -> list[int]:
        """Process ids of the web workers (sampled for memory)."""

    def job_pids(self) -> list[int]:
        return []

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


class EmbeddedServer(Server):
    """`fengqiao serve` on SQLite: the embedded default (the timer sweeper runs in the same process)."""

    kind = "sqlite · fengqiao serve (gunicorn, 1 worker × 8 threads) · embedded sweeper"

    def __init__(self, tmp: Path):
        url = f"sqlite:///{tmp / 'serve.db'}"
        self._prepare(url, tmp / "instance")
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        env = common.env_for(url, tmp / "instance")
        self.procs = [
            self._spawn(
                [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)],
                env,
                tmp / "serve.log",
            )
        ]
        wait_ready(self.base, self.procs[0])

    def web_pids(self) -> list[int]:
        return children(self.procs[0].pid)  # the gunicorn worker: it serves and runs the sweeper


class GunicornServer(Server):
    """PostgreSQL behind gunicorn (gthread workers), Redis + RQ, and one `fengqiao worker`."""

    def __init__(
        self,
        tmp: Path,
        workers: int = 4,
        threads: int = 4,
        database: str = common.PG_DATABASE + "_api",
        redis_url: str = common.REDIS_URL,
    ):
        from redis import Redis

        Redis.from_url(redis_url).flushdb()
        self.redis_url, self.database = redis_url, database
        url = common.fresh_pg(database)
        self.url = url
        self._prepare(url, tmp / "instance", redis_url)
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.kind = (
            f"postgresql · gunicorn -c python:cli.gunicorn_config -w {workers} --threads {threads} · "
            "Redis + RQ · 1 fengqiao worker"
        )
        env = common.env_for(url, tmp / "instance", redis_url)
        gunicorn = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:cli.gunicorn_config",
            "-w",
            str(workers),
            "--threads",
            str(threads),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "web:create_app()",
        ]
        self.procs = [
            self._spawn(gunicorn, env, tmp / "gunicorn.log"),
            self._spawn([sys.executable, "-m", "cli.main", "worker"], env, tmp / "worker.log"),
        ]
        wait_ready(self.base, self.procs[0])

    def web_pids(self) -> list[int]:
        return children(self.procs[0].pid)

    def job_pids(self) -> list[int]:
        """The worker and RQ's scheduler process it forks (`--with-scheduler`)."""
        return [self.procs[1].pid, *children(self.procs[1].pid)]

    def close(self) -> None:
        super().close()
        from redis import Redis

        Redis.from_url(self.redis_url).flushdb()
        common.drop_pg(self.database)
