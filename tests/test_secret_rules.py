"""Secrets given to the gateway: a value that looks like the API's mask (``****``, ``****abcd``) is
refused, not stored (an integration cloned from a GET answer would get a guessable secret), and a
``Secret(min_length=...)`` refuses weak values — too short, blank, or of one character class — with
the reason. Values stored before these rules still load."""

from __future__ import annotations

import pytest
from marshmallow import Schema, ValidationError

from gateway import Secret
from gateway.settings import SettingError, Settings, apply_defaults
from gateway.host.state import get_state

from .conftest import AUTH

MASKS = ["****", "****abcd", "****oken", "********", " ****abcd "]


def create(client, token):
    return client.post("/api/v1/integrations", headers=AUTH,
                       json={"plugin": "recorder", "name": "r", "config": {"token": token}})


@pytest.mark.parametrize("value", MASKS)
def test_a_mask_is_refused_on_create(client, value):
    answer = create(client, value)
    assert answer.status_code == 400, answer.get_json()
    [message] = answer.get_json()["errors"]["config.token"]
    assert "mask" in message and "the secret itself" in message


def test_on_update_the_mask_of_the_stored_secret_keeps_it_and_another_mask_is_refused(client, app):
    created = create(client, "the-real-token-0123456789")
    assert created.status_code == 201
    path = f"/api/v1/integrations/{created.get_json()['id']}"
    kept = client.patch(path, headers=AUTH, json={"config": {"token": "****6789"}})
    assert kept.status_code == 200
    active = get_state(app).integrations.active(get_state(app).db.integrations.get(created.get_json()["id"]))
    assert active.config["token"] == "the-real-token-0123456789"
    other = client.patch(path, headers=AUTH, json={"config": {"token": "****abcd"}})
    assert other.status_code == 400 and "mask" in other.get_json()["errors"]["config.token"][0]


def test_a_mask_is_refused_as_the_flag_platform_token(client):
    answer = client.put("/api/v1/connections/launchdarkly", headers=AUTH, json={
        "api_token": "****abcd", "public_url": "https://gw.example.com", "wire": False})
    assert answer.status_code == 400 and "mask" in answer.get_json()["errors"]["api_token"][0]


def test_a_mask_like_secret_stored_before_still_loads(client, app):
    state = get_state(app)
    row = state.db.integrations.create(plugin="recorder", name="old", enabled=True, config={},
                                       secrets=state.box.seal({"token": "****"}), policy=[])
    assert state.integrations.active(row).error is None


class Inbound(Schema):
    secret = Secret(required=True, min_length=16)


@pytest.mark.parametrize("value, reason", [
    (" ", "at least 16 characters"),
    ("abc", "at least 16 characters"),
    (" " * 16, "blank"),
    ("\t \n" * 8, "blank"),
    ("a" * 32, "one kind of character"),
    ("abcdefghijklmnopqrstuvwxyz", "one kind of character"),
    ("0123456789012345678", "one kind of character"),
    ("               a", "one kind of character"),
    ("****abcd" + "x" * 12, None),  # longer than a mask: not one
])
def test_weak_secrets_are_refused_with_the_reason(value, reason):
    if reason is None:
        assert Inbound().load({"secret": value})["secret"] == value
        return
    with pytest.raises(ValidationError) as refused:
        Inbound().load({"secret": value})
    [message] = refused.value.messages["secret"]
    assert reason in message


@pytest.mark.parametrize("value", [
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",  # a Sentry client secret: 64 hex
    "dt-problems-shared-secret-0123456789",
    "Tr0ub4dor&3-long-enough",
    "correct horse battery staple 42",
])
def test_real_looking_secrets_pass(value):
    assert Inbound().load({"secret": value})["secret"] == value


@pytest.mark.parametrize("token, reason", [
    ("x", "at least 16 characters"),
    ("x" * 24, "one kind of character"),
    (" " * 20, "blank"),
])
def test_a_weak_admin_token_is_refused_with_the_reason(tmp_path, token, reason):
    config = {"GATEWAY_ADMIN_TOKEN": token}
    apply_defaults(config)
    with pytest.raises(SettingError) as refused:
        Settings.from_config(config, str(tmp_path))
    assert "GATEWAY_ADMIN_TOKEN" in str(refused.value) and reason in str(refused.value)
    assert token.strip() == "" or token not in str(refused.value)  # the token itself is not echoed


def test_a_weak_admin_token_stops_the_app_from_starting(make_app):
    with pytest.raises(SettingError, match="GATEWAY_ADMIN_TOKEN"):
        make_app({"GATEWAY_ADMIN_TOKEN": "abc"})
