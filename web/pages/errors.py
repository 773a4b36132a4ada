"""Errors as pages in the layout: the same engine errors and refusals as the API, the same statuses
(web.errors.STATUS_BY_KIND), shown in the user's language with a way back."""

from __future__ import annotations

import logging

from flask import render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from engine.errors import EngineError

from ..errors import STATUS_BY_KIND, ApiError

log = logging.getLogger("fengqiao.web")


def titles() -> dict[int, str]:
    return {
        400: _("The request could not be understood"),
        403: _("You may not do this"),
        404: _("Not found"),
        405: _("Not allowed here"),
        409: _("Someone was quicker"),
        413: _("Too much data"),
        422: _("Please check the form"),
        429: _("Too many attempts"),
        503: _("The service is busy"),
    }


def messages() -> dict[str, str]:
    """Words for the engine's conflict and refusal codes a page user can meet."""
    return {
        "task_already_claimed": _("A colleague claimed this task first. It is no longer in your claimable list."),
        "task_not_open": _("This task is already finished or was cancelled."),
        "task_not_claimed": _("Claim the task before you complete it."),
        "instance_not_running": _("This case is closed or cancelled."),
        "concurrent_modification": _("The case changed while you were working on it. Please try again."),
        "not_candidate": _("This task is for another queue."),
        "not_assignee": _("This task is held by a colleague."),
        "case_owned_by_another": _("This case belongs to another officer."),
        "csrf": _("The form expired or did not come from this site. Go back, reload the page and try again."),
        "rate_limited": _("Too many failed logins. Wait a minute and try again."),
    }


def page(status: int, code: str | None = None):
    """The error page for `status`, with the words for `code` when there are some."""
    status = status if status in titles() else (400 if status < 500 else 503)
    message = messages().get(code or "", "")
    return render_template("error.html", status=status, title=titles()[status], message=message, code=code), status


def register(bp) -> None:
    """Handlers on the pages blueprint (once, at import: a blueprint is shared by every app)."""

    @bp.errorhandler(EngineError)
    def engine_error(exc: EngineError):
        return page(STATUS_BY_KIND.get(exc.kind, 422), exc.code)

    @bp.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return page(exc.status, exc.code)

    @bp.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return page(400, "csrf")

    @bp.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if (exc.code or 500) >= 500:
            log.error("unhandled error", exc_info=exc)
            return render_template("error.html", status=500, title=_("Something went wrong"), message=""), 500
        return page(exc.code or 500, "rate_limited" if exc.code == 429 else None)

    @bp.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.error("unhandled error", exc_info=exc)
        return render_template("error.html", status=500, title=_("Something went wrong"), message=""), 500
