"""SQLAlchemy models: the engine's tables.

Workflow state lives in one blob per instance; everything the inbox, the SLA board, the timer
sweeper and reports query lives in ordinary indexed projection tables, rebuilt by every unit of
work. Personal data lives only in `personal_records`, encrypted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, query_expression
from sqlalchemy.types import TypeDecorator

from ..vocabulary import OPEN_TASK_STATES, DeliveryState, IncidentStatus, TimerStatus

# BigInteger ids autoincrement on SQLite only when declared INTEGER.
BigId = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self):
        return datetime

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value

    def bind_processor(self, dialect):
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        check = self.process_bind_param

        def process(value):
            # the text SQLAlchemy's SQLite DATETIME writes (the wall time, to the microsecond), without
            # its dict of fields and %-formatting: a change binds a dozen datetimes
            value = check(value, dialect)
            return None if value is None else value.isoformat(" ", "microseconds")[:26]

        return process

    def result_processor(self, dialect, coltype):
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        parse, to_utc = datetime.fromisoformat, self.process_result_value

        def process(value):
            # the text above, parsed in C rather than by SQLAlchemy's regular expression: a task row
            # holds six datetimes, an inbox page fifty rows
            return None if value is None else to_utc(parse(value), dialect)

        return process

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None


# the predicate of the partial index on open tasks: "state IN ('open', 'claimed')"
OPEN_TASK_INDEX_WHERE = "state IN ({})".format(", ".join(f"'{state}'" for state in OPEN_TASK_STATES))
# Timers stay as rows after they fire or are cancelled (history), but only pending ones are looked up
# by due time or by task: those indexes hold pending rows only. A change then touches them only for
# the timers it adds or settles, and the sweeper's index stays as small as the backlog. Queries say
# the predicate literally (TIMER_PENDING below), or SQLite cannot use a partial index.
PENDING = f"status = '{TimerStatus.PENDING}'"
LEASED = f"status = '{TimerStatus.PENDING}' AND claim_token IS NOT NULL"
# A case's timers by task: pending ones (an SLA mark cancelled, a case's list) and incidents (a
# waiting BPMN timer that failed still stands for its event). Written as an OR so that a query saying
# `status = 'pending'` alone can use it too (SQLite and PostgreSQL prove `a` implies `a OR b`).
# undelivered notifications by due time: the deliverer's only query (webhooks/delivery.py)
DELIVERY_PENDING = f"state = '{DeliveryState.PENDING}'"
UNSETTLED = f"status = '{TimerStatus.PENDING}' OR status = '{TimerStatus.INCIDENT}'"
PAUSED = f"status = '{TimerStatus.PAUSED}'"


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}

    if TYPE_CHECKING:  # every model declares a Table (SQLAlchemy types `__table__` as any FromClause)
        __table__: ClassVar[Table]


# --- identity ----------------------------------------------------------------------------------
class Department(Base):
    """A police station (owns cases) or an agency such as civil affairs (works escalations)."""

    __tablename__ = "departments"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # station | agency
    # a station's IANA time zone (its report days and periods); None: the deployment's FENGQIAO_TIME_ZONE
    time_zone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # officer | liaison | supervisor | admin | auditor
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Membership(Base):
    __tablename__ = "memberships"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    department_id: Mapped[int] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True, index=True
    )


# --- repository --------------------------------------------------------------------------------
class Deployment(Base):
    __tablename__ = "deployments"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str | None] = mapped_column(String(64))
    resources: Mapped[list[Any]]  # [{name, sha256}]
    comment: Mapped[str | None] = mapped_column(Text)  # the deployer's note (the console's version list)
    # the forms deployed with the model ({form key: JSON Schema}): its tasks look here before forms/
    forms: Mapped[dict[str, Any] | None]


class ProcessDefinition(Base):
    """One version of one executable process. `xml` is the normalised document that defines it."""

    __tablename__ = "process_definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(300))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    content_hash: Mapped[str] = mapped_column(String(64))  # own document + called processes
    resource_name: Mapped[str] = mapped_column(String(300))
    xml: Mapped[str] = mapped_column(Text)
    called: Mapped[list[Any]]  # definition ids of called processes, pinned at deploy
    meta: Mapped[dict[str, Any]]  # human-task attributes, start form, message waits (read once)
    deployed_at: Mapped[datetime]


# --- runtime -----------------------------------------------------------------------------------
class ProcessInstance(Base):
    __tablename__ = "process_instances"
    __table_args__ = (
        Index("ix_instances_status_key", "status", "process_key", "started_at"),
        Index("ix_instances_owner", "case_owner_id", "status"),
        Index("ix_instances_station", "station_id", "status", "started_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    business_key: Mapped[str] = mapped_column(String(100), unique=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # running | completed | cancelled
    case_owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    suspended_at: Mapped[datetime | None]  # while suspended: since when (resuming moves deadlines by the pause)
    variables: Mapped[dict[str, Any]]  # non-personal snapshot, read without opening the blob
    state: Mapped[str] = mapped_column(Text)  # serialized workflow without its spec
    version: Mapped[int] = mapped_column(Integer, default=1)
    # the state, read only when the version differs from the one this process cached (engine/uow/)
    stale_state: Mapped[str | None] = query_expression()
    # Optimistic concurrency: a second writer of the same version raises StaleDataError.
    __mapper_args__ = {"version_id_col": version}


class HumanTask(Base):
    """Projection of a user task. Rows stay after completion: history and KPI reports read them."""

    __tablename__ = "human_tasks"
    __table_args__ = (
        Index("ix_tasks_assignee", "assignee_id", "state", "due_at"),
        Index("ix_tasks_instance", "instance_id", "state"),
        Index("ix_tasks_state_due", "state", "due_at"),
        # open tasks in due order: the SLA board (breached/warning) reads it without sorting (0004)
        Index(
            "ix_tasks_open_due",
            "due_at",
            "id",
            postgresql_where=text(OPEN_TASK_INDEX_WHERE),
            sqlite_where=text(OPEN_TASK_INDEX_WHERE),
        ),
        # the KPI reports' open backlog (by station, SLA state and age), read from the index alone (0016)
        Index(
            "ix_tasks_open_backlog",
            "station_id",
            "due_at",
            "warn_at",
            "created_at",
            postgresql_where=text(OPEN_TASK_INDEX_WHERE),
            sqlite_where=text(OPEN_TASK_INDEX_WHERE),
        ),
        # the inbox's business-field filters, each read in due order (0013; engine/case_fields.py)
        Index("ix_tasks_risk_level_due", "risk_level", "due_at", "id"),
        Index("ix_tasks_category_due", "category", "due_at", "id"),
        Index("ix_tasks_community_due", "community", "due_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # SpiffWorkflow task id
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"))
    business_key: Mapped[str] = mapped_column(String(100))
    process_key: Mapped[str] = mapped_column(String(200))
    element_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(300))
    lane: Mapped[str | None] = mapped_column(String(200))
    candidate_groups: Mapped[list[Any]]
    candidate_users: Mapped[list[Any]]
    owner_task: Mapped[bool] = mapped_column(Boolean, default=False)  # belongs to the case owner
    station_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    # open | claimed | completed | cancelled | suspended (engine/vocabulary.py HumanTaskState)
    state: Mapped[str] = mapped_column(String(16))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    form_key: Mapped[str | None] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, default=50)
    created_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    completed_via: Mapped[str | None] = mapped_column(String(16))  # form | message
    due_at: Mapped[datetime | None]
    warn_at: Mapped[datetime | None]
    follow_up_at: Mapped[datetime | None]
    # stored at warning/breach/close: on_time | warning | breached | met | missed (reads compute live)
    sla_state: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[dict[str, Any] | None]  # declared, non-personal form fields (KPI reports)
    urge_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # 催办: times pressed
    urged_at: Mapped[datetime | None]  # the last urge
    # 延期: the due time the holder asked for, until a supervisor decides; the due time before the last
    # approved extension (an extension is shown as such: `due_at` never moves silently)
    extension_due_at: Mapped[datetime | None]
    extended_from: Mapped[datetime | None]
    # 委派: the holder who delegated the task to its current assignee; it comes back to them (resolve)
    delegated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # the case's business fields, copied from its variables when they change (engine/case_fields.py)
    risk_level: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(200))
    community: Mapped[str | None] = mapped_column(String(200))


# an open task, with the states as literals: the partial index on open tasks applies (see TIMER_PENDING)
IS_OPEN_TASK = HumanTask.__table__.c.state.in_([literal_column(f"'{state}'") for state in OPEN_TASK_STATES])


class TaskCandidate(Base):
    """One row per (open task, candidate group or user): the claimable-queue index."""

    __tablename__ = "task_candidates"
    # a group's queue in due order, ties by task id, read without sorting (0004)
    __table_args__ = (Index("ix_candidates_queue", "group_key", "due_at", "task_id"),)
    task_id: Mapped[str] = mapped_column(ForeignKey("human_tasks.id", ondelete="CASCADE"), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    due_at: Mapped[datetime | None]


class Timer(Base):
    """Every pending due time: BPMN timer events and SLA warning/breach marks.

    The database is the source of truth: a sweeper claims due rows (a lease: `claim_token` and
    `locked_until`) and fires each in its own unit of work; job queues only deliver wake-ups.
    """

    __tablename__ = "timers"
    __table_args__ = (
        Index("ix_timers_due", "due_at", postgresql_where=text(PENDING), sqlite_where=text(PENDING)),
        Index(
            "ix_timers_instance_task",
            "instance_id",
            "task_id",
            postgresql_where=text(UNSETTLED),
            sqlite_where=text(UNSETTLED),
        ),
        # a resumed case finds the timers its suspension paused (few rows: only suspended cases' timers)
        Index("ix_timers_paused", "instance_id", postgresql_where=text(PAUSED), sqlite_where=text(PAUSED)),
        # a sweeper finds the pending timers it leased by token; no other row is in this index
        Index("ix_timers_claim_token", "claim_token", postgresql_where=text(LEASED), sqlite_where=text(LEASED)),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # not indexed on its own: cases are never deleted (their audit rows are append-only), and every
    # lookup by case is of unsettled timers (ix_timers_instance_task)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(String(36))  # waiting SpiffWorkflow task, or the human task (SLA)
    element_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(24))  # bpmn_timer | sla_warning | sla_breach
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=TimerStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    fired_at: Mapped[datetime | None]


TIMER_PENDING = Timer.__table__.c.status == literal_column(f"'{TimerStatus.PENDING}'")  # matches the partial indexes


class StartTimer(Base):
    """The schedule of a timer start event of one deployed version: when it starts its next case.

    Deploying a version writes its rows (and retires the previous version's); a sweeper claims a due
    row with a lease, as it claims `timers`, and starts the case in the transaction that moves
    `next_due_at` on (engine/start_timers.py).
    """

    __tablename__ = "start_timers"
    __table_args__ = (
        Index("ix_start_timers_due", "next_due_at", postgresql_where=text(PENDING), sqlite_where=text(PENDING)),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    process_key: Mapped[str] = mapped_column(String(200), index=True)
    element_id: Mapped[str] = mapped_column(String(200))  # the timer start event
    next_due_at: Mapped[datetime]
    remaining: Mapped[int] = mapped_column(Integer)  # occurrences left, this one included; -1: no end
    step_seconds: Mapped[float | None] = mapped_column(Float)  # a cycle's spacing; None: once
    status: Mapped[str] = mapped_column(String(16), default=TimerStatus.PENDING.value)  # pending|done|replaced
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    started: Mapped[int] = mapped_column(Integer, default=0)  # cases it started
    last_started_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


START_TIMER_PENDING = StartTimer.__table__.c.status == literal_column(f"'{TimerStatus.PENDING}'")


class Incident(Base):
    """Work the engine gave up on: a timer or an external task that kept failing (the instance keeps
    its last consistent state until an admin acts), or a scheduled start that started no case (kind
    "start_timer": no case, `start_timer_id` and `due_at` name the occurrence; engine/start_timers.py)."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_status", "status", "created_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[str | None] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"), index=True)
    timer_id: Mapped[int | None] = mapped_column(ForeignKey("timers.id", ondelete="SET NULL"))
    element_id: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(24))
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=IncidentStatus.OPEN.value)
    resolution: Mapped[str | None] = mapped_column(String(16))  # retried | cancelled
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    # kind "external_task": the external task whose retries ran out (engine/external_tasks.py)
    external_task_id: Mapped[str | None] = mapped_column(String(36))
    # kind "start_timer": the schedule whose occurrence (due at `due_at`) started no case
    start_timer_id: Mapped[int | None] = mapped_column(ForeignKey("start_timers.id", ondelete="SET NULL"))
    due_at: Mapped[datetime | None]


