"""The schema Alembic builds is the one the models declare, on both backends, partial indexes included."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from engine.store.models import Base


def test_migrations_build_the_schema_the_models_declare(database_url):
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()


def _index_predicates(database_url) -> dict[str, str | None]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                rows = connection.execute(
                    text(
                        "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                        "AND tbl_name = 'timers' AND sql IS NOT NULL"
                    )
                )
                return {name: sql.split(" WHERE ", 1)[1] if " WHERE " in sql else None for name, sql in rows}
            return {
                ix["name"]: ix.get("dialect_options", {}).get("postgresql_where")
                for ix in inspect(connection).get_indexes("timers")
            }
    finally:
        engine.dispose()


def test_timer_lookup_indexes_hold_unsettled_timers_only(database_url):
    predicates = _index_predicates(database_url)
    for name in ("ix_timers_due", "ix_timers_claim_token"):
        assert predicates[name] is not None and "pending" in predicates[name], (name, predicates[name])
    by_case = predicates["ix_timers_instance_task"]
    assert by_case is not None and "pending" in by_case and "incident" in by_case
    assert "fired" not in by_case and "cancelled" not in by_case
    paused = predicates["ix_timers_paused"]  # a suspended case's parked timers (docs/operations.md)
    assert paused is not None and "paused" in paused and "pending" not in paused
    assert set(predicates) == {"ix_timers_due", "ix_timers_claim_token", "ix_timers_instance_task", "ix_timers_paused"}


def test_outbox_event_ids_carry_no_unique_index(database_url):
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            inspector = inspect(connection)
            indexed = [ix["column_names"] for ix in inspector.get_indexes("outbox")]
            unique = [c["column_names"] for c in inspector.get_unique_constraints("outbox")]
        assert ["event_id"] not in indexed and ["event_id"] not in unique
    finally:
        engine.dispose()


def _plan(engine, statement, params: dict) -> str:
    """The plan of `statement` with these values; PostgreSQL told to avoid sequential scans, as it
    would on a table of a few rows whatever the indexes."""
    with engine.db.engine.connect() as connection:
        compiled = statement.compile(dialect=connection.dialect)
        values = compiled.construct_params(params)
        if connection.dialect.name == "sqlite":
            positional = tuple(values[name] for name in compiled.positiontup)
            return " ".join(
                str(row[-1]) for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), positional)
            )
        connection.exec_driver_sql("SET enable_seqscan = off")
        return " ".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + str(compiled), values))


def test_a_cases_timer_lookups_use_the_index_of_its_unsettled_timers(engine):
    from engine.timers import PENDING_OF_CASE
    from engine.uow.projections import _CANCEL_SLA_TIMERS
    from engine.uow.waits import _SETTLE_BPMN_TIMER

    lookups = {
        "an SLA mark cancelled": (_CANCEL_SLA_TIMERS.statement, {"instance_id": "c", "of_task": "t"}),
        "a BPMN timer settled": (
            _SETTLE_BPMN_TIMER.statement,
            {"instance_id": "c", "task_id": "t", "status": "fired", "fired_at": None},
        ),
        # without its ORDER BY: on an empty table PostgreSQL would rather walk the due-time index in
        # order; with data it reads the case's few rows by this index and sorts them
        "a case's pending timers": (PENDING_OF_CASE.order_by(None), {"instance_id": "c"}),
    }
    for what, (statement, params) in lookups.items():
        assert "ix_timers_instance_task" in _plan(engine, statement, params), what


def test_the_external_task_list_reads_a_page_oldest_first_from_its_index(engine, world):
    """The console's list (and the API's) walks `ix_external_tasks_created` and stops after the page,
    with or without a state filter, instead of sorting every waiting task (migration 0020)."""
    from sqlalchemy import event

    issued: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "FROM external_tasks" in statement:
            issued.append((statement, parameters))

    event.listen(engine.db.engine, "before_cursor_execute", record)
    try:
        engine.external_tasks.query(world["admin"], limit=51)
        engine.external_tasks.query(world["admin"], state="incident", first=50, limit=51)
    finally:
        event.remove(engine.db.engine, "before_cursor_execute", record)
    assert len(issued) == 2
    with engine.db.engine.connect() as connection:
        for statement, parameters in issued:
            if connection.dialect.name == "sqlite":
                rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
                plan = " ".join(str(row[-1]) for row in rows)
            else:
                connection.exec_driver_sql("SET enable_seqscan = off")  # as on a table of thousands
                plan = " ".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters))
            assert "ix_external_tasks_created" in plan and "TEMP B-TREE" not in plan, plan
