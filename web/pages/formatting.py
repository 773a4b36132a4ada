"""How pages show times, SLA states and the words of the audit trail, in the user's language.

Times are stored in UTC and shown in the station's time zone (FENGQIAO_TIME_ZONE, Asia/Shanghai by
default); "now" is the engine's clock, so a test that moves the clock moves the badges too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel import dates
from flask import Flask, current_app, g, request
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _

from engine.vocabulary import ChannelKind, Role
from forms import renderer

from ..masking import mask_free_text

RISK_CLASSES = {"red": "risk-red", "yellow": "risk-yellow", "blue": "risk-blue"}


def parse(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def now() -> datetime:
    return current_app.extensions["fengqiao"].clock.now()


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def when(value: str | datetime | None, style: str = "short", zone: str | None = None) -> str:
    """A time in `zone` (by default the deployment's) and the user's language (babel, without Flask-Babel's
    per-call lookups)."""
    moment = parse(value)
    if moment is None:
        return ""
    return dates.format_datetime(moment, style, tzinfo=_zone(zone or time_zone()), locale=get_locale())


def span(delta: timedelta) -> str:
    return dates.format_timedelta(abs(delta), granularity="minute", threshold=1.2, locale=get_locale())


def _badge_words() -> dict[str, tuple[str, str]]:
    """Each SLA state's label and time phrase, translated once per request (an inbox has many rows)."""
    if "badge_words" not in g:
        left = _("%(span)s left", span="{span}")
        g.badge_words = {
            "breached": (_("Overdue"), _("%(span)s overdue", span="{span}")),
            "warning": (_("Due soon"), left),
            "on_time": (_("On time"), left),
            "met": (_("Met"), ""),
            "missed": (_("Missed"), ""),
        }
    return g.badge_words


def sla_badge(task: dict[str, Any]) -> dict[str, str] | None:
    """The badge of an open task: its live SLA state and the time left or overdue."""
    due = parse(task.get("due_at"))
    state = task.get("sla_state")
    if due is None or state is None:
        return None
    label, phrase = _badge_words().get(state, (state, ""))
    return {"state": state, "label": label, "time": phrase.format(span=span(due - now())) if phrase else ""}


def row_view(row: dict[str, Any]) -> dict[str, Any]:
    """What an inbox or board row shows, formatted in Python: a list of 20-200 rows pays for each
    template call and translation lookup per row, so the words are looked up once per request."""
    task, case = row["task"], row["case"]
    if "due_words" not in g:
        g.due_words = _("due %(when)s", when="{when}")
    risk = case.get("risk_level")
    meta = [
        case_label("category", case.get("category")),
        case.get("community") or "",
        g.due_words.format(when=when(task["due_at"])) if task.get("due_at") else "",
        task["assignee"] if task.get("assignee") and task["assignee"] != g.actor.username else "",
    ]
    return {
        "href": f"{request.script_root}/tasks/{task['id']}",
        "key": task["business_key"],
        "risk": {"css": RISK_CLASSES.get(risk, ""), "label": case_label("risk_level", risk)} if risk else None,
        "badge": sla_badge(task),
        "title": task["name"],
        "meta": [item for item in meta if item],
    }


def locale_name() -> str:
    return str(get_locale() or "zh_CN")


FORM_TTL = 60.0  # seconds a process keeps the report form's schema (a new deployment shows within a minute)


def report_form() -> dict[str, Any]:
    """The start form of the reported process, for labels of case fields (kept FORM_TTL seconds)."""
    cached = current_app.extensions.get("fengqiao.report_form")
    if cached is None or time.monotonic() - cached[0] > FORM_TTL:
        from .cases import start_form

        cached = (time.monotonic(), start_form())
        current_app.extensions["fengqiao.report_form"] = cached
    return cached[1]


def case_label(name: str, value: Any) -> str:
    """An enum value of the report form (category, risk level ...) in the user's language."""
    if value is None:
        return ""
    return renderer.option_label(report_form(), name, value, locale_name())


def field_title(schema: dict[str, Any], name: str) -> str:
    return renderer.field_title(schema, name, locale_name())


def personal_lines(record: dict[str, Any]) -> list[list[tuple[str, str]]]:
    """A personal-data record as lines of (label, value): one line per field, one per array item.
    Labels come from the report form for what the reporter typed, else the field's name."""
    schema = report_form() if record.get("source") == "start" else {}
    locale = locale_name()

    def label(path: str) -> str:
        return renderer.field_title(schema, path, locale) if schema else path.rsplit(".", 1)[-1]

    def shown(path: str, value: Any) -> str:
        return renderer.option_label(schema, path, value, locale) if schema else str(value)

    lines = []
    for key, value in record.get("data", {}).items():
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    lines.append([(label(f"{key}.{k}"), shown(f"{key}.{k}", v)) for k, v in item.items()])
                else:
                    lines.append([(label(key), str(item))])
        elif value is not None:
            lines.append([(label(key), shown(key, value))])
    return lines


ROLE_NAMES: dict[str, Callable[[], Any]] = {
    Role.OFFICER: lambda: _("Community officer"),
    Role.LIAISON: lambda: _("Department liaison"),
    Role.SUPERVISOR: lambda: _("Station supervisor"),
    Role.ADMIN: lambda: _("Administrator"),
    Role.AUDITOR: lambda: _("Auditor"),
}


KIND_NAMES: dict[str, Callable[[], Any]] = {
    ChannelKind.WECOM: lambda: _("WeCom group robot"),
    ChannelKind.DINGTALK: lambda: _("DingTalk robot"),
    ChannelKind.EMAIL: lambda: _("E-mail"),
}


def kind_name(kind: str) -> str:
    """A notification channel's app in words."""
    return KIND_NAMES[kind]() if kind in KIND_NAMES else kind


SYSTEM_ACTOR_NAMES: dict[str, Callable[[], Any]] = {
    "timer": lambda: _("Timer (system)"),
    "signal": lambda: _("Signal (system)"),
    "system": lambda: _("System"),
}


def actor_name(entry: dict[str, Any]) -> str:
    """Who did it, as the timeline says it: a user's name, or which part of the system (a timer firing,
    a signal, a department system's token) rather than its internal name."""
    name = entry["actor"]
    if not entry.get("by_system"):
        return name
    return SYSTEM_ACTOR_NAMES[name]() if name in SYSTEM_ACTOR_NAMES else _("%(name)s (system)", name=name)


def role_name(role: str) -> str:
    return ROLE_NAMES[role]() if role in ROLE_NAMES else role


def group_name(key: str) -> str:
    """A candidate group in words: a department's name, or a role's."""
    if key in ROLE_NAMES:
        return role_name(key)
    if "department_names" not in g:
        g.department_names = {
            d["key"]: d["name"] for d in current_app.extensions["fengqiao"].identity.list_departments()
        }
    return g.department_names.get(key, key)


def action_words(entry: dict[str, Any], task_names: dict[str, str]) -> str:
    """One audit entry in words: who did what (never an event code)."""
    details = entry.get("details") or {}
    task = task_names.get(entry.get("task_id") or "", "")
    names = {
        "instance.started": _("reported the case"),
        "instance.completed": _("the case was closed"),
        "instance.cancelled": _("terminated the case (reason: %(reason)s)", reason=details.get("reason", "")),
        "instance.suspended": _("suspended the case (reason: %(reason)s)", reason=details.get("reason", "")),
        "instance.resumed": _(
            "resumed the case after %(paused)s paused (reason: %(reason)s)",
            paused=paused_words(details.get("paused_seconds") or 0),
            reason=details.get("reason", ""),
        ),
        "case.copied": _(
            "copied the case to %(who)s (reason: %(reason)s)",
            who=", ".join([*(details.get("users") or []), *map(group_name, details.get("groups") or [])]),
            reason=details.get("reason", ""),
        ),
        "case.copy_read": _("read the copy of the case"),
        "task.withdrawn": _(
            "withdrew the escalation and took back “%(task)s” (reason: %(reason)s)",
            task=task,
            reason=details.get("reason", ""),
        ),
        "task.returned": _(
            "declined to sign “%(task)s” (reason: %(reason)s)", task=task, reason=details.get("reason", "")
        )
        if details.get("declined")  # one instance of a countersign (engine/multi_instance.py)
        else _(
            "returned “%(task)s” to the case owner (reason: %(reason)s)", task=task, reason=details.get("reason", "")
        ),
        "task.transferred": _(
            "transferred “%(task)s” to %(department)s (reason: %(reason)s)",
            task=task,
            department=group_name(details["department"]),
            reason=details.get("reason", ""),
        )
        if details.get("department")  # to another department (engine TaskCommands.transfer_to_department)
        else _(
            "transferred “%(task)s” to %(user)s (reason: %(reason)s)",
            task=task,
            user=details.get("assignee") or "",
            reason=details.get("reason", ""),
        ),
        "task.extension_requested": _(
            "asked for more time on “%(task)s”, until %(when)s (reason: %(reason)s)",
            task=task,
            when=when(details.get("due_at")),
            reason=details.get("reason", ""),
        ),
        "task.extension_approved": _(
            "approved more time on “%(task)s”: due %(when)s (reason: %(reason)s)",
            task=task,
            when=when(details.get("requested_due_at")),
            reason=details.get("reason", ""),
        ),
        "task.extension_refused": _(
            "refused more time on “%(task)s” (reason: %(reason)s)", task=task, reason=details.get("reason", "")
        ),
        "task.delegated": _(
            "asked %(user)s to work on “%(task)s” (reason: %(reason)s)",
            task=task,
            user=details.get("assignee") or "",
            reason=details.get("reason", ""),
        ),
        "task.resolved": _("handed “%(task)s” back (done: %(reason)s)", task=task, reason=details.get("reason", "")),
        "task.urged": _("urged “%(task)s” (reason: %(reason)s)", task=task, reason=details.get("reason", "")),
        "instance.variables_updated": _("corrected the case data"),
        "task.created": _("task “%(task)s” opened", task=task),
        "task.claimed": _("claimed “%(task)s”", task=task),
        "task.unclaimed": _("released “%(task)s”", task=task),
        "task.completed": _("completed “%(task)s”", task=task),
        "task.cancelled": _("“%(task)s” was no longer needed: enough departments signed", task=task)
        if details.get("not_needed")
        else _("task “%(task)s” was withdrawn", task=task),
        "task.reassigned": _(
            "gave “%(task)s” to %(user)s (reason: %(reason)s)",
            task=task,
            user=details.get("assignee") or "",
            reason=details.get("reason", ""),
        ),
        "case.owner_assigned": _("became the case owner"),
        "case.owner_reassigned": _(
            "made %(user)s the case owner (reason: %(reason)s)",
            user=details.get("owner") or "",
            reason=details.get("reason", ""),
        ),
        "message.correlated": _("a department reported its result"),
        "timer.fired": _("a deadline passed"),
        "personal_data.read": _("viewed the personal data"),
        "comment.added": _("gave an opinion on “%(task)s”", task=task)
        if details.get("kind") == "opinion"
        else _("commented"),
        "attachment.added": _("attached a file"),
        "attachment.deleted": _("deleted a file"),
        "attachment.downloaded": _("downloaded a file"),
    }
    return names.get(entry["action"], entry["action"])


def paused_words(seconds: int) -> str:
    """How long a case was suspended, in days, hours or minutes."""
    if seconds >= 86400:
        return ngettext("%(num)d day", "%(num)d days", seconds // 86400)
    if seconds >= 3600:
        return ngettext("%(num)d hour", "%(num)d hours", seconds // 3600)
    return ngettext("%(num)d minute", "%(num)d minutes", max(seconds // 60, 0))


def timeline_entries(
    history: list[dict[str, Any]], task_names: dict[str, str], comments: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The case's story: each audit entry in words (`action_words`), an opinion's or comment's text
    and its author's role beside the entry that records it. Other kinds of entries (attachments,
    handling operations) add their words to `action_words` and, if they carry more, a field here."""
    by_id = {c["id"]: c for c in comments}
    entries = []
    for entry in history:
        said = by_id.get((entry.get("details") or {}).get("comment_id") or "")
        entries.append(
            {
                "at": entry["at"],
                "actor": actor_name(entry),
                "role": role_name(said["role"]) if said else None,
                "words": action_words(entry, task_names),
                "text": said["text"] if said else None,
                "kind": said["kind"] if said else None,
            }
        )
    return entries


def status_name(status: str) -> str:
    names = {
        "running": _("In progress"),
        "suspended": _("Suspended"),
        "completed": _("Closed"),
        "cancelled": _("Terminated"),
    }
    return names.get(status, status)


def task_state_name(state: str) -> str:
    names = {
        "open": _("Waiting"),
        "claimed": _("In hand"),
        "completed": _("Done"),
        "cancelled": _("Cancelled"),  # withdrawn, terminated, interrupted or no longer needed
        "suspended": _("Paused"),
        "returned": _("Returned"),
    }
    return names.get(state, state)


def sla_name(state: str) -> str:
    names = {
        "on_time": _("On time"),
        "warning": _("Due soon"),
        "breached": _("Overdue"),
        "met": _("Deadline met"),
        "missed": _("Deadline missed"),
    }
    return names.get(state, state)


def render_form(schema: dict[str, Any], **options: Any):
    """The shared form renderer (forms.renderer) in the user's language and the station's zone."""
    return renderer.render_form(schema, locale=locale_name(), gettext=_, tz=time_zone(), **options)


def parse_form(schema: dict[str, Any], form) -> dict[str, Any]:
    """A submitted page form as the JSON the engine validates (forms.renderer)."""
    return renderer.parse_form(schema, form, tz=time_zone())


def time_zone() -> str:
    return current_app.extensions["fengqiao"].settings.time_zone


def register_filters(app: Flask) -> None:
    app.jinja_env.filters.update(when=when, group_name=group_name, masked=mask_free_text)
    app.jinja_env.globals.update(
        sla_badge=sla_badge,
        row_view=row_view,
        risk_class=RISK_CLASSES.get,
        case_label=case_label,
        field_title=field_title,
        role_name=role_name,
        kind_name=kind_name,
        current_locale=locale_name,
        status_name=status_name,
        task_state_name=task_state_name,
        sla_name=sla_name,
        render_form=render_form,
        report_form=report_form,
        personal_lines=personal_lines,
        group_name=group_name,
    )
