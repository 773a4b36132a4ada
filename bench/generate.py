"""Bulk data generator: fill a PostgreSQL database with N realistic cases in various states, quickly.

Realistic by construction: a few template cases per stage are driven through the real engine (so
their workflow blobs, task rows, timers, message waits, audit and outbox rows are exactly what the
engine writes); each generated case is a clone of one template with fresh ids (every UUID, inside
the blob too), a fresh business key and all its times shifted (due times, and the timer due times
SpiffWorkflow keeps inside the blob). Clones stream into PostgreSQL with COPY, one connection per
table. Generated cases are complete: they can be claimed, completed and their timers fired.
Personal records are not cloned (their ciphertexts are bound to their case).

    python -m bench.generate --cases 100000 [--database fengqiao_bench] [--fresh]
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from . import common
from .common import PATHS, REPORT

# stage -> (what is done after the report, weight in the default mix)
STAGES: dict[str, tuple[str, float]] = {
    "reported": ("assess_case open, unclaimed", 0.06),
    "assessing": ("assess_case claimed by the first officer (the case owner)", 0.04),
    "on_spot": ("handle_on_spot claimed by the owner", 0.05),
    "departments": ("civil affairs and health tasks open (some claimed), their timers pending", 0.10),
    "feedback": ("feedback_to_resident claimed by the owner", 0.05),
    "closed_on_spot": ("completed on the spot", 0.42),
    "closed_escalated": ("completed after escalation to both departments", 0.28),
}
DEFAULT_MIX = {stage: weight for stage, (_, weight) in STAGES.items()}
OPEN_STAGES = ("reported", "assessing", "on_spot", "departments", "feedback")

# tables cloned per case (serial ids left to the database); personal_records are not cloned
TABLES = ("process_instances", "human_tasks", "task_candidates", "timers", "message_waits", "audit_log", "outbox")
SECONDARY_INDEXES_OF = (
    "human_tasks",
    "task_candidates",
    "timers",
    "audit_log",
    "outbox",
    "process_instances",
    "message_waits",
)

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
TIME_RE = r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:[+-]\d\d(?::\d\d)?|Z)?"


@dataclass
class Template:
    """One real case, as COPY text per table, split at every id, time and business key."""

    stage: str
    instance_id: str
    parts: dict[str, str] = field(default_factory=dict)  # table -> str.format template
    keys: dict[str, list] = field(default_factory=dict)  # table -> the template's format keys, in order
    uuids: list[str] = field(default_factory=list)
    times: list[tuple[datetime, str, bool, str]] = field(default_factory=list)  # (value, sep, fraction, suffix)
    rows: dict[str, int] = field(default_factory=dict)


def _columns(table: str) -> list[str]:
    from engine.store.models import Base

    cols = [c.name for c in Base.metadata.tables[table].columns]
    if table in ("timers", "audit_log", "outbox"):
        cols.remove("id")
    return cols


def _parse_time(text: str) -> tuple[datetime, str, bool, str]:
    sep = text[10]
    body = text.replace(" ", "T", 1)
    suffix = ""
    m = re.search(r"([+-]\d\d(?::\d\d)?|Z)$", body)
    if m:
        suffix = m.group(1)
        body = body[: m.start()]
    value = datetime.fromisoformat(body)
    return value, sep, "." in body, suffix


def _render_time(value: datetime, sep: str, fraction: bool, suffix: str) -> str:
    return value.isoformat(sep=sep, timespec="microseconds" if fraction else "seconds") + suffix


def extract(conn: psycopg.Connection, instance_id: str, stage: str) -> Template:
    """Read a real case's rows as COPY text and turn them into a template."""
    assert re.fullmatch(UUID_RE, instance_id)
    tpl = Template(stage, instance_id)
    texts: dict[str, str] = {}
    conn.execute("SET TIME ZONE 'UTC'")
    where = {t: f"instance_id = '{instance_id}'" for t in TABLES}
    where["process_instances"] = f"id = '{instance_id}'"
    where["task_candidates"] = f"task_id IN (SELECT id FROM human_tasks WHERE instance_id = '{instance_id}')"
    for table in TABLES:
        cols = ", ".join(f'"{c}"' for c in _columns(table))
        order = "id" if table in ("timers", "audit_log", "outbox") else "1"
        with conn.cursor().copy(
            f"COPY (SELECT {cols} FROM {table} WHERE {where[table]} ORDER BY {order}) TO STDOUT"
        ) as copy:
            texts[table] = b"".join(bytes(chunk) for chunk in copy).decode()
        tpl.rows[table] = texts[table].count("\n")
    business_key = texts["process_instances"].split("\t")[1]
    pattern = re.compile(f"({UUID_RE})|({TIME_RE})|({re.escape(business_key)})")
    uuid_index: dict[str, int] = {}
    time_index: dict[str, int] = {}
    for table, text in texts.items():
        out, keys, pos = [], [], 0
        for m in pattern.finditer(text):
            out.append(text[pos : m.start()].replace("{", "{{").replace("}", "}}"))
            out.append("{}")
            pos = m.end()
            if m.group(1):
                keys.append(("u", uuid_index.setdefault(m.group(1), len(uuid_index))))
            elif m.group(2):
                if m.group(2) not in time_index:
                    time_index[m.group(2)] = len(time_index)
                    tpl.times.append(_parse_time(m.group(2)))
                keys.append(("t", time_index[m.group(2)]))
            else:
                keys.append(("b", 0))
        out.append(text[pos:].replace("{", "{{").replace("}", "}}"))
        tpl.parts[table], tpl.keys[table] = "".join(out), keys
    tpl.uuids = list(uuid_index)
    return tpl


