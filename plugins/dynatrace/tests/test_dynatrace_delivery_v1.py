"""Delivery through the deprecated Events API v1: the request exactly, and every class of answer."""

from __future__ import annotations

import pytest
import requests
import requests_mock
from gateway.testing import make_delivery_ref
from gateway import Delivered, Failed, RetryLater

from gateway_dynatrace import plugin

V1_URL = "https://abc12345.live.dynatrace.com/api/v1/events"
NO_ENTITY = "no entity of that type carries those tags, or it has sent no agent data lately"


@pytest.fixture
def dynatrace():
    with requests_mock.Mocker() as mocker:
        yield mocker


def deliver(event, config, http):
    return plugin.deliver_event(event=event, config=config, http=http, delivery=make_delivery_ref())


def test_request_url_headers_and_body(dynatrace, production_event, v1_config, http, answer):
    dynatrace.post(V1_URL, status_code=200, text=answer("v1-events-200"))
    deliver(production_event, {**v1_config, "tag": "[Environment]env:prod"}, http)

    [request] = dynatrace.request_history
    assert request.method == "POST"
    assert request.url == V1_URL
    assert request.headers["Authorization"] == f"Api-Token {v1_config['api_token']}"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.json() == {
        "eventType": "CUSTOM_CONFIGURATION",
        "attachRules": {
            "tagRule": [
                {
                    "meTypes": ["APPLICATION"],
                    "tags": [
                        {"context": "CONTEXTLESS", "key": "checkout-service"},
                        {"context": "CONTEXTLESS", "key": "web-frontend"},
                        {"context": "ENVIRONMENT", "key": "env", "value": "prod"},
                    ],
                }
            ]
        },
        "source": "LaunchDarkly",
        "description": "Ada Lovelace turned on the flag New checkout flow in Production",
        "configuration": 'Feature flag "New checkout flow"',
        "customProperties": {
            "Flag name": "New checkout flow",
            "Flag key": "new-checkout-flow",
            "Project key": "checkout",
            "Environment key": "production",
            "Comment": "Rolling out to everyone after the canary",
            "User name": "Ada Lovelace",
            "User email": "ada@example.com",
            "Action": "updateOn",
            "Flag link": "https://app.launchdarkly.com/checkout/production/features/new-checkout-flow",
            "Change description": "- Turned on the flag",
        },
        "start": 1700917929000,
    }


def test_200_is_delivered_keeping_the_stored_ids(dynatrace, staging_event, v1_config, http, answer):
    dynatrace.post(V1_URL, status_code=200, text=answer("v1-events-200"))
    assert deliver(staging_event, v1_config, http) == Delivered(
        summary="Dynatrace stored event 8663164135574257870 (correlation ids a1b2c3d4e5f60718)",
        details={
            "api": "v1",
            "storedEventIds": ["8663164135574257870"],
            "storedIds": ["8663164135574257870_1700917929000"],
            "storedCorrelationIds": ["a1b2c3d4e5f60718"],
        },
    )


def test_200_without_stored_ids_is_failed(dynatrace, staging_event, v1_config, http):
    dynatrace.post(
        V1_URL, status_code=200, json={"storedEventIds": [], "storedIds": [], "storedCorrelationIds": []}
    )
    result = deliver(staging_event, v1_config, http)
    assert result == Failed(
        f'Dynatrace stored no event: {NO_ENTITY} (entity type APPLICATION, tags "checkout-service"). Check '
        "the tags on the entities in Dynatrace, or the integration's entity_type"
    )


def test_200_that_is_not_json_is_failed(dynatrace, staging_event, v1_config, http):
    dynatrace.post(V1_URL, status_code=200, text="<html>Dynatrace</html>")
    result = deliver(staging_event, v1_config, http)
    assert isinstance(result, Failed)
    assert result.reason.startswith("Dynatrace answered 200 without stored event ids (storedEventIds)")


def test_400_no_entity_ids_match_is_failed_with_that_message(
    dynatrace, staging_event, v1_config, http, answer
):
    dynatrace.post(V1_URL, status_code=400, text=answer("v1-events-400-no-entity"))
    result = deliver(staging_event, v1_config, http)
    assert isinstance(result, Failed)
    assert result.reason.startswith(
        f'Dynatrace matched no entity (400): {NO_ENTITY} (entity type APPLICATION, tags "checkout-service").'
    )
    assert result.reason.endswith(
        "Dynatrace said: Invalid attachRules object provided. No entity IDs match: Matching rule: "
        "PushEventAttachRules{entityIds=null, tagRules=[TagMatchRule{meTypes=[APPLICATION], "
        "tags=[[CONTEXTLESS]checkout-service]}]}"
    )


def test_other_400_is_failed_with_the_message(dynatrace, staging_event, v1_config, http):
    dynatrace.post(V1_URL, status_code=400, json={"error": {"code": 400, "message": "Invalid start time"}})
    assert deliver(staging_event, v1_config, http) == Failed(
        "Dynatrace refused the event (400): Invalid start time"
    )


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_name_the_v1_scope(dynatrace, staging_event, v1_config, http, status):
    dynatrace.post(
        V1_URL,
        status_code=status,
        json={"error": {"code": status, "message": "Token is missing required scope"}},
    )
    assert deliver(staging_event, v1_config, http) == Failed(
        f"Dynatrace refused the token ({status}): token invalid or missing the 'Access problem and event "
        "feed, "
        "metrics, and topology' (DataExport) scope (Dynatrace said: Token is missing required scope)"
    )


def test_404_is_failed_as_not_an_environment_url(dynatrace, staging_event, v1_config, http):
    dynatrace.post(V1_URL, status_code=404)
    result = deliver(staging_event, v1_config, http)
    assert isinstance(result, Failed)
    assert result.reason.startswith("Dynatrace answered 404: not a Dynatrace environment URL")


def test_429_and_5xx_are_retried(dynatrace, staging_event, v1_config, http):
    dynatrace.post(V1_URL, [{"status_code": 429, "headers": {"Retry-After": "120"}}, {"status_code": 503}])
    assert deliver(staging_event, v1_config, http) == RetryLater(
        "Dynatrace is throttling requests (429); will retry", after=120.0
    )
    assert deliver(staging_event, v1_config, http) == RetryLater(
        "Dynatrace had a server error (503); will retry", after=None
    )


def test_timeout_is_retried(dynatrace, staging_event, v1_config, http):
    dynatrace.post(V1_URL, exc=requests.exceptions.ReadTimeout)
    assert isinstance(deliver(staging_event, v1_config, http), RetryLater)


def test_v1_has_no_selector_budget(dynatrace, with_tags, v1_config, http, answer):
    dynatrace.post(V1_URL, status_code=200, text=answer("v1-events-200"))
    event = with_tags(*(f"tag-{n:03d}-" + "x" * 40 for n in range(60)))
    assert isinstance(deliver(event, v1_config, http), Delivered)
    assert len(dynatrace.last_request.json()["attachRules"]["tagRule"][0]["tags"]) == 60
