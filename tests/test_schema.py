"""The schema Alembic builds is the one the models declare, on both backends, partial indexes included."""

from __future__ import annotations

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
                rows = connection.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                                               "AND tbl_name = 'timers' AND sql IS NOT NULL"))
                return {name: sql.split(" WHERE ", 1)[1] if " WHERE " in sql else None for name, sql in rows}
            return {ix["name"]: ix.get("dialect_options", {}).get("postgresql_where")
                    for ix in inspect(connection).get_indexes("timers")}
    finally:
        engine.dispose()


def test_timer_lookup_indexes_hold_pending_timers_only(database_url):
    predicates = _index_predicates(database_url)
    for name in ("ix_timers_due", "ix_timers_task", "ix_timers_claim_token"):
        assert predicates[name] is not None and "pending" in predicates[name], (name, predicates[name])
    assert predicates["ix_timers_instance_id"] is None  # every timer of a case, whatever its state


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
