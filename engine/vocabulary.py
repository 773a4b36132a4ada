"""The engine's words: every state, role, kind and event name, defined once.

Each value is the exact string stored in the database, written to the audit trail and the outbox,
and shown by the API (a `StrEnum` member is that string: it compares, hashes, serializes and binds
as it). The OpenAPI document takes its enums from here (web/openapi.py), so a new state is added in
one place.
"""

from __future__ import annotations

from enum import StrEnum


class HumanTaskState(StrEnum):
    """A user task's row in the inbox (`human_tasks.state`)."""

    OPEN = "open"  # in its candidates' queues
    CLAIMED = "claimed"  # held by its assignee
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # gone from the workflow (a boundary event, a cancelled case)
    SUSPENDED = "suspended"  # its case is suspended: nobody claims or completes it, its deadline pauses
    RETURNED = "returned"  # sent back by its department (退回) with a reason; the case owner re-routes


# The states of a task someone still has to act on (the partial index on open tasks names them).
OPEN_TASK_STATES = (HumanTaskState.OPEN, HumanTaskState.CLAIMED)


class InstanceStatus(StrEnum):
    """A case (`process_instances.status`)."""

    RUNNING = "running"
    SUSPENDED = "suspended"  # paused with a reason (waiting for a court date): deadlines and timers pause
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # terminated (终止) by a supervisor or an admin


class TimerStatus(StrEnum):
    """A row of the timers table."""

    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"
    INCIDENT = "incident"  # failed its last attempt: an incident stands for it
    PAUSED = "paused"  # its case is suspended: resumed later, due later by the time paused


class TimerKind(StrEnum):
    """What a timer row stands for: a BPMN timer event or one of a task's SLA marks."""

    BPMN_TIMER = "bpmn_timer"
    SLA_WARNING = "sla_warning"
    SLA_BREACH = "sla_breach"


SLA_TIMER_KINDS = (TimerKind.SLA_WARNING, TimerKind.SLA_BREACH)


class SlaState(StrEnum):
    """A task's standing against its due time (docs/sla.md)."""

    ON_TIME = "on_time"
    WARNING = "warning"
    BREACHED = "breached"
    MET = "met"  # completed in time
    MISSED = "missed"  # closed late


class IncidentStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class IncidentResolution(StrEnum):
    RETRIED = "retried"
    CANCELLED = "cancelled"
    DISMISSED = "dismissed"  # a scheduled start given up: no case to cancel (engine/start_timers.py)


class Role(StrEnum):
    """A user's role (`users.role`); `SYSTEM` is the actor of timers and department callbacks."""

    OFFICER = "officer"
    LIAISON = "liaison"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    AUDITOR = "auditor"
    SYSTEM = "system"


# The roles a user account can have (SYSTEM is never a user's).
USER_ROLES = (Role.OFFICER, Role.LIAISON, Role.SUPERVISOR, Role.ADMIN, Role.AUDITOR)
# Roles that belong to one station: their candidate groups reach only that station's cases.
STATION_ROLES = (Role.OFFICER, Role.SUPERVISOR)


class CommentKind(StrEnum):
    """What a row of `comments` is: an opinion (审批意见) given with a completed task, or a comment."""

    OPINION = "opinion"
    COMMENT = "comment"


class DepartmentKind(StrEnum):
    STATION = "station"  # a police station (派出所) or community office: where cases start
    AGENCY = "agency"  # a department cases are escalated to (civil affairs, health, ...)


