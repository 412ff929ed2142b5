"""The target guard on its own: check_target_url, pin_target and the address classification, one
row per range, form, host name, scheme, port and spelling of the setting."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.outbound import targets
from gateway.outbound.addresses import embedded_ipv4, is_public, parse_address, why_not_public
from gateway.settings import as_bool
from gateway.outbound.targets import (
    InvalidTargetURL,
    TargetNotAllowed,
    check_target_url,
    parse_target,
    pin_target,
    private_targets_allowed,
    reset_private_targets_allowed,
    set_private_targets_allowed,
)

PUBLIC_IP = "93.184.216.34"


@pytest.fixture
def dns(monkeypatch):
    """A resolver without the network: ``dns[name] = [addresses]``; names not listed do not
    resolve; every question is kept in ``dns.asked``."""

    class Resolver(dict):
        asked: list[str] = []

        def __call__(self, host, port):
            self.asked.append(host)
            if host not in self:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return list(self[host])

    resolver = Resolver()
    resolver.asked = []
    monkeypatch.setattr(targets, "resolve", resolver)
    monkeypatch.delenv("GATEWAY_ALLOW_PRIVATE_TARGETS", raising=False)
    return resolver


# --- address classification -------------------------------------------------------------------

# Every refused range at both ends, with the whole reason the gateway gives (users read it).
REFUSED = [
    # IPv4 special-purpose ranges
    ("0.0.0.0", "'this network' (0.0.0.0/8)"),
    ("0.255.255.255", "'this network' (0.0.0.0/8)"),
    ("10.0.0.0", "private (10.0.0.0/8)"),
    ("10.255.255.255", "private (10.0.0.0/8)"),
    ("100.64.0.0", "shared address space (CGNAT) (100.64.0.0/10)"),
    ("100.127.255.255", "shared address space (CGNAT) (100.64.0.0/10)"),
    ("127.0.0.0", "loopback (127.0.0.0/8)"),
    ("127.0.0.1", "loopback (127.0.0.0/8)"),
    ("127.255.255.255", "loopback (127.0.0.0/8)"),
    ("169.254.0.0", "link-local (169.254.0.0/16)"),
    ("169.254.169.254", "link-local (169.254.0.0/16)"),
    ("169.254.255.255", "link-local (169.254.0.0/16)"),
    ("172.16.0.0", "private (172.16.0.0/12)"),
    ("172.31.255.255", "private (172.16.0.0/12)"),
    ("192.0.0.0", "IETF protocol assignments (192.0.0.0/24)"),
    ("192.0.0.255", "IETF protocol assignments (192.0.0.0/24)"),
    ("192.0.2.0", "documentation (192.0.2.0/24)"),
    ("192.0.2.255", "documentation (192.0.2.0/24)"),
    ("192.168.0.0", "private (192.168.0.0/16)"),
    ("192.168.255.255", "private (192.168.0.0/16)"),
    ("198.18.0.0", "benchmarking (198.18.0.0/15)"),
    ("198.19.255.255", "benchmarking (198.18.0.0/15)"),
    ("198.51.100.0", "documentation (198.51.100.0/24)"),
    ("198.51.100.255", "documentation (198.51.100.0/24)"),
    ("203.0.113.0", "documentation (203.0.113.0/24)"),
    ("203.0.113.255", "documentation (203.0.113.0/24)"),
    ("224.0.0.0", "multicast (224.0.0.0/4)"),
    ("239.255.255.255", "multicast (224.0.0.0/4)"),
    ("240.0.0.0", "reserved (240.0.0.0/4)"),
    ("255.255.255.255", "reserved (240.0.0.0/4)"),
    # IPv6 ranges
    ("::", "unspecified (::/128)"),
    ("::1", "loopback (::1/128)"),
    ("64:ff9b:1::", "local-use NAT64 (64:ff9b:1::/48)"),
    ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "local-use NAT64 (64:ff9b:1::/48)"),
    ("100::", "discard-only (100::/64)"),
    ("100::ffff:ffff:ffff:ffff", "discard-only (100::/64)"),
    ("2001:db8::", "documentation (2001:db8::/32)"),
    ("2001:db8:c000::1", "documentation (2001:db8::/32)"),
    ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "documentation (2001:db8::/32)"),
    ("2001:1::", "IETF protocol assignments (2001::/23)"),  # 2001::/32 below it is Teredo
    ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", "IETF protocol assignments (2001::/23)"),
    ("3fff::", "documentation (3fff::/20)"),
    ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", "documentation (3fff::/20)"),
    ("5f00::", "SRv6 segment identifiers (5f00::/16)"),
    ("5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "SRv6 segment identifiers (5f00::/16)"),
    ("fc00::", "unique local (private) (fc00::/7)"),
    ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "unique local (private) (fc00::/7)"),
    ("fe80::", "link-local (fe80::/10)"),
    ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link-local (fe80::/10)"),
    ("fec0::", "site-local (fec0::/10)"),
    ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "site-local (fec0::/10)"),
    ("ff00::", "multicast (ff00::/8)"),
    ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast (ff00::/8)"),
    # outside global unicast 2000::/3, on both sides of it
    ("1::1", "reserved (outside global unicast 2000::/3)"),
    ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "reserved (outside global unicast 2000::/3)"),
    ("4000::", "reserved (outside global unicast 2000::/3)"),
    ("5eff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "reserved (outside global unicast 2000::/3)"),
    ("5f01::", "reserved (outside global unicast 2000::/3)"),
    # IPv6 forms that carry an IPv4 address: judged by that address
    ("::ffff:127.0.0.1", "IPv4-mapped (::ffff:0:0/96), carrying 127.0.0.1: loopback (127.0.0.0/8)"),
    ("::ffff:10.0.0.1", "IPv4-mapped (::ffff:0:0/96), carrying 10.0.0.1: private (10.0.0.0/8)"),
    ("::ffff:0.0.0.0", "IPv4-mapped (::ffff:0:0/96), carrying 0.0.0.0: 'this network' (0.0.0.0/8)"),
    ("::ffff:255.255.255.255", "IPv4-mapped (::ffff:0:0/96), carrying 255.255.255.255: reserved (240.0.0.0/4)"),
    ("::ffff:0:0.0.0.0", "IPv4-translated (::ffff:0:0:0/96), carrying 0.0.0.0: 'this network' (0.0.0.0/8)"),
    ("::ffff:0:255.255.255.255",
     "IPv4-translated (::ffff:0:0:0/96), carrying 255.255.255.255: reserved (240.0.0.0/4)"),
    ("64:ff9b::", "NAT64 (64:ff9b::/96), carrying 0.0.0.0: 'this network' (0.0.0.0/8)"),
    ("64:ff9b::255.255.255.255", "NAT64 (64:ff9b::/96), carrying 255.255.255.255: reserved (240.0.0.0/4)"),
    ("2002::", "6to4 (2002::/16), carrying 0.0.0.0: 'this network' (0.0.0.0/8)"),
    ("::ffff:0:127.0.0.1", "IPv4-translated (::ffff:0:0:0/96), carrying 127.0.0.1: loopback (127.0.0.0/8)"),
    ("::ffff:0:a9fe:a9fe", "IPv4-translated (::ffff:0:0:0/96), carrying 169.254.169.254: link-local (169.254.0.0/16)"),
    ("64:ff9b::7f00:1", "NAT64 (64:ff9b::/96), carrying 127.0.0.1: loopback (127.0.0.0/8)"),
    ("64:ff9b::169.254.169.254", "NAT64 (64:ff9b::/96), carrying 169.254.169.254: link-local (169.254.0.0/16)"),
    ("2002:7f00:1::", "6to4 (2002::/16), carrying 127.0.0.1: loopback (127.0.0.0/8)"),
    ("2002:c0a8:101::1", "6to4 (2002::/16), carrying 192.168.1.1: private (192.168.0.0/16)"),
    ("2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "6to4 (2002::/16), carrying 255.255.255.255: reserved (240.0.0.0/4)"),
    ("::127.0.0.1", "IPv4-compatible (::/96), carrying 127.0.0.1: loopback (127.0.0.0/8)"),
    ("::10.0.0.1", "IPv4-compatible (::/96), carrying 10.0.0.1: private (10.0.0.0/8)"),
    ("::0.0.0.2", "IPv4-compatible (::/96), carrying 0.0.0.2: 'this network' (0.0.0.0/8)"),
    ("::255.255.255.255", "IPv4-compatible (::/96), carrying 255.255.255.255: reserved (240.0.0.0/4)"),
    # Teredo: server 65.54.227.120 (public), client ~0x80fffffe = 127.0.0.1
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo (2001::/32), carrying 127.0.0.1: loopback (127.0.0.0/8)"),
    # Teredo: server 10.0.0.1 (private), client ~0xf7f7f7f7 = 8.8.8.8
    ("2001:0:a00:1::f7f7:f7f7", "Teredo (2001::/32), carrying 10.0.0.1: private (10.0.0.0/8)"),
    # Teredo at the top of 2001::/32: server 255.255.255.255, client ~0 = 255.255.255.255
    ("2001:0:ffff:ffff::", "Teredo (2001::/32), carrying 255.255.255.255: reserved (240.0.0.0/4)"),
]

# The public neighbours of the refused ranges, on both sides.
PUBLIC = [
    "8.8.8.8", "1.1.1.1", PUBLIC_IP, "1.0.0.0", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0",
    "126.255.255.255", "128.0.0.0", "169.253.255.255", "169.255.0.0", "172.15.255.255", "172.32.0.0",
    "191.255.255.255", "192.0.1.0", "192.0.1.255", "192.0.3.0", "192.167.255.255", "192.169.0.0",
    "198.17.255.255", "198.20.0.0", "198.51.99.255", "198.51.101.0", "203.0.112.255", "203.0.114.0",
    "223.255.255.255",
    "2606:4700:4700::1111", "2a00:1450:4001::200e", "2000::", "2000::1", "2001:200::", "2001:200::1",
    "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::", "3ffe::1", "3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "3fff:1000::", "3fff:1000::1", "2003::",
    "::ffff:8.8.8.8", "::ffff:0:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1", "::8.8.8.8",
    # the same forms carrying a public address from the upper half of IPv4
    "::ffff:223.255.255.255", "::ffff:0:223.255.255.255", "64:ff9b::223.255.255.255", "2002:dfff:ffff::",
    "::223.255.255.255", "2001:0:4136:e378:8000:63bf:2000:0",  # Teredo: client ~0x20000000 = 223.255.255.255
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo: server 65.54.227.120, client 8.8.8.8
]


@pytest.mark.parametrize("address, reason", REFUSED)
def test_each_refused_range_is_named(address, reason):
    ip, zone = parse_address(address)
    assert zone is None
    assert why_not_public(ip) == reason
    assert is_public(address) is False


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert why_not_public(ipaddress.ip_address(address)) is None
    assert is_public(address) is True


@pytest.mark.parametrize("address, reason", REFUSED)
def test_each_refused_range_is_refused_as_a_literal_and_after_resolution(dns, address, reason):
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(TargetNotAllowed) as literal:
        check_target_url(f"https://{host}/hook")
    assert str(literal.value) == f"{ipaddress.ip_address(address)} is {reason}; {HINT}"
    dns["tool.example"] = [address]
    with pytest.raises(TargetNotAllowed) as resolved:
        check_target_url("https://tool.example/hook")
    assert str(resolved.value) == f"tool.example resolves to {address}, {reason}; {HINT}"
    with pytest.raises(TargetNotAllowed):
        pin_target("https://tool.example/hook", allow_private=False)
    check_target_url("https://tool.example/hook", allow_private=True)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed_as_a_literal_and_after_resolution(dns, address):
    host = f"[{address}]" if ":" in address else address
    check_target_url(f"https://{host}/hook")
    dns["tool.example"] = [address]
    check_target_url("https://tool.example/hook")
    assert pin_target("https://tool.example/hook").addresses == (address,)


@pytest.mark.parametrize("address, zone", [
    ("fe80::1%eth0", "eth0"), ("fe80::1%25eth0", "eth0"), ("2606:4700::1111%eth1", "eth1"), ("ff02::1%2", "2"),
    ("fe80::1%25x", "x"), ("fe80::1%25", "25"), ("fe80::1%2", "2"), ("fe80::1%250", "0"),
])
def test_zone_ids_are_read_and_never_public(address, zone):
    ip, read = parse_address(address)
    assert read == zone and ip == ipaddress.IPv6Address(address.split("%")[0])
    assert why_not_public(ip, read) == f"scoped to one link (zone id {zone})"
    assert is_public(address) is False


@pytest.mark.parametrize("url, zone", [("https://[fe80::1%25eth0]/", "eth0"), ("https://[2606:4700::1111%25en0]/", "en0")])
def test_zone_ids_in_urls_are_refused(dns, url, zone):
    with pytest.raises(TargetNotAllowed, match=f"zone id {zone}"):
        check_target_url(url)
    assert parse_target(url).zone == zone


def test_an_empty_zone_id_is_not_an_address():
    with pytest.raises(ValueError, match="empty zone id"):
        parse_address("fe80::1%")


@pytest.mark.parametrize("address, form, carried", [
    ("::ffff:1.2.3.4", "IPv4-mapped", ["1.2.3.4"]),
    ("::ffff:0:1.2.3.4", "IPv4-translated", ["1.2.3.4"]),
    ("64:ff9b::1.2.3.4", "NAT64", ["1.2.3.4"]),
    ("2002:102:304:5::6", "6to4", ["1.2.3.4"]),
    ("::1.2.3.4", "IPv4-compatible", ["1.2.3.4"]),
    ("2001:0:4136:e378:8000:63bf:fefd:fcfb", "Teredo", ["65.54.227.120", "1.2.3.4"]),
])
def test_embedded_ipv4_is_found_in_each_form(address, form, carried):
    found_form, found = embedded_ipv4(ipaddress.IPv6Address(address))
    assert found_form.startswith(form)
    assert [str(a) for a in found] == carried


@pytest.mark.parametrize("address", ["::", "::1", "2606:4700::1111", "64:ff9b:1::1.2.3.4", "2003::1", "::1:0:0:1"])
def test_addresses_that_carry_no_ipv4(address):
    assert embedded_ipv4(ipaddress.IPv6Address(address)) is None


@pytest.mark.parametrize("text, address", [
    ("127.1", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("0x7F.0.0.1", "127.0.0.1"), ("2130706433", "127.0.0.1"),
    ("017700000001", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("127.0.0.01", "127.0.0.1"), ("10.1", "10.0.0.1"),
])
def test_legacy_forms_are_read_as_the_resolver_reads_them(text, address):
    assert str(parse_address(text)[0]) == address


@pytest.mark.parametrize("text", ["tool.example", "1.2.3.4.5", "0x", "256.256.256.256.1", "08.1", "example", "1e3", ":::",
                                  "127.0.0.1 x", "127.1\tfoo", "0x7f.1 "])  # the C library would take these three
def test_names_are_not_addresses(text):
    with pytest.raises(ValueError):
        parse_address(text)


@pytest.mark.parametrize("url", ["https://127.1/", "https://0x7f000001/", "https://2130706433/", "https://0177.0.0.1/",
                                 "https://[::ffff:7f00:1]/", "https://10.1/"])
def test_legacy_ipv4_spellings_in_urls_are_refused_without_the_resolver(dns, url):
    with pytest.raises(TargetNotAllowed):
        check_target_url(url)
    assert dns.asked == []


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_no_ipv4_address_that_python_thinks_non_global_is_public(number):
    ip = ipaddress.IPv4Address(number)
    if not ip.is_global or ip.is_multicast:
        assert why_not_public(ip) is not None


EMBEDDING = [ipaddress.IPv6Network(n) for n in ("::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96", "2002::/16",
                                                    "::/96", "2001::/32")]


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_no_ipv6_address_that_python_thinks_non_global_is_public(number):
    ip = ipaddress.IPv6Address(number)
    if any(ip in net for net in EMBEDDING) and ip not in ipaddress.IPv6Network("::/127"):
        return  # judged by the IPv4 address they carry (tested above)
    if not ip.is_global or ip.is_multicast:
        assert why_not_public(ip) is not None


NEAR_SPECIAL = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/7", "10.0.0.0/7", "100.0.0.0/8", "126.0.0.0/7", "169.254.0.0/15", "172.0.0.0/8", "192.0.0.0/16",
    "192.168.0.0/15", "198.0.0.0/8", "203.0.0.0/16", "224.0.0.0/3",
    "::/64", "64:ff9b::/32", "100::/56", "2001::/16", "2001:d00::/24", "3fff::/16", "5f00::/12", "fc00::/6",
    "fe00::/9", "fe00::/7", "2002::/15",
)]


@given(st.sampled_from(NEAR_SPECIAL), st.integers(min_value=0, max_value=2**128 - 1))
def test_near_special_ranges_no_address_python_thinks_non_global_is_public(network, number):
    ip = network.network_address + number % network.num_addresses
    if isinstance(ip, ipaddress.IPv6Address) and any(ip in net for net in EMBEDDING) \
            and ip not in ipaddress.IPv6Network("::/127"):
        return  # judged by the IPv4 address they carry (tested above)
    if not ip.is_global or ip.is_multicast:
        assert why_not_public(ip) is not None


@given(st.sampled_from(EMBEDDING), st.integers(min_value=0, max_value=2**32 - 1))
def test_an_embedded_ipv4_address_decides_for_the_ipv6_one(network, number):
    inner = ipaddress.IPv4Address(number)
    if network.prefixlen == 16:  # 6to4: the IPv4 address follows the prefix
        ip = ipaddress.IPv6Address(int(network.network_address) | (number << 80) | 1)
    elif network.prefixlen == 32:  # Teredo: a public server, the client's address inverted
        ip = ipaddress.IPv6Address(int(network.network_address) | (0x4136E378 << 64) | (number ^ 0xFFFFFFFF))
    else:
        ip = ipaddress.IPv6Address(int(network.network_address) | number)
    if network == ipaddress.IPv6Network("::/96") and number <= 1:
        return  # :: and ::1 are themselves
    assert (why_not_public(ip) is None) == (why_not_public(inner) is None)


# --- host names -------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "localhost.", "api.localhost", "a.b.localhost",
                                  "x.localhost."])
def test_localhost_names_are_refused_without_asking_the_resolver(dns, host):
    dns[host.lower()] = [PUBLIC_IP]  # whatever DNS says: localhost is this machine
    with pytest.raises(TargetNotAllowed, match="names this machine"):
        check_target_url(f"https://{host}/")
    with pytest.raises(TargetNotAllowed, match="names this machine"):
        pin_target(f"https://{host}:8443/")
    assert dns.asked == []


@pytest.mark.parametrize("host", ["localhost.example", "mylocalhost", "localhostx.example", "xlocalhost", "local.host"])
def test_near_localhost_names_are_resolved_like_any_other(dns, host):
    dns[host] = [PUBLIC_IP]
    check_target_url(f"https://{host}/")
    assert dns.asked == [host]


def test_every_address_of_a_name_is_checked(dns):
    dns["mixed.example"] = [PUBLIC_IP, "2606:4700::1111", "10.0.0.7"]
    with pytest.raises(TargetNotAllowed, match=r"mixed.example resolves to 10.0.0.7, private \(10.0.0.0/8\)"):
        check_target_url("https://mixed.example/")
    with pytest.raises(TargetNotAllowed, match="10.0.0.7"):
        pin_target("https://mixed.example/")


def test_a_name_that_does_not_resolve_passes_at_save_but_not_at_send(dns):
    check_target_url("https://nowhere.example/")
    with pytest.raises(OSError):
        pin_target("https://nowhere.example/")


def test_without_resolution_only_the_literal_checks_apply(dns):
    dns["tool.example"] = ["127.0.0.1"]
    check_target_url("https://tool.example/", resolve_host=False)
    assert dns.asked == []
    with pytest.raises(TargetNotAllowed):
        check_target_url("https://127.0.0.1/", resolve_host=False)


def test_pin_keeps_the_resolver_order_and_the_name(dns):
    dns["tool.example"] = ["2606:4700::1111", PUBLIC_IP]
    pinned = pin_target("https://Tool.Example:8443/path?q=1")
    assert pinned.addresses == ("2606:4700::1111", PUBLIC_IP)
    assert pinned.target.host == "tool.example" and pinned.target.port == 8443
    assert pinned.target.host_header == "tool.example:8443"
    assert dns.asked == ["tool.example"]


def test_pin_of_a_literal_asks_no_resolver(dns):
    assert pin_target("https://[2606:4700::1111]/").addresses == ("2606:4700::1111",)
    assert pin_target("https://8.8.8.8:443/").addresses == ("8.8.8.8",)
    assert dns.asked == []


def test_pin_with_private_targets_allowed_checks_nothing_and_resolves_nothing(dns):
    pinned = pin_target("http://127.0.0.1:8080/x", allow_private=True)
    assert pinned.addresses is None and pinned.target.host == "127.0.0.1"
    assert pin_target("http://localhost:8080/", allow_private=True).addresses is None
    assert dns.asked == []


@pytest.mark.parametrize("url, header", [
    ("https://tool.example/", "tool.example"),
    ("https://tool.example:443/", "tool.example"),
    ("https://tool.example:8443/", "tool.example:8443"),
    ("http://tool.example:80/", "tool.example"),
    ("http://tool.example:443/", "tool.example:443"),
    ("https://[2606:4700::1111]/", "[2606:4700::1111]"),
    ("https://[2606:4700::1111]:8443/", "[2606:4700::1111]:8443"),
    ("https://user:pw@Tool.Example/", "tool.example"),
    ("https://bücher.example/", "xn--bcher-kva.example"),
])
def test_host_header_of_a_target(url, header):
    assert parse_target(url).host_header == header


def test_the_real_resolver_keeps_order_and_drops_repeats(monkeypatch):
    answers = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2606:4700::1111", 443, 0, 0)),
               (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_IP, 443)),
               (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2606:4700::1111", 443, 0, 0))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, type=0: answers)
    assert targets.resolve("tool.example", 443) == ["2606:4700::1111", PUBLIC_IP]
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, type=0: [])
    with pytest.raises(OSError, match="no address"):
        targets.resolve("tool.example", 443)


def test_the_real_resolver_reads_literals():
    assert targets.resolve("127.0.0.1", 443) == ["127.0.0.1"]


# --- schemes, hosts and ports -----------------------------------------------------------------

@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("url", ["ftp://tool.example/", "file:///etc/passwd", "gopher://tool.example:70/",
                                 "https://", "https:///path", "//tool.example/x", "tool.example", "not a url", "",
                                 "javascript:alert(1)"])
def test_not_an_http_url_is_refused_whatever_the_setting(dns, url, allow_private):
    with pytest.raises(InvalidTargetURL, match="is not an absolute http"):
        check_target_url(url, allow_private=allow_private)


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("url, why", [
    ("https://%5B::1%5D/", "port could not be cast to integer"),
    ("https://[::1/", "invalid IPv6 URL"),
    ("https://x.invalid:70000/", "port out of range 0-65535"),
    ("https://1.2.3.4:99999", "port out of range 0-65535"),
    ("https://tool.example:65536/", "port out of range"),
    ("https://tool.example:abc/", "port could not be cast"),
    ("https://tool.example:-1/", "port"),
    ("https://tool.example:0/", "port 0 cannot be connected to"),
    ("https://a b.example/", "space"),
    ("https://evil.example\\@127.0.0.1/", "backslash"),
    ("https://tool.example/\x00", "control character"),
    ("https://x..example/", "is not a host name or an IP address"),
    ("https://-.exa$mple/", "host"),
    ("https://[tool.example]/", "IPv4 or IPv6 address"),
    ("https://[fe80::1%25]/", "a zone id is written %25 and a name"),
    ("https://\u2603.example/", "the host cannot be read"),
    ("https://exa%mple/", "the host cannot be read"),
    ("https://" + "a" * 64 + ".example/", "is not a host name"),
    ("https://" + "a." * 127 + "example/", "is not a host name"),
])
def test_unreadable_urls_are_refused_whatever_the_setting(dns, url, why, allow_private):
    with pytest.raises(InvalidTargetURL) as raised:
        check_target_url(url, allow_private=allow_private)
    assert str(raised.value).startswith(f"{url!r} is not a valid URL: ")
    assert why in str(raised.value)
    with pytest.raises(InvalidTargetURL):
        pin_target(url, allow_private=allow_private)


def test_a_url_that_is_not_a_string_is_refused():
    with pytest.raises(InvalidTargetURL, match="is not a URL"):
        parse_target(None)


@pytest.mark.parametrize("url", ["https://tool.example:1/", "https://tool.example:65535/", "https://tool.example/",
                                 "https://tool.example.:8443/x", "https://under_score.example/", "https://bücher.example/"])
def test_readable_ports_and_names_pass(dns, url):
    dns[parse_target(url).host] = [PUBLIC_IP]
    check_target_url(url)


def test_plain_http_is_refused_unless_private_targets_are_allowed(dns):
    dns["tool.example"] = [PUBLIC_IP]
    with pytest.raises(TargetNotAllowed, match="uses plain http://; use https://"):
        check_target_url("http://tool.example/")
    with pytest.raises(TargetNotAllowed, match="uses plain http://"):
        pin_target("http://tool.example/")
    check_target_url("http://tool.example/", allow_private=True)


def test_private_targets_allowed_lets_every_address_through(dns):
    for url in ("http://127.0.0.1:8080/", "https://10.0.0.1/", "http://localhost/", "https://[fe80::1%25eth0]/",
                "https://[64:ff9b::7f00:1]/"):
        check_target_url(url, allow_private=True)


# --- the setting ------------------------------------------------------------------------------

@pytest.mark.parametrize("value, allowed", [
    ("1", True), ("true", True), ("TRUE", True), ("True", True), ("yes", True), ("YES", True), ("on", True),
    ("On", True), (" 1 ", True), ("\tyes\n", True),
    ("0", False), ("false", False), ("no", False), ("off", False), ("", False), ("2", False), ("enabled", False),
    ("y", False), ("t", False), ("1.0", False),
])
def test_each_spelling_of_the_setting(monkeypatch, dns, value, allowed):
    monkeypatch.setenv("GATEWAY_ALLOW_PRIVATE_TARGETS", value)
    assert private_targets_allowed() is allowed
    assert as_bool(value) is allowed
    if allowed:
        check_target_url("http://127.0.0.1:8080/")
    else:
        with pytest.raises(TargetNotAllowed):
            check_target_url("http://127.0.0.1:8080/")


def test_setting_unset_refuses(dns):
    assert private_targets_allowed() is False
    with pytest.raises(TargetNotAllowed):
        check_target_url("https://127.0.0.1/")


def test_changing_the_setting_takes_effect_at_once(monkeypatch, dns):
    monkeypatch.setenv("GATEWAY_ALLOW_PRIVATE_TARGETS", "1")
    check_target_url("https://127.0.0.1/")
    monkeypatch.setenv("GATEWAY_ALLOW_PRIVATE_TARGETS", "0")
    with pytest.raises(TargetNotAllowed):
        check_target_url("https://127.0.0.1/")
    monkeypatch.setenv("GATEWAY_ALLOW_PRIVATE_TARGETS", "on")
    check_target_url("https://127.0.0.1/")


def test_the_apps_rule_wins_over_the_environment_until_it_is_reset(monkeypatch, dns):
    monkeypatch.setenv("GATEWAY_ALLOW_PRIVATE_TARGETS", "1")
    token = set_private_targets_allowed(False)
    try:
        assert private_targets_allowed() is False
        with pytest.raises(TargetNotAllowed):
            check_target_url("https://127.0.0.1/")
        inner = set_private_targets_allowed(True)
        assert private_targets_allowed() is True
        check_target_url("https://127.0.0.1/")
        reset_private_targets_allowed(inner)
        assert private_targets_allowed() is False
    finally:
        reset_private_targets_allowed(token)
    assert private_targets_allowed() is True  # back to the environment
    check_target_url("https://127.0.0.1/")
    monkeypatch.setenv("GATEWAY_ALLOW_PRIVATE_TARGETS", "no")
    assert private_targets_allowed() is False


def test_pin_target_follows_the_setting_when_the_caller_does_not_say(monkeypatch, dns):
    """The request-time check (what the transport calls) honours GATEWAY_ALLOW_PRIVATE_TARGETS and
    the app's rule, as the save-time check does."""
    monkeypatch.setenv("GATEWAY_ALLOW_PRIVATE_TARGETS", "1")
    assert pin_target("http://127.0.0.1:8080/").addresses is None
    assert pin_target("http://localhost:8080/").addresses is None
    token = set_private_targets_allowed(False)
    try:
        with pytest.raises(TargetNotAllowed, match="127.0.0.1 is loopback"):
            pin_target("https://127.0.0.1/")
    finally:
        reset_private_targets_allowed(token)
    monkeypatch.setenv("GATEWAY_ALLOW_PRIVATE_TARGETS", "0")
    with pytest.raises(TargetNotAllowed, match="uses plain http://"):
        pin_target("http://127.0.0.1:8080/")
    token = set_private_targets_allowed(True)
    try:
        assert pin_target("https://10.0.0.1/").addresses is None
    finally:
        reset_private_targets_allowed(token)
    assert dns.asked == []


