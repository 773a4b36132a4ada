"""Common phrases (常用语): a user's own list, plus station-wide defaults an admin sets.

A phrase is a template such as "已电话联系当事人" and names nobody: it is stored in clear.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, or_, select

from . import clock as clock_module
from .audit import record
from .errors import InvalidInput, PhraseNotFound, TooLarge
from .store.models import CommonPhrase
from .vocabulary import Event, Role

if TYPE_CHECKING:
    from . import Engine

MAX_TEXT = 200
MAX_PHRASES = 50  # per user, and station-wide


class PhraseService:
    def __init__(self, ctx: Engine):
        self.ctx = ctx

    def list(self, actor) -> list[dict[str, Any]]:
        """The defaults first, then the actor's own, each in the order they were added."""
        with self.ctx.db.read() as scope:
            rows = scope.scalars(
                select(CommonPhrase)
                .where(or_(CommonPhrase.user_id.is_(None), CommonPhrase.user_id == actor.id))
                .order_by(CommonPhrase.user_id.is_not(None), CommonPhrase.id)
            ).all()
            return [_view(r) for r in rows]

    def add(self, actor, text: Any) -> dict[str, Any]:
        """An admin adds a station-wide default; anyone else a phrase of their own."""
        if not isinstance(text, str) or not text.strip() or len(text.strip()) > MAX_TEXT:
            raise InvalidInput("a phrase has 1 to 200 characters", [{"field": "text", "message": "1 to 200 chars"}])
        owner = None if actor.role == Role.ADMIN else actor.id
        with clock_module.bind(self.ctx.clock), self.ctx.db.transaction() as scope:
            mine = CommonPhrase.user_id.is_(None) if owner is None else CommonPhrase.user_id == owner
            if scope.scalar(select(func.count()).select_from(CommonPhrase).where(mine)) >= MAX_PHRASES:
                raise TooLarge(f"at most {MAX_PHRASES} phrases; remove one first")
            phrase = CommonPhrase(user_id=owner, text=text.strip(), created_at=self.ctx.clock.now())
            scope.add(phrase)
            scope.flush()
            details = {"phrase_id": phrase.id, "default": owner is None}
            record(scope, phrase.created_at, actor, Event.PHRASE_ADDED, details=details)
            return _view(phrase)

    def remove(self, actor, phrase_id: int) -> None:
        """Users remove their own phrases; admins the defaults."""
        owner = None if actor.role == Role.ADMIN else actor.id
        with clock_module.bind(self.ctx.clock), self.ctx.db.transaction() as scope:
            mine = CommonPhrase.user_id.is_(None) if owner is None else CommonPhrase.user_id == owner
            if scope.execute(delete(CommonPhrase).where(CommonPhrase.id == phrase_id, mine)).rowcount != 1:
                raise PhraseNotFound(f"phrase {phrase_id} does not exist")
            record(scope, self.ctx.clock.now(), actor, Event.PHRASE_REMOVED, details={"phrase_id": phrase_id})


def _view(phrase: CommonPhrase) -> dict[str, Any]:
    return {"id": phrase.id, "text": phrase.text, "default": phrase.user_id is None}
