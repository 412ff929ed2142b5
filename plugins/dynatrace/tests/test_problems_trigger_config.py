"""Trigger URLs in a stored config: never shown when the config can no longer be used, and their host
names resolved at send time only (as every other target), never when the config loads."""

from __future__ import annotations

import logging
import socket

import pytest
from gateway import create_app

from problem_helpers import SECRET, notification

ADMIN_TOKEN = "admin-token-for-the-problems-tests-0123"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TRIGGER_SECRET = "aa0f5e1c-9a7b-4d1e-8f3c-2b6d0e9a1c7f"
RULE = {"name": "checkout errors", "project_key": "shop", "environment_key": "production",
        "flag_key": "new-checkout-flow", "trigger": "off"}


def app(tmp_path, allow_private):
    return create_app({"GATEWAY_INSTANCE_PATH": str(tmp_path), "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN, "TESTING": True,
                       "GATEWAY_PLUGINS": "dynatrace-problems",
                       "GATEWAY_ALLOW_PRIVATE_TARGETS": "1" if allow_private else "0"}, entry_points=True)


def add(client, trigger_url):
    response = client.post("/api/v1/integrations", headers=AUTH, json={
        "plugin": "dynatrace-problems", "name": "Checkout kill switch",
        "config": {"shared_secret": SECRET, "rules": [RULE], "trigger_urls": f"off={trigger_url}"}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def post(client, integration_id, secret=SECRET):
    return client.post(f"/webhooks/integrations/{integration_id}", json=notification(),
                       headers={"X-Flag-Gateway-Secret": secret})


def test_a_stored_trigger_url_that_became_invalid_is_not_logged_nor_answered(tmp_path, caplog):
    integration_id = add(app(tmp_path, allow_private=True).test_client(),
                         f"http://127.0.0.1:9/webhook/triggers/65a1b2c3/{TRIGGER_SECRET}")
    client = app(tmp_path, allow_private=False).test_client()  # restarted without private targets
    with caplog.at_level(logging.DEBUG):
        refused = post(client, integration_id, secret="not-the-secret-not-the-secret")
    assert refused.status_code == 503
    assert "trigger 'off'" in caplog.text and "plain http://" in caplog.text
    assert TRIGGER_SECRET not in caplog.text and TRIGGER_SECRET not in refused.get_data(as_text=True)
    status = client.get(f"/api/v1/integrations/{integration_id}/status?refresh=1", headers=AUTH)
    assert status.status_code == 409
    assert "trigger 'off'" in status.get_data(as_text=True)
    assert TRIGGER_SECRET not in status.get_data(as_text=True)


@pytest.fixture
def dns(monkeypatch):
    """``trigger.example.com`` resolves to what ``answers["trigger.example.com"]`` says."""
    answers = {"trigger.example.com": "93.184.216.34"}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port or 443))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_a_trigger_host_name_is_not_resolved_when_the_config_loads(tmp_path, dns):
    integration_id = add(app(tmp_path, allow_private=False).test_client(),
                         f"https://trigger.example.com/webhook/triggers/65a1b2c3/{TRIGGER_SECRET}")
    dns["trigger.example.com"] = "10.1.2.3"  # private, for the moment the config loads again
    client = app(tmp_path, allow_private=False).test_client()
    answer = post(client, integration_id)
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json()["events"][0]["queued"] == 1


def test_a_trigger_host_that_resolves_to_a_private_address_is_refused_when_saved(tmp_path, dns):
    dns["trigger.example.com"] = "10.1.2.3"
    response = app(tmp_path, allow_private=False).test_client().post("/api/v1/integrations", headers=AUTH, json={
        "plugin": "dynatrace-problems", "name": "Checkout kill switch",
        "config": {"shared_secret": SECRET, "rules": [RULE],
                   "trigger_urls": f"off=https://trigger.example.com/webhook/triggers/65a1b2c3/{TRIGGER_SECRET}"}})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "trigger 'off'" in text and "10.1.2.3" in text and TRIGGER_SECRET not in text
