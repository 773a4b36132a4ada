"""Every change is one transaction: errors change nothing, states are checked, the audit is append-only."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine.errors import InstanceNotRunning, NotAssignee, NotCandidate, TaskNotFound, TaskNotOpen
from tests.helpers import complete_as, report_case, task_of


def test_completing_a_completed_task_is_a_conflict_and_changes_nothing(engine, world):
    wang = world["wang"]
    case = report_case(engine, wang)
    task = task_of(engine, case, "assess_case")
    engine.tasks.complete(task["id"], wang, {"resolution": "on_spot"})
    before = engine.runtime.get_instance(case["id"])
    with pytest.raises(TaskNotOpen):
        engine.tasks.complete(task["id"], wang, {"resolution": "escalate", "departments": ["health"]})
    after = engine.runtime.get_instance(case["id"])
    assert (after["version"], len(after["history"])) == (before["version"], len(before["history"]))


def test_completing_someone_elses_task_is_refused(engine, world):
    case = report_case(engine, world["wang"])
    task = task_of(engine, case, "assess_case")
    engine.tasks.claim(task["id"], world["wang"])
    with pytest.raises(NotAssignee):
        engine.tasks.complete(task["id"], world["chen"], {"resolution": "on_spot"})
    with pytest.raises(NotCandidate):
        engine.tasks.complete(
            task_of(engine, report_case(engine, world["wang"]), "assess_case")["id"],
            world["li"],
            {"resolution": "on_spot"},
        )


def test_unknown_task_is_not_found(engine, world):
    with pytest.raises(TaskNotFound):
        engine.tasks.claim("00000000-0000-0000-0000-000000000000", world["wang"])


def test_cancelled_case_closes_its_tasks_and_refuses_more_work(engine, world):
    wang, zhou = world["wang"], world["zhou"]
    case = report_case(engine, wang)
    task = task_of(engine, case, "assess_case")
    view = engine.runtime.cancel_instance(case["id"], zhou, "重复上报 duplicate report")
    assert view["status"] == "cancelled" and view["open_tasks"] == []
    with pytest.raises(TaskNotOpen):
        engine.tasks.complete(task["id"], wang, {"resolution": "on_spot"})
    with pytest.raises(InstanceNotRunning):
        engine.runtime.cancel_instance(case["id"], zhou, "again")


def test_only_supervisors_and_admins_cancel(engine, world):
    from engine.errors import Forbidden

    case = report_case(engine, world["wang"])
    for who in ("wang", "li", "sun", "qian"):
        with pytest.raises(Forbidden):
            engine.runtime.cancel_instance(case["id"], world[who], "no")


def test_business_keys_are_sequential_per_year_and_unique(engine, world):
    from engine.errors import AlreadyExists

    first = report_case(engine, world["wang"])
    second = report_case(engine, world["wang"])
    assert (first["business_key"], second["business_key"]) == ("JF-2026-000001", "JF-2026-000002")
    engine.runtime.start_instance("dispute_resolution", world["wang"], {**_report()}, business_key="JF-X-1")
    with pytest.raises(AlreadyExists):
        engine.runtime.start_instance("dispute_resolution", world["wang"], {**_report()}, business_key="JF-X-1")


def _report():
    from tests.helpers import REPORT

    return REPORT


def test_audit_rows_cannot_be_updated_or_deleted(engine, world):
    report_case(engine, world["wang"])
    for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError), engine.db.transaction() as session:
            session.execute(text(statement))
    with engine.db.transaction() as session:
        assert "mallory" not in session.execute(text("SELECT actor FROM audit_log")).scalars().all()


def test_every_step_of_a_case_is_audited_with_its_actor(engine, world):
    wang = world["wang"]
    case = report_case(engine, wang)
    complete_as(engine, wang, case, "assess_case", {"resolution": "on_spot"})
    history = engine.runtime.get_instance(case["id"])["history"]
    assert [(h["actor"], h["action"]) for h in history] == [
        ("wang", "instance.started"),
        ("wang", "task.created"),
        ("wang", "task.claimed"),
        ("wang", "case.owner_assigned"),
        ("wang", "task.completed"),
        ("wang", "task.created"),
    ]


def _drop_connections(engine) -> None:
    """What a PostgreSQL restart does to the pool: every connection the engine holds is cut."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    admin = create_engine(engine.settings.database_url, poolclass=NullPool)
    with admin.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
    admin.dispose()
    assert killed >= 1  # the engine's pooled connections


@pytest.mark.backends("postgresql")
def test_commands_and_token_checks_survive_a_database_restart(engine, world):
    from tests.helpers import PASSWORD

    wang = world["wang"]
    token = engine.tokens.login("wang", PASSWORD)["token"]
    case = report_case(engine, wang)
    _drop_connections(engine)
    assert engine.tokens.resolve(token).username == "wang"  # the read ran again on a fresh connection
    task_id = task_of(engine, case, "assess_case")["id"]
    _drop_connections(engine)
    done = engine.tasks.complete(task_id, wang, {"resolution": "on_spot"})
    assert done["state"] == "completed"  # the unit of work ran again on a fresh connection
    _drop_connections(engine)
    assert report_case(engine, wang)["status"] == "running"  # so did the start of a case
