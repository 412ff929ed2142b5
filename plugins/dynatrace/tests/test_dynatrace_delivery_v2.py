"""Delivery through Events API v2: the request exactly, and every class of answer."""

from __future__ import annotations

import json

import pytest
import requests
import requests_mock
from gateway.testing import make_delivery_ref
from gateway import Delivered, Failed, HttpClient, RetryLater

from gateway_dynatrace import plugin

INGEST_URL = "https://abc12345.live.dynatrace.com/api/v2/events/ingest"
NO_ENTITY = "no entity of that type carries those tags, or it has sent no agent data lately"


@pytest.fixture
def dynatrace():
    with requests_mock.Mocker() as mocker:
        yield mocker


def deliver(event, config, http):
    return plugin.deliver_event(event=event, config=config, http=http, delivery=make_delivery_ref())


def test_request_url_headers_and_body(dynatrace, production_event, config, http, answer):
    dynatrace.post(INGEST_URL, status_code=201, text=answer("ingest-201-ok"))
    deliver(production_event, config, http)

    [request] = dynatrace.request_history
    assert request.method == "POST"
    assert request.url == INGEST_URL
    assert request.headers["Authorization"] == f"Api-Token {config['api_token']}"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["Accept"] == "application/json"
    assert request.json() == {
        "eventType": "CUSTOM_CONFIGURATION",
        "title": "Ada Lovelace turned on the flag New checkout flow in Production",
        "startTime": 1700917929000,
        "entitySelector": 'type(APPLICATION),tag("checkout-service","web-frontend")',
        "properties": {
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
    }


def test_201_with_every_result_ok_is_delivered_with_the_correlation_ids(
    dynatrace, production_event, config, http, answer
):
    dynatrace.post(INGEST_URL, status_code=201, text=answer("ingest-201-ok"))
    assert deliver(production_event, config, http) == Delivered(
        summary="Dynatrace attached the event to 2 entities "
        "(correlation ids 3cf4a5b6c7d8e9f0, 4df5b6c7d8e9f0a1)",
        details={"api": "v2", "reportCount": 2, "correlationIds": ["3cf4a5b6c7d8e9f0", "4df5b6c7d8e9f0a1"]},
    )


def test_one_entity_reads_as_one(dynatrace, staging_event, config, http):
    dynatrace.post(
        INGEST_URL,
        status_code=201,
        json={"reportCount": 1, "eventIngestResults": [{"correlationId": "c1", "status": "OK"}]},
    )
    result = deliver(staging_event, config, http)
    assert result.summary == "Dynatrace attached the event to 1 entity (correlation ids c1)"


def test_managed_environment_url_keeps_its_path(dynatrace, production_event, config, http, answer):
    url = "https://dynatrace.example.com/e/1a2b3c4d"
    dynatrace.post(url + "/api/v2/events/ingest", status_code=201, text=answer("ingest-201-ok"))
    assert isinstance(deliver(production_event, {**config, "url": url}, http), Delivered)


def test_integration_tag_and_entity_type_shape_the_selector(dynatrace, untagged_event, config, http, answer):
    dynatrace.post(INGEST_URL, status_code=201, text=answer("ingest-201-ok"))
    deliver(untagged_event, {**config, "tag": 'team:"checkout"', "entity_type": "SERVICE"}, http)
    assert dynatrace.last_request.json()["entitySelector"] == 'type(SERVICE),tag("team:~"checkout~"")'


def test_201_with_report_count_0_is_failed_naming_type_and_tags(
    dynatrace, production_event, config, http, answer
):
    dynatrace.post(INGEST_URL, status_code=201, text=answer("ingest-201-no-entity-matched"))
    result = deliver(production_event, config, http)
    assert result == Failed(
        f"Dynatrace attached the event to no entity (reportCount 0): {NO_ENTITY} (entity type APPLICATION, "
        'tags "checkout-service", "web-frontend"). Check the tags on the entities in Dynatrace, or the '
        "integration's entity_type"
    )


def test_201_with_a_result_other_than_ok_is_failed_with_that_status(
    dynatrace, production_event, config, http, answer
):
    dynatrace.post(INGEST_URL, status_code=201, text=answer("ingest-201-invalid-entity-type"))
    assert deliver(production_event, config, http) == Failed(
        "Dynatrace refused the event for 1 of 1 entity: INVALID_ENTITY_TYPE (Dynatrace does not take this "
        "event type on entities of this type; change entity_type or event_type) "
        "(correlation ids 5ef6c7d8e9f0a1b2)"
    )


def test_201_with_some_results_refused_is_failed(dynatrace, production_event, config, http):
    dynatrace.post(
        INGEST_URL,
        status_code=201,
        json={
            "reportCount": 3,
            "eventIngestResults": [
                {"correlationId": "c1", "status": "OK"},
                {"correlationId": "c2", "status": "INVALID_TIMESTAMPS"},
                {"correlationId": "c3", "status": "SOMETHING_NEW"},
            ],
        },
    )
    result = deliver(production_event, config, http)
    assert isinstance(result, Failed)
    assert result.reason.startswith("Dynatrace refused the event for 2 of 3 entities: INVALID_TIMESTAMPS (")
    assert "; SOMETHING_NEW (correlation ids c2, c3)" in result.reason


@pytest.mark.parametrize("body", ["<html>Sign in</html>", "[]", '{"reportCount": "2"}'])
def test_2xx_without_an_ingest_result_is_failed(dynatrace, production_event, config, http, body):
    dynatrace.post(INGEST_URL, status_code=201, text=body)
    result = deliver(production_event, config, http)
    assert isinstance(result, Failed)
    assert result.reason.startswith(
        "Dynatrace answered 201 without an ingest result (reportCount, eventIngestResults)"
    )
    assert result.reason.endswith("check that the integration's url is the environment's base URL")


def test_400_is_failed_with_the_constraint_messages(dynatrace, production_event, config, http, answer):
    dynatrace.post(INGEST_URL, status_code=400, text=answer("ingest-400-constraints-violated"))
    assert deliver(production_event, config, http) == Failed(
        "Dynatrace refused the event (400): Constraints violated.; "
        "entitySelector: The entity selector could not be parsed."
    )


def test_400_without_a_json_error_shows_the_body(dynatrace, production_event, config, http):
    dynatrace.post(INGEST_URL, status_code=400, text="bad   request\n")
    assert deliver(production_event, config, http) == Failed("Dynatrace refused the event (400): bad request")


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_failed_naming_the_scope(dynatrace, production_event, config, http, answer, status):
    dynatrace.post(INGEST_URL, status_code=status, text=answer("ingest-401-token"))
    assert deliver(production_event, config, http) == Failed(
        f"Dynatrace refused the token ({status}): token invalid or missing the events.ingest scope "
        "(Dynatrace said: Missing authorization parameter.)"
    )


def test_404_is_failed_as_not_an_environment_url(dynatrace, production_event, config, http):
    dynatrace.post(INGEST_URL, status_code=404, text="")
    assert deliver(production_event, config, http) == Failed(
        "Dynatrace answered 404: not a Dynatrace environment URL; check the integration's url "
        "(https://<env-id>.live.dynatrace.com or https://<host>/e/<env-id>)"
    )


def test_429_is_retried_after_the_requested_delay(dynatrace, production_event, config, http):
    dynatrace.post(
        INGEST_URL,
        status_code=429,
        headers={"Retry-After": "30"},
        json={"error": {"code": 429, "message": "Too Many Requests"}},
    )
    assert deliver(production_event, config, http) == RetryLater(
        "Dynatrace is throttling requests (429) (Dynatrace said: Too Many Requests); will retry", after=30.0
    )


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried(dynatrace, production_event, config, http, status):
    dynatrace.post(INGEST_URL, status_code=status, text="<html>upstream unavailable</html>")
    assert deliver(production_event, config, http) == RetryLater(
        f"Dynatrace had a server error ({status}) "
        "(Dynatrace said: <html>upstream unavailable</html>); will retry",
        after=None,
    )


@pytest.mark.parametrize("error", [requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout])
def test_timeouts_are_retried(dynatrace, production_event, config, http, error):
    dynatrace.post(INGEST_URL, exc=error)
    result = deliver(production_event, config, http)
    assert isinstance(result, RetryLater)
    assert result.reason.startswith(f"no answer from Dynatrace: POST {INGEST_URL} timed out")


def test_refused_connection_is_retried(dynatrace, production_event, config, http):
    dynatrace.post(INGEST_URL, exc=requests.exceptions.ConnectionError("Connection refused"))
    result = deliver(production_event, config, http)
    assert isinstance(result, RetryLater)
    assert "Connection refused" in result.reason


def test_redirect_is_failed_not_followed(dynatrace, production_event, config, http):
    dynatrace.post(INGEST_URL, status_code=302, headers={"Location": "https://sso.example.com/login"})
    assert deliver(production_event, config, http) == Failed(
        "the url answered with a redirect (302 to https://sso.example.com/login); the gateway does not "
        "follow redirects: set the integration's url to the environment's own address"
    )
    assert len(dynatrace.request_history) == 1


def test_413_is_failed(dynatrace, production_event, config, http):
    dynatrace.post(INGEST_URL, status_code=413, json={"error": {"code": 413, "message": "Payload too large"}})
    assert deliver(production_event, config, http) == Failed(
        "Dynatrace refused the event as too large (413) (Dynatrace said: Payload too large)"
    )


def test_other_4xx_is_failed_with_the_status(dynatrace, production_event, config, http):
    dynatrace.post(
        INGEST_URL, status_code=405, json={"error": {"code": 405, "message": "Method Not Allowed"}}
    )
    assert deliver(production_event, config, http) == Failed(
        "Dynatrace answered 405 (Dynatrace said: Method Not Allowed)"
    )


def test_the_token_is_kept_out_of_reasons_and_the_attempt_log(dynatrace, production_event, config):
    token = config["api_token"]
    http = HttpClient(requests.Session(), allow_private=True)
    dynatrace.post(
        INGEST_URL,
        status_code=401,
        text=json.dumps({"error": {"code": 401, "message": f"Token {token} unknown"}}),
    )
    result = deliver(production_event, config, http)
    assert result.reason.endswith("(Dynatrace said: Token [redacted] unknown)")
    [exchange] = http.exchanges
    assert token not in exchange.excerpt
    assert "[redacted]" in exchange.excerpt


def test_an_event_without_tags_is_failed_without_a_request(dynatrace, untagged_event, config, http):
    result = deliver(untagged_event, config, http)
    assert isinstance(result, Failed)
    assert result.reason.startswith("no Dynatrace tag:")
    assert dynatrace.request_history == []


def test_a_forbidden_target_is_failed(dynatrace, production_event, config, monkeypatch):
    monkeypatch.delenv("GATEWAY_ALLOW_PRIVATE_TARGETS", raising=False)
    http = HttpClient(requests.Session(), allow_private=False)
    result = deliver(production_event, {**config, "url": "http://127.0.0.1:8765"}, http)
    assert isinstance(result, Failed)
    assert result.reason.startswith("the gateway may not send to the integration's url: ")
    assert "plain http://" in result.reason
    assert dynatrace.request_history == []
