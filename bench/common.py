"""What every bench shares: databases to run on, the bench world, statistics, machine facts."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_DSN = os.environ.get("FENGQIAO_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
PG_DATABASE = os.environ.get("FENGQIAO_BENCH_PG_DATABASE", "fengqiao_bench")
REDIS_URL = os.environ.get("FENGQIAO_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
PASSWORD = "bench-password"
# cheap password hashes: the bench creates many users; logins are not what it measures
CHEAP_HASHES = {"FENGQIAO_ARGON2_TIME_COST": "1", "FENGQIAO_ARGON2_MEMORY_KIB": "1024"}
# a fixed 32-byte key: bench processes must share one (never used outside benchmarks)
BENCH_DATA_KEY = "ZmVuZ3FpYW8tYmVuY2gtZGF0YS1rZXktMzItYnl0ZXM="

REPORT = {
    "risk_level": "yellow",
    "category": "neighbour_dispute",
    "description": "邻里噪音纠纷 noise between neighbours",
    "source": "household_visit",
    "household": "新桥社区7栋101室",
    "parties": [{"name": "张三", "id_number": "11010119800101123X", "phone": "13912345678", "role": "applicant"}],
}
ASSESS_ON_SPOT = {"resolution": "on_spot"}
ASSESS_ESCALATE = {"resolution": "escalate", "departments": ["civil_affairs", "health"]}
ON_SPOT = {"result": "resolved", "measures": "调解 mediation"}
DEPARTMENT_RESULT = {"outcome": "resolved", "summary": "已办结 handled"}
FEEDBACK = {"satisfaction": "satisfied"}

# The two paths every bench drives: (element_id, role that completes it, form data)
PATHS = {
    "on_spot": [
        ("assess_case", "officer", ASSESS_ON_SPOT),
        ("handle_on_spot", "officer", ON_SPOT),
        ("feedback_to_resident", "officer", FEEDBACK),
    ],
    "escalate_both": [
        ("assess_case", "officer", ASSESS_ESCALATE),
        ("handle_civil_affairs", "civil_affairs", DEPARTMENT_RESULT),
        ("handle_health", "health", DEPARTMENT_RESULT),
        ("feedback_to_resident", "officer", FEEDBACK),
    ],
}


# --- statistics ----------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); what p50/p99 mean in this report."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float]:
    """Median of the runs with min and max (how every figure in the report is given)."""
    if not values:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt(s: dict[str, float] | float | None, digits: int = 2) -> str:
    if s is None:
        return "—"
    if isinstance(s, dict):
        if not s.get("n"):
            return "—"
        return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}–{s['max']:.{digits}f})"
    return f"{s:.{digits}f}"


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


# --- machine ---------------------------------------------------------------------------------------
def python_loop_ms(rounds: int = 5) -> float:
    """The machine's speed when a bench starts: a pure-Python loop of 3 million additions, the best of
    `rounds` (ms). The machine is shared: the same code measured on a busy day is slower."""
    best = float("inf")
    for _ in range(rounds):
        started, total = time.perf_counter(), 0
        for i in range(3_000_000):
            total += i
        best = min(best, (time.perf_counter() - started) * 1000)
    return round(best, 1)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    from importlib.metadata import version

    def v(name):
        try:
            return version(name)
        except Exception:
            return None

    pg = None
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]
    except Exception:
        pass
    redis_version = None
    try:
        from redis import Redis

        redis_version = Redis.from_url(REDIS_URL, socket_connect_timeout=2).info("server")["redis_version"]
    except Exception:
        pass
    import sqlite3

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg,
        "redis": redis_version,
        "packages": {
            n: v(n) for n in ("SpiffWorkflow", "SQLAlchemy", "Flask", "Werkzeug", "gunicorn", "psycopg", "rq", "redis")
        },
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--", "engine")),
        "python_loop_ms": python_loop_ms(),
    }


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""


# --- databases ---------------------------------------------------------------------------------------
def pg_url(database: str = PG_DATABASE) -> str:
    return PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + database


def fresh_pg(database: str = PG_DATABASE) -> str:
    """Drop and recreate a PostgreSQL database for one bench; returns its SQLAlchemy URL (unmigrated)."""
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    return pg_url(database)


def drop_pg(database: str = PG_DATABASE) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@contextmanager
def workdir(prefix: str = "fengqiao-bench-"):
    with tempfile.TemporaryDirectory(prefix=prefix) as path:
        yield Path(path)


def env_for(database_url: str, instance_path: Path, redis_url: str | None = None, **extra: str) -> dict[str, str]:
    """Environment of a bench subprocess (server, worker): the same database, key and cheap hashes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENGQIAO_")}
    env.update(CHEAP_HASHES)
    env.update(
        {
            "FENGQIAO_DATABASE_URL": database_url,
            "FENGQIAO_INSTANCE_PATH": str(instance_path),
            "FENGQIAO_DATA_KEY": BENCH_DATA_KEY,
            "PYTHONUNBUFFERED": "1",
            "FENGQIAO_LOGIN_RATE_LIMIT": "100000 per minute",
        }
    )
    if redis_url:
        env["FENGQIAO_REDIS_URL"] = redis_url
    env.update(extra)
    return env


def settings_for(database_url: str, instance_path: Path, redis_url: str | None = None, **extra: str):
    from engine import Settings

    return Settings.from_env(env_for(database_url, instance_path, redis_url, **extra))


def make_engine(
    database_url: str, instance_path: Path, clock=None, redis_url: str | None = None, migrate: bool = True, **extra: str
):
    """A migrated engine with the bundled workflow deployed."""
    from engine import Engine

    engine = Engine(settings_for(database_url, instance_path, redis_url, **extra), clock)
    if migrate:
        engine.migrate()
    engine.deploy_bundled()
    return engine


# --- the bench world --------------------------------------------------------------------------------
STATIONS = ("xinqiao", "dongfeng", "fengqiao", "zhuji")


def build_world(engine, officers_per_station: int = 4, liaisons: int = 4) -> dict[str, list]:
    """Stations with officers and a supervisor each; civil-affairs and health liaisons. Returns actors."""
    engine.identity.create_department("civil_affairs", "民政局", "agency")
    engine.identity.create_department("health", "卫健委", "agency")
    officers, supervisors = [], []
    for station in STATIONS:
        engine.identity.create_department(station, f"{station}派出所", "station")
        for i in range(officers_per_station):
            engine.identity.create_user(f"{station}_officer{i}", "officer", PASSWORD, [station])
            officers.append(f"{station}_officer{i}")
        engine.identity.create_user(f"{station}_supervisor", "supervisor", PASSWORD, [station])
        supervisors.append(f"{station}_supervisor")
    civil = []
    health = []
    for i in range(liaisons):
        engine.identity.create_user(f"civil{i}", "liaison", PASSWORD, ["civil_affairs"])
        engine.identity.create_user(f"health{i}", "liaison", PASSWORD, ["health"])
        civil.append(f"civil{i}")
        health.append(f"health{i}")
    return {"officer": officers, "supervisor": supervisors, "civil_affairs": civil, "health": health}


def actors(engine, names: dict[str, list[str]]) -> dict[str, list]:
    return {role: [engine.identity.actor(n) for n in users] for role, users in names.items()}


# --- results -----------------------------------------------------------------------------------------
def emit(result: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(result, indent=2, ensure_ascii=False, default=str)
    if out is not None:
        out.write_text(text)
    else:
        sys.stdout.write(text + "\n")