def _fast_uuids(n: int) -> list[str]:
    h = os.urandom(16 * n).hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-4{h[i + 13 : i + 16]}-a{h[i + 17 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * n, 32)
    ]


def clone(tpl: Template, business_key: str, shift: timedelta) -> dict[str, str]:
    """COPY text per table for one new case: fresh ids and business key, times shifted by `shift`."""
    uuids = _fast_uuids(len(tpl.uuids))
    times = [_render_time(v + shift, sep, frac, suffix) for v, sep, frac, suffix in tpl.times]
    pools = {"u": uuids, "t": times, "b": [business_key]}
    return {table: tpl.parts[table].format(*[pools[k][i] for k, i in tpl.keys[table]]) for table in TABLES}


# --- templates: real cases driven through the engine -----------------------------------------------
def build_templates(engine, names: dict[str, list[str]], clock, stages=tuple(STAGES)) -> list[str]:
    """Drive one real case per officer and stage; returns [(stage, instance_id)]."""
    actors = common.actors(engine, names)
    made = []
    for i, officer in enumerate(actors["officer"]):
        who = {
            "officer": officer,
            "civil_affairs": actors["civil_affairs"][i % len(actors["civil_affairs"])],
            "health": actors["health"][i % len(actors["health"])],
        }
        for stage in stages:
            clock.set(TEMPLATE_T0)
            case = engine.runtime.start_instance("dispute_resolution", officer, dict(REPORT))
            steps = _steps(stage)
            for element_id, role, data, action in steps:
                clock.advance(minutes=random.Random(i).randint(5, 90))
                task = next(
                    t
                    for t in engine.tasks.query(instance_id=case["id"], state=["open", "claimed"])["items"]
                    if t["element_id"] == element_id
                )
                if action == "claim":
                    engine.tasks.claim(task["id"], who[role])
                else:
                    engine.tasks.complete(task["id"], who[role], data)
            if stage == "departments" and i % 2:
                task = next(
                    t
                    for t in engine.tasks.query(instance_id=case["id"], state="open")["items"]
                    if t["element_id"] == "handle_civil_affairs"
                )
                engine.tasks.claim(task["id"], who["civil_affairs"])
            made.append((stage, case["id"]))
    return made


def _steps(stage: str):
    on_spot = [(e, r, d, "complete") for e, r, d in PATHS["on_spot"]]
    escalate = [(e, r, d, "complete") for e, r, d in PATHS["escalate_both"]]
    return {
        "reported": [],
        "assessing": [("assess_case", "officer", None, "claim")],
        "on_spot": on_spot[:1],
        "departments": escalate[:1],
        "feedback": escalate[:3],
        "closed_on_spot": on_spot,
        "closed_escalated": escalate,
    }[stage]


TEMPLATE_T0 = datetime.now(UTC).replace(microsecond=0)