def test_the_urls_whose_reading_is_kept_are_bounded(dns):
    """A worker sends to few URLs and keeps their readings; one that is handed ever new URLs keeps
    no more than PARSED_URLS of them."""
    targets._parse_target.cache_clear()
    for i in range(targets.PARSED_URLS + 20):
        parse_target(f"https://tool{i}.example/hook")
    assert targets._parse_target.cache_info().currsize == targets.PARSED_URLS
    assert parse_target("https://tool0.example/hook").host == "tool0.example"  # read again, the same


def test_an_explicit_rule_wins_over_the_context_and_the_environment(monkeypatch, dns):
    monkeypatch.setenv("GATEWAY_ALLOW_PRIVATE_TARGETS", "1")
    token = set_private_targets_allowed(True)
    try:
        with pytest.raises(TargetNotAllowed):
            check_target_url("https://127.0.0.1/", allow_private=False)
        with pytest.raises(TargetNotAllowed):
            pin_target("https://127.0.0.1/", allow_private=False)
    finally:
        reset_private_targets_allowed(token)
    monkeypatch.setenv("GATEWAY_ALLOW_PRIVATE_TARGETS", "0")
    check_target_url("https://127.0.0.1/", allow_private=True)
    assert pin_target("https://127.0.0.1/", allow_private=True).addresses is None


