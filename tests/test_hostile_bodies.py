"""Hostile JSON bodies (issue 9, item 4) and the admin API's body limit (item 5): a clear JSON 400
or 413 on every route that reads JSON, and nothing stored; every error answer is JSON."""

from __future__ import annotations

import json
import logging

import pytest
import requests
from flask import Flask

from gateway import EventGateway, strict_json
from gateway.signatures import hmac_sha256_hex
from gateway.host.state import get_state

from .conftest import AUTH, LiveServer, add_integration, fixture_bytes
from .test_intake import stored_counts

SECRET = "inbox-secret-0123456789"
LD_SECRET = "ld-signing-secret-0123456789"
EVENT = json.loads(fixture_bytes("launchdarkly/flag-turned-on-production.json"))

DEEP = b"[" * 100_000 + b"]" * 100_000
HOSTILE = {
    "deep nesting": (DEEP, "nested deeper than"),
    "5,000-digit integer": (b'{"_id": "x", "accesses": [], "date": ' + b"9" * 5000 + b"}", "digits"),
    "lone surrogate in _id": (json.dumps({**EVENT, "_id": "\ud800"}).encode(), "lone UTF-16 surrogate"),
    "lone surrogate in title": (json.dumps({**EVENT, "title": "a \udfff b"}).encode(), "lone UTF-16 surrogate"),
    "NaN": (json.dumps({**EVENT, "date": float("nan")}).encode(), "NaN is not a JSON number"),
    "Infinity": (json.dumps({**EVENT, "_id": "inf", "date": float("inf")}).encode(), "Infinity is not a JSON number"),
    "-Infinity": (json.dumps({**EVENT, "_id": "ninf", "x": float("-inf")}).encode(), "-Infinity is not a JSON number"),
    "number too large for a float": (json.dumps({**EVENT, "_id": "big"}).encode()[:-1] + b', "n": 1e400}', "too large"),
    "not UTF-8": (b'{"_id": "\xff"}', "not UTF-8"),
    "NUL in _id": (json.dumps({**EVENT, "_id": "a\u0000b"}).encode(), "NUL character"),
    "NUL in title": (json.dumps({**EVENT, "title": "on \u0000"}).encode(), "NUL character"),
    "NUL in a key": (json.dumps({**EVENT, "x\u0000": 1}).encode(), "NUL character"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_strict_reader_refuses(name):
    body, message = HOSTILE[name]
    with pytest.raises(strict_json.InvalidJson) as raised:
        strict_json.loads(body)
    assert message in raised.value.message


def test_strict_reader_keeps_what_is_fine():
    nested = "[" * strict_json.MAX_DEPTH + "]" * strict_json.MAX_DEPTH
    assert strict_json.loads(nested) is not None
    assert strict_json.loads('{"a": "\\ud83d\\ude00 [{", "b": 1.5e3, "c": -12}') == {"a": "\U0001F600 [{", "b": 1500.0, "c": -12}
    assert strict_json.loads(b'{"n": ' + b"9" * strict_json.MAX_INTEGER_DIGITS + b"}")["n"] == int("9" * 100)
    assert strict_json.loads('"\\\\ud800"') == "\\ud800"  # an escaped backslash, not a surrogate


def _answers_400(response, message):
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.is_json, response.get_data(as_text=True)[:300]
    assert message in response.get_json()["error"]


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("signed", [False, True])
def test_flag_platform_webhook_refuses_hostile_bodies(make_app, name, signed):
    app = make_app({"GATEWAY_LAUNCHDARKLY_SECRET": LD_SECRET} if signed else {})
    client = app.test_client()
    add_integration(client, "recorder", config={"token": "recorder-token-0123456789"})
    body, message = HOSTILE[name]
    headers = {"X-LD-Signature": hmac_sha256_hex(LD_SECRET, body)} if signed else {}
    response = client.post("/webhooks/launchdarkly", data=body, content_type="application/json", headers=headers)
    _answers_400(response, message)
    assert stored_counts(app) == (0, 0)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_inbound_webhook_refuses_hostile_bodies(app, client, name):
    inbox = add_integration(client, "inbox", config={"signing_secret": SECRET})
    body, message = HOSTILE[name]
    response = client.post(f"/webhooks/integrations/{inbox['id']}", data=body, content_type="application/json",
                           headers={"X-Signature": hmac_sha256_hex(SECRET, body)})
    _answers_400(response, message)
    assert stored_counts(app) == (0, 0)


def _wrapped(key: str, name: str) -> bytes:
    """A hostile value placed inside an admin API body under ``key``."""
    body, _ = HOSTILE[name]
    if name == "not UTF-8":
        return b'{"' + key.encode() + b'": "\xff"}'
    return b'{"' + key.encode() + b'": ' + body + b"}"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_admin_api_refuses_hostile_bodies(app, client, name):
    recorder = add_integration(client, "recorder", config={"token": "recorder-token-0123456789"}, policy=[])
    before = client.get(f"/api/v1/integrations/{recorder['id']}", headers=AUTH).get_json()
    _, message = HOSTILE[name]
    cases = [
        ("POST", "/api/v1/policy/evaluate", _wrapped("event", name)),
        ("POST", f"/api/v1/integrations/{recorder['id']}/explain", HOSTILE[name][0]),
        ("POST", "/api/v1/integrations", _wrapped("name", name)),
        ("PATCH", f"/api/v1/integrations/{recorder['id']}", _wrapped("name", name)),
        ("POST", f"/api/v1/integrations/{recorder['id']}/replay", _wrapped("event_ids", name)),
    ]
    for method, path, body in cases:
        response = client.open(path, method=method, data=body, content_type="application/json", headers=AUTH)
        _answers_400(response, message)
    assert client.get("/api/v1/integrations", headers=AUTH).get_json()["items"] == [before]
    assert stored_counts(app) == (0, 0)


def test_integration_named_with_a_lone_surrogate_is_refused(app, client):
    body = b'{"plugin": "recorder", "name": "\\ud800"}'
    response = client.post("/api/v1/integrations", data=body, content_type="application/json", headers=AUTH)
    _answers_400(response, "lone UTF-16 surrogate")
    assert client.get("/api/v1/integrations", headers=AUTH).get_json()["items"] == []


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_and_infinity_are_never_stored_nor_served_back(app, client, value):
    body = json.dumps({**EVENT, "currentVersion": {**EVENT.get("currentVersion", {}), "score": value}}).encode()
    response = client.post("/webhooks/launchdarkly", data=body, content_type="application/json")
    assert response.status_code == 400 and "is not a JSON number" in response.get_json()["error"]
    assert client.get("/api/v1/events", headers=AUTH).get_json()["items"] == []


def test_over_real_http_a_deep_body_is_a_json_400(app):
    server = LiveServer(app)
    try:
        response = requests.post(server.url + "/webhooks/launchdarkly", data=DEEP,
                                 headers={"Content-Type": "application/json"}, timeout=30)
    finally:
        server.close()
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert "nested deeper than" in response.json()["error"]


def test_every_error_answer_is_json(app, client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("internal detail http://10.0.0.7/secret-path")

    monkeypatch.setattr(get_state(app).db.events, "page", broken)
    response = client.get("/api/v1/events", headers=AUTH)
    assert response.status_code == 500 and response.is_json
    assert "10.0.0.7" not in response.get_data(as_text=True)
    for method, path in [("GET", "/nothing/here"), ("POST", "/healthz"), ("DELETE", "/metrics")]:
        response = client.open(path, method=method)
        assert response.status_code in (404, 405) and response.is_json, path
        assert response.get_json()["error"]


def test_in_init_app_mode_the_host_apps_own_errors_are_left_alone(tmp_path):
    host = Flask("host")
    host.config.update(GATEWAY_INSTANCE_PATH=str(tmp_path), GATEWAY_ADMIN_TOKEN="host-app-admin-token-0123456789")
    host.instance_path = str(tmp_path)

    @host.get("/mine")
    def mine():
        raise RuntimeError("the host app's own error")

    EventGateway(host, entry_points=False)
    client = host.test_client()
    assert not client.get("/elsewhere").is_json  # Flask's own 404 page
    assert not client.get("/mine").is_json  # Flask's own 500 page
    response = client.get("/api/v1/events", headers={"Authorization": "Bearer host-app-admin-token-0123456789"})
    assert response.status_code == 200
    assert client.post("/webhooks/launchdarkly", data=DEEP, content_type="application/json").is_json
    get_state(host).db.dispose()


# -- item 5: the admin API's body limit ---------------------------------------------------------

def test_admin_api_bodies_are_capped(make_app):
    app = make_app({"GATEWAY_MAX_API_BODY_BYTES": 1000})
    client = app.test_client()
    body = json.dumps({"plugin": "recorder", "name": "x" * 2000}).encode()
    response = client.post("/api/v1/integrations", data=body, content_type="application/json", headers=AUTH)
    assert response.status_code == 413 and response.is_json
    assert "1000 bytes" in response.get_json()["error"] and "GATEWAY_MAX_API_BODY_BYTES" in response.get_json()["error"]
    assert client.get("/api/v1/integrations", headers=AUTH).get_json()["items"] == []
    small = json.dumps({"plugin": "recorder", "name": "x", "config": {"token": "recorder-token-0123456789"}}).encode()
    assert client.post("/api/v1/integrations", data=small, content_type="application/json", headers=AUTH).status_code == 201


def test_admin_api_body_cap_holds_without_a_content_length(make_app):
    app = make_app()
    server = LiveServer(app)
    limit = get_state(app).settings.max_api_body_bytes
    chunks = (b'{"plugin": "recorder", "name": "' + b"x" * 65536 for _ in range(limit // 65536 + 2))
    try:
        response = requests.post(server.url + "/api/v1/integrations", data=chunks, timeout=30,
                                 headers={**AUTH, "Content-Type": "application/json"})
    finally:
        server.close()
    assert response.status_code == 413
    assert "GATEWAY_MAX_API_BODY_BYTES" in response.json()["error"]


def test_closing_the_live_server_waits_for_its_running_requests(caplog):
    """A request still running when the server closes gets its answer and its thread ends cleanly:
    closing used to close the server's wake-up pipe under it (a thread traceback, OSError EBADF, in
    the test after it) and to leave the server's loop running."""
    import threading
    import time

    app = Flask("slow")
    started = threading.Event()

    @app.get("/slow")
    def slow():
        started.set()
        time.sleep(0.5)
        return "done"

    server = LiveServer(app)
    answers = []
    client = threading.Thread(target=lambda: answers.append(requests.get(server.url + "/slow", timeout=10)))
    client.start()
    assert started.wait(10)
    server.close()
    client.join(10)
    assert [a.text for a in answers] == ["done"]
    assert not server.thread.is_alive()
    assert not [r for r in caplog.records if r.name.startswith("waitress") and r.levelno >= logging.ERROR]


def test_the_default_admin_cap_refuses_20_megabytes(client):
    body = b'{"plugin": "recorder", "name": "' + b"x" * (20 * 1024 * 1024) + b'"}'
    response = client.post("/api/v1/integrations", data=body, content_type="application/json", headers=AUTH)
    assert response.status_code == 413 and "1048576" in response.get_json()["error"]
