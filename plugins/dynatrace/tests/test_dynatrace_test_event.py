"""The test event: its shape, and that it goes through the policy hook and delivery."""

from __future__ import annotations

import fnmatch

import requests_mock
from gateway.testing import make_delivery_ref, make_integration_ref
from gateway import Event, Take

from gateway_dynatrace import plugin

INGEST_URL = "https://abc12345.live.dynatrace.com/api/v2/events/ingest"
V1_URL = "https://abc12345.live.dynatrace.com/api/v1/events"


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


def test_default_policy_lets_the_test_event_through(integration):
    [statement] = plugin.integration_type().default_policy
    [access] = plugin.test_event(config={}, integration=integration).accesses
    assert any(fnmatch.fnmatchcase(access.resource, pattern) for pattern in statement["resources"])


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
