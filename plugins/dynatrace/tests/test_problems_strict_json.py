"""JSON inside the string fields of a problem notification (a template that quotes
``{ProblemDetailsJSON}``, ``{ImpactedEntities}`` or a list placeholder) is read with the gateway's strict
reader: deep nesting, ``NaN`` and lone surrogates are a 422 naming the field, never a 500 or a stored
value that cannot be served back."""

from __future__ import annotations

import json

import pytest
import requests
from gateway import Rejected
from gateway.testing import GatewayProcess

from gateway_dynatrace import problems_plugin
from problem_helpers import INTEGRATION, SECRET, config, notification, request

DEEP = "[" * 100_000 + "]" * 100_000


def receive(body):
    return problems_plugin.receive_webhook(request(body), config(), INTEGRATION)


@pytest.mark.parametrize("field, text, says", [
    ("ImpactedEntities", DEEP, "nested deeper than 100 levels"),
    ("ProblemDetailsJSON", '{"a": ' + DEEP + "}", "nested deeper than 100 levels"),
    ("ProblemDetailsJSONv2", '{"a": ' + DEEP + "}", "nested deeper than 100 levels"),
    ("ProblemDetailsJSON", '{"id": "1", "score": NaN}', "NaN is not a JSON number"),
    ("ImpactedEntities", '[{"type": "SERVICE", "name": "\\ud800", "entity": "SERVICE-1"}]', "lone UTF-16 surrogate"),
    ("Tags", '["team:checkout", "\\udc00"]', "lone UTF-16 surrogate"),
    ("Tags", '["team:checkout", ' + DEEP + "]", "nested deeper than 100 levels"),
])
def test_json_in_a_string_field_is_read_strictly(field, text, says):
    with pytest.raises(Rejected) as caught:
        receive(notification(**{field: text}))
    assert caught.value.status == 422
    assert caught.value.message.startswith(f"{field} holds malformed JSON: ") and says in caught.value.message


def test_quoted_json_that_is_fine_is_read_as_before():
    [event] = receive(notification(Tags='["team:checkout", "env:production"]', ProblemDetailsJSONv2=None,
                                   ImpactedEntities='[{"type": "SERVICE", "name": "checkout", "entity": "SERVICE-1"}]',
                                   ProblemDetailsJSON='{"managementZones": [{"id": "1", "name": "Checkout"}]}')).events
    assert event.data["tags"] == ["team:checkout", "env:production"]
    assert event.data["impacted_entities"] == [{"type": "SERVICE", "name": "checkout", "entity": "SERVICE-1"}]
    assert event.data["management_zones"] == ["Checkout"]


def test_a_tag_list_with_contexts_is_not_taken_for_json():
    [event] = receive(notification(Tags="[Kubernetes]app:checkout, [Environment]env:prod",
                                   ProblemDetailsJSONv2=None)).events
    assert event.data["tags"] == ["[Kubernetes]app:checkout", "[Environment]env:prod"]


def test_deep_json_in_a_string_field_is_a_422_over_http(tmp_path):
    env = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "dynatrace-problems", "GATEWAY_PROCESSES": "1"}
    with GatewayProcess(str(tmp_path), env=env) as gateway:
        created = gateway.admin("POST", "/api/v1/integrations", json={
            "plugin": "dynatrace-problems", "name": "Checkout kill switch",
            "config": {"shared_secret": SECRET, "rules": [
                {"name": "checkout errors", "project_key": "shop", "environment_key": "production",
                 "flag_key": "new-checkout-flow"}]}})
        assert created.status_code == 201, created.text
        answer = requests.post(f"{gateway.url}/webhooks/integrations/{created.json()['id']}",
                               data=json.dumps(notification(ImpactedEntities=DEEP)),
                               headers={"Content-Type": "application/json", "X-Flag-Gateway-Secret": SECRET},
                               timeout=30)
        assert answer.status_code == 422, answer.text
        assert "ImpactedEntities holds malformed JSON: nested deeper than 100 levels" in answer.text
        assert gateway.admin("GET", "/api/v1/events").json()["items"] == []
