"""Rows the unit of work locks and holds (an instance, its task rows), as plain attribute records.

They are read on the driver (engine/store/driver.py DriverQuery) and written back explicitly with one
Core UPDATE each (engine/uow/change.py write_row): no session tracks them, so nothing is flushed behind the
change's back and no identity map, instrumentation or ORM loading is paid on the hot path. Attribute
names are the table's column names, as on the ORM models, so views and rules read either alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


class Record:
    """One row of `table`: its columns as attributes."""

    def __init__(self, table, values: dict[str, Any]):
        self.__dict__.update(values)
        self.__table__ = table

    if TYPE_CHECKING:  # columns are attributes, named by the table (not known to the type checker)

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    def __repr__(self) -> str:
        return f"<{self.__table__.name} {getattr(self, 'id', '?')}>"
