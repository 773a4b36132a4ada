"""`/admin/external-tasks`: the external tasks waiting for department systems (docs/external-tasks.md),
as Camunda Cockpit's external-task view shows them: counts per topic, the list filtered by topic,
state and process, each task's worker and lock, retries and last error; unlock and set retries.

The page calls the engine functions the API's `GET /external-tasks`, `POST /{id}/unlock` and
`PUT /{id}/retries` call, so the rules, the audit rows and the outbox events are the same. A refusal
(the task completed or its lock went meanwhile) comes back as a flash message on the list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from babel import dates
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from engine.errors import EngineError, InvalidInput, NotFound
from engine.external_tasks import MAX_RETRIES, STATES, TOPIC, ExternalTaskLockLost, state_of

from ..context import engine
from ..masking import mask_free_text
from .formatting import now, parse, when

bp = Blueprint("external_tasks", __name__, url_prefix="/admin/external-tasks")
PAGE_SIZE = 50
MAX_PAGE = 1000  # 50,000 rows deep: past that, filter
ERROR_CHARS = 160  # of the worker's error text shown in a row


@bp.get("")
def show():
    filters = _filters()
    page = _page_number()
    service = engine().external_tasks
    rows = service.query(
        g.actor,
        topic=filters["topic"] or None,
        state=filters["state"] or None,
        process_key=filters["process"] or None,
        first=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE + 1,
    )
    overview = service.overview(g.actor)
    at = now()
    return render_template(
        "admin_external_tasks.html",
        rows=[_row(task, at) for task in rows[:PAGE_SIZE]],
        more=len(rows) > PAGE_SIZE,
        page=page,
        filters=filters,
        filter_args={name: value for name, value in filters.items() if value},
        overview=overview,
        totals={state: sum(t[state] for t in overview["topics"]) for state in (*STATES, "total")},
        states=STATES,
        max_retries=MAX_RETRIES,
    )


@bp.post("/<uuid:task_id>/unlock")
def unlock(task_id: UUID):
    def act() -> None:
        engine().external_tasks.unlock(str(task_id), g.actor)
        flash(_("The task was unlocked: a worker may fetch it now."), "ok")

    return _acting(act)


@bp.post("/<uuid:task_id>/retries")
def retries(task_id: UUID):
    value = request.form.get("retries", "").strip()

    def act() -> None:
        if not (value.isdigit() and len(value) <= 4):
            raise InvalidInput(f"retries must be 0-{MAX_RETRIES}")
        count = int(value)
        engine().external_tasks.set_retries(str(task_id), g.actor, count)
        if count:
            flash(_("Retries set to %(n)s: a worker may fetch the task again.", n=count), "ok")
        else:
            flash(_("Retries set to 0: an incident is open for the task."), "ok")

    return _acting(act)


def _acting(act):
    """Run an action; a refusal is a flash message on the list the admin came from, not an error page."""
    try:
        act()
    except ExternalTaskLockLost:
        flash(_("The task is not locked any more (its worker finished, failed, or the lock expired)."), "warn")
    except NotFound:
        flash(_("The task no longer waits: it was completed or cancelled meanwhile."), "warn")
    except InvalidInput:
        flash(_("Retries must be a whole number from 0 to %(max)s.", max=MAX_RETRIES), "warn")
    except EngineError as exc:  # any other rule of the engine: its sentence, the list unchanged
        flash(_("Refused: %(reason)s", reason=exc.message), "warn")
    return redirect(_back(), 303)


def _filters() -> dict[str, str]:
    topic = (request.args.get("topic") or "").strip()
    state = request.args.get("state") or ""
    process = (request.args.get("process") or "").strip()[:200]
    return {
        "topic": topic if TOPIC.fullmatch(topic) else "",
        "state": state if state in STATES else "",
        "process": process,
    }


def _page_number() -> int:
    value = request.args.get("page", "")
    if not (value.isdigit() and int(value) > 0):
        return 1
    return min(int(value), MAX_PAGE) if len(value) < 10 else MAX_PAGE


def _back() -> str:
    """The list with the filters the action form came from (a console path only)."""
    target = request.form.get("next") or ""
    fallback = url_for("pages.external_tasks.show")
    return target if target.startswith(fallback) and "//" not in target else fallback


def _row(task: dict[str, Any], at: datetime) -> dict[str, Any]:
    """What a row shows, formatted once in Python: its state, lock, retries and the masked error."""
    expires = parse(task["lockExpirationTime"])
    locked = task["workerId"] is not None and expires is not None and expires > at  # an incident's too
    error = mask_free_text(task["errorMessage"] or "")
    return {
        "task": task,
        "state": state_of(task, at),
        "lock": {"worker": task["workerId"], "until": when(expires), "relative": relative(expires, at)}
        if locked
        else None,
        # a failure's retry timeout: the lock column without a worker
        "retry_at": {"until": when(expires), "relative": relative(expires, at)}
        if not locked and task["workerId"] is None and expires is not None and expires > at
        else None,
        "error": error[:ERROR_CHARS] + ("…" if len(error) > ERROR_CHARS else ""),
        "created": when(task["createTime"]),
        "created_relative": relative(parse(task["createTime"]), at),
    }


def relative(moment: datetime | None, at: datetime) -> str:
    """`moment` from `at` in words: "in 3 minutes", "2 hours ago" (the user's language)."""
    if moment is None:
        return ""
    if abs((moment - at).total_seconds()) < 60:
        return _("just now")
    return dates.format_timedelta(moment - at, granularity="second", add_direction=True, locale=get_locale())


@bp.context_processor
def _names() -> dict[str, Any]:
    def state_name(state: str) -> str:
        names = {
            "available": _("Available"),
            "locked": _("Locked"),
            "failed": _("Failed, retries left"),
            "incident": _("Incident"),
        }
        return names.get(state, state)

    return {"external_state_name": state_name}
