"""What ``serve`` answers before (or instead of) the app, in both of its servers (gunicorn with
several processes, waitress with one): the body limit holds for chunked bodies (413, never a
truncated body judged or stored), waitress answers a too large Content-Length before reading the
body, and the servers' own error answers (400, 414, 431) are JSON like every other."""

from __future__ import annotations

import json
import socket

import pytest
import requests

from gateway import hmac_sha256_hex
from gateway.testing import GatewayProcess

from .delivery_support import ld_entry

LD_SECRET = "ld-signing-secret-0123456789"
LIMIT = 65536


@pytest.fixture(scope="module", params=["1", "2"], ids=["waitress", "gunicorn"])
def served(request, tmp_path_factory):
    process = GatewayProcess(str(tmp_path_factory.mktemp("serve")), env={
        "GATEWAY_PROCESSES": request.param, "GATEWAY_WORKERS": "0", "GATEWAY_PLUGINS": "webhook",
        "GATEWAY_LAUNCHDARKLY_SECRET": LD_SECRET, "GATEWAY_MAX_BODY_BYTES": str(LIMIT),
        "GATEWAY_MAX_API_BODY_BYTES": str(LIMIT), "GATEWAY_ALLOW_PRIVATE_TARGETS": "1"})
    process.start()
    yield process
    try:
        process.terminate(20)
    except Exception:
        process.kill()


def chunks(data: bytes, size: int = 8192):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def raw_exchange(served, request: bytes, timeout: float = 15) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as it is and read the answer until the server closes (or its length is read)."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            piece = sock.recv(65536)
            if not piece:
                break
            body += piece
    return int(lines[0].split()[1]), headers, body


def test_a_chunked_webhook_over_the_limit_is_413_not_truncated(served):
    entry = json.loads(ld_entry("chunked-big"))
    entry["padding"] = "x" * (2 * LIMIT)
    body = json.dumps(entry).encode()
    response = requests.post(served.url + "/webhooks/launchdarkly", data=chunks(body), timeout=30,
                             headers={"Content-Type": "application/json", "X-LD-Signature": hmac_sha256_hex(LD_SECRET, body)})
    assert response.status_code == 413, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert "GATEWAY_MAX_BODY_BYTES" in response.json()["error"]
    assert served.admin("GET", "/api/v1/events").json()["items"] == []


def test_a_chunked_admin_body_over_the_limit_creates_nothing(served):
    body = json.dumps({"plugin": "webhook", "name": "big", "config": {"url": "http://127.0.0.1:9/x"},
                       "padding": "x" * (2 * LIMIT)}).encode()
    response = served.admin("POST", "/api/v1/integrations", data=chunks(body),
                            headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    assert "GATEWAY_MAX_API_BODY_BYTES" in response.json()["error"]
    assert served.admin("GET", "/api/v1/integrations").json()["items"] == []


def test_a_chunked_body_within_the_limit_is_read_whole(served):
    entry = json.loads(ld_entry("chunked-small"))
    body = json.dumps(entry).encode()
    response = requests.post(served.url + "/webhooks/launchdarkly", data=chunks(body, 100), timeout=30,
                             headers={"Content-Type": "application/json", "X-LD-Signature": hmac_sha256_hex(LD_SECRET, body)})
    assert response.status_code == 202, response.text


def test_a_too_large_content_length_is_answered_before_the_body_is_sent(served):
    status, headers, body = raw_exchange(served, (
        b"POST /webhooks/launchdarkly HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 300000000\r\n\r\n" + b"{" * 1000))
    assert status == 413
    assert headers["content-type"] == "application/json" and json.loads(body)["error"]


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", (414, 431, 400, 404)),  # waitress: 404
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", (431, 400)),
    (b"BAD REQUEST LINE WITH TOO MANY PARTS\r\n\r\n", (400,)),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", (400,)),
])
def test_the_servers_own_errors_are_json(served, request_bytes, status):
    answered, headers, body = raw_exchange(served, request_bytes)
    assert answered in status, body[:300]
    assert headers["content-type"] == "application/json", body[:300]
    assert json.loads(body)["error"]
