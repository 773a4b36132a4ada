"""Which outbox events a webhook subscription hears, under which name, with which thin payload.

A payload carries ids, the business key, the task, departments and due times: never personal data
(a resident's name, a reason typed by an officer). Receivers fetch what their token allows through
the API. Keys not listed in `KEPT` are dropped, so a new payload field stays out until added here.
"""

from __future__ import annotations

from typing import Any

from engine.vocabulary import Event

# outbox type -> webhook type (the owner's three events are one to a receiver)
NAMES: dict[str, str] = {
    str(t): str(t)
    for t in (
        Event.INSTANCE_STARTED,
        Event.INSTANCE_COMPLETED,
        Event.INSTANCE_CANCELLED,
        Event.INSTANCE_SUSPENDED,
        Event.INSTANCE_RESUMED,
        Event.TASK_CREATED,
        Event.TASK_CLAIMED,
        Event.TASK_UNCLAIMED,
        Event.TASK_COMPLETED,
        Event.TASK_CANCELLED,
        Event.TASK_REASSIGNED,
        Event.TASK_URGED,
        Event.TASK_WITHDRAWN,
        Event.TASK_RETURNED,
        Event.TASK_TRANSFERRED,
        Event.TASK_DELEGATED,
        Event.TASK_RESOLVED,
        Event.TASK_EXTENSION_REQUESTED,
        Event.TASK_EXTENSION_APPROVED,
        Event.TASK_EXTENSION_REFUSED,
        Event.SLA_WARNING,
        Event.SLA_BREACHED,
        Event.CASE_OWNER_CHANGED,
        Event.MESSAGE_CORRELATED,
    )
}
NAMES[Event.raised("escalation")] = "escalation.raised"  # a case reached one or more departments
TYPES: tuple[str, ...] = tuple(sorted(set(NAMES.values())))

KEPT = (
    "instance_id",
    "business_key",
    "process_key",
    "task_id",
    "element_id",
    "candidate_groups",
    "department",
    "departments",
    "due_at",
    "state",
    "via",
    "message",
)


def data(payload: dict[str, Any], task_name: str | None) -> dict[str, Any]:
    """The event's thin payload: the kept keys, plus the task's name (the model's, not a person's)."""
    kept = {k: payload[k] for k in KEPT if payload.get(k) is not None}
    if task_name:
        kept["task_name"] = task_name
    return kept


def departments(payload: dict[str, Any], task_groups: list[str] | None) -> set[str]:
    """The groups an event concerns: its task's queue, the departments it names."""
    found: set[str] = set()
    for value in (payload.get("candidate_groups"), task_groups, payload.get("departments")):
        if isinstance(value, list):
            found.update(v for v in value if isinstance(v, str))
    if isinstance(payload.get("department"), str):
        found.add(payload["department"])
    return found
