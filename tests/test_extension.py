"""Extension (延期): the holder asks for more time with a reason; a supervisor of the station approves
(the due time moves, the old one is kept and shown) or refuses; both audited; refusals change nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.errors import Forbidden, InvalidInput, NotAssignee, TaskNotClaimed
from engine.tasks.extensions import ExtensionPending, NoExtensionRequested
from tests import models
from tests.helpers import database_rows, escalate, report_case, rows_added, task_of
from tests.test_permission_refusals import refused


@pytest.fixture
def held(engine, world):
    """A civil-affairs task (due in 72 hours, warning 18 hours before) held by li."""
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    return engine.tasks.claim(task_of(engine, case, "handle_civil_affairs")["id"], world["li"])


def later(task, **delta) -> datetime:
    return datetime.fromisoformat(task["due_at"]) + timedelta(**delta)


def test_an_approved_extension_moves_the_deadline_and_shows_the_old_one(engine, world, held, clock):
    asked = later(held, days=3)
    before = database_rows(engine)
    pending = engine.tasks.request_extension(
        held["id"], world["li"], asked, " 等待体检结果 waiting for a medical report "
    )
    assert (pending["due_at"], pending["extension_due_at"]) == (held["due_at"], asked.isoformat())
    approved = engine.tasks.decide_extension(held["id"], world["zhou"], True, "同意 agreed")
    assert (approved["due_at"], approved["extended_from"], approved["extension_due_at"]) == (
        asked.isoformat(),
        held["due_at"],
        None,
    )
    lead = datetime.fromisoformat(held["due_at"]) - datetime.fromisoformat(held["warn_at"])
    assert approved["warn_at"] == (asked - lead).isoformat()
    audit = [(r["actor"], r["action"], r["details"]["reason"]) for r in rows_added(engine, before, "audit_log")]
    assert audit == [
        ("li", "task.extension_requested", "等待体检结果 waiting for a medical report"),
        ("zhou", "task.extension_approved", "同意 agreed"),
    ]
    events = [e["type"] for e in rows_added(engine, before, "outbox")]
    assert events == ["task.extension_requested", "task.extension_approved"]
    # the old breach mark no longer fires; the new one does
    clock.advance(hours=72, seconds=1)
    engine.timers.fire_due()
    assert engine.tasks.get_task(held["id"])["sla_state"] == "on_time"
    clock.advance(days=3)
    engine.timers.fire_due()
    assert engine.tasks.get_task(held["id"])["sla_state"] == "breached"


def test_a_refused_extension_leaves_the_deadline_and_is_audited(engine, world, held):
    engine.tasks.request_extension(held["id"], world["li"], later(held, days=1), "more time")
    refused_ = engine.tasks.decide_extension(held["id"], world["zhou"], False, "时限内可完成 doable in time")
    assert (refused_["due_at"], refused_["extension_due_at"], refused_["extended_from"]) == (held["due_at"], None, None)
    history = engine.runtime.get_instance(held["instance_id"])["history"]
    assert [h["details"]["reason"] for h in history if h["action"] == "task.extension_refused"] == [
        "时限内可完成 doable in time"
    ]


def test_only_the_holder_asks_once_for_a_later_time(engine, world, held):
    li, asked = world["li"], later(held, days=1)
    refused(
        engine,
        NotAssignee,
        "only the holder of a task asks for more time",
        engine.tasks.request_extension,
        held["id"],
        world["zhou"],
        asked,
        "r",
    )
    says = "the new due time must be later than the current one"
    refused(engine, InvalidInput, says, engine.tasks.request_extension, held["id"], li, later(held, hours=-1), "r")
    says = "an extension reaches at most 90 days ahead"
    refused(engine, InvalidInput, says, engine.tasks.request_extension, held["id"], li, later(held, days=120), "r")
    refused(engine, InvalidInput, "a reason is required", engine.tasks.request_extension, held["id"], li, asked, "")
    engine.tasks.request_extension(held["id"], li, asked, "r")
    says = "an extension is already waiting for a supervisor"
    refused(engine, ExtensionPending, says, engine.tasks.request_extension, held["id"], li, later(held, days=2), "r")


def test_only_a_supervisor_of_the_station_decides_and_only_on_a_pending_request(engine, world, held):
    says = "no extension of this task is waiting for a decision"
    refused(engine, NoExtensionRequested, says, engine.tasks.decide_extension, held["id"], world["zhou"], True, "r")
    engine.tasks.request_extension(held["id"], world["li"], later(held, days=1), "r")
    for who in ("li", "wang", "qian"):
        says = "only a supervisor of the case's station decides on an extension"
        refused(engine, Forbidden, says, engine.tasks.decide_extension, held["id"], world[who], True, "r")


def test_an_open_task_asks_for_no_extension(engine, world):
    case = report_case(engine, world["wang"])
    task = task_of(engine, case, "assess_case")
    says = "the task is open: its holder asks for more time"
    refused(
        engine,
        TaskNotClaimed,
        says,
        engine.tasks.request_extension,
        task["id"],
        world["wang"],
        later(task, days=1),
        "r",
    )


def test_a_task_with_a_due_time_but_no_warning_is_extended_without_one(engine, world, clock):
    # a warning at the due time is no warning
    engine.repository.deploy([("unwarned.bpmn", models.sla_task("unwarned", "PT10H", "100%"))])
    case = engine.runtime.start_instance("unwarned", world["wang"], {})
    held = engine.tasks.claim(task_of(engine, case, "review")["id"], world["wang"])
    assert (held["due_at"], held["warn_at"]) == ((clock.now() + timedelta(hours=10)).isoformat(), None)
    engine.tasks.request_extension(held["id"], world["wang"], later(held, hours=5), "more time")
    approved = engine.tasks.decide_extension(held["id"], world["zhou"], True, "同意 agreed")
    assert (approved["due_at"], approved["warn_at"]) == (later(held, hours=5).isoformat(), None)
