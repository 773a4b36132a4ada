"""The workflows this process saved last, kept in memory by instance and version.

A unit of work that finds its instance at the version this process wrote needs neither the state
blob (the lock statement returns it only when the version differs) nor its deserialization: the
workflow object saved at commit is the one the blob was serialized from. Any other writer (another
process, a failed change) moves the version on or removes the entry, so a stale workflow is never
used. An entry is taken out while a unit of work runs on it: a change that fails leaves nothing
behind, and no two threads ever share a workflow object.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass
class _Entry:
    version: int
    definition_id: int
    workflow: Any
    task_ids: tuple[str, ...]  # the open user tasks: a task-addressed change finds the instance by them


class WorkflowCache:
    """A bounded LRU of saved workflows; `size` 0 turns it off. Shared by the threads of a process."""

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._instance_of_task: dict[str, str] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def version_of(self, instance_id: str | None = None, task_id: str | None = None) -> int | None:
        """The version cached for an instance (or for the instance of an open task), if any."""
        with self._lock:
            if instance_id is None and task_id is not None:
                instance_id = self._instance_of_task.get(task_id)
            entry = self._entries.get(instance_id) if instance_id is not None else None
            return entry.version if entry is not None else None

    def open_tasks(self, instance_id: str, version: int) -> tuple[str, ...] | None:
        """The open user task ids of an instance at exactly this version, if cached (the entry stays)."""
        with self._lock:
            entry = self._entries.get(instance_id)
            return entry.task_ids if entry is not None and entry.version == version else None

    def take(self, instance_id: str, version: int, definition_id: int) -> tuple[Any, set[str]] | None:
        """Remove and return (workflow, its open user task ids) if saved at exactly this version."""
        with self._lock:
            entry = self._pop(instance_id)
        if entry is not None and entry.version == version and entry.definition_id == definition_id:
            self.hits += 1
            return entry.workflow, set(entry.task_ids)
        self.misses += 1
        return None

    def put(self, instance_id: str, version: int, definition_id: int, workflow, task_ids) -> None:
        """Keep a workflow just committed at `version` (an older version never replaces a newer one)."""
        if self.size <= 0:
            return
        with self._lock:
            current = self._entries.get(instance_id)
            if current is not None and current.version > version:
                return
            self._pop(instance_id)
            entry = self._entries[instance_id] = _Entry(version, definition_id, workflow, tuple(task_ids))
            for task_id in entry.task_ids:
                self._instance_of_task[task_id] = instance_id
            while len(self._entries) > self.size:
                self._pop(next(iter(self._entries)))

    def advance(self, instance_id: str, from_version: int, to_version: int) -> None:
        """A change that left the state as it was (a claim) moved the row's version on: follow it."""
        with self._lock:
            entry = self._entries.get(instance_id)
            if entry is not None and entry.version == from_version:
                entry.version = to_version
                self._entries.move_to_end(instance_id)

    def _pop(self, instance_id: str) -> _Entry | None:
        entry = self._entries.pop(instance_id, None)
        if entry is not None:
            for task_id in entry.task_ids:
                if self._instance_of_task.get(task_id) == instance_id:
                    del self._instance_of_task[task_id]
        return entry
