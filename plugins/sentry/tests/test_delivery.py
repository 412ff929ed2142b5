"""Delivery through the metric import API (mocked with requests-mock)."""

from __future__ import annotations

import re
import uuid

import gateway
import pytest
import requests

import gateway_sentry
from gateway_sentry import plugin
from sentry_helpers import (
    ACCESS_TOKEN,
    API_URL,
    EVENTS_URL,
    INTEGRATION,
    compact,
    fixture_json,
    make_config,
    signed_request,
    stored,
)

IMPORT_URL = f"{EVENTS_URL}/v2/event-data-import/shop/production"


def received_event(
    name: str = "error-created-with-ld-context.json", resource: str = "error", **changes
) -> gateway.Event:
    body = fixture_json(name)
    body["data"]["error" if resource == "error" else "event"].update(changes)
    [event] = plugin.receive_webhook(
        signed_request(compact(body), resource), make_config(), INTEGRATION
    ).events
    return stored(event)


def delivery_ref(attempt: int = 1, delivery_id: str | None = None) -> gateway.DeliveryRef:
    return gateway.DeliveryRef(id=delivery_id or str(uuid.uuid4()), attempt=attempt, integration=INTEGRATION)


METRICS = re.compile(re.escape(API_URL) + r"/api/v2/metrics/[^/?]+")


@pytest.fixture(autouse=True)
def metric_exists(requests_mock):
    """Every mapped project has a metric counting the event keys used here (replaced where a test says)."""
    items = [{"key": k, "name": k, "kind": "custom", "eventKey": k, "isNumeric": False}
             for k in ("sentry-errors", "sentry-error", "checkout-errors")]
    requests_mock.get(METRICS, json={"items": items, "totalCount": len(items)})


def posts(requests_mock) -> list:
    """The requests sent to the import API (the metric look-ups left out)."""
    return [r for r in requests_mock.request_history if r.method == "POST"]


def deliver(config, http, event=None, ref=None) -> gateway.DeliveryResult:
    return plugin.deliver_event(event or received_event(), config, http, ref or delivery_ref())


def test_accepted_import_is_delivered(config, http, requests_mock):
    requests_mock.post(IMPORT_URL, status_code=202)
    ref = delivery_ref()
    result = deliver(config, http, ref=ref)
    assert isinstance(result, gateway.Delivered)
    assert result.summary == "imported as sentry-errors into LaunchDarkly shop/production for user user-8271"
    assert result.details["payload_id"] == ref.id
    assert result.details["context_keys"] == {"user": "user-8271"}

    [sent] = posts(requests_mock)
    assert sent.method == "POST"
    assert sent.headers["Authorization"] == ACCESS_TOKEN
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["X-LaunchDarkly-Event-Schema"] == "4"
    assert sent.headers["X-LaunchDarkly-Payload-ID"] == ref.id
    assert sent.headers["User-Agent"] == f"MetricImport-event-gateway-int/{gateway_sentry.__version__}"
    assert sent.json() == [
        {
            "kind": "custom",
            "key": "sentry-errors",
            "creationDate": 1700917929123,
            "contextKeys": {"user": "user-8271"},
            "data": {
                "sentryEventId": "a9f6b1c2d3e44f5a8b7c6d5e4f3a2b1c",
                "sentryIssueId": "4611223344",
                "title": "ZeroDivisionError: division by zero",
                "level": "error",
                "release": "checkout@2.14.0",
            },
        }
    ]


def test_multi_kind_context_sends_every_key(config, http, requests_mock):
    requests_mock.post(IMPORT_URL, status_code=202)
    event = received_event("event-alert-triggered-multi-context.json", "event_alert")
    assert isinstance(deliver(config, http, event), gateway.Delivered)
    [body] = posts(requests_mock)[-1].json()
    assert body["contextKeys"] == {"user": "user-8271", "organization": "org-acme"}
    assert body["creationDate"] == 1700987400250


def test_goes_to_the_mapped_environment_with_the_configured_event_key(http, requests_mock):
    config = make_config(event_key="frontend-errors", events_url="https://events.example.test/")
    requests_mock.post("https://events.example.test/v2/event-data-import/payments/staging", status_code=202)
    event = received_event(environment="staging")
    assert isinstance(deliver(config, http, event), gateway.Delivered)
    assert posts(requests_mock)[-1].json()[0]["key"] == "frontend-errors"


def test_payload_id_is_the_same_on_every_attempt_of_a_delivery(config, http, requests_mock):
    requests_mock.post(IMPORT_URL, [{"status_code": 503}, {"status_code": 202}])
    event = received_event()
    delivery_id = str(uuid.uuid4())
    first = deliver(config, http, event, delivery_ref(1, delivery_id))
    second = deliver(
        config,
        gateway.HttpClient(requests.Session(), allow_private=True),
        stored(event),
        delivery_ref(2, delivery_id),
    )
    assert isinstance(first, gateway.RetryLater)
    assert isinstance(second, gateway.Delivered)
    ids = [sent.headers["X-LaunchDarkly-Payload-ID"] for sent in posts(requests_mock)]
    assert ids == [delivery_id, delivery_id]
    assert posts(requests_mock)[0].body == posts(requests_mock)[1].body