# --- whole messages ---------------------------------------------------------------------------

HINT = ("the gateway sends only to public addresses, never to private, loopback or link-local ones "
        "(GATEWAY_ALLOW_PRIVATE_TARGETS=1 allows them for local set-ups)")


@pytest.mark.parametrize("url, resolved, message", [
    ("https://10.0.0.1/", None, f"10.0.0.1 is private (10.0.0.0/8); {HINT}"),
    ("https://tool.example/", ["::1"], f"tool.example resolves to ::1, loopback (::1/128); {HINT}"),
    ("https://[64:ff9b::7f00:1]/", None,
     f"64:ff9b::7f00:1 is NAT64 (64:ff9b::/96), carrying 127.0.0.1: loopback (127.0.0.0/8); {HINT}"),
    ("https://api.localhost/", None, f"api.localhost names this machine (loopback: localhost and *.localhost); {HINT}"),
    ("http://tool.example/", [PUBLIC_IP],
     "'http://tool.example/' uses plain http://; use https:// (GATEWAY_ALLOW_PRIVATE_TARGETS=1 allows it for local set-ups)"),
    ("https://x.invalid:70000/", None, "'https://x.invalid:70000/' is not a valid URL: port out of range 0-65535"),
    ("ftp://tool.example/", None, "'ftp://tool.example/' is not an absolute http(s) URL"),
    ("https://a b/", None, "'https://a b/' is not a valid URL: it contains a space, a control character or a backslash"),
    ("https://tool.example:0/", None,
     "'https://tool.example:0/' is not a valid URL: port 0 cannot be connected to (use 1-65535)"),
    ("https://[fe80::1%25]/", None,
     "'https://[fe80::1%25]/' is not a valid URL: 'fe80::1%25': a zone id is written %25 and a name (RFC 6874)"),
    ("https://tool.exa$mple/", None,
     "'https://tool.exa$mple/' is not a valid URL: 'tool.exa$mple' is not a host name or an IP address"),
    ("https://\u2603.example/", None, "'https://\u2603.example/' is not a valid URL: the host cannot be read "
     "(Failed to parse: Name '\u2603' is not a valid IDNA label)"),
])
def test_whole_messages(dns, url, resolved, message):
    if resolved:
        dns["tool.example"] = resolved
    with pytest.raises(TargetNotAllowed) as raised:
        check_target_url(url)
    assert str(raised.value) == message


