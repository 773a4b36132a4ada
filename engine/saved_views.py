"""Saved inbox views: filters a user names ("my area, overdue") and finds again as tabs.

The filters are the inbox's own query parameters, checked by the web layer against the same
declaration as `GET /tasks` before they are saved; applying a view is running that query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from . import clock as clock_module
from .audit import record
from .errors import AlreadyExists, InvalidInput, SavedViewNotFound, TooLarge
from .store.models import SavedView
from .vocabulary import Event

if TYPE_CHECKING:
    from . import Engine

MAX_NAME = 60
MAX_VIEWS = 20


class SavedViewService:
    def __init__(self, ctx: Engine):
        self.ctx = ctx

    def list(self, actor) -> list[dict[str, Any]]:
        with self.ctx.db.read() as scope:
            rows = scope.scalars(select(SavedView).where(SavedView.user_id == actor.id).order_by(SavedView.id)).all()
            return [_view(r) for r in rows]

    def get(self, actor, view_id: int) -> dict[str, Any]:
        with self.ctx.db.read() as scope:
            row = scope.scalar(select(SavedView).where(SavedView.id == view_id, SavedView.user_id == actor.id))
            if row is None:
                raise SavedViewNotFound(f"saved view {view_id} does not exist")
            return _view(row)

    def create(self, actor, name: Any, filters: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME:
            raise InvalidInput("a view's name has 1 to 60 characters", [{"field": "name", "message": "1 to 60 chars"}])
        name = name.strip()
        with clock_module.bind(self.ctx.clock), self.ctx.db.transaction() as scope:
            mine = SavedView.user_id == actor.id
            if scope.scalar(select(SavedView.id).where(mine, SavedView.name == name)) is not None:
                raise AlreadyExists("you have a view of that name")
            if scope.scalar(select(func.count()).select_from(SavedView).where(mine)) >= MAX_VIEWS:
                raise TooLarge(f"at most {MAX_VIEWS} views; remove one first")
            row = SavedView(user_id=actor.id, name=name, filters=filters, created_at=self.ctx.clock.now())
            scope.add(row)
            scope.flush()
            record(scope, row.created_at, actor, Event.SAVED_VIEW_CREATED, details={"view_id": row.id})
            return _view(row)

    def remove(self, actor, view_id: int) -> None:
        with clock_module.bind(self.ctx.clock), self.ctx.db.transaction() as scope:
            found = scope.execute(delete(SavedView).where(SavedView.id == view_id, SavedView.user_id == actor.id))
            if found.rowcount != 1:
                raise SavedViewNotFound(f"saved view {view_id} does not exist")
            record(scope, self.ctx.clock.now(), actor, Event.SAVED_VIEW_REMOVED, details={"view_id": view_id})


def _view(row: SavedView) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "filters": row.filters}
