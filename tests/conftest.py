"""Fixtures that build the world: a migrated database per backend, an engine with a manual clock,
demo-like departments and users. Every engine test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
import os
import shutil
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text

from engine import Engine, ManualClock, Settings
from engine.store.db import Database
from engine.store.models import Base


def _isolate_worker() -> str:
    """Under `pytest -n N` (pytest-xdist; `make test` runs two workers) each worker gets its own
    PostgreSQL database and Redis databases, so that one worker's truncation or FLUSHDB never meets the
    other's data: worker gwI takes `<database>_gwI` and the Redis database numbers below the configured
    ones by I (15 and 12 by default: gw1 takes 14 and 11). Set before the test modules read them."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker:
        return ""
    index = int(worker.removeprefix("gw"))
    for name, default in (("FENGQIAO_TEST_REDIS_URL", 15), ("FENGQIAO_TEST_BENCH_REDIS_URL", 12)):
        base, _, number = os.environ.get(name, f"redis://127.0.0.1:6379/{default}").rpartition("/")
        os.environ[name] = f"{base}/{int(number) - index}"
    return f"_{worker}"


PG_ADMIN_DSN = os.environ.get("FENGQIAO_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
PG_DATABASE = os.environ.get("FENGQIAO_TEST_PG_DATABASE", "fengqiao_test") + _isolate_worker()
PG_URL = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + PG_DATABASE
BACKENDS = [b for b in os.environ.get("FENGQIAO_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
REDIS_URL = os.environ.get("FENGQIAO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")  # the worker tests' queue
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, copied for every test (migrating once is the slow part).
    FENGQIAO_TEST_SQLITE_TEMPLATE names one migrated beforehand (`make mutation` runs many sessions)."""
    given = os.environ.get("FENGQIAO_TEST_SQLITE_TEMPLATE")
    if given:
        return Path(given)
    path = tmp_path_factory.mktemp("template") / "fengqiao.db"
    Database(f"sqlite:///{path}").migrate()
    return path


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A fresh `fengqiao_test` database migrated from scratch by Alembic."""
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    Database(PG_URL).migrate()
    return PG_URL


def _truncate_pg(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def database_url(request, tmp_path, sqlite_template) -> str:
    backend = getattr(request, "param", "sqlite")
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
        _truncate_pg(url)
        return url
    target = tmp_path / "fengqiao.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


def pytest_generate_tests(metafunc):
    """Every test touching the database runs on each backend; `@pytest.mark.backends("sqlite")` narrows it."""
    if "database_url" in metafunc.fixturenames and "backend" not in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        backends = [b for b in BACKENDS if marker is None or b in marker.args]
        metafunc.parametrize("database_url", backends, indirect=True)


@pytest.fixture
def redis_db():
    """The Redis database of the tests that run RQ workers (REDIS_URL), empty before and after."""
    from redis import Redis

    connection = Redis.from_url(REDIS_URL)
    connection.flushdb()
    yield connection
    connection.flushdb()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings.from_env(
        {
            "FENGQIAO_DATABASE_URL": database_url,
            "FENGQIAO_INSTANCE_PATH": str(tmp_path / "instance"),
            "FENGQIAO_ARGON2_TIME_COST": "1",  # cheap hashes: tests create many users
            "FENGQIAO_ARGON2_MEMORY_KIB": "1024",
        }
    )


# `make mutation` runs thousands of short sessions of the same tests, in forks of one process. With
# FENGQIAO_TEST_REUSE_WORLD set (tools/mutation.py sets it), the SQLite database an engine test starts
# from (the bundled workflows deployed, and the world's departments and users when the test asks for
# them) is built once per process, apart from any test, and copied for every test that starts the
# same way: a mutant's tests no longer parse the workflow and hash nine passwords each.
REUSE_WORLD = bool(os.environ.get("FENGQIAO_TEST_REUSE_WORLD"))
_PREPARED: dict[tuple, Path] = {}


def _prepared_database(template: Path, settings: Settings, clock: ManualClock, with_world: bool) -> Path:
    """A copy of `template` with what the engine (and world) fixtures write, made once per kind."""
    from tests.helpers import build_world

    key = (with_world, str(settings.workflows_dir), str(settings.forms_dir), clock.now())
    if key not in _PREPARED:
        folder = Path(tempfile.mkdtemp(prefix="fengqiao-prepared-"))
        path = folder / "fengqiao.db"
        shutil.copy(template, path)
        alone = dataclasses.replace(settings, database_url=f"sqlite:///{path}", instance_path=folder / "instance")
        eng = Engine(alone, ManualClock(clock.now()))
        eng.deploy_bundled()
        if with_world:
            build_world(eng)
        eng.close()
        with closing(sqlite3.connect(path)) as connection:  # everything in the file itself, no WAL beside it
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _PREPARED[key] = path
    return _PREPARED[key]


@pytest.fixture
def engine(request, settings, clock):
    prepared = REUSE_WORLD and settings.database_url.startswith("sqlite:///")
    if prepared:
        with_world = "world" in request.fixturenames
        source = _prepared_database(request.getfixturevalue("sqlite_template"), settings, clock, with_world)
        shutil.copy(source, settings.database_url.removeprefix("sqlite:///"))
    eng = Engine(settings, clock)
    if not prepared:
        eng.deploy_bundled()
    eng.prepared_world = prepared and with_world  # type: ignore[attr-defined]
    yield eng
    eng.close()


@pytest.fixture
def world(engine):
    """Two stations, two agencies and a cast of users; returns their actors by username."""
    from tests.helpers import USERS, build_world

    if getattr(engine, "prepared_world", False):
        return {username: engine.identity.actor(username) for username, _, _ in USERS}
    return build_world(engine)


# Debian's chromium, headless, without the background traffic this closed network refuses
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    """One chromium for the whole run: Playwright's sync API allows one running instance per thread."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "chromium is not installed: run `make chromium` (apt-get install -y chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