class Event(StrEnum):
    """Audit actions and outbox event types (`audit_log.action`, `outbox.type`)."""

    INSTANCE_STARTED = "instance.started"
    INSTANCE_COMPLETED = "instance.completed"
    INSTANCE_CANCELLED = "instance.cancelled"
    INSTANCE_VARIABLES_UPDATED = "instance.variables_updated"
    INSTANCE_SUSPENDED = "instance.suspended"
    INSTANCE_RESUMED = "instance.resumed"
    INSTANCE_MIGRATED = "instance.migrated"  # moved to another version of its process (engine/migration.py)
    TASK_CREATED = "task.created"
    TASK_CLAIMED = "task.claimed"
    TASK_UNCLAIMED = "task.unclaimed"
    TASK_COMPLETED = "task.completed"
    TASK_CANCELLED = "task.cancelled"
    TASK_REASSIGNED = "task.reassigned"
    TASK_URGED = "task.urged"
    TASK_WITHDRAWN = "task.withdrawn"
    TASK_RETURNED = "task.returned"
    TASK_TRANSFERRED = "task.transferred"
    TASK_DELEGATED = "task.delegated"
    TASK_RESOLVED = "task.resolved"
    TASK_EXTENSION_REQUESTED = "task.extension_requested"
    TASK_EXTENSION_APPROVED = "task.extension_approved"
    TASK_EXTENSION_REFUSED = "task.extension_refused"
    CASE_OWNER_ASSIGNED = "case.owner_assigned"
    CASE_OWNER_REASSIGNED = "case.owner_reassigned"
    CASE_OWNER_CHANGED = "case.owner_changed"
    CASE_COPIED = "case.copied"  # 抄送: a read-only notice to users (payload: their ids, no reason)
    CASE_COPY_READ = "case.copy_read"  # a recipient marked their copy read
    MESSAGE_CORRELATED = "message.correlated"
    SIGNAL_RECEIVED = "signal.received"  # a case caught a signal broadcast from outside
    SIGNAL_BROADCAST = "signal.broadcast"  # who broadcast which signal, and how many cases it reached
    TIMER_FIRED = "timer.fired"
    SLA_WARNING = "sla.warning"
    SLA_BREACHED = "sla.breached"
    INCIDENT_OPENED = "incident.opened"
    INCIDENT_RETRIED = "incident.retried"
    INCIDENT_DISMISSED = "incident.dismissed"
    DEFINITION_DEPLOYED = "definition.deployed"
    PERSONAL_DATA_READ = "personal_data.read"
    ATTACHMENT_ADDED = "attachment.added"
    ATTACHMENT_DOWNLOADED = "attachment.downloaded"
    ATTACHMENT_DELETED = "attachment.deleted"
    DEPARTMENT_CREATED = "department.created"
    DEPARTMENT_UPDATED = "department.updated"  # a station's time zone changed (its report days re-bucketed)
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    MEMBERSHIP_ADDED = "membership.added"
    MEMBERSHIP_REMOVED = "membership.removed"
    AUTH_LOGIN = "auth.login"
    AUTH_LOGIN_FAILED = "auth.login_failed"
    AUTH_LOGOUT = "auth.logout"
    API_TOKEN_CREATED = "api_token.created"
    API_TOKEN_REVOKED = "api_token.revoked"
    CHANNEL_CREATED = "channel.created"
    CHANNEL_UPDATED = "channel.updated"
    CHANNEL_DELETED = "channel.deleted"
    DELIVERY_RESENT = "delivery.resent"
    COMMENT_ADDED = "comment.added"  # an opinion or a comment; the text is never in the event
    PHRASE_ADDED = "phrase.added"
    PHRASE_REMOVED = "phrase.removed"
    SAVED_VIEW_CREATED = "saved_view.created"
    SAVED_VIEW_REMOVED = "saved_view.removed"
    # external tasks (engine/external_tasks.py)
    EXTERNAL_TASK_CREATED = "external_task.created"
    EXTERNAL_TASK_LOCKED = "external_task.locked"
    EXTERNAL_TASK_COMPLETED = "external_task.completed"
    EXTERNAL_TASK_FAILED = "external_task.failed"
    EXTERNAL_TASK_LOCK_EXTENDED = "external_task.lock_extended"
    EXTERNAL_TASK_BPMN_ERROR = "external_task.bpmn_error"
    EXTERNAL_TASK_CANCELLED = "external_task.cancelled"
    EXTERNAL_TASK_UNLOCKED = "external_task.unlocked"
    EXTERNAL_TASK_RETRIES_SET = "external_task.retries_set"
    WEBHOOK_SUBSCRIPTION_CREATED = "webhook_subscription.created"  # issue 18: audit of the admin's changes
    WEBHOOK_SUBSCRIPTION_UPDATED = "webhook_subscription.updated"
    WEBHOOK_SUBSCRIPTION_DELETED = "webhook_subscription.deleted"
    WEBHOOK_SECRET_ROTATED = "webhook_secret.rotated"
    WEBHOOK_INBOUND_SECRET_SET = "webhook_inbound_secret.set"

    @staticmethod
    def raised(kind: str) -> str:
        """A thrown BPMN event's name: `escalation.raised`, `error.raised`, `signal.raised`, ..."""
        return f"{kind}.raised"


class ChannelKind(StrEnum):
    """Where a notification goes (webhooks/formats.py): a group robot, a mailbox."""

    WECOM = "wecom"  # 企业微信 group robot webhook
    DINGTALK = "dingtalk"  # 钉钉 robot webhook, signed
    EMAIL = "email"  # SMTP


class DeliveryState(StrEnum):
    """A notification delivery (`notification_deliveries.state`)."""

    PENDING = "pending"  # due at next_attempt_at (a first try or a retry)
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after its last attempt, or its channel is disabled


# A case's business key (JF-2026-000123, or one an external system chose), checked by the engine
# and stated in the OpenAPI document.
BUSINESS_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,99}$"
