"""What a remote answer echoes back never reaches an answer, a stored record or the database in the
clear: the flag platform's API token echoed in its error answers (connect, rewire, rotate-secret,
``webhook.wiring_error``), and a secret URL's parts echoed by a target."""

from __future__ import annotations

import base64
import json

import pytest

from gateway.kit.fake_flag_platform import FakeFlagPlatform
from gateway.host.state import get_state
from gateway.testing import Reply

from .conftest import AUTH

TOKEN = "api-0123456789-echoed-token"
PUBLIC = "https://gw.example.com"
PATH = "/api/v1/connections/launchdarkly"
BASIC = base64.b64encode(f"x:{TOKEN}".encode()).decode()
ECHOES = [
    Reply(400, {"code": "invalid_request", "message": f"bad request; headers: Authorization={TOKEN}"}),
    Reply(400, f"<html>Authorization: {TOKEN}</html>".encode(), headers={"Content-Type": "text/html"}),
    Reply(401, {"message": f"token {TOKEN.upper()} is not valid (Basic {BASIC})"}),
    Reply(503, f"upstream said: {json.dumps({'authorization': TOKEN})}".encode()),
]


@pytest.fixture
def platform():
    with FakeFlagPlatform(TOKEN) as fake:
        yield fake


@pytest.fixture
def app(make_app):
    return make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1"})


def connect(client, platform):
    return client.put(PATH, headers=AUTH, json={"api_token": TOKEN, "public_url": PUBLIC, "api_url": platform.url})


def nothing_echoed(app, *answers) -> None:
    shown = " ".join(a.get_data(as_text=True) for a in answers)
    row = get_state(app).db.connections.get("launchdarkly")
    stored = json.dumps(row.state) + json.dumps(row.config) if row else ""
    for text in (shown, stored):
        assert TOKEN not in text and TOKEN.upper() not in text and BASIC not in text


@pytest.mark.parametrize("echo", ECHOES)
def test_connect_answers_no_echoed_token(client, app, platform, echo):
    platform.queue(echo)
    answer = connect(client, platform)
    assert answer.status_code in (400, 502) and "[redacted]" in answer.get_json()["error"]
    nothing_echoed(app, answer)


@pytest.mark.parametrize("echo", ECHOES)
def test_rewire_and_its_stored_wiring_error_keep_no_echoed_token(client, app, platform, echo):
    assert connect(client, platform).status_code == 200
    platform.queue(echo)
    answer = client.post(f"{PATH}/actions/rewire", headers=AUTH)
    assert answer.status_code == 502 and "[redacted]" in answer.get_json()["error"]
    shown = client.get(PATH, headers=AUTH)
    assert "[redacted]" in shown.get_json()["webhook"]["wiring_error"]
    nothing_echoed(app, answer, shown)


@pytest.mark.parametrize("echo", ECHOES)
def test_rotate_secret_answers_no_echoed_token(client, app, platform, echo):
    assert connect(client, platform).status_code == 200
    platform.queue(echo)
    answer = client.post(f"{PATH}/rotate-secret", headers=AUTH)
    assert answer.status_code == 502 and "[redacted]" in answer.get_json()["error"]
    nothing_echoed(app, answer)
