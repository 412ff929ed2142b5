"""The real gateway (a subprocess, over HTTP) with this plugin installed, and a fake LaunchDarkly
events API on loopback."""

from __future__ import annotations

import uuid

import gateway
import pytest
from gateway.testing import FakeService, GatewayProcess, Reply, wait_until

from sentry_helpers import ACCESS_TOKEN, CLIENT_SECRET, fixture_bytes

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick

MAPPING = {"sentry_project": "4504123456789012", "sentry_environment": "production",
           "ld_project": "checkout", "ld_environment": "production"}
IMPORT_PATH = "/v2/event-data-import/checkout/production"


@pytest.fixture
def events_api():
    with FakeService(Reply(202, None)) as service:
        yield service


@pytest.fixture
def gateway_process(tmp_path):
    env = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "sentry", "GATEWAY_WORKERS": "2",
           "GATEWAY_RETRY_SCHEDULE": "0,0.2,0.2,0.2"}
    with GatewayProcess(str(tmp_path), env=env) as process:
        yield process


@pytest.fixture
def integration(gateway_process, events_api):
    response = gateway_process.admin("POST", "/api/v1/integrations", json={
        "plugin": "sentry", "name": "Sentry checkout",
        "config": {"client_secret": CLIENT_SECRET, "access_token": ACCESS_TOKEN,
                   "environment_mappings": [MAPPING], "events_url": events_api.url, "api_url": events_api.url}})
    assert response.status_code == 201, response.text
    return response.json()


def send(gateway_process, integration, name, resource="error"):
    body = fixture_bytes(name)
    return gateway_process.post_webhook(body, path=f"/webhooks/integrations/{integration['id']}", headers={
        "Sentry-Hook-Resource": resource, "Request-ID": str(uuid.uuid4()),
        "Sentry-Hook-Signature": gateway.hmac_sha256_hex(CLIENT_SECRET, body)})


def decision(gateway_process, event_id, status):
    def read():
        detail = gateway_process.admin("GET", f"/api/v1/events/{event_id}").json()
        return detail["decisions"] and detail["decisions"][0]["status"] == status and detail["decisions"][0]
    return wait_until(read, 15, message=f"decision {status}")


def test_an_error_with_the_context_arrives_as_a_metric_event(gateway_process, integration, events_api):
    answer = send(gateway_process, integration, "error-created-with-ld-context.json")
    assert answer.status_code == 202, answer.text
    [result] = answer.json()["events"]
    assert result["queued"] == 1

    [request] = events_api.wait_for(1, IMPORT_PATH)
    assert request.method == "POST"
    assert request.header("Authorization") == ACCESS_TOKEN
    assert request.header("Content-Type") == "application/json"
    assert request.header("X-LaunchDarkly-Event-Schema") == "4"
    assert request.header("User-Agent").startswith("MetricImport-event-gateway-int/")
    uuid.UUID(request.header("X-LaunchDarkly-Payload-ID"))
    [metric_event] = request.json()
    assert metric_event["kind"] == "custom"
    assert metric_event["key"] == "sentry-errors"
    assert metric_event["contextKeys"] == {"user": "user-8271"}
    assert metric_event["creationDate"] == 1700917929123
    assert metric_event["data"]["sentryEventId"] == "a9f6b1c2d3e44f5a8b7c6d5e4f3a2b1c"
    delivered = decision(gateway_process, result["event_id"], "delivered")
    assert delivered["attempt_log"][0]["http"][0]["status"] == 202
    assert ACCESS_TOKEN not in gateway_process.admin("GET", f"/api/v1/events/{result['event_id']}").text

    again = send(gateway_process, integration, "error-created-with-ld-context.json")
    assert again.status_code == 200 and again.json()["events"][0]["duplicate"] is True


def test_an_error_without_the_context_is_skipped_with_its_reason(gateway_process, integration, events_api):
    answer = send(gateway_process, integration, "error-created-without-ld-context.json")
    assert answer.status_code == 202
    [result] = answer.json()["events"]
    assert result["skipped"] == 1
    skipped = decision(gateway_process, result["event_id"], "skipped")
    assert "no launchdarklyContext" in skipped["reason"]
    assert events_api.received(IMPORT_PATH) == []


def test_a_retried_delivery_carries_the_same_payload_id(gateway_process, integration, events_api):
    imports = []

    def reply(request):  # the first import is refused; the background checks' reads are answered as usual
        if request.path.split("?")[0] != IMPORT_PATH:
            return Reply(202, None)
        imports.append(request)
        return Reply(503, {"message": "unavailable"}) if len(imports) == 1 else Reply(202, None)

    events_api.reply = reply
    answer = send(gateway_process, integration, "error-created-with-ld-context.json")
    [result] = answer.json()["events"]
    first, second = events_api.wait_for(2, IMPORT_PATH)
    assert first.header("X-LaunchDarkly-Payload-ID") == second.header("X-LaunchDarkly-Payload-ID")
    assert first.body == second.body
    delivered = decision(gateway_process, result["event_id"], "delivered")
    assert [a["outcome"] for a in delivered["attempt_log"]] == ["retry", "delivered"]


def test_a_bad_signature_is_refused_and_nothing_stored(gateway_process, integration):
    body = fixture_bytes("error-created-with-ld-context.json")
    answer = gateway_process.post_webhook(body, path=f"/webhooks/integrations/{integration['id']}", headers={
        "Sentry-Hook-Resource": "error", "Sentry-Hook-Signature": "0" * 64})
    assert answer.status_code == 401
    assert gateway_process.admin("GET", "/api/v1/events").json()["items"] == []
