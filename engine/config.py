"""Settings: one object, read from environment variables with documented defaults."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse_many

from .vocabulary import Role

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _seconds(value: str | None, default: int) -> int:
    """'43200', '720m', '12h' or '1d' as seconds."""
    if value is None or not value.strip():
        return default
    text = value.strip().lower()
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(text[-1])
    try:
        seconds = int(text[:-1]) * unit if unit else int(text)
    except ValueError:
        seconds = 0
    if seconds <= 0:
        raise ValueError(f"FENGQIAO_TOKEN_TTL must be a positive time such as 43200, 720m, 12h or 1d, not '{value}'")
    return seconds


def _number(env: dict[str, str], name: str, default: Any, low: float = 1, high: float | None = None) -> Any:
    """A number of the default's kind within bounds (a whole number from `low`; a decimal above it);
    anything else is a start-up error naming the variable."""
    value = env.get(name)
    if value is None or not value.strip():
        return default
    whole = isinstance(default, int)
    try:
        number = int(value.strip()) if whole else float(value.strip())
    except ValueError:
        number = float("nan")
    above = number >= low if whole else number > low
    if not above or (high is not None and not number <= high):  # also NaN
        if whole:
            form = f"a whole number from {low:g} to {high:g}" if high else f"a whole number of at least {low:g}"
        else:
            form = f"a number above {low:g}" + (f" and at most {high:g}" if high else "")
        raise ValueError(f"{name} must be {form}, not '{value}'")
    return number


def _text(env: dict[str, str], name: str, default: str, check: Callable[[str], object], form: str) -> str:
    """A text setting that `check` accepts (it raises ValueError otherwise): a start-up error naming it."""
    value = (env.get(name) or "").strip()
    if not value:
        return default
    try:
        check(value)
    except (ValueError, ZoneInfoNotFoundError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"{name} must be {form}, not '{value}'") from None
    return value


# KPI report targets (docs/reports.md): the work plan's, unless a deployment's plan says otherwise
REPORT_TARGETS = {"response_rate": 1.0, "on_spot_rate": 0.85, "satisfaction_rate": 0.92}
_TARGET_VARIABLES = {
    "response_rate": "FENGQIAO_REPORT_TARGET_RESPONSE",
    "on_spot_rate": "FENGQIAO_REPORT_TARGET_ON_SPOT",
    "satisfaction_rate": "FENGQIAO_REPORT_TARGET_SATISFACTION",
}


def _share(name: str, value: str | None, default: float) -> float:
    """'85%', '85 %' or '0.85' as 0.85; anything else, or outside 0 to 100 %, is a start-up error."""
    if value is None or not value.strip():
        return default
    text = value.strip()
    try:
        share = float(text.rstrip("%").strip()) / 100 if text.endswith("%") else float(text)
    except ValueError:
        share = float("nan")
    if not 0 <= share <= 1:  # also NaN
        raise ValueError(f"{name} must be a share such as 0.85 or 85% (0 to 100 %), not '{value}'")
    return share


def _report_targets(env: dict[str, str]) -> dict[str, float]:
    return {figure: _share(name, env.get(name), REPORT_TARGETS[figure]) for figure, name in _TARGET_VARIABLES.items()}


@dataclass(frozen=True)
class Settings:
    """Everything configurable. `Settings.from_env()` is what the product uses."""

    database_url: str
    instance_path: Path
    redis_url: str | None = None
    data_key: str | None = None  # base64 of 32 bytes; unset: a key file under instance_path
    data_key_file: Path | None = None
    allow_script_tasks: bool = False
    max_bpmn_bytes: int = 2 * 1024 * 1024
    business_key_prefix: str = "JF"
    ownership_role: str = Role.OFFICER.value
    forms_dir: Path | None = None
    workflows_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "workflows")
    spec_cache_size: int = 128
    workflow_cache_size: int = 512  # workflows kept in memory per process (0: off); engine/workflow_cache.py
    # argon2id cost; the defaults are argon2-cffi's (RFC 9106 low-memory profile)
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    # HTTP API: session token lifetime, login attempts per client, largest JSON body
    token_ttl_seconds: int = 12 * 3600
    login_rate_limit: str = "10 per minute"
    max_request_bytes: int = 1024 * 1024
    # SLA and timers: warning at this fraction of the allowed time; sweeper lease, retries, polling
    sla_warn_fraction: float = 0.75
    timer_lease_seconds: int = 30
    timer_max_attempts: int = 5
    sweep_interval_seconds: float = 0.5
    sweep_batch: int = 200
    # Browser pages (web/pages): the key signing session cookies (unset: a key file under instance_path)
    # and the station's time zone for every date shown
    secret_key: str | None = None
    time_zone: str = "Asia/Shanghai"
    # Attachments (docs/attachments.md): where sealed files are stored (`local`: instance_path/attachments,
    # a folder, or `s3://bucket/prefix`), the S3 endpoint (MinIO, Ceph...; unset: AWS), largest file
    attachment_storage: str = "local"
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    attachment_max_bytes: int = 20 * 1024 * 1024
    # Notifications (webhooks/, docs/notifications.md): the address deep links start with, hosts or
    # networks a robot URL may reach although private or loopback, the SMTP server and sender
    public_url: str = "http://127.0.0.1:8000"
    notify_allow_hosts: tuple[str, ...] = ()
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "fengqiao@localhost"
    notify_timeout_seconds: float = 10.0
    # KPI reports: the targets each figure is measured against (FENGQIAO_REPORT_TARGET_*)
    report_targets: dict[str, float] = field(default_factory=lambda: dict(REPORT_TARGETS))
    # Delivery (docs/webhooks.md): deliveries per RQ job (one claim and one record transaction each),
    # and how many of a job's requests are in flight at once (each worker keeps connections alive)
    delivery_batch: int = 50
    delivery_concurrency: int = 4

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        instance_path = Path(env.get("FENGQIAO_INSTANCE_PATH") or PROJECT_ROOT / "instance")
        default_db = f"sqlite:///{instance_path / 'fengqiao.db'}"
        key_file = env.get("FENGQIAO_DATA_KEY_FILE")
        return cls(
            database_url=env.get("FENGQIAO_DATABASE_URL") or default_db,
            instance_path=instance_path,
            redis_url=env.get("FENGQIAO_REDIS_URL") or None,
            data_key=env.get("FENGQIAO_DATA_KEY") or None,
            data_key_file=Path(key_file) if key_file else None,
            allow_script_tasks=_bool(env.get("FENGQIAO_ALLOW_SCRIPT_TASKS")),
            max_bpmn_bytes=_number(env, "FENGQIAO_MAX_BPMN_BYTES", 2 * 1024 * 1024),
            workflow_cache_size=_number(env, "FENGQIAO_WORKFLOW_CACHE_SIZE", 512, low=0),
            business_key_prefix=env.get("FENGQIAO_BUSINESS_KEY_PREFIX") or "JF",
            argon2_time_cost=_number(env, "FENGQIAO_ARGON2_TIME_COST", 3),
            argon2_memory_kib=_number(env, "FENGQIAO_ARGON2_MEMORY_KIB", 65536, low=8),
            token_ttl_seconds=_seconds(env.get("FENGQIAO_TOKEN_TTL"), 12 * 3600),
            login_rate_limit=_text(
                env, "FENGQIAO_LOGIN_RATE_LIMIT", "10 per minute", parse_many, "a rate such as '10 per minute'"
            ),
            max_request_bytes=_number(env, "FENGQIAO_MAX_REQUEST_BYTES", 1024 * 1024),
            sla_warn_fraction=_number(env, "FENGQIAO_SLA_WARN_FRACTION", 0.75, 0, 1),
            timer_lease_seconds=_number(env, "FENGQIAO_TIMER_LEASE_SECONDS", 30),
            timer_max_attempts=_number(env, "FENGQIAO_TIMER_MAX_ATTEMPTS", 5),
            sweep_interval_seconds=_number(env, "FENGQIAO_SWEEP_INTERVAL", 0.5, 0),
            sweep_batch=_number(env, "FENGQIAO_SWEEP_BATCH", 200),
            secret_key=env.get("FENGQIAO_SECRET_KEY") or None,
            time_zone=_text(
                env, "FENGQIAO_TIME_ZONE", "Asia/Shanghai", ZoneInfo, "an IANA time zone such as Asia/Shanghai"
            ),
            attachment_storage=env.get("FENGQIAO_ATTACHMENT_STORAGE") or "local",
            s3_endpoint_url=env.get("FENGQIAO_S3_ENDPOINT_URL") or None,
            s3_region=env.get("FENGQIAO_S3_REGION") or None,
            attachment_max_bytes=_number(env, "FENGQIAO_ATTACHMENT_MAX_BYTES", 20 * 1024 * 1024),
            public_url=(env.get("FENGQIAO_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"),
            notify_allow_hosts=tuple(
                h.strip() for h in (env.get("FENGQIAO_NOTIFY_ALLOW_HOSTS") or "").split(",") if h.strip()
            ),
            smtp_host=env.get("FENGQIAO_SMTP_HOST") or None,
            smtp_port=_number(env, "FENGQIAO_SMTP_PORT", 25, high=65535),
            smtp_from=env.get("FENGQIAO_SMTP_FROM") or "fengqiao@localhost",
            notify_timeout_seconds=_number(env, "FENGQIAO_NOTIFY_TIMEOUT", 10.0, 0),
            report_targets=_report_targets(env),
            delivery_batch=_number(env, "FENGQIAO_DELIVERY_BATCH", 50),
            delivery_concurrency=_number(env, "FENGQIAO_DELIVERY_CONCURRENCY", 4),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
