"""Writes run on the driver's cursor (DriverStatement) store what SQLAlchemy would, and fail like it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, event, insert, select, text, update

from engine.errors import Unavailable
from engine.store.driver import DriverQuery, DriverStatement
from engine.store.models import AuditEntry, Timer, User, UTCDateTime
from tests.helpers import report_case

_AUDIT = AuditEntry.__table__


def _row(action):
    return {
        "at": datetime(2026, 11, 29, 8, 30, 15, 123456, tzinfo=UTC),
        "actor_id": None,
        "actor": "测试 test",
        "action": action,
        "instance_id": None,
        "task_id": None,
        "details": {"fields": ["a", "b"], "n": 1},
    }


def test_driver_inserts_read_back_like_sqlalchemy_inserts(engine):
    with engine.db.transaction() as session:
        session.connection().execute(insert(_AUDIT), [_row("by.sqlalchemy")])
        assert DriverStatement(insert(_AUDIT)).execute(session, [_row("by.driver"), _row("by.driver")]) == 2
    with engine.db.read() as session:
        rows = {r.action: r for r in session.scalars(select(AuditEntry).where(AuditEntry.action.like("by.%")))}
    core, driver = rows["by.sqlalchemy"], rows["by.driver"]
    assert (driver.at, driver.actor, driver.details) == (core.at, core.actor, core.details)
    assert driver.at == _row("x")["at"] and driver.at.tzinfo is not None


def test_many_rows_are_inserted_in_chunks_with_every_value_in_its_own_row(engine):
    count = DriverStatement.MAX_ROWS_PER_STATEMENT * 2 + 6  # several statements on PostgreSQL
    rows = [{**_row(f"chunk.{i:03d}"), "details": {"i": i}} for i in range(count)]
    with engine.db.transaction() as session:
        assert DriverStatement(insert(_AUDIT)).execute(session, rows) == len(rows)
    with engine.db.read() as session:
        stored = session.execute(
            select(AuditEntry.action, AuditEntry.details)
            .where(AuditEntry.action.like("chunk.%"))
            .order_by(AuditEntry.id)
        ).all()
    assert [(a, d) for a, d in stored] == [(r["action"], r["details"]) for r in rows]


@pytest.mark.backends("postgresql")
def test_rows_inserted_together_go_in_statements_psycopg_can_cache_and_prepare(engine):
    sizes = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        if statement.startswith("INSERT INTO audit_log"):
            sizes.append(len(parameters))

    rows = [{**_row(f"sized.{i:02d}"), "details": {"i": i}} for i in range(20)]  # 7 columns a row
    event.listen(engine.db.engine, "before_cursor_execute", record)
    try:
        with engine.db.transaction() as session:
            assert DriverStatement(insert(_AUDIT)).execute(session, rows) == 20
    finally:
        event.remove(engine.db.engine, "before_cursor_execute", record)
    assert sizes == [49, 49, 42]  # 7 + 7 + 6 rows: at most 50 parameters a statement
    with engine.db.read() as session:
        stored = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("sized.%")).order_by(AuditEntry.id)
        ).all()
    assert stored == [r["action"] for r in rows]


def test_driver_updates_count_the_rows_they_change_and_keep_literals(engine):
    statement = DriverStatement(
        update(Timer).where(Timer.id == bindparam("timer_id"), Timer.status == "pending").values(status="cancelled")
    )
    with engine.db.transaction() as session:
        assert statement.execute(session, {"timer_id": 123456}) == 0


def test_a_driver_statement_refuses_expanding_parameters(engine):
    statement = DriverStatement(update(Timer).where(Timer.kind.in_(("a", "b"))).values(status="cancelled"))
    with pytest.raises(ValueError), engine.db.transaction() as session:
        statement.execute(session, {})


@pytest.mark.backends("postgresql")
def test_a_driver_statement_on_a_lost_connection_is_unavailable_and_the_pool_recovers(engine):
    with pytest.raises(Unavailable), engine.db.transaction() as session:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
        with engine.db.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        DriverStatement(insert(_AUDIT)).execute(session, [_row("lost")])
    with engine.db.transaction() as session:  # a fresh connection
        assert DriverStatement(insert(_AUDIT)).execute(session, [_row("after")]) == 1


def test_driver_queries_read_rows_like_sqlalchemy(engine):
    with engine.db.transaction() as session:
        DriverStatement(insert(_AUDIT)).execute(session, [_row("read.back")])
    statement = select(_AUDIT).where(_AUDIT.c.action == bindparam("action"))
    with engine.db.read() as session:
        [expected] = session.execute(statement, {"action": "read.back"}).all()
    [row] = engine.db.read_rows(DriverQuery(statement), {"action": "read.back"})
    assert tuple(row) == tuple(expected)
    assert row.at.tzinfo is not None and row.details == {"fields": ["a", "b"], "n": 1} and row.actor == "测试 test"
    assert engine.db.read_rows(DriverQuery(statement), {"action": "nothing"}) == []


@pytest.mark.backends("postgresql")
def test_a_driver_query_on_a_lost_connection_is_unavailable_and_the_pool_recovers(engine):
    statement = DriverQuery(select(text("pg_backend_pid()")))
    with engine.db.engine.connect() as other:  # held, so the read gets a connection of its own
        [(pid,)] = engine.db.read_rows(statement, {})
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(Unavailable):
            engine.db.read_rows(statement, {})
    [(fresh,)] = engine.db.read_rows(statement, {})
    assert fresh != pid


def test_an_insert_returning_gives_every_rows_values_back_read_like_sqlalchemy(engine, world):
    case = report_case(engine, world["wang"])
    due = [datetime(2026, 12, 1, 8, 0, i, tzinfo=UTC) for i in range(40)]  # two statements on both backends
    rows = [
        {
            "instance_id": case["id"],
            "task_id": f"t{i}",
            "element_id": "e",
            "kind": "bpmn_timer",
            "due_at": d,
            "status": "cancelled",
            "attempts": 0,
            "claim_token": None,
            "locked_until": None,
            "last_error": None,
            "fired_at": None,
        }
        for i, d in enumerate(due)
    ]
    statement = DriverStatement(insert(Timer.__table__).returning(Timer.__table__.c.id, Timer.__table__.c.due_at))
    with engine.db.transaction() as session:
        returned = statement.returning(session, rows)
    with engine.db.read() as session:
        stored = dict(session.execute(select(Timer.id, Timer.due_at).where(Timer.element_id == "e")).all())
    assert sorted(returned) == sorted(stored.items()) and sorted(d for _, d in returned) == due


def test_orm_and_driver_writes_of_one_transaction_commit_together(engine):
    with engine.db.transaction() as scope:
        scope.add(AuditEntry(**_row("by.orm")))  # the session is made on first use, on the same connection
        DriverStatement(insert(_AUDIT)).execute(scope, _row("by.driver.too"))
    with engine.db.read() as scope:
        actions = set(scope.scalars(select(AuditEntry.action).where(AuditEntry.action.like("by.%"))))
    assert actions == {"by.orm", "by.driver.too"}


def test_a_failed_transaction_leaves_neither_its_orm_nor_its_driver_writes(engine):
    with pytest.raises(RuntimeError), engine.db.transaction() as scope:
        DriverStatement(insert(_AUDIT)).execute(scope, _row("lost.driver"))
        scope.add(AuditEntry(**_row("lost.orm")))
        scope.flush()
        raise RuntimeError("fails after writing")
    with engine.db.read() as scope:
        assert list(scope.scalars(select(AuditEntry.action).where(AuditEntry.action.like("lost.%")))) == []


def test_an_orm_object_changed_in_a_transaction_is_written_at_its_commit(engine, world):
    with engine.db.transaction() as scope:
        scope.get(User, world["wang"].id).display_name = "王警官"
    with engine.db.read() as scope:
        assert scope.get(User, world["wang"].id).display_name == "王警官"


def test_sqlite_datetimes_are_stored_as_the_text_sqlalchemy_writes():
    from datetime import timedelta, timezone

    from hypothesis import given, settings
    from hypothesis import strategies as st
    from sqlalchemy import DateTime
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)  # what a compiled statement uses
    theirs = DateTime().dialect_impl(dialect).bind_processor(dialect)

    @settings(max_examples=300, deadline=None)
    @given(
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
        st.integers(min_value=-14 * 60, max_value=14 * 60),
    )
    def same_text(value, offset_minutes):
        aware = value.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
        assert ours(aware) == theirs(aware)

    same_text()
    assert ours(None) is None
    with pytest.raises(ValueError):
        ours(datetime(2026, 11, 30))


def test_sqlite_datetimes_are_read_back_as_sqlalchemy_reads_them():
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from sqlalchemy import DateTime
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    write = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    ours = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
    theirs = DateTime().dialect_impl(dialect).result_processor(dialect, None)  # then made UTC-aware

    @settings(max_examples=300, deadline=None)
    @given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
    def same_value(value):
        stored = write(value.replace(tzinfo=UTC))
        assert ours(stored) == theirs(stored).replace(tzinfo=UTC) == value.replace(tzinfo=UTC)
        assert ours(stored).tzinfo is UTC

    same_value()
    assert ours(None) is None
    assert ours("2026-11-30 08:00:00") == datetime(2026, 11, 30, 8, tzinfo=UTC)  # written without microseconds
    assert ours("2026-11-30 16:00:00+08:00") == datetime(2026, 11, 30, 8, tzinfo=UTC)  # with an offset
    assert ours("2026-11-30 08:00:00.5") == theirs("2026-11-30 08:00:00.5").replace(tzinfo=UTC)
