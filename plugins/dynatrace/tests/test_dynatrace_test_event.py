"""The test event: its shape, and that it goes through the policy hook and delivery."""

from __future__ import annotations

import requests_mock
from gateway.testing import make_delivery_ref, make_integration_ref
from gateway import Event, Take, create_app

from gateway_dynatrace import plugin

INGEST_URL = "https://abc12345.live.dynatrace.com/api/v2/events/ingest"
V1_URL = "https://abc12345.live.dynatrace.com/api/v1/events"
ADMIN_TOKEN = "admin-token-for-the-dynatrace-tests-0123"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_test_event_is_a_labelled_flag_change(integration):
    event = plugin.test_event(config={}, integration=integration)
    assert event.source == "test"
    assert event.kind == "flag"
    assert event.title == (
        "[Test] Flag Event Gateway sent a sample flag change to the Dynatrace integration Checkout Dynatrace"
    )
    assert event.occurred_at.tzinfo is not None
    assert event.project_key == "event-gateway-test"
    assert event.environment_key == "production"
    assert event.flag_key == "event-gateway-test"
    assert event.custom_property_values("dynatrace") == ["event-gateway-test"]
    assert event.comment == "Test event of integration int_0123456789"


def test_default_policy_lets_the_test_event_through(integration, tmp_path):
    """Decided by the gateway's own policy engine (its glob rules, and the action too), through the
    admin API's policy evaluation."""
    app = create_app({"GATEWAY_INSTANCE_PATH": str(tmp_path), "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN, "TESTING": True,
                      "GATEWAY_PLUGINS": "dynatrace"}, entry_points=True)
    client = app.test_client()
    [listed] = [p for p in client.get("/api/v1/plugins", headers=AUTH).get_json()["items"] if p["key"] == "dynatrace"]
    policy = listed["default_policy"]
    assert policy == plugin.integration_type().default_policy
    [access] = plugin.test_event(config={}, integration=integration).accesses

    def decide(action, resource):
        response = client.post("/api/v1/policy/evaluate", headers=AUTH,
                               json={"policy": policy, "access": {"action": action, "resource": resource}})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    decision = decide(access.action, access.resource)
    assert decision["allowed"] is True and decision["statement"] == 0
    # the same change elsewhere than production is not let through: the engine, not a bare glob, decides
    assert decide(access.action, access.resource.replace("env/production", "env/staging"))["allowed"] is False


def test_every_test_event_is_new(integration):
    first, second = plugin.test_event(config={}, integration=integration), plugin.test_event(config={}, integration=integration)
    assert first.source_id != second.source_id
    assert first.source_id.startswith("test-")


def test_test_event_survives_storage(integration):
    event = plugin.test_event(config={}, integration=integration)
    assert Event.from_dict(event.to_dict()) == event


def test_policy_hook_takes_the_test_event_with_or_without_an_integration_tag(integration, config):
    event = plugin.test_event(config={}, integration=integration)
    assert plugin.check_event(event=event, config=config, integration=make_integration_ref(plugin="dynatrace")) == Take()
    assert plugin.check_event(event=event, config={**config, "tag": "release"}, integration=make_integration_ref(plugin="dynatrace")) == Take()


def test_test_event_is_delivered_to_the_test_tag_and_the_integration_tag(integration, config, http, answer):
    event = plugin.test_event(config={}, integration=integration)
    with requests_mock.Mocker() as dynatrace:
        dynatrace.post(INGEST_URL, status_code=201, text=answer("ingest-201-ok"))
        plugin.deliver_event(event=event, config={**config, "tag": "release"}, http=http, delivery=make_delivery_ref())
        body = dynatrace.last_request.json()
    assert body["title"].startswith("[Test] ")
    assert body["entitySelector"] == 'type(APPLICATION),tag("event-gateway-test","release")'
    assert body["startTime"] == event.occurred_at_ms
    assert body["properties"]["Flag key"] == "event-gateway-test"
    assert "User name" not in body["properties"]


def test_test_event_through_v1_names_its_source(integration, v1_config, http, answer):
    event = plugin.test_event(config={}, integration=integration)
    with requests_mock.Mocker() as dynatrace:
        dynatrace.post(V1_URL, status_code=200, text=answer("v1-events-200"))
        plugin.deliver_event(event=event, config=v1_config, http=http, delivery=make_delivery_ref())
        body = dynatrace.last_request.json()
    assert body["source"] == "Flag Event Gateway (test)"
    assert body["description"].startswith("[Test] ")