# --- the generator -----------------------------------------------------------------------------------
class Generator:
    """Clones templates into a PostgreSQL database with one COPY stream per table."""

    def __init__(self, database_url: str, templates: list[Template], seed: int = 7):
        self.dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
        self.by_stage: dict[str, list[Template]] = {}
        for tpl in templates:
            self.by_stage.setdefault(tpl.stage, []).append(tpl)
        self.random = random.Random(seed)
        self.counter = itertools.count()
        self.batch = f"{int(time.time()) % 100000:05d}"

    @classmethod
    def from_engine(cls, engine, names, clock, stages=tuple(STAGES), seed: int = 7) -> Generator:
        made = build_templates(engine, names, clock, stages)
        dsn = engine.settings.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as conn:
            templates = [extract(conn, instance_id, stage) for stage, instance_id in made]
        return cls(engine.settings.database_url, templates, seed)

    def default_shift(self, stage: str) -> timedelta:
        """Closed cases: the last 90 days. Open ones: the last 3 days (some past their due time)."""
        hours = 90 * 24 if stage.startswith("closed") else 72
        base = datetime.now(UTC) - TEMPLATE_T0
        return base - timedelta(seconds=self.random.randint(0, hours * 3600))

    def generate(
        self, cases: int, mix: dict[str, float] | None = None, shift=None, chunk: int = 20000, progress=None
    ) -> dict:
        """Insert `cases` clones; `shift(stage) -> timedelta` places each in time. Returns counts and rate."""
        mix = {s: w for s, w in (mix or DEFAULT_MIX).items() if s in self.by_stage and w > 0}
        stages, weights = list(mix), list(mix.values())
        shift = shift or self.default_shift
        started = time.perf_counter()
        rows = dict.fromkeys(TABLES, 0)
        done = 0
        while done < cases:
            n = min(chunk, cases - done)
            buffers: dict[str, list[str]] = {t: [] for t in TABLES}
            for stage in self.random.choices(stages, weights, k=n):
                tpl = self.random.choice(self.by_stage[stage])
                key = f"GEN-{self.batch}-{next(self.counter):09d}"
                for table, text in clone(tpl, key, shift(stage)).items():
                    buffers[table].append(text)
                for table in TABLES:
                    rows[table] += tpl.rows[table]
            self._copy({t: "".join(b) for t, b in buffers.items()})
            done += n
            if progress:
                progress(done, time.perf_counter() - started)
        seconds = time.perf_counter() - started
        return {
            "cases": cases,
            "seconds": seconds,
            "cases_per_second": cases / seconds if seconds else None,
            "rows": rows,
        }

    def _copy(self, texts: dict[str, str]) -> None:
        """One connection and COPY per table, in parallel; foreign keys are consistent by construction."""
        errors = []

        def load(table: str) -> None:
            try:
                with psycopg.connect(self.dsn) as conn:
                    conn.execute("SET session_replication_role = replica")  # no FK triggers across streams
                    cols = ", ".join(f'"{c}"' for c in _columns(table))
                    with conn.cursor().copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                        data = texts[table].encode()
                        for i in range(0, len(data), 1 << 20):
                            copy.write(data[i : i + (1 << 20)])
            except Exception as exc:  # surfaced below
                errors.append((table, exc))

        threads = [threading.Thread(target=load, args=(t,)) for t in TABLES if texts[t]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise RuntimeError(f"COPY failed: {errors}")


def drop_secondary_indexes(dsn: str) -> list[str]:
    """Drop the secondary indexes of the bulk tables (recreated by `restore_indexes`): loads go faster."""
    dsn = dsn.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' "
            "AND i.tablename = ANY(%s) AND i.indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))",
            (list(SECONDARY_INDEXES_OF),),
        ).fetchall()
        for name, _ in rows:
            conn.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in rows]


def restore_indexes(dsn: str, definitions: list[str]) -> float:
    dsn = dsn.replace("postgresql+psycopg://", "postgresql://")
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        for definition in definitions:
            conn.execute(definition)
        conn.execute("ANALYZE")
    return time.perf_counter() - started


def analyze(dsn: str) -> None:
    with psycopg.connect(dsn.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("ANALYZE")


def table_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def prepare(database: str, tmp: Path, clock=None, stages=tuple(STAGES), officers_per_station: int = 4):
    """A fresh migrated database with the bench world and templates: (engine, names, generator)."""
    from engine import ManualClock

    clock = clock or ManualClock(TEMPLATE_T0)
    url = common.fresh_pg(database)
    engine = common.make_engine(url, tmp / "instance", clock)
    names = common.build_world(engine, officers_per_station=officers_per_station)
    return engine, names, Generator.from_engine(engine, names, clock, stages)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Fill a PostgreSQL database with N realistic cases.")
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--database", default=common.PG_DATABASE)
    parser.add_argument("--chunk", type=int, default=20000)
    parser.add_argument("--keep-indexes", action="store_true", help="load with indexes in place")
    args = parser.parse_args(argv)
    with common.workdir() as tmp:
        engine, _names, gen = prepare(args.database, tmp)
        url = engine.settings.database_url
        engine.close()
        dropped = [] if args.keep_indexes else drop_secondary_indexes(url)
        result = gen.generate(
            args.cases,
            chunk=args.chunk,
            progress=lambda d, s: print(f"  {d} cases in {s:.1f} s ({d / s:.0f}/s)", flush=True),
        )
        result["index_seconds"] = restore_indexes(url, dropped) if dropped else 0.0
        print(result)
        print(table_counts(url))


if __name__ == "__main__":
    main()