class ExternalTask(Base):
    """A BPMN service task with `camunda:type="external"` that waits for a department system
    (engine/external_tasks.py): fetched and locked by topic, then completed, failed or errored.

    The row exists while the task waits; its history is the audit trail. `variables` is the case's
    non-personal variables when the task was created (what a worker receives).
    """

    __tablename__ = "external_tasks"
    # fetch-and-lock: by topic, the unlocked or expired first (NULL sorts apart on both backends)
    __table_args__ = (
        Index("ix_external_tasks_fetch", "topic", "lock_expires_at"),
        Index("ix_external_tasks_created", "created_at", "id"),  # the list, oldest first (migration 0020)
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the SpiffWorkflow task id
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"), index=True)
    business_key: Mapped[str] = mapped_column(String(100))
    process_key: Mapped[str] = mapped_column(String(200))
    element_id: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(200))
    variables: Mapped[dict[str, Any]]
    lock_owner: Mapped[str | None] = mapped_column(String(200))  # worker id
    lock_expires_at: Mapped[datetime | None]  # also the end of a failure's retry timeout
    retries: Mapped[int | None] = mapped_column(Integer)  # None until a worker reports a failure
    error: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class MessageWait(Base):
    """A message catch event that is waiting: what correlation looks up."""

    __tablename__ = "message_waits"
    __table_args__ = (Index("ix_waits_instance_message", "instance_id", "message_name"),)
    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"))
    message_name: Mapped[str] = mapped_column(String(200))
    element_id: Mapped[str] = mapped_column(String(200))
    attached_to: Mapped[str | None] = mapped_column(String(200))  # boundary: the task it interrupts
    groups: Mapped[list[Any]]  # candidate groups of that task: which department may answer


