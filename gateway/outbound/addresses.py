"""Which IP addresses are public: the special-purpose ranges the gateway never sends to.

The tables follow the IANA special-purpose address registries. An IPv6 address that carries an IPv4
address inside it (IPv4-mapped, IPv4-translated, IPv4-compatible, NAT64, 6to4, Teredo) is judged by
the IPv4 address it carries: ``64:ff9b::7f00:1`` reaches ``127.0.0.1`` through a NAT64 gateway, so it
is refused like ``127.0.0.1``. An address with an IPv6 zone id (``fe80::1%eth0``) is scoped to one
link and never public.
"""

from __future__ import annotations

import re
import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address

# (network, what it is), most specific first where they nest.
REFUSED_IPV4: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), name) for net, name in (
        ("0.0.0.0/8", "'this network'"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared address space (CGNAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
    )
)

REFUSED_IPV6: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), name) for net, name in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("2001:db8::/32", "documentation"),
        ("2001::/23", "IETF protocol assignments"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "SRv6 segment identifiers"),
        ("fc00::/7", "unique local (private)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)

GLOBAL_UNICAST = IPv6Network("2000::/3")
IPV4_MAPPED = IPv6Network("::ffff:0:0/96")
IPV4_TRANSLATED = IPv6Network("::ffff:0:0:0/96")
IPV4_COMPATIBLE = IPv6Network("::/96")
NAT64 = IPv6Network("64:ff9b::/96")
SIX_TO_FOUR = IPv6Network("2002::/16")
TEREDO = IPv6Network("2001::/32")

# IPv4 written as the C library reads it: 127.1, 0x7f.0.0.1, 017700000001, 2130706433.
_LEGACY_IPV4 = re.compile(r"(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}", re.IGNORECASE)


def parse_address(text: str) -> tuple[IPAddress, str | None]:
    """``text`` as an IP address and its IPv6 zone id (None when it has none); ``ValueError`` when
    it is not an IP address. A zone id may be written ``%eth0`` or, in a URL, ``%25eth0``. IPv4
    in the legacy forms the resolver accepts (``127.1``, ``0x7f000001``) counts as an address too."""
    if ":" in text:
        address, percent, zone = text.partition("%")
        if percent:
            zone = zone[2:] if zone[:2] == "25" and len(zone) > 2 else zone
            if not zone:
                raise ValueError(f"{text!r} has an empty zone id")
        return IPv6Address(address), zone if percent else None
    try:
        return IPv4Address(text), None
    except ValueError:
        if not _LEGACY_IPV4.fullmatch(text):
            raise
        try:
            return IPv4Address(socket.inet_aton(text)), None
        except OSError:
            raise ValueError(f"{text!r} is not an IPv4 address") from None


def embedded_ipv4(ip: IPv6Address) -> tuple[str, list[IPv4Address]] | None:
    """The IPv4 addresses an IPv6 address carries, and the form that carries them; None when it
    carries none."""
    if ip in IPV4_MAPPED:
        return "IPv4-mapped (::ffff:0:0/96)", [IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip in IPV4_TRANSLATED:
        return "IPv4-translated (::ffff:0:0:0/96)", [IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip in NAT64:
        return "NAT64 (64:ff9b::/96)", [IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip in SIX_TO_FOUR:
        return "6to4 (2002::/16)", [IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)]
    if ip in TEREDO:
        server, client = ip.teredo
        return "Teredo (2001::/32)", [server, client]
    if ip in IPV4_COMPATIBLE and int(ip) > 1:
        return "IPv4-compatible (::/96)", [IPv4Address(int(ip) & 0xFFFFFFFF)]
    return None


def _refused_ipv4(ip: IPv4Address) -> str | None:
    for network, name in REFUSED_IPV4:
        if ip in network:
            return f"{name} ({network})"
    return None


def why_not_public(ip: IPAddress, zone: str | None = None) -> str | None:
    """Why the gateway may not send to ``ip`` (what kind of address it is, and its range); None
    when it is public."""
    if zone is not None:
        return f"scoped to one link (zone id {zone})"
    if isinstance(ip, IPv4Address):
        return _refused_ipv4(ip)
    carried = embedded_ipv4(ip)
    if carried is not None:
        form, inner = carried
        for address in inner:
            reason = _refused_ipv4(address)
            if reason is not None:
                return f"{form}, carrying {address}: {reason}"
        return None
    for network, name in REFUSED_IPV6:
        if ip in network:
            return f"{name} ({network})"
    if ip not in GLOBAL_UNICAST:
        return f"reserved (outside global unicast {GLOBAL_UNICAST})"
    return None


def is_public(address: str) -> bool:
    """Whether ``address`` (an IP address as text, possibly with a zone id) is one the gateway may
    send to."""
    ip, zone = parse_address(address)
    return why_not_public(ip, zone) is None

