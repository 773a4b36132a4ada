"""The engine's one exception hierarchy.

Every error a caller can provoke is an `EngineError` with a stable `code` and a `kind` that the web
layer maps once to an HTTP status. Messages never contain personal data.
"""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """Base class: `code` is stable for clients, `kind` selects the HTTP status."""

    code = "engine_error"
    kind = "invalid"  # invalid | query | not_found | conflict | forbidden | validation | too_large | unavailable

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []


# --- not found -------------------------------------------------------------------------------
class NotFound(EngineError):
    code = "not_found"
    kind = "not_found"


class DefinitionNotFound(NotFound):
    code = "definition_not_found"


class DecisionNotFound(NotFound):
    code = "decision_not_found"


class InstanceNotFound(NotFound):
    code = "instance_not_found"


class TaskNotFound(NotFound):
    code = "task_not_found"


class UserNotFound(NotFound):
    code = "user_not_found"


class DepartmentNotFound(NotFound):
    code = "department_not_found"


class FormNotFound(NotFound):
    code = "form_not_found"


class PhraseNotFound(NotFound):
    code = "phrase_not_found"


class SavedViewNotFound(NotFound):
    code = "saved_view_not_found"


class DraftNotFound(NotFound):
    code = "draft_not_found"


class TokenNotFound(NotFound):
    code = "token_not_found"


class ChannelNotFound(NotFound):
    code = "channel_not_found"


class DeliveryNotFound(NotFound):
    code = "delivery_not_found"


class CopyNotFound(NotFound):
    code = "copy_not_found"


# --- the database went away ------------------------------------------------------------------------
class Unavailable(EngineError):
    """The database connection was lost mid-transaction (a restart, a failover): nothing was written."""

    code = "database_unavailable"
    kind = "unavailable"


# --- conflicts: the state moved on -------------------------------------------------------------
class Conflict(EngineError):
    code = "conflict"
    kind = "conflict"


class TaskAlreadyClaimed(Conflict):
    code = "task_already_claimed"


class TaskNotOpen(Conflict):
    """The task is completed or cancelled, or no longer READY in the workflow."""

    code = "task_not_open"


class TaskNotClaimed(Conflict):
    code = "task_not_claimed"


class TaskDelegated(Conflict):
    """The task is delegated (委派): its delegate resolves it back before anything else happens to it."""

    code = "task_delegated"


class TaskNotDelegated(Conflict):
    code = "task_not_delegated"


class InstanceNotRunning(Conflict):
    code = "instance_not_running"


class InstanceSuspended(InstanceNotRunning):
    """The case is suspended (挂起): its tasks wait until a supervisor resumes it."""

    code = "instance_suspended"


class InstanceNotSuspended(Conflict):
    code = "instance_not_suspended"


class DefinitionNotExecutable(Conflict):
    """The process is deployed with isExecutable="false": it can be viewed and edited, not started."""

    code = "definition_not_executable"


class MessageNotCorrelated(Conflict):
    code = "message_not_correlated"


class ConcurrentModification(Conflict):
    """Another transaction changed the instance first; retried by the unit of work."""

    code = "concurrent_modification"


class AlreadyExists(Conflict):
    code = "already_exists"


# --- forbidden: known actor, wrong role or ownership --------------------------------------------
class Forbidden(EngineError):
    code = "forbidden"
    kind = "forbidden"


class NotCandidate(Forbidden):
    code = "not_candidate"


class NotAssignee(Forbidden):
    code = "not_assignee"


class OwnedByAnother(Forbidden):
    """First-contact responsibility: the case's officer tasks belong to its owner."""

    code = "case_owned_by_another"


# --- invalid input ------------------------------------------------------------------------------
class InvalidInput(EngineError):
    code = "invalid_input"
    kind = "invalid"


class InvalidQuery(InvalidInput):
    """A query the caller shaped by hand (a crafted paging cursor): a 400 like other bad query parameters."""

    code = "invalid_query"
    kind = "query"


class PersonalField(InvalidInput):
    """Personal fields are set only through forms, which seal them (never as plain variables)."""

    code = "personal_field"


class FormInvalid(EngineError):
    code = "form_invalid"
    kind = "validation"


class DeploymentInvalid(EngineError):
    """The model is refused; `details` lists `{element_id, message}`."""

    code = "deployment_invalid"
    kind = "validation"


class ExpressionError(EngineError):
    code = "expression_invalid"
    kind = "validation"


class UnknownName(ExpressionError):
    """The expression names a variable the case does not have (a conditional event reads it as false)."""


class TooLarge(EngineError):
    code = "too_large"
    kind = "too_large"


class WorkflowFailed(EngineError):
    """The model itself failed while running (a condition on a missing variable, a bad expression).

    The transaction is rolled back; the instance keeps its last consistent state.
    """

    code = "workflow_error"
    kind = "validation"


class AttachmentNotFound(NotFound):
    code = "attachment_not_found"


class SubscriptionNotFound(NotFound):
    code = "subscription_not_found"
