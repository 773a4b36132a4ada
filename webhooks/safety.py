"""SSRF safety: which URLs a notification may be sent to.

A robot URL is typed by a user, so it is untrusted: only http(s), no credentials in it, and no
private, loopback, link-local or otherwise non-public address unless an admin allow-listed the host
or its network (`FENGQIAO_NOTIFY_ALLOW_HOSTS`). Plain http only to allow-listed hosts. The check runs
when a channel is saved (the URL's form and literal addresses) and again before every request (the
addresses the name resolves to now); the request then connects to the address that was checked, so
a name that re-resolves elsewhere in between (DNS rebinding) cannot redirect it. Redirects are never
followed (webhooks/transport.py).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from engine.errors import InvalidInput

MAX_URL = 2000


class Refused(Exception):
    """The target may not be reached: the delivery fails without a request."""


def parse_url(url: str, allow: tuple[str, ...], field: str = "url") -> SplitResult:
    """The URL's parts, or InvalidInput naming what is wrong with it."""

    def refuse(message: str) -> InvalidInput:
        return InvalidInput(message, [{"field": field, "message": message}])

    if not isinstance(url, str) or not url or len(url) > MAX_URL or any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise refuse("the URL must be 1-2000 printable characters without spaces")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise refuse("not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise refuse("the URL must start with https:// and name a host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise refuse("credentials in the URL are refused")
    host = parts.hostname
    allowed = host_allowed(host, allow)
    if parts.scheme == "http" and not allowed:
        raise refuse("plain http is only for allow-listed hosts: use https")
    if not allowed:
        literal = _literal(host)
        if literal is not None and not is_public(literal):
            raise refuse("private, loopback and link-local addresses are refused")
        if host == "localhost" or host.endswith(".localhost"):
            raise refuse("private, loopback and link-local addresses are refused")
    return parts


def resolve_checked(host: str, port: int, allow: tuple[str, ...]) -> str:
    """The address to connect to: the first one `host` resolves to, all of which must be allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Refused(f"cannot resolve {host}: {exc}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise Refused(f"cannot resolve {host}")
    if not host_allowed(host, allow):
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if not is_public(ip) and not _in_allowed_network(ip, allow):
                raise Refused(f"{host} resolves to a non-public address ({ip}); an admin may allow-list it")
    return addresses[0]


def host_allowed(host: str, allow: tuple[str, ...]) -> bool:
    """Allow-listed by name, by address, or by a network the literal address is in."""
    host = host.lower().strip("[]")
    if host in (entry.lower() for entry in allow):
        return True
    literal = _literal(host)
    return literal is not None and _in_allowed_network(literal, allow)


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _in_allowed_network(ip, allow: tuple[str, ...]) -> bool:
    for entry in allow:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:  # a host name
            continue
    return False
