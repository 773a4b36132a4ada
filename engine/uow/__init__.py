"""The unit of work: every change to an instance is one transaction (docs/architecture.md).

transaction   `UnitOfWork`: lock the instance, load its workflow, apply a change, write, commit, retry
change        `Change`: what one unit of work is doing; its buffered projection, audit and outbox rows
projections   the instance row and its human tasks rebuilt from the workflow; closing a task
waits         waiting timer and message events: their projections; refreshing due timers
"""

from .change import Change, OfTask, write_row
from .projections import close_task, rearm_sla, snapshot
from .transaction import UnitOfWork
from .waits import owning_process, refresh_timers, timer_due, waiting_events

__all__ = [
    "Change",
    "OfTask",
    "UnitOfWork",
    "close_task",
    "owning_process",
    "rearm_sla",
    "refresh_timers",
    "snapshot",
    "timer_due",
    "waiting_events",
    "write_row",
]
