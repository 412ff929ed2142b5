"""The outbound-target guard: which URLs the gateway may send to, and where exactly it connects.

Plain ``http://`` and private, loopback, link-local and other non-public addresses
(:mod:`gateway.outbound.addresses`) are refused unless ``GATEWAY_ALLOW_PRIVATE_TARGETS=1``: the same rule when
a config is saved and, after DNS resolution, before every request. A URL that cannot be read (a bad
host or a port outside 1-65535) is refused always.

Before a request the host name is resolved once, every address is checked, and the connection is
made to a checked address (:func:`pin_target`, :mod:`gateway.outbound.pinning`): a name that answers a public
address to the check and a private one a moment later (DNS rebinding) cannot steer the request.
"""

from __future__ import annotations

import os
import re
import socket
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import requests

from gateway.outbound.addresses import IPAddress, parse_address, why_not_public
from gateway.settings import as_bool

_allow_private: ContextVar[bool | None] = ContextVar("gateway_allow_private_targets", default=None)

DEFAULT_PORTS = {"http": 80, "https": 443}
PARSED_URLS = 1024  # URLs whose reading is kept (parse_target)
ALLOW_HINT = (
    "the gateway sends only to public addresses, never to private, loopback or link-local ones "
    "(GATEWAY_ALLOW_PRIVATE_TARGETS=1 allows them for local set-ups)"
)
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_UNSAFE = re.compile(r"[\\\x00-\x20\x7f]")


class TargetNotAllowed(ValueError):
    """The URL is one the gateway must not send to; the message says why and what to do."""


class InvalidTargetURL(TargetNotAllowed):
    """The URL cannot be read: no http(s) scheme or host, a host that is not a name or an IP
    address, or a port outside 1-65535."""


def private_targets_allowed() -> bool:
    """Whether private targets are allowed here: the app's setting when one is active, else the
    ``GATEWAY_ALLOW_PRIVATE_TARGETS`` environment variable."""
    value = _allow_private.get()
    if value is None:
        return as_bool(os.environ.get("GATEWAY_ALLOW_PRIVATE_TARGETS"))
    return value


def set_private_targets_allowed(allowed: bool):
    """Set the rule for the current context; returns a token for :func:`reset_private_targets_allowed`."""
    return _allow_private.set(allowed)


def reset_private_targets_allowed(token) -> None:
    """Undo :func:`set_private_targets_allowed`."""
    _allow_private.reset(token)


