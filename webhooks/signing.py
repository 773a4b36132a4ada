"""Standard Webhooks signatures (https://www.standardwebhooks.com), with the standard library.

Signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the signature is `v1,` + base64 of its
HMAC-SHA256 under the secret's bytes (`whsec_` + base64). Several signatures are space-separated
(a rotation sends the new and the previous secret's). A receiver rejects timestamps more than
`TOLERANCE` away from its clock (replays of old requests). The tests verify with the independent
`standardwebhooks` package (tests/webhook_receiver.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

PREFIX = "whsec_"
TOLERANCE = 300  # seconds, as the spec and its libraries
MAX_ID = 200
_ID = re.compile(r"^[\x21-\x7e]{1,200}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


class Malformed(ValueError):
    """A header is not in the spec's form (400)."""


class Unverified(ValueError):
    """A header is missing, or no signature matches, or the timestamp is stale (401)."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    content = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), content, hashlib.sha256).digest()).decode()


def headers(secrets_: list[str], webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers, signed with each secret (the current one first)."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, webhook_id, timestamp, body) for s in secrets_),
    }


def verify(secrets_: list[str], found: dict[str, str | None], body: bytes, now: float) -> str:
    """The webhook-id of a request signed with one of `secrets_`; Malformed or Unverified otherwise."""
    webhook_id, timestamp, signature = (found.get(k) for k in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not webhook_id or not timestamp or not signature:
        raise Unverified("webhook-id, webhook-timestamp and webhook-signature are required")
    if not _ID.fullmatch(webhook_id):
        raise Malformed("webhook-id must be 1-200 printable characters")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise Malformed("webhook-timestamp must be whole seconds since 1970")
    if abs(now - int(timestamp)) > TOLERANCE:
        raise Unverified("webhook-timestamp is too old or too new")
    offered = [p.split(",", 1)[1] for p in signature.split(" ") if p.startswith("v1,") and p.isascii()]
    for secret in secrets_:
        expected = sign(secret, webhook_id, int(timestamp), body).split(",", 1)[1]
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return webhook_id
    raise Unverified("no signature matches")
