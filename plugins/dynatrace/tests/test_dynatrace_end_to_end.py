"""The real gateway (a subprocess, over HTTP) with this plugin installed, and fake Dynatrace
environments on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gateway.testing import FakeService, GatewayProcess, Reply, wait_until

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
TOKEN = "dt0c01.E2ETOKENID.E2ESECRETPARTE2ESECRETPARTE2ESECRETPARTE2ESECRET"

INGEST = "/api/v2/events/ingest"
V1_EVENTS = "/api/v1/events"
OK = json.loads((FIXTURES / "dynatrace" / "ingest-201-ok.json").read_text())
V1_OK = json.loads((FIXTURES / "dynatrace" / "v1-events-200.json").read_text())


def webhook(name: str) -> bytes:
    return (FIXTURES / "launchdarkly" / f"{name}.json").read_bytes()


@pytest.fixture
def dynatrace():
    with FakeService(lambda request: Reply(200, V1_OK) if request.path == V1_EVENTS else Reply(201, OK)) as service:
        yield service


@pytest.fixture
def gateway_process(tmp_path):
    env = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "dynatrace", "GATEWAY_WORKERS": "2",
           "GATEWAY_RETRY_SCHEDULE": "0,0.2,0.2"}
    with GatewayProcess(str(tmp_path), env=env) as process:
        yield process


def add(gateway_process, url, name="Dynatrace", policy=None, **config):
    body = {"plugin": "dynatrace", "name": name, "config": {"url": url, "api_token": TOKEN, **config}}
    if policy is not None:
        body["policy"] = policy
    response = gateway_process.admin("POST", "/api/v1/integrations", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def post(gateway_process, name):
    response = gateway_process.post_webhook(webhook(name))
    assert response.status_code == 202, response.text
    return response.json()


def decisions(gateway_process, event_id):
    return gateway_process.admin("GET", f"/api/v1/events/{event_id}").json()["decisions"]


def wait_status(gateway_process, event_id, status):
    return wait_until(lambda: all(d["status"] == status for d in decisions(gateway_process, event_id))
                      and decisions(gateway_process, event_id), 15, message=f"deliveries {status}")


def test_production_change_arrives_with_the_right_body_and_headers(gateway_process, dynatrace):
    add(gateway_process, dynatrace.url)
    answer = post(gateway_process, "flag-turned-on-production")
    assert answer["queued"] == 1
    [request] = dynatrace.wait_for(1, INGEST)
    assert request.method == "POST"
    assert request.header("Authorization") == f"Api-Token {TOKEN}"
    assert request.header("Content-Type").startswith("application/json")
    body = request.json()
    assert body["eventType"] == "CUSTOM_CONFIGURATION"
    assert body["title"] == "Ada Lovelace turned on the flag New checkout flow in Production"
    assert body["startTime"] == 1700917929000
    assert body["entitySelector"] == 'type(APPLICATION),tag("checkout-service","web-frontend")'
    properties = body["properties"]
    assert properties["Flag key"] == "new-checkout-flow"
    assert properties["Flag name"] == "New checkout flow"
    assert properties["Project key"] == "checkout"
    assert properties["Environment key"] == "production"
    assert properties["User email"] == "ada@example.com"
    assert properties["Action"] == "updateOn"
    assert properties["Comment"] == "Rolling out to everyone after the canary"
    assert all(isinstance(value, str) for value in properties.values())
    [delivered] = wait_status(gateway_process, answer["event_id"], "delivered")
    assert "3cf4a5b6c7d8e9f0" in json.dumps(delivered)
    assert TOKEN not in json.dumps(delivered)


def test_staging_change_is_skipped_by_the_default_policy(gateway_process, dynatrace):
    add(gateway_process, dynatrace.url)
    answer = post(gateway_process, "flag-rules-updated-staging")
    assert answer == {"event_id": answer["event_id"], "queued": 0, "skipped": 1}
    [skipped] = decisions(gateway_process, answer["event_id"])
    assert skipped["status"] == "skipped"
    assert "updateRules on proj/checkout:env/staging:flag/new-checkout-flow" in skipped["reason"]
    assert dynatrace.received(INGEST) == [] and dynatrace.received(V1_EVENTS) == []


def test_flag_without_tags_is_skipped_then_sent_once_the_integration_has_a_tag(gateway_process, dynatrace):
    integration = add(gateway_process, dynatrace.url)
    answer = post(gateway_process, "flag-without-custom-properties")
    [skipped] = decisions(gateway_process, answer["event_id"])
    assert skipped["status"] == "skipped"
    assert "tag" in skipped["reason"] and "Dynatrace tags" in skipped["reason"]

    changed = gateway_process.admin("PATCH", f"/api/v1/integrations/{integration['id']}",
                                    json={"config": {"tag": "checkout-team"}})
    assert changed.status_code == 200 and changed.json()["config"]["api_token"].startswith("****")
    replay = gateway_process.admin("POST", f"/api/v1/integrations/{integration['id']}/replay",
                                   json={"event_ids": [answer["event_id"]]})
    assert replay.status_code == 200, replay.text
    [request] = dynatrace.wait_for(1, INGEST)
    assert request.json()["entitySelector"] == 'type(APPLICATION),tag("checkout-team")'
    wait_status(gateway_process, answer["event_id"], "delivered")


def test_events_api_v1(gateway_process, dynatrace):
    add(gateway_process, dynatrace.url, api_version="v1", entity_type="SERVICE")
    answer = post(gateway_process, "flag-turned-on-production")
    [request] = dynatrace.wait_for(1, V1_EVENTS)
    body = request.json()
    assert request.header("Authorization") == f"Api-Token {TOKEN}"
    assert body["eventType"] == "CUSTOM_CONFIGURATION"
    assert body["attachRules"]["tagRule"] == [{"meTypes": ["SERVICE"], "tags": [
        {"context": "CONTEXTLESS", "key": "checkout-service"}, {"context": "CONTEXTLESS", "key": "web-frontend"}]}]
    assert body["start"] == 1700917929000
    wait_status(gateway_process, answer["event_id"], "delivered")
    assert post(gateway_process, "flag-rules-updated-staging")["skipped"] == 1
    assert dynatrace.received(INGEST) == []


def test_several_integrations_receive_only_their_own_events(gateway_process):
    with FakeService(Reply(201, OK)) as production, FakeService(Reply(201, OK)) as staging:
        add(gateway_process, production.url, name="production")
        add(gateway_process, staging.url, name="staging",
            policy=[{"effect": "allow", "resources": ["proj/checkout:env/staging:flag/*"], "actions": ["update*"]}])
        prod_event = post(gateway_process, "flag-turned-on-production")
        staging_event = post(gateway_process, "flag-rules-updated-staging")
        assert prod_event["queued"] == 1 and prod_event["skipped"] == 1
        assert staging_event["queued"] == 1 and staging_event["skipped"] == 1
        [to_production] = production.wait_for(1, INGEST)
        [to_staging] = staging.wait_for(1, INGEST)
        assert "in Production" in to_production.json()["title"]
        assert "in Staging" in to_staging.json()["title"]
        wait_status_any = lambda event_id: wait_until(  # noqa: E731
            lambda: {d["status"] for d in decisions(gateway_process, event_id)} == {"delivered", "skipped"}, 15)
        wait_status_any(prod_event["event_id"])
        wait_status_any(staging_event["event_id"])
        assert len(production.received(INGEST)) == 1 and len(staging.received(INGEST)) == 1


def test_dynatrace_failure_is_recorded_with_its_reason(gateway_process):
    with FakeService(Reply(201, {"reportCount": 0, "eventIngestResults": []})) as empty:
        add(gateway_process, empty.url)
        answer = post(gateway_process, "flag-turned-on-production")
        [dead] = wait_status(gateway_process, answer["event_id"], "dead")
        assert "no entity of that type carries those tags" in dead["reason"]
        assert len(empty.received(INGEST)) == 1