@dataclass(frozen=True)
class Target:
    """A URL the gateway can send to, read the way the HTTP client reads it."""

    url: str
    scheme: str
    host: str  # lower case, IDNA-encoded; an IPv6 literal without brackets or zone id
    port: int
    explicit_port: bool
    ip: IPAddress | None = None  # when the host is an IP literal
    zone: str | None = None  # an IPv6 literal's zone id

    @property
    def host_header(self) -> str:
        """The ``Host`` header for this URL: brackets around an IPv6 literal, the port when it is
        not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.explicit_port and self.port != DEFAULT_PORTS[self.scheme]:
            return f"{host}:{self.port}"
        return host


@dataclass(frozen=True)
class PinnedTarget:
    """A target with the addresses that were checked for it: the only ones to connect to. None
    when private targets are allowed: nothing was checked, the name is resolved when connecting."""

    target: Target
    addresses: tuple[str, ...] | None


def _invalid(url: str, why: str) -> InvalidTargetURL:
    return InvalidTargetURL(f"{url!r} is not a valid URL: {why}")


def parse_target(url: str) -> Target:
    """Read ``url`` as the HTTP client will; :class:`InvalidTargetURL` when it cannot be sent to
    whatever the rule for private targets. (Reading is the same every time, so the last URLs read are
    kept: a worker sends to few URLs, again and again. Resolving and checking addresses is not kept.)"""
    if not isinstance(url, str):
        raise InvalidTargetURL(f"{url!r} is not a URL")
    return _parse_target(url)


@lru_cache(maxsize=PARSED_URLS)
def _parse_target(url: str) -> Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _invalid(url, str(exc)[:1].lower() + str(exc)[1:]) from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise InvalidTargetURL(f"{url!r} is not an absolute http(s) URL")
    if _UNSAFE.search(url):
        raise _invalid(url, "it contains a space, a control character or a backslash")
    if port == 0:
        raise _invalid(url, "port 0 cannot be connected to (use 1-65535)")
    prepared = requests.PreparedRequest()
    try:
        prepared.prepare_url(url, None)
    except (requests.RequestException, ValueError, UnicodeError) as exc:
        raise _invalid(url, f"the host cannot be read ({exc})") from None
    zone_in_url = parts.hostname.partition("%")[2]
    if zone_in_url and (not zone_in_url.startswith("25") or len(zone_in_url) < 3):
        raise _invalid(url, f"{parts.hostname!r}: a zone id is written %25 and a name (RFC 6874)")
    host = urlsplit(prepared.url).hostname
    ip: IPAddress | None = None
    zone: str | None = None
    try:
        ip, zone = parse_address(host)
    except ValueError:
        name = _without_final_dot(host)
        if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
            raise _invalid(url, f"{host!r} is not a host name or an IP address") from None
    else:
        host = str(ip)
    return Target(url=url, scheme=parts.scheme, host=host, port=port or DEFAULT_PORTS[parts.scheme],
                  explicit_port=port is not None, ip=ip, zone=zone)


def _without_final_dot(host: str) -> str:
    return host[:-1] if host.endswith(".") else host


def is_localhost(host: str) -> bool:
    """``localhost`` and every ``*.localhost`` name: this machine, whatever DNS says (RFC 6761)."""
    name = _without_final_dot(host)
    return name == "localhost" or name.endswith(".localhost")


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order of preference (an IP literal
    resolves to itself); ``OSError`` when it does not resolve."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    return addresses


def _check_scheme_and_literal(target: Target) -> None:
    """The checks that need no resolver: https only, an IP literal public, no localhost name."""
    if target.scheme != "https":
        raise TargetNotAllowed(
            f"{target.url!r} uses plain http://; use https:// "
            "(GATEWAY_ALLOW_PRIVATE_TARGETS=1 allows it for local set-ups)"
        )
    if target.ip is not None:
        reason = why_not_public(target.ip, target.zone)
        if reason is not None:
            raise TargetNotAllowed(f"{target.host} is {reason}; {ALLOW_HINT}")
    elif is_localhost(target.host):
        raise TargetNotAllowed(f"{target.host} names this machine (loopback: localhost and *.localhost); {ALLOW_HINT}")


def _check_addresses(target: Target, addresses: list[str]) -> None:
    for address in addresses:
        ip, zone = parse_address(address)
        reason = why_not_public(ip, zone)
        if reason is not None:
            raise TargetNotAllowed(f"{target.host} resolves to {address}, {reason}; {ALLOW_HINT}")


def check_target_url(url: str, *, allow_private: bool | None = None, resolve_host: bool = True) -> None:
    """Raise :class:`TargetNotAllowed` when ``url`` may not be sent to (:class:`InvalidTargetURL`
    when it cannot be read at all).

    With ``resolve_host`` the host name is resolved and every address must be public; a name that does
    not resolve is let through here (the check is made again, resolved, before each request).
    """
    target = parse_target(url)
    if allow_private is None:
        allow_private = private_targets_allowed()
    if allow_private:
        return
    _check_scheme_and_literal(target)
    if target.ip is not None or not resolve_host:
        return
    try:
        addresses = resolve(target.host, target.port)
    except (OSError, UnicodeError):
        return
    _check_addresses(target, addresses)


def pin_target(url: str, *, allow_private: bool | None = None) -> PinnedTarget:
    """The request-time check: resolve the host once, check every address, and return them as the
    only ones to connect to. A host that does not resolve raises ``OSError``. With private targets
    allowed only the URL is read (addresses None: the name is resolved when connecting)."""
    target = parse_target(url)
    if allow_private is None:
        allow_private = private_targets_allowed()
    if allow_private:
        return PinnedTarget(target, None)
    _check_scheme_and_literal(target)
    addresses = [str(target.ip)] if target.ip is not None else resolve(target.host, target.port)
    _check_addresses(target, addresses)
    return PinnedTarget(target, tuple(addresses))


def check_resolved_target(url: str, *, allow_private: bool | None = None) -> PinnedTarget:
    """Like :func:`check_target_url`, but a host that does not resolve is an error too (``OSError``
    from the resolver propagates); returns the checked addresses (:func:`pin_target`)."""
    return pin_target(url, allow_private=allow_private)