class PersonalRecord(Base):
    """Personal data of a case, AES-GCM encrypted; the only place it is stored."""

    __tablename__ = "personal_records"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    source: Mapped[str] = mapped_column(String(64))  # start | task form key | message name
    key_id: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class Attachment(Base):
    """A file attached to a case or one of its tasks. The file itself, sealed, is in the attachment
    storage (engine/attachments); its name, sealed too, is here. Rows are never deleted: a deletion
    is marked, with who, when and why."""

    __tablename__ = "attachments"
    # a case's files in upload order (the case page, the printable record)
    __table_args__ = (Index("ix_attachments_instance", "instance_id", "uploaded_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(String(36))
    storage_key: Mapped[str] = mapped_column(String(300))
    key_id: Mapped[str] = mapped_column(String(32))
    sealed_name: Mapped[bytes] = mapped_column(LargeBinary)  # nonce + AES-GCM of the file name
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    has_thumbnail: Mapped[bool] = mapped_column(Boolean, default=False)
    location_kept: Mapped[bool] = mapped_column(Boolean, default=False)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    delete_reason: Mapped[str | None] = mapped_column(String(1000))


class Sequence(Base):
    """Named counters (business keys) incremented inside the caller's transaction."""

    __tablename__ = "sequences"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[int] = mapped_column(BigId, default=0)


# --- collaboration (docs/collaboration.md) ----------------------------------------------------
class Comment(Base):
    """An opinion given with a completed task, or a comment on a case. The text is sealed like personal
    fields (it may name a person): only the vault opens it, and it is never in audit or outbox rows."""

    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_instance", "instance_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # time-ordered; the sealed text is bound to it
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(String(36))  # the completed task of an opinion
    kind: Mapped[str] = mapped_column(String(16))  # opinion | comment
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    author: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


class CaseCopy(Base):
    """A read-only notice of a case (抄送) to one user: the copy's reason, who sent it and when, and
    when the recipient marked it read. A group is expanded to one row per user when sent."""

    __tablename__ = "case_copies"
    __table_args__ = (
        Index("ix_copies_recipient", "recipient_id", "created_at"),  # "copied to me", newest first
        Index("ix_copies_instance", "instance_id"),  # a case's copies (and its cascade)
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    copied_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    copied_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]


class CommonPhrase(Base):
    """A phrase (常用语) inserted into an opinion with one tap: a user's own, or (user_id NULL) a
    station-wide default an admin set."""

    __tablename__ = "common_phrases"
    __table_args__ = (Index("ix_phrases_user", "user_id", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class TaskDraft(Base):
    """A half-filled task form of the task's holder: declared non-personal fields as JSON, personal
    ones sealed like submitted ones. Removed when the task completes or changes hands."""

    __tablename__ = "task_drafts"
    task_id: Mapped[str] = mapped_column(ForeignKey("human_tasks.id", ondelete="CASCADE"), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(36))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    data: Mapped[dict[str, Any]]
    key_id: Mapped[str | None] = mapped_column(String(32))
    nonce: Mapped[bytes | None] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime]


class SavedView(Base):
    """A user's named inbox filter ("my area, overdue"), shown as a tab."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(60))
    filters: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


# --- history and events ------------------------------------------------------------------------
class AuditEntry(Base):
    """Append-only: triggers refuse UPDATE and DELETE (see the migration)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_instance", "instance_id", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    instance_id: Mapped[str | None] = mapped_column(String(36))
    task_id: Mapped[str | None] = mapped_column(String(36))
    details: Mapped[dict[str, Any]]


class OutboxEvent(Base):
    """Events written with the change that caused them; a relay delivers them (webhooks)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unpublished", "published_at", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # the id consumers deduplicate on (webhook-id): a uuid4, unique by construction. Not indexed: the
    # engine never looks events up by it, and a unique index on random values cost every change ~2.4
    # extra pages written (bench: pages per commit)
    event_id: Mapped[str] = mapped_column(String(36))
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    instance_id: Mapped[str | None] = mapped_column(String(36))
    task_id: Mapped[str | None] = mapped_column(String(36))
    payload: Mapped[dict[str, Any]]
    published_at: Mapped[datetime | None]


# --- HTTP API authentication -------------------------------------------------------------------
class AuthToken(Base):
    """A bearer token: only its SHA-256 is stored; the token itself is shown once.

    `session` tokens come from a login and expire; `api` tokens belong to a department system.
    """

    __tablename__ = "auth_tokens"
    __table_args__ = (Index("ix_auth_tokens_user", "user_id", "revoked_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # session | api
    name: Mapped[str] = mapped_column(String(100))  # username, or the department system's name
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"))
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    topics: Mapped[list[Any] | None] = mapped_column(
        JSON
    )  # an external-task worker's topics (engine/external_tasks.py)


# --- notifications (webhooks/: the relay, channels and delivery) ---------------------------------
class NotificationChannel(Base):
    """A place a user or a department is told about their tasks: a WeCom or DingTalk robot, a mailbox.

    The target (robot URL with its key, or e-mail address) and the DingTalk signing secret are sealed
    with the vault; `hint` is what lists show (a host name, a masked address).
    """

    __tablename__ = "notification_channels"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # wecom | dingtalk | email
    hint: Mapped[str] = mapped_column(String(200))
    key_id: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    events: Mapped[list[Any]]  # event types wanted; empty: every notifiable one
    language: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookSubscription(Base):
    """A department's or an integration's system told about events in the Standard Webhooks format.

    The target URL and the signing secrets (`whsec_…`, the previous one kept until `previous_until`
    during a rotation) are sealed with the vault; `hint` (the host) is what lists show (issue 18).
    """

    __tablename__ = "webhook_subscriptions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"), index=True)
    hint: Mapped[str] = mapped_column(String(200))
    key_id: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    previous_until: Mapped[datetime | None]
    events: Mapped[list[Any]]  # webhook event types wanted
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookInboundSecret(Base):
    """The secret a department's system signs its results with (sealed; the previous one until
    `previous_until` during a rotation)."""

    __tablename__ = "webhook_inbound_secrets"
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    previous_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookReceipt(Base):
    """An inbound result taken: (department, webhook-id), written with its effect, so a replay changes nothing."""

    __tablename__ = "webhook_receipts"
    department: Mapped[str] = mapped_column(String(64), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(36))
    received_at: Mapped[datetime]


class NotificationDelivery(Base):
    """One event for one channel: retried until delivered or given up; each try is a DeliveryAttempt."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        # the relay may read an event twice (a crash before its cursor moved): one delivery per channel
        UniqueConstraint("event_id", "channel_id"),
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            postgresql_where=text(DELIVERY_PENDING),
            sqlite_where=text(DELIVERY_PENDING),
        ),
        Index("ix_deliveries_state", "state", "attempts", "id"),
        Index("ix_deliveries_channel", "channel_id", "id"),
        # issue 18: a delivery to a webhook subscription instead of a channel; attempts per event
        UniqueConstraint("event_id", "subscription_id", name="uq_deliveries_event_subscription"),
        Index("ix_deliveries_subscription", "subscription_id", "id"),
        Index("ix_deliveries_event", "event_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[str | None] = mapped_column(ForeignKey("notification_channels.id", ondelete="CASCADE"))
    subscription_id: Mapped[str | None] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE", name="fk_deliveries_subscription")
    )
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(64))
    instance_id: Mapped[str | None] = mapped_column(String(36))
    task_id: Mapped[str | None] = mapped_column(String(36))
    message: Mapped[dict[str, Any]]  # title, lines and link: no personal data
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class DeliveryAttempt(Base):
    """One try of a delivery: what the receiver answered and how long it took."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_attempts_delivery", "delivery_id", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("notification_deliveries.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)


class RelayCursor(Base):
    """How far a relay has read the outbox (the id of the last event it turned into deliveries)."""

    __tablename__ = "relay_cursors"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]


class SignalReceipt(Base):
    """A signal thrown in one case that reached another (issue 19): written in the receiving case's
    unit of work, so a relay that delivers an outbox event twice changes the case once. `target` is
    the receiving case's id, or `start:<process key>` for a case the signal started."""

    __tablename__ = "signal_receipts"
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the outbox event of the throw
    target: Mapped[str] = mapped_column(String(250), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(36))  # the case that received it, or the one it started
    received_at: Mapped[datetime]


