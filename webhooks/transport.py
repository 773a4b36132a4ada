"""Sending one request: HTTP POST to a checked address without following redirects, or SMTP.

The outcome is an `Outcome`: what the attempt row records and what the retry policy reads (a
Retry-After, a 410 that disables the channel, an app's own error code in a 200).
"""

from __future__ import annotations

import http.client
import json
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

from . import safety

MAX_RESPONSE = 64 * 1024


@dataclass
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds, from the receiver
    gone: bool = False  # 410: the receiver says this channel no longer exists
    duration_ms: int = 0


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the address that was checked, with the host name for SNI and certificate checks."""

    def __init__(self, host: str, address: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def post_json(
    url: str,
    body: bytes,
    allow: tuple[str, ...],
    timeout: float,
    app_errors: bool,
    headers: dict[str, str] | None = None,
) -> Outcome:
    """POST `body`; 2xx is success, and for the chat robots also `errcode == 0` in the answer."""
    started = time.monotonic()
    outcome = _post(url, body, allow, timeout, app_errors, headers or {})
    outcome.duration_ms = int((time.monotonic() - started) * 1000)
    return outcome


def _post(
    url: str, body: bytes, allow: tuple[str, ...], timeout: float, app_errors: bool, extra: dict[str, str]
) -> Outcome:
    try:
        parts = safety.parse_url(url, allow)
    except Exception as exc:  # saved before the rules tightened
        return Outcome(False, error=f"refused: {exc}")
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = safety.resolve_checked(host, port, allow)
    except safety.Refused as exc:
        return Outcome(False, error=f"refused: {exc}")
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, address, port, timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "fengqiao-notify", **extra},
        )
        response = connection.getresponse()
        answer = response.read(MAX_RESPONSE)
        status, retry_after = response.status, _retry_after(response.getheader("Retry-After"))
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        connection.close()
    if 300 <= status < 400:
        return Outcome(False, status, "redirect not followed", retry_after)
    if not 200 <= status < 300:
        return Outcome(False, status, f"HTTP {status}", retry_after, gone=status == 410)
    if app_errors:
        try:
            code = json.loads(answer or b"{}").get("errcode", 0)
            message = json.loads(answer or b"{}").get("errmsg", "")
        except (ValueError, AttributeError):
            return Outcome(False, status, "the answer is not the app's JSON")
        if code != 0:
            return Outcome(False, status, f"errcode {code}: {str(message)[:200]}")
    return Outcome(True, status)


def send_mail(mail: EmailMessage, host: str | None, port: int, timeout: float) -> Outcome:
    started = time.monotonic()
    if not host:
        return Outcome(False, error="FENGQIAO_SMTP_HOST is not set")
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            smtp.send_message(mail)
        outcome = Outcome(True, 250)
    except smtplib.SMTPResponseException as exc:
        outcome = Outcome(False, exc.smtp_code, f"SMTP {exc.smtp_code}")
    except (OSError, smtplib.SMTPException) as exc:
        outcome = Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
    outcome.duration_ms = int((time.monotonic() - started) * 1000)
    return outcome


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None