def test_different_deliveries_have_different_payload_ids(config, http, requests_mock):
    requests_mock.post(IMPORT_URL, status_code=202)
    deliver(config, http)
    deliver(config, http)
    first, second = (sent.headers["X-LaunchDarkly-Payload-ID"] for sent in posts(requests_mock))
    assert first != second


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, "LaunchDarkly refused the event as invalid (400: contextKeys is required (invalid_request))"),
        (
            401,
            "LaunchDarkly refused the access token (401: contextKeys is required (invalid_request)): "
            "set access_token to a valid LaunchDarkly access token",
        ),
        (
            403,
            "the access token may not import events into shop/production (403: contextKeys is required "
            "(invalid_request)): give its role the importEventData action on that environment",
        ),
        (
            404,
            "LaunchDarkly has no environment shop/production (404: contextKeys is required "
            "(invalid_request)): check ld_project and ld_environment of the mapping",
        ),
        (
            406,
            "LaunchDarkly did not accept the import request (406: contextKeys is required "
            "(invalid_request)): check that events_url is the events service of your LaunchDarkly instance",
        ),
        (413, "LaunchDarkly answered 413 (contextKeys is required (invalid_request)): check events_url"),
    ],
)
def test_refusals_fail_with_a_reason_to_act_on(config, http, requests_mock, status, expected):
    requests_mock.post(
        IMPORT_URL, status_code=status, json={"code": "invalid_request", "message": "contextKeys is required"}
    )
    assert deliver(config, http) == gateway.Failed(expected)


def test_refusal_without_json_quotes_the_body(config, http, requests_mock):
    requests_mock.post(IMPORT_URL, status_code=401, text="Unauthorized")
    assert "(401: Unauthorized)" in deliver(config, http).reason


def test_refusal_with_an_empty_body_names_the_status(config, http, requests_mock):
    requests_mock.post(IMPORT_URL, status_code=403)
    assert "(403: HTTP 403 with an empty body)" in deliver(config, http).reason


@pytest.mark.parametrize(
    ("status", "retry_after", "after"), [(429, "30", 30.0), (503, None, None), (500, "0", 1.0)]
)
def test_rate_limits_and_server_errors_are_retried(config, http, requests_mock, status, retry_after, after):
    headers = {"Retry-After": retry_after} if retry_after else {}
    requests_mock.post(IMPORT_URL, status_code=status, headers=headers, json={"message": "slow down"})
    result = deliver(config, http)
    assert isinstance(result, gateway.RetryLater)
    assert result.after == after
    assert result.reason == f"LaunchDarkly answered {status} (slow down); will retry"


def test_transport_errors_propagate_for_the_core_to_retry(config, http, requests_mock):
    requests_mock.post(IMPORT_URL, exc=requests.ConnectTimeout)
    with pytest.raises(gateway.TransportError):
        deliver(config, http)


def test_forbidden_target_fails(monkeypatch, requests_mock):
    monkeypatch.setenv("GATEWAY_ALLOW_PRIVATE_TARGETS", "1")
    config = make_config(events_url="http://127.0.0.1:9")
    monkeypatch.delenv("GATEWAY_ALLOW_PRIVATE_TARGETS")
    result = deliver(config, gateway.HttpClient(requests.Session(), allow_private=False))
    assert isinstance(result, gateway.Failed)
    assert result.reason.startswith("events_url may not be sent to: ")
    assert requests_mock.request_history == []


def test_event_no_longer_mapped_fails_without_sending(http, requests_mock):
    """The mapping was removed after the event was taken."""
    config = make_config(
        environment_mappings=[
            {
                "sentry_project": "checkout",
                "sentry_environment": "staging",
                "ld_project": "shop",
                "ld_environment": "s",
            },
        ]
    )
    result = deliver(config, http)
    assert result == gateway.Failed(
        "cannot import any more since the config changed: no environment mapping for Sentry project "
        "checkout (4504123456789012), environment production: add one to environment_mappings"
    )
    assert requests_mock.request_history == []


def test_access_token_is_kept_out_of_the_attempt_log(config, http, requests_mock):
    requests_mock.post(IMPORT_URL, status_code=400, json={"message": f"bad token {ACCESS_TOKEN}"})
    deliver(config, http)
    [exchange] = http.exchanges
    assert ACCESS_TOKEN not in exchange.excerpt


def test_import_for_a_project_without_the_metric_is_delivered_with_a_warning(config, http, requests_mock):
    requests_mock.post(IMPORT_URL, status_code=202)
    requests_mock.get(METRICS, json={"items": [{"key": "other", "eventKey": "clicks"}], "totalCount": 1})
    result = deliver(config, http)
    assert isinstance(result, gateway.Delivered)
    [warning] = result.warnings
    assert "no metric of LaunchDarkly project shop counts event key 'sentry-errors'" in warning
    assert "create_metric" in warning
    # what was learnt is kept: the next delivery does not read the metrics again
    deliver(config, http)
    assert len([r for r in requests_mock.request_history if r.method == "GET"]) == 1


def test_import_with_the_metric_present_has_no_warning(config, http, requests_mock):
    requests_mock.post(IMPORT_URL, status_code=202)
    assert deliver(config, http).warnings == ()


def test_metrics_that_cannot_be_read_give_no_warning_and_do_not_fail_the_import(config, http, requests_mock):
    requests_mock.post(IMPORT_URL, status_code=202)
    requests_mock.get(METRICS, status_code=503, json={"message": "down"})
    result = deliver(config, http)
    assert isinstance(result, gateway.Delivered) and result.warnings == ()
