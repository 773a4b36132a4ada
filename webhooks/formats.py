"""Each app's message format: the request a WeCom robot, a DingTalk robot or a mailbox expects.

A message is `{"title", "lines", "link"}` (webhooks/messages.py): no personal data, so every format
may show all of it. WeCom and DingTalk group robots take markdown JSON; DingTalk's "加签" security
setting also wants `timestamp` (ms) and `sign` = base64(HMAC-SHA256(secret, "{timestamp}\\n{secret}"))
in the query string, checked within an hour of the timestamp.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote_plus, urlencode


def wecom_body(message: dict[str, Any]) -> bytes:
    """企业微信 group robot: `msgtype: markdown` (quotes and a link render in the group)."""
    content = "\n".join([f"**{message['title']}**", *(f"> {line}" for line in message["lines"])])
    content += f"\n[{message['link_text']}]({message['link']})"
    return _json({"msgtype": "markdown", "markdown": {"content": content}})


def dingtalk_body(message: dict[str, Any]) -> bytes:
    """钉钉 custom robot: `msgtype: markdown` with a title (the notification's preview)."""
    text = "\n\n".join([f"### {message['title']}", *(f"- {line}" for line in message["lines"])])
    text += f"\n\n[{message['link_text']}]({message['link']})"
    return _json({"msgtype": "markdown", "markdown": {"title": message["title"], "text": text}})


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def dingtalk_url(url: str, secret: str | None, timestamp_ms: int) -> str:
    """The robot URL with its signature (unsigned when the robot has no secret)."""
    if not secret:
        return url
    query = urlencode({"timestamp": timestamp_ms, "sign": dingtalk_sign(secret, timestamp_ms)}, quote_via=quote_plus)
    return f"{url}{'&' if '?' in url else '?'}{query}"


def email(message: dict[str, Any], sender: str, to: str) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message["title"]
    mail["From"] = sender
    mail["To"] = to
    mail.set_content("\n".join([*message["lines"], "", f"{message['link_text']}: {message['link']}"]))
    return mail


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
