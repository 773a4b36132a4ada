"""TaskService: inbox queries, claim, unclaim, complete, reassign, and case ownership.

commands   claim, unclaim, complete, reassign, case ownership (first-contact responsibility);
           the handling operations of later issues (transfer, return, extend, ...) go here too
extensions deadline extensions (延期): request, approve, refuse
inbox      inbox queries, one function per query path
cursor     keyset paging: sort orders and cursors
views      a task as the engine shows it
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..sla import SLA_STATES, live_sla_state
from .commands import TaskCommands
from .extensions import ExtensionCommands
from .inbox import MAX_LIMIT, SORTS, STATES, InboxFilter, InboxQueries
from .views import task_view

if TYPE_CHECKING:
    from .. import Engine


class TaskService(TaskCommands, ExtensionCommands, InboxQueries):
    """Camunda's TaskService: what people do with user tasks, and how they find them."""

    def __init__(self, ctx: Engine):
        self.ctx = ctx


__all__ = [
    "MAX_LIMIT",
    "SLA_STATES",
    "SORTS",
    "STATES",
    "InboxFilter",
    "TaskService",
    "live_sla_state",
    "task_view",
]
