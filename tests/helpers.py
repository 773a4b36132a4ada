"""Domain drivers for tests: report a case, find its tasks, complete them as someone."""

from __future__ import annotations

from typing import Any

PASSWORD = "correct-horse-battery"

DEPARTMENTS = [
    ("xinqiao", "新桥派出所", "station"),
    ("dongfeng", "东风派出所", "station"),
    ("civil_affairs", "民政局", "agency"),
    ("health", "卫健委", "agency"),
]
USERS = [
    ("wang", "officer", ["xinqiao"]),
    ("chen", "officer", ["xinqiao"]),
    ("liu", "officer", ["dongfeng"]),
    ("zhou", "supervisor", ["xinqiao"]),
    ("qian", "supervisor", ["dongfeng"]),
    ("li", "liaison", ["civil_affairs"]),
    ("zhao", "liaison", ["health"]),
    ("admin", "admin", []),
    ("sun", "auditor", []),
]

REPORT = {
    "risk_level": "red",
    "category": "elderly_care",
    "description": "独居老人需要帮扶 Elderly resident living alone needs help",
    "source": "household_visit",
    "household": "新桥社区7栋101室",
    "parties": [{"name": "刘桂兰", "id_number": "11010119450101123X", "phone": "13912345678", "role": "applicant"}],
}


def build_world(engine) -> dict[str, Any]:
    for key, name, kind in DEPARTMENTS:
        engine.identity.create_department(key, name, kind)
    for username, role, departments in USERS:
        engine.identity.create_user(username, role, PASSWORD, departments)
    return {username: engine.identity.actor(username) for username, _, _ in USERS}


def report_case(engine, officer, **overrides) -> dict[str, Any]:
    variables = {**REPORT, **overrides}
    return engine.runtime.start_instance("dispute_resolution", officer, variables)


def open_tasks(engine, case) -> list[dict[str, Any]]:
    return engine.runtime.get_instance(case["id"], history=False)["open_tasks"]


def task_of(engine, case, element_id: str) -> dict[str, Any]:
    found = [t for t in open_tasks(engine, case) if t["element_id"] == element_id]
    assert len(found) == 1, f"expected one open {element_id}, got {[t['element_id'] for t in open_tasks(engine, case)]}"
    return found[0]


def complete_as(engine, actor, case, element_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return engine.tasks.complete(task_of(engine, case, element_id)["id"], actor, data)


def status(engine, case) -> str:
    return engine.runtime.get_instance(case["id"], history=False)["status"]


def escalate(engine, officer, case, departments) -> None:
    complete_as(engine, officer, case, "assess_case", {"resolution": "escalate", "departments": departments})


DEPARTMENT_RESULT = {"outcome": "resolved", "summary": "已办结 handled"}


def database_rows(engine) -> dict[str, list[tuple]]:
    """Every row of every table, in key order: what a refused command must leave exactly as it was."""
    from sqlalchemy import select

    from engine.store.models import Base

    with engine.db.read() as session:
        return {
            table.name: [tuple(row) for row in session.execute(select(table).order_by(*table.primary_key.columns))]
            for table in Base.metadata.sorted_tables
        }


def rows_added(engine, before: dict[str, list[tuple]], table: str) -> list[dict[str, Any]]:
    """The rows of `table` (audit_log, outbox, personal_records...) written since `before`, as dicts."""
    from sqlalchemy import select

    from engine.store.models import Base

    model = Base.metadata.tables[table]
    key = [i for i, column in enumerate(model.columns) if column.primary_key]
    known = {tuple(row[i] for i in key) for row in before[table]}
    with engine.db.read() as session:
        rows = session.execute(select(model).order_by(*model.primary_key.columns)).all()
    return [dict(row._mapping) for row in rows if tuple(row[i] for i in key) not in known]


def queue_of(engine, task_id: str) -> set[str]:
    """The queues (group keys) a task is waiting in."""
    from sqlalchemy import select

    from engine.store.models import TaskCandidate

    with engine.db.read() as session:
        return set(session.scalars(select(TaskCandidate.group_key).where(TaskCandidate.task_id == task_id)))
