"""Sending one request: HTTP POST to a checked address without following redirects, or SMTP.

HTTP connections are kept alive per process (`POOL`): a worker delivering a batch to one receiver
pays the TCP and TLS handshake once. A request on a kept-alive connection that the receiver closed
meanwhile is sent once more on a new connection (a receiver that did read it sees the same
webhook-id twice, as after any retry).

The outcome is an `Outcome`: what the attempt row records and what the retry policy reads (a
Retry-After, a 410 that disables the channel, an app's own error code in a 200).
"""

from __future__ import annotations

import http.client
import json
import smtplib
import socket
import ssl
import threading
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
        sock = _connected(self._address, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = _connected(self._address, self.port, self.timeout)


def _connected(address: str, port: int, timeout: float | None) -> socket.socket:
    """A socket to the checked address. No Nagle delay (as http.client's own connect): headers and
    body go out in two writes, and on a kept-alive connection the body would wait for the
    receiver's delayed ACK (40 ms) of the headers."""
    sock = socket.create_connection((address, port), timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


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
    key = (parts.scheme, host, address, port, timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "fengqiao-notify", **extra}
    connection, reused = POOL.take(key)
    try:
        try:
            status, retry_after, answer = _exchange(connection, path, body, headers)
        except STALE:
            if not reused:
                raise
            connection.close()  # the receiver closed the idle connection: once more on a new one
            connection, reused = POOL.take(key, fresh=True)
            status, retry_after, answer = _exchange(connection, path, body, headers)
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
    POOL.give_back(key, connection)
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


def _exchange(
    connection: http.client.HTTPConnection, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, float | None, bytes]:
    connection.request("POST", path, body=body, headers=headers)
    response = connection.getresponse()
    answer = response.read(MAX_RESPONSE)
    if not response.isclosed() or response.will_close:  # an answer left unread, or the receiver closes
        connection.close()
    return response.status, _retry_after(response.getheader("Retry-After")), answer


# a request on a kept-alive connection the receiver has closed meanwhile fails before any answer
STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class ConnectionPool:
    """Idle keep-alive connections of this process, by (scheme, host, checked address, port, timeout).

    A worker sends many deliveries to the same receiver: reusing its connection saves a TCP (and TLS)
    handshake per request. The key holds the address `safety.resolve_checked` approved for this very
    request, so a reused connection never reaches an address that was not checked just now."""

    MAX_IDLE = 8  # per key: a job's concurrent requests
    IDLE_SECONDS = 30.0  # older idle connections are closed rather than reused

    def __init__(self) -> None:
        self._idle: dict[tuple, list[tuple[float, http.client.HTTPConnection]]] = {}
        self._lock = threading.Lock()

    def take(self, key: tuple, fresh: bool = False) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection for `key` (reused: True), or a new one."""
        now = time.monotonic()
        with self._lock:
            idle = self._idle.get(key, [])
            while idle and not fresh:
                since, connection = idle.pop()
                if now - since < self.IDLE_SECONDS and connection.sock is not None:
                    return connection, True
                connection.close()
        scheme, host, address, port, timeout = key
        connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
        return connection_class(host, address, port, timeout), False

    def give_back(self, key: tuple, connection: http.client.HTTPConnection) -> None:
        if connection.sock is None:  # closed after the answer
            return
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.MAX_IDLE:
                idle.append((time.monotonic(), connection))
                return
        connection.close()

    def clear(self) -> None:
        with self._lock:
            found, self._idle = self._idle, {}
        for idle in found.values():
            for _since, connection in idle:
                connection.close()


POOL = ConnectionPool()


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
