"""The core HTTP client plugins deliver with: retry classes, Retry-After, redaction, redirects, the
private-address guard (checked after DNS resolution)."""

from __future__ import annotations

import dataclasses
import email.utils
import time

import pytest
import requests
import requests_mock

from gateway import HttpClient, TargetNotAllowed, TransportError
from gateway.outbound import targets
from gateway.outbound.http import RETRY_AFTER_MAX, Exchange, make_session

SECRET = "sup3r-secret-token"
PUBLIC_IP = "93.184.216.34"


@pytest.fixture
def public_dns(monkeypatch):
    """Every host name resolves to a public address (no real DNS in tests)."""
    monkeypatch.setattr(targets, "resolve", lambda host, port: [PUBLIC_IP])


def client(**options) -> HttpClient:
    return HttpClient(make_session(), secrets=[SECRET], **options)


@pytest.mark.parametrize("status,retryable", [(200, False), (400, False), (404, False), (409, False),
                                              (429, True), (500, True), (502, True), (503, True)])
def test_retryable_classes(public_dns, status, retryable):
    with requests_mock.Mocker() as mock:
        mock.post("https://tool.example/api", status_code=status)
        response = client().post("https://tool.example/api", json={})
    assert response.status_code == status
    assert response.is_retryable is retryable


def test_retry_after_seconds_and_http_date(public_dns):
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    cases = {"30": 30.0, "0": 1.0, "-5": 1.0, "999999": RETRY_AFTER_MAX, "soon": None, "nan": None}
    with requests_mock.Mocker() as mock:
        for value, expected in cases.items():
            mock.get("https://tool.example/x", status_code=429, headers={"Retry-After": value})
            assert client().get("https://tool.example/x").retry_after == expected, value
        mock.get("https://tool.example/x", status_code=503, headers={"Retry-After": later})
        assert 100 <= client().get("https://tool.example/x").retry_after <= 120
        past = email.utils.formatdate(time.time() - 600, usegmt=True)
        mock.get("https://tool.example/x", status_code=503, headers={"Retry-After": past})
        assert client().get("https://tool.example/x").retry_after == 1.0
        mock.get("https://tool.example/x", status_code=503)
        assert client().get("https://tool.example/x").retry_after is None


def test_secrets_are_removed_from_url_excerpt_and_errors(public_dns):
    http = client()
    with requests_mock.Mocker() as mock:
        mock.post(f"https://tool.example/hooks/{SECRET}", status_code=401,
                  text=f"token {SECRET} is not valid")
        http.post(f"https://tool.example/hooks/{SECRET}", params={"key": SECRET}, json={})
        mock.post("https://tool.example/down", exc=requests.ConnectionError(f"refused for {SECRET}"))
        with pytest.raises(TransportError) as raised:
            http.post("https://tool.example/down", params={"key": SECRET})
    assert SECRET not in str(raised.value)
    first, second = http.exchanges
    assert first.url == "https://tool.example/hooks/[redacted]?key=[redacted]"
    assert first.status == 401 and first.excerpt == "token [redacted] is not valid"
    assert second.status is None and "[redacted]" in second.error and SECRET not in second.error
    assert SECRET not in repr(http.exchanges)


def test_the_attempt_log_gets_every_field_of_an_exchange_but_its_deliveries(public_dns):
    http = client()
    with requests_mock.Mocker() as mock:
        mock.post("https://tool.example/events", status_code=202, text="queued")
        http.post("https://tool.example/events", json={}, deliveries=["d1"])
        http.post("https://tool.example/events", json={}, deliveries=["d2"])
    [logged] = http.exchanges_for("d1")
    fields = {f.name for f in dataclasses.fields(Exchange)} - {"deliveries"}
    assert set(logged) == fields
    assert logged == {k: v for k, v in dataclasses.asdict(http.exchanges[0]).items() if k in fields}
    assert logged["status"] == 202 and logged["excerpt"] == "queued"


def test_timeouts_are_transport_errors_and_recorded(public_dns):
    http = client(connect_timeout=0.5, read_timeout=2)
    with requests_mock.Mocker() as mock:
        mock.post("https://tool.example/slow", exc=requests.ReadTimeout)
        with pytest.raises(TransportError, match="timed out after 0.5s connect / 2s read"):
            http.post("https://tool.example/slow")
    [exchange] = http.exchanges
    assert exchange.status is None and "ReadTimeout" in exchange.error


def test_redirects_are_not_followed(public_dns):
    with requests_mock.Mocker() as mock:
        mock.get("https://tool.example/old", status_code=302, headers={"Location": "https://elsewhere.example/"})
        mock.get("https://elsewhere.example/", text="followed")
        response = client().get("https://tool.example/old")
        assert response.status_code == 302
        assert [r.url for r in mock.request_history] == ["https://tool.example/old"]


def test_excerpt_is_bounded(public_dns):
    with requests_mock.Mocker() as mock:
        mock.get("https://tool.example/big", text="x" * 100_000)
        http = client()
        http.get("https://tool.example/big")
    assert len(http.exchanges[0].excerpt) == 2000


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.5", "169.254.169.254", "::1", "fd00::1"])
def test_private_addresses_are_refused_after_resolution(monkeypatch, address):
    monkeypatch.setattr(targets, "resolve", lambda host, port: [address])
    http = client()
    with requests_mock.Mocker() as mock:
        mock.post("https://innocent.example/", text="should not be reached")
        with pytest.raises(TargetNotAllowed, match=f"resolves to {address}"):
            http.post("https://innocent.example/")
        assert not mock.called
    assert http.exchanges[0].error.startswith("refused:")


def test_loopback_and_plain_http_refused_unless_allowed(monkeypatch):
    monkeypatch.setattr(targets, "resolve", lambda host, port: ["127.0.0.1"])
    with pytest.raises(TargetNotAllowed, match="plain http"):
        client().get("http://tool.example/")
    with pytest.raises(TargetNotAllowed, match="loopback"):
        client().get("https://127.0.0.1:8443/")
    with requests_mock.Mocker() as mock:
        mock.get("http://127.0.0.1:8080/", text="ok")
        assert client(allow_private=True).get("http://127.0.0.1:8080/").ok


def test_unresolvable_host_is_a_transport_error(monkeypatch):
    def fail(host, port):
        raise OSError("Name or service not known")

    monkeypatch.setattr(targets, "resolve", fail)
    http = client()
    with pytest.raises(TransportError, match="cannot resolve nowhere.example"):
        http.get("https://nowhere.example/")
    assert http.exchanges[0].error.startswith("DNS:")


def test_a_huge_answer_is_read_only_up_to_the_bound():
    from gateway.outbound.http import MAX_RESPONSE_BYTES
    from gateway.testing import FakeService, Reply

    with FakeService(Reply(200, b"x" * (3 * MAX_RESPONSE_BYTES))) as service:
        client = HttpClient(requests.Session(), allow_private=True)
        response = client.get(service.url + "/big")
    assert response.status_code == 200
    assert len(response.content) == MAX_RESPONSE_BYTES
    assert client.exchanges[-1].status == 200 and len(client.exchanges[-1].excerpt) == 2000