# --- KPI report rollups (engine/reports/rollups.py, docs/reports.md) -----------------------------
# Fixed duration histograms: bucket i holds minutes in (DURATION_BOUNDS[i-1], DURATION_BOUNDS[i]];
# the bounds grow by about √2, so a median or p90 read from them is known within that factor.
DURATION_BOUNDS = (
    1, 2, 3, 4, 6, 8, 11, 16, 22, 32, 45, 64, 90, 128, 180, 256, 360, 512, 720, 1024,
    1440, 2048, 2880, 4096, 5760, 8192, 11520, 16384, 23040, 32768, 46080, 65536, 92160, 525600,
)  # fmt: skip
REPORT_COUNTERS = (
    "reported",
    "responded",
    "in_time",
    "within_due",
    "closed",
    "on_spot",
    "cancelled",
    "escalations",
    "rated",
    "satisfied",
    "reopened",
    "reviews",
    "handled",
    "within_deadline",
    "breaches",
    "returns",
    "transfers",
    "open",
)
REPORT_MEASURES = ("claim", "dept_claim", "handling")
REPORT_HISTOGRAM_COLUMNS = tuple(f"{m}_{i}" for m in REPORT_MEASURES for i in range(len(DURATION_BOUNDS)))
REPORT_DAY_KEYS = ("day", "station_id", "owner_id", "department", "risk_level")


