"""The outbound-target guard: which URLs the gateway may send to.

Plain ``http://`` and private, loopback, link-local and other non-public addresses are refused unless
``GATEWAY_ALLOW_PRIVATE_TARGETS=1``: the same rule when a config is saved and, after DNS resolution,
before every request.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from contextvars import ContextVar
from urllib.parse import urlsplit

_allow_private: ContextVar[bool | None] = ContextVar("gateway_allow_private_targets", default=None)

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


class TargetNotAllowed(ValueError):
    """The URL is one the gateway must not send to; the message says why and what to do."""


def private_targets_allowed() -> bool:
    """Whether private targets are allowed here: the app's setting when one is active, else the
    ``GATEWAY_ALLOW_PRIVATE_TARGETS`` environment variable."""
    value = _allow_private.get()
    if value is None:
        return os.environ.get("GATEWAY_ALLOW_PRIVATE_TARGETS", "").strip().lower() in TRUE_WORDS
    return value


def set_private_targets_allowed(allowed: bool):
    """Set the rule for the current context; returns a token for :func:`reset_private_targets_allowed`."""
    return _allow_private.set(allowed)


def reset_private_targets_allowed(token) -> None:
    """Undo :func:`set_private_targets_allowed`."""
    _allow_private.reset(token)


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def check_target_url(url: str, *, allow_private: bool | None = None, resolve_host: bool = True) -> None:
    """Raise :class:`TargetNotAllowed` when ``url`` may not be sent to.

    With ``resolve_host`` the host name is resolved and every address must be public; a name that does
    not resolve is let through here (the check is made again, resolved, before each request).
    """
    if allow_private is None:
        allow_private = private_targets_allowed()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetNotAllowed(f"{url!r} is not an absolute http(s) URL")
    if allow_private:
        return
    if parts.scheme != "https":
        raise TargetNotAllowed(
            f"{url!r} uses plain http://; use https:// (GATEWAY_ALLOW_PRIVATE_TARGETS=1 allows it for local set-ups)"
        )
    host = parts.hostname
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        if host == "localhost" or host.endswith(".localhost"):
            addresses = ["127.0.0.1"]
        elif not resolve_host:
            return
        else:
            try:
                addresses = resolve(host, parts.port or 443)
            except (OSError, UnicodeError):
                return
    for address in addresses:
        if not _is_public(address):
            raise TargetNotAllowed(
                f"{host} resolves to {address}, a private, loopback or link-local address; "
                "the gateway sends only to public addresses (GATEWAY_ALLOW_PRIVATE_TARGETS=1 allows it for local set-ups)"
            )


def check_resolved_target(url: str, *, allow_private: bool | None = None) -> None:
    """The request-time check: like :func:`check_target_url`, but a host that does not resolve is an
    error too (``OSError`` from the resolver propagates)."""
    if allow_private is None:
        allow_private = private_targets_allowed()
    check_target_url(url, allow_private=allow_private, resolve_host=False)
    if allow_private:
        return
    parts = urlsplit(url)
    for address in resolve(parts.hostname, parts.port or 443):
        if not _is_public(address):
            raise TargetNotAllowed(
                f"{parts.hostname} resolves to {address}, a private, loopback or link-local address; "
                "the gateway sends only to public addresses (GATEWAY_ALLOW_PRIVATE_TARGETS=1 allows it for local set-ups)"
            )
