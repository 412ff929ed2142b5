"""The example plugin, installed and used through the real gateway over HTTP."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest

from gateway import create_app, hmac_sha256_hex
from gateway.testing import FakeService, GatewayProcess, Reply, wait_until

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick

FIXTURES = Path(__file__).resolve().parent / "data"  # inside the package: its tests run from a copy of it too


def test_plugin_is_installed(tmp_path):
    names = {ep.name: ep.value for ep in metadata.entry_points(group="event_gateway")}
    assert names.get("webhook") == "gateway_webhook.plugin"
    app = create_app({"GATEWAY_INSTANCE_PATH": str(tmp_path), "GATEWAY_ADMIN_TOKEN": "token-for-this-test",
                      "GATEWAY_PLUGINS": "webhook"})
    listed = app.test_client().get("/api/v1/plugins", headers={"Authorization": "Bearer token-for-this-test"}).get_json()
    webhook = next(item for item in listed["items"] if item["key"] == "webhook")
    assert webhook["entry_point"] == "webhook" and webhook["name"] == "Generic webhook"
    assert webhook["distribution"] == "event-gateway-webhook"
    assert webhook["config_schema"]["properties"]["secret"]["writeOnly"] is True
    assert listed["refused"] == []


@pytest.fixture
def target():
    with FakeService(Reply(200, {"ok": True})) as service:
        yield service


@pytest.fixture
def gateway(tmp_path):
    env = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "webhook", "GATEWAY_WORKERS": "2"}
    with GatewayProcess(str(tmp_path), env=env) as process:
        yield process


def test_event_is_posted_signed(gateway, target):
    created = gateway.admin("POST", "/api/v1/integrations", json={
        "plugin": "webhook", "name": "receiver", "config": {"url": target.url + "/hook", "secret": "s3cret-value-1234"},
    })
    assert created.status_code == 201, created.text
    assert created.json()["config"]["secret"] == "****1234"
    body = (FIXTURES / "flag-turned-on-production.json").read_bytes()
    answer = gateway.post_webhook(body)
    assert answer.status_code == 202 and answer.json()["queued"] == 1

    [request] = target.wait_for(1, "/hook")
    sent = request.json()
    assert sent["flag_key"] == "new-checkout-flow" and sent["environment_key"] == "production"
    assert request.header("X-Gateway-Signature") == hmac_sha256_hex("s3cret-value-1234", request.body)

    event_id = answer.json()["event_id"]
    shown = wait_until(lambda: (r := gateway.admin("GET", f"/api/v1/events/{event_id}").json())
                       and r["decisions"][0]["status"] == "delivered" and r)
    assert shown["decisions"][0]["attempt_log"][0]["outcome"] == "delivered"
    assert "s3cret-value-1234" not in json.dumps(shown) + gateway.log()
