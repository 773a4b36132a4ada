"""Personal data of cases: sealed into `personal_records` and nowhere else; reads are audited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from . import clock as clock_module
from .audit import record
from .errors import InstanceNotFound
from .store.models import PersonalRecord, ProcessInstance
from .vocabulary import Event

if TYPE_CHECKING:
    from . import Engine


class PersonalDataService:
    def __init__(self, ctx: Engine):
        self.ctx = ctx

    def store(self, change, task_id: str | None, source: str, data: dict[str, Any]) -> None:
        """Seal `data` into a personal record written with the change (after its instance row)."""
        nonce, ciphertext = self.ctx.vault.seal(change.instance.id, source, data)
        change.personal_rows.append(
            {
                "instance_id": change.instance.id,
                "task_id": task_id,
                "source": source,
                "key_id": self.ctx.vault.key_id,
                "nonce": nonce,
                "ciphertext": ciphertext,
                "created_at": change.now,
            }
        )

    def read(self, instance_id: str, actor, purpose: str) -> list[dict[str, Any]]:
        """Every personal record of a case, decrypted, oldest first; the read itself is audited."""
        with clock_module.bind(self.ctx.clock), self.ctx.db.transaction() as scope:
            if scope.get(ProcessInstance, instance_id) is None:
                raise InstanceNotFound(f"process instance '{instance_id}' does not exist")
            rows = scope.scalars(
                select(PersonalRecord).where(PersonalRecord.instance_id == instance_id).order_by(PersonalRecord.id)
            ).all()
            record(
                scope,
                self.ctx.clock.now(),
                actor,
                Event.PERSONAL_DATA_READ,
                instance_id=instance_id,
                details={"purpose": (purpose or "")[:200], "records": len(rows)},
            )
            return [
                {
                    "source": r.source,
                    "task_id": r.task_id,
                    "created_at": r.created_at.isoformat(),
                    "data": self.ctx.vault.open(instance_id, r.source, r.nonce, r.ciphertext),
                }
                for r in rows
            ]