def test_check_resolved_target_pins_like_pin_target(dns):
    dns["tool.example"] = [PUBLIC_IP]
    assert targets.check_resolved_target("https://tool.example/").addresses == (PUBLIC_IP,)
    with pytest.raises(TargetNotAllowed):
        targets.check_resolved_target("https://127.0.0.1/", allow_private=False)


def test_targets_and_pins_cannot_be_changed_once_checked(dns):
    import dataclasses

    dns["tool.example"] = [PUBLIC_IP]
    pinned = pin_target("https://tool.example/")
    with pytest.raises(dataclasses.FrozenInstanceError):
        pinned.addresses = ("127.0.0.1",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pinned.target.host = "127.0.0.1"


LABEL_63 = "a" * 63


@pytest.mark.parametrize("host, readable", [
    (".".join([LABEL_63] * 3 + ["b" * 61]), True),  # 253 characters: the longest name
    (".".join([LABEL_63] * 3 + ["b" * 61]) + ".", True),  # ... with the root's dot
    (".".join([LABEL_63] * 3 + ["b" * 62]), False),  # 254
    ("tool.exampl$.", False),  # the final dot is dropped, not the last character of the name
    ("tool.example$.", False),
    ("tool.example..", False),
    ("a", True), ("a.", True), ("tool.example.", True),
])
def test_the_length_and_labels_of_a_host_name(dns, host, readable):
    if readable:
        dns[host] = [PUBLIC_IP]
        check_target_url(f"https://{host}/")
    else:
        with pytest.raises(InvalidTargetURL, match="is not a host name or an IP address"):
            check_target_url(f"https://{host}/")


@pytest.mark.parametrize("zone", ["x", "eth0", "25"])
def test_a_zone_id_of_any_length_is_read_in_a_url(dns, zone):
    target = parse_target(f"https://[fe80::1%25{zone}]/")
    assert target.zone == zone and target.host == "fe80::1"
    check_target_url(f"https://[fe80::1%25{zone}]/", allow_private=True)
