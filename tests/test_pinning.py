"""Requests go to the address the guard checked: DNS rebinding cannot steer them, the name still
decides Host, SNI and the certificate check, proxies cannot go around the guard. Real sockets on
loopback; a connection to the stand-in public address is stopped before it leaves the machine."""

from __future__ import annotations

import socket

import pytest
import requests
import requests_mock
import urllib3.util.connection

from gateway import HttpClient, TargetNotAllowed, TransportError
from gateway.outbound import targets
from gateway.outbound.http import make_session
from gateway.outbound.pinning import PinnedAdapter, mount_pinned, pin_request
from gateway.outbound.targets import PinnedTarget, parse_target

from .tls_support import TLSService, make_certificates

PUBLIC_IP = "93.184.216.34"  # never reached: connections to it are stopped below
SILENT_IP = "93.184.216.35"  # never reached either: connections to it time out below
REAL_GETADDRINFO = socket.getaddrinfo
REAL_CREATE_CONNECTION = urllib3.util.connection.create_connection


@pytest.fixture
def connects(monkeypatch):
    """Every address a connection is opened to; one to PUBLIC_IP is refused and one to SILENT_IP
    times out, both without leaving the machine; the others (loopback) are made."""
    opened: list[tuple[str, int]] = []

    def create_connection(address, *args, **kwargs):
        opened.append(address)
        if address[0] == PUBLIC_IP:
            raise ConnectionRefusedError(111, "refused by the test (stand-in public address)")
        if address[0] == SILENT_IP:
            raise socket.timeout("timed out in the test (stand-in public address that does not answer)")
        return REAL_CREATE_CONNECTION(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    return opened


@pytest.fixture
def listener():
    """A loopback TCP socket that accepts nothing by itself: a connection made to it waits in its
    queue, where :func:`pending` finds it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def pending(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def rebinding_resolver(monkeypatch, name: str, first: str, then: str) -> list[str]:
    """``name`` answers ``first`` to the first question and ``then`` to every later one (what a
    rebinding DNS server does); other names resolve as usual. Returns the list of questions."""
    asked: list[str] = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host != name:
            return REAL_GETADDRINFO(host, port, family, type, proto, flags)
        asked.append(host)
        address = first if len(asked) == 1 else then
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 443)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_a_name_that_rebinds_to_loopback_is_never_connected_to_loopback(monkeypatch, connects, listener):
    port = listener.getsockname()[1]
    asked = rebinding_resolver(monkeypatch, "rebind.example", PUBLIC_IP, "127.0.0.1")
    http = HttpClient(make_session(), connect_timeout=2, read_timeout=2)
    with pytest.raises(TransportError):
        http.post(f"https://rebind.example:{port}/hook", json={})
    assert asked == ["rebind.example"]  # resolved once
    assert connects == [(PUBLIC_IP, port)]  # to the address that was checked
    assert not pending(listener)  # nothing reached the loopback
    assert http.exchanges[0].url == f"https://rebind.example:{port}/hook"


def test_a_name_that_answers_loopback_first_is_refused_before_any_connection(monkeypatch, connects, listener):
    port = listener.getsockname()[1]
    asked = rebinding_resolver(monkeypatch, "rebind.example", "127.0.0.1", PUBLIC_IP)
    http = HttpClient(make_session(), connect_timeout=2, read_timeout=2)
    with pytest.raises(TargetNotAllowed, match="rebind.example resolves to 127.0.0.1, loopback"):
        http.post(f"https://rebind.example:{port}/hook", json={})
    assert asked == ["rebind.example"] and connects == [] and not pending(listener)
    assert http.exchanges[0].error.startswith("refused:")


def test_any_session_given_to_the_client_is_pinned(monkeypatch, connects, listener):
    """A plain ``requests.Session`` handed to the client gets the pinned transport too."""
    port = listener.getsockname()[1]
    rebinding_resolver(monkeypatch, "rebind.example", PUBLIC_IP, "127.0.0.1")
    session = requests.Session()
    http = HttpClient(session, connect_timeout=2, read_timeout=2)
    assert isinstance(session.get_adapter("https://x.example/"), PinnedAdapter)
    with pytest.raises(TransportError):
        http.get(f"https://rebind.example:{port}/")
    assert connects == [(PUBLIC_IP, port)] and not pending(listener)


def test_a_request_sent_past_the_client_is_checked_and_pinned_by_the_transport(monkeypatch, connects, listener):
    port = listener.getsockname()[1]
    monkeypatch.delenv("GATEWAY_ALLOW_PRIVATE_TARGETS", raising=False)
    asked = rebinding_resolver(monkeypatch, "rebind.example", PUBLIC_IP, "127.0.0.1")
    with make_session() as session:
        with pytest.raises(requests.ConnectionError):
            session.get(f"https://rebind.example:{port}/", timeout=2)
        with pytest.raises(TargetNotAllowed):
            session.get(f"https://127.0.0.1:{port}/", timeout=2)
    assert asked == ["rebind.example"] and connects == [(PUBLIC_IP, port)] and not pending(listener)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    return make_certificates(folder, "tool.example")


def pinned_get(session: requests.Session, url: str, addresses: tuple[str, ...], **kwargs) -> requests.Response:
    """GET ``url`` through the pinned transport, as if the guard had checked ``addresses``."""
    prepared = session.prepare_request(requests.Request("GET", url, headers=kwargs.pop("headers", None)))
    pin_request(prepared, PinnedTarget(parse_target(url), addresses))
    return session.send(prepared, timeout=5, **kwargs)


def no_dns_for(monkeypatch, name: str) -> None:
    def getaddrinfo(host, *args, **kwargs):
        if host == name:
            raise AssertionError(f"{name} was resolved again")
        return REAL_GETADDRINFO(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_pinned_https_request_keeps_host_sni_and_certificate_check_of_the_name(monkeypatch, certificates):
    ca, cert, key = certificates
    no_dns_for(monkeypatch, "tool.example")
    with TLSService(cert, key) as service, make_session() as session:
        session.verify = str(ca)
        response = pinned_get(session, f"https://tool.example:{service.port}/in?x=1", ("127.0.0.1",))
        assert response.status_code == 200 and response.text == "ok"
        assert service.server_names == ["tool.example"]
        assert service.requests[0]["host"] == f"tool.example:{service.port}"
        assert service.requests[0][":path"] == "/in?x=1"


def test_a_certificate_for_another_name_is_refused(monkeypatch, tmp_path, certificates):
    ca, cert, key = certificates
    no_dns_for(monkeypatch, "other.example")
    with TLSService(cert, key) as service, make_session() as session:
        session.verify = str(ca)
        with pytest.raises(requests.exceptions.SSLError, match="other.example"):
            pinned_get(session, f"https://other.example:{service.port}/", ("127.0.0.1",))
        assert service.requests == []


def test_an_untrusted_certificate_is_refused(monkeypatch, certificates):
    _, cert, key = certificates
    no_dns_for(monkeypatch, "tool.example")
    with TLSService(cert, key) as service, make_session() as session:
        with pytest.raises(requests.exceptions.SSLError):
            pinned_get(session, f"https://tool.example:{service.port}/", ("127.0.0.1",))
        assert service.requests == []


def test_the_next_checked_address_is_tried_when_one_refuses(monkeypatch, certificates, connects):
    ca, cert, key = certificates
    no_dns_for(monkeypatch, "tool.example")
    with TLSService(cert, key) as service, make_session() as session:
        session.verify = str(ca)
        response = pinned_get(session, f"https://tool.example:{service.port}/", (PUBLIC_IP, "127.0.0.1"))
        assert response.status_code == 200
    assert connects == [(PUBLIC_IP, service.port), ("127.0.0.1", service.port)]


def test_the_next_checked_address_is_tried_when_one_does_not_answer_in_time(monkeypatch, certificates, connects):
    ca, cert, key = certificates
    no_dns_for(monkeypatch, "tool.example")
    with TLSService(cert, key) as service, make_session() as session:
        session.verify = str(ca)
        response = pinned_get(session, f"https://tool.example:{service.port}/", (SILENT_IP, "127.0.0.1"))
        assert response.status_code == 200
    assert connects == [(SILENT_IP, service.port), ("127.0.0.1", service.port)]


def test_when_every_checked_address_refuses_the_error_is_the_last_ones(monkeypatch, connects):
    no_dns_for(monkeypatch, "tool.example")
    with make_session() as session:
        with pytest.raises(requests.ConnectionError) as refused:
            pinned_get(session, "https://tool.example:8443/", (SILENT_IP, PUBLIC_IP))
        with pytest.raises(requests.ConnectTimeout) as timed_out:
            pinned_get(session, "https://tool.example:8443/", (PUBLIC_IP, SILENT_IP))
    assert connects == [(SILENT_IP, 8443), (PUBLIC_IP, 8443), (PUBLIC_IP, 8443), (SILENT_IP, 8443)]
    assert "refused by the test" in str(refused.value) and not isinstance(refused.value, requests.Timeout)
    assert "timed out" in str(timed_out.value)
    assert "no address to connect to" not in str(refused.value) + str(timed_out.value)


def test_a_pin_without_addresses_connects_nowhere(monkeypatch, connects):
    no_dns_for(monkeypatch, "tool.example")
    with make_session() as session:
        with pytest.raises(requests.ConnectionError, match="^tool.example has no address to connect to$"):
            pinned_get(session, "https://tool.example:8443/", ())
    assert connects == []


def test_a_plain_http_request_sent_past_the_client_is_refused_by_the_transport(monkeypatch, connects, listener):
    port = listener.getsockname()[1]
    monkeypatch.delenv("GATEWAY_ALLOW_PRIVATE_TARGETS", raising=False)
    with make_session() as session:
        with pytest.raises(TargetNotAllowed, match=r"'http://127.0.0.1:\d+/' uses plain http://"):
            session.get(f"http://127.0.0.1:{port}/", timeout=2)
    with mount_pinned(requests.Session()) as session:
        with pytest.raises(TargetNotAllowed, match="uses plain http://"):
            session.get(f"http://127.0.0.1:{port}/", timeout=2)
    assert connects == [] and not pending(listener)


def test_a_failure_after_connecting_is_not_retried_on_another_address(monkeypatch, certificates, connects):
    _, cert, key = certificates  # no trusted CA: the handshake fails after the connection was made
    no_dns_for(monkeypatch, "tool.example")
    with TLSService(cert, key) as service, make_session() as session:
        with pytest.raises(requests.exceptions.SSLError):
            pinned_get(session, f"https://tool.example:{service.port}/", ("127.0.0.1", PUBLIC_IP))
    assert connects == [("127.0.0.1", service.port)]


def test_proxy_settings_cannot_route_around_the_guard(monkeypatch, certificates, listener):
    """Even a session that trusts the environment's proxy variables connects straight to the pinned
    address, and does not hand a Proxy-Authorization header to the target."""
    ca, cert, key = certificates
    proxy = f"http://user:pw@127.0.0.1:{listener.getsockname()[1]}"
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    no_dns_for(monkeypatch, "tool.example")
    session = mount_pinned(requests.Session())
    assert session.trust_env
    session.proxies = {"https": proxy, "http": proxy}
    session.verify = str(ca)
    with TLSService(cert, key) as service:
        response = pinned_get(session, f"https://tool.example:{service.port}/", ("127.0.0.1",),
                              headers={"Proxy-Authorization": "Basic dXNlcjpwdw=="})
        assert response.status_code == 200
        assert "proxy-authorization" not in service.requests[0]
    assert not pending(listener)


def test_a_caller_cannot_choose_the_host_header(monkeypatch, certificates):
    ca, cert, key = certificates
    no_dns_for(monkeypatch, "tool.example")
    with TLSService(cert, key) as service, make_session() as session:
        session.verify = str(ca)
        pinned_get(session, f"https://tool.example:{service.port}/", ("127.0.0.1",), headers={"Host": "internal"})
        assert service.requests[0]["host"] == f"tool.example:{service.port}"


def test_redirects_are_checked_again(monkeypatch):
    """The client follows no redirect; a session that does follow one checks the new URL first."""
    monkeypatch.delenv("GATEWAY_ALLOW_PRIVATE_TARGETS", raising=False)
    monkeypatch.setattr(targets, "resolve", lambda host, port: [PUBLIC_IP])
    with requests_mock.Mocker(real_http=False) as mock:
        mock.get("https://tool.example/old", status_code=302, headers={"Location": "https://127.0.0.1/admin"})
        response = HttpClient(make_session()).get("https://tool.example/old")
    assert response.status_code == 302
    with make_session() as session:
        adapter = session.get_adapter("https://127.0.0.1/")
        with pytest.raises(TargetNotAllowed, match="127.0.0.1 is loopback"):
            adapter.send(requests.Request("GET", "https://127.0.0.1/admin").prepare())


def test_the_recorded_url_keeps_the_brackets_of_an_ipv6_literal():
    http = HttpClient(make_session(), secrets=["sup3r-secret-token"])
    with requests_mock.Mocker() as mock:
        mock.get(requests_mock.ANY, text="ok")
        http.get("https://[2606:4700::1111]:8443/x", params={"key": "sup3r-secret-token"})
        http.get("https://user:pw@[2606:4700::1111]/y")
    assert [e.url for e in http.exchanges] == ["https://[2606:4700::1111]:8443/x?key=[redacted]",
                                               "https://[2606:4700::1111]/y"]


def test_an_ipv6_form_carrying_loopback_is_refused_at_send():
    http = HttpClient(make_session())
    with requests_mock.Mocker() as mock:
        mock.get(requests_mock.ANY, text="reached")
        for url in ("https://[64:ff9b::7f00:1]/", "https://[::ffff:7f00:1]/", "https://[2002:7f00:1::1]/",
                    "https://[::127.0.0.1]/", "https://[::ffff:0:7f00:1]/",
                    "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/"):
            with pytest.raises(TargetNotAllowed, match="carrying 127.0.0.1: loopback"):
                http.get(url)
        assert not mock.called
    assert [e.url for e in http.exchanges][0] == "https://[64:ff9b::7f00:1]/"