def _report_days() -> Table:
    columns: list[Any] = [
        Column("day", Date, nullable=False),
        Column("station_id", Integer, nullable=False),  # 0: none
        Column("owner_id", Integer, nullable=False),  # 0: no case owner
        Column("department", String(64), nullable=False),  # '': not a department's row
        Column("risk_level", String(16), nullable=False),  # '': none or not one of red/yellow/blue
        *[Column(name, Integer, nullable=False, server_default="0") for name in REPORT_COUNTERS],
        *[Column(name, Integer, nullable=False, server_default="0") for name in REPORT_HISTOGRAM_COLUMNS],
        PrimaryKeyConstraint(*REPORT_DAY_KEYS, name="pk_report_days"),
    ]
    return Table("report_days", Base.metadata, *columns)


# One row per local day × station × case owner × department × risk level: the counts of the events
# of that day, and the claim and handling time histograms. A report sums the days of its period.
REPORT_DAYS = _report_days()


class ReportCase(Base):
    """What one case adds to report_days now (its rows' counts, as JSON): the rollups move by the
    difference when the case changes."""

    __tablename__ = "report_cases"
    instance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    counts: Mapped[list[Any]]


class ReportDeadline(Base):
    """An event that counts once its due time has passed: a first task still unclaimed (a missed
    response) or an open department task (a breach). A report counts those due before its `now`."""

    __tablename__ = "report_deadlines"
    __table_args__ = (Index("ix_report_deadlines_day", "day"),)
    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # response | breach
    day: Mapped[date] = mapped_column(Date)
    station_id: Mapped[int] = mapped_column(Integer)
    owner_id: Mapped[int] = mapped_column(Integer)
    department: Mapped[str] = mapped_column(String(64))
    risk_level: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime]


class ReportDirty(Base):
    """A case a unit of work changed since the rollups last took it in (one row per change; the
    rollups take them with DELETE … RETURNING, so a change committed meanwhile stays queued)."""

    __tablename__ = "report_dirty"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(36))
