"""What a notification says: a title, a few lines and the task's deep link, in Chinese or English.

Only what identifies the work, never who it is about: the business key, the task's name, its due
time, the station, and the link `/tasks/<id>` (the login page sends the user back to it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

LANGUAGES = ("zh", "en")

TITLES: dict[str, tuple[str, str]] = {  # (Chinese, English)
    "task.created": ("新任务：{task}", "New task: {task}"),
    "task.reassigned": ("任务已交给您：{task}", "Task assigned to you: {task}"),
    "sla.warning": ("任务即将到期：{task}", "Task due soon: {task}"),
    "sla.breached": ("任务已超时：{task}", "Task overdue: {task}"),
    "task.urged": ("催办：{task}", "Reminder to act: {task}"),
    "case.copied": ("抄送：案件 {case}", "Copied to you: case {case}"),
    "task.returned": ("任务被退回：{task}", "Task returned: {task}"),
}
LABELS = {
    "zh": {
        "case": "案件编号",
        "station": "所属单位",
        "due": "截止时间",
        "open": "打开任务",
        "task": "任务",
        "copies": "查看抄送",
    },
    "en": {
        "case": "Case",
        "station": "Station",
        "due": "Due",
        "open": "Open the task",
        "task": "task",
        "copies": "Open your copies",
    },
}
COPY_EVENTS = frozenset({"case.copied"})  # about a case, not a task: the link is the "copied to me" list


def render(
    event_type: str,
    language: str | None,
    *,
    task_id: str | None,
    task_name: str | None,
    business_key: str | None,
    station: str | None,
    due_at: datetime | None,
    public_url: str,
    time_zone: str,
) -> dict[str, Any]:
    lang = language if language in LANGUAGES else "zh"
    labels = LABELS[lang]
    zh, en = TITLES.get(event_type, ("通知：{task}", "Notice: {task}"))
    title = (zh if lang == "zh" else en).format(task=task_name or labels["task"], case=business_key or "")
    lines = []
    if business_key:
        lines.append(f"{labels['case']}: {business_key}")
    if station:
        lines.append(f"{labels['station']}: {station}")
    if due_at is not None:
        lines.append(f"{labels['due']}: {due_at.astimezone(ZoneInfo(time_zone)):%Y-%m-%d %H:%M}")
    if event_type in COPY_EVENTS:
        return {
            "title": title,
            "lines": lines,
            "link": f"{public_url}/copies",
            "link_text": labels["copies"],
            "language": lang,
        }
    link = f"{public_url}/tasks/{task_id}" if task_id else f"{public_url}/"
    return {"title": title, "lines": lines, "link": link, "link_text": labels["open"], "language": lang}
