"""Fengqiao's BPM engine. No HTTP here: the web layer and the CLI call these facades.

engine = Engine(Settings.from_env())
engine.repository.deploy([("dispute.bpmn", xml)])
case = engine.runtime.start_instance("dispute_resolution", actor, variables)
engine.tasks.complete(task_id, actor, {"resolution": "on_spot"})
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from forms import FormRegistry

from . import jobs
from .attachments import AttachmentService
from .audit import HistoryService
from .clock import Clock, ManualClock
from .comments import CommentService
from .config import Settings
from .copies import CopyService
from .drafts import DraftService
from .errors import EngineError
from .expressions import Evaluator, SafeScriptEngine
from .external_tasks import ExternalTaskService
from .identity import Actor, IdentityService
from .migration import MigrationService
from .monitoring import MonitoringService
from .personal import PersonalDataService
from .phrases import PhraseService
from .reports import ReportService
from .repository import RepositoryService
from .runtime import RuntimeService
from .saved_views import SavedViewService
from .serializer import WorkflowSerializer
from .signals import SignalService
from .start_timers import StartTimerService
from .store.db import Database
from .tasks import TaskService
from .timers import TimerService
from .tokens import TokenService
from .uow import UnitOfWork
from .vault import Vault, load_key
from .workflow_cache import WorkflowCache

__all__ = ["Actor", "Clock", "Engine", "EngineError", "ManualClock", "Settings"]


class Engine:
    """The composition root: one per process, shared by threads."""

    def __init__(self, settings: Settings | None = None, clock: Clock | None = None):
        self.settings = settings or Settings.from_env()
        self.clock = clock or Clock()
        self.db = Database(self.settings.database_url)
        self.evaluator = Evaluator()
        self.serializer = WorkflowSerializer(SafeScriptEngine(self.evaluator))
        self.workflows = WorkflowCache(self.settings.workflow_cache_size)
        form_dirs = [Path(__file__).resolve().parent.parent / "forms"]
        if self.settings.forms_dir:
            form_dirs.append(self.settings.forms_dir)
        self.forms = FormRegistry(form_dirs)
        self.vault = Vault(load_key(self.settings))
        self.uow = UnitOfWork(self)
        self.repository = RepositoryService(self)
        self.runtime = RuntimeService(self)
        self.migration = MigrationService(self)
        self.monitoring = MonitoringService(self)
        self.tasks = TaskService(self)
        self.identity = IdentityService(self)
        self.history = HistoryService(self)
        self.personal = PersonalDataService(self)
        self.attachments = AttachmentService(self)
        self.tokens = TokenService(self)
        self.timers = TimerService(self)
        self.start_timers = StartTimerService(self)
        self.comments = CommentService(self)
        self.copies = CopyService(self)
        self.phrases = PhraseService(self)
        self.drafts = DraftService(self)
        self.saved_views = SavedViewService(self)
        self.external_tasks = ExternalTaskService(self)
        self.signals = SignalService(self)
        self.reports = ReportService(self)
        self.jobs = jobs.for_engine(self)
        # Work other packages add to every sweep (webhooks/: the notification relay and deliveries),
        # and where they keep their services; the engine knows them only as callables.
        # (the KPI report rollups take in the cases units of work queued: engine/reports/rollups.py)
        self.sweep_duties: list[Callable[[], Any]] = [self.reports.rollups.sweep]
        self.extensions: dict[str, Any] = {}
        # Called after each committed unit of work with (seconds, audit rows): web/metrics.py counts them.
        self.observers: list[Callable[[float, list[dict[str, Any]]], None]] = []

    def migrate(self) -> None:
        self.db.migrate()

    def deploy_bundled(self, actor: Actor | None = None) -> dict:
        """Deploy the workflows shipped in workflows/ (trusted: restricted scripts allowed)."""
        files = [(p.name, p.read_bytes()) for p in sorted(self.settings.workflows_dir.glob("*.bpmn"))]
        return self.repository.deploy(files, actor, allow_scripts=True)

    def close(self) -> None:
        self.jobs.stop()
        self.db.dispose()
