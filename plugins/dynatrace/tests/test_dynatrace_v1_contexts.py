"""Events API v1 tag contexts through the real gateway (a subprocess, over HTTP) and a fake Dynatrace:
a context written as people write it (``[CloudFoundry]``) is sent in v1's spelling (``CLOUD_FOUNDRY``),
and a context v1 does not take is a skip naming the ones it does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gateway.testing import FakeService, GatewayProcess, Reply, wait_until

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
TOKEN = "dt0c01.V1CTXTOKEN.V1CTXSECRETPARTV1CTXSECRETPARTV1CTXSECRETPARTV1CTX"
V1_EVENTS = "/api/v1/events"
V1_OK = json.loads((FIXTURES / "dynatrace" / "v1-events-200.json").read_text())


@pytest.fixture
def dynatrace():
    with FakeService(Reply(200, V1_OK)) as service:
        yield service


@pytest.fixture
def gateway_process(tmp_path):
    env = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "dynatrace", "GATEWAY_WORKERS": "1",
           "GATEWAY_RETRY_SCHEDULE": "0,0.2"}
    with GatewayProcess(str(tmp_path), env=env) as process:
        yield process


def add(gateway_process, url, tag):
    body = {"plugin": "dynatrace", "name": "Dynatrace v1",
            "config": {"url": url, "api_token": TOKEN, "api_version": "v1", "entity_type": "SERVICE", "tag": tag}}
    response = gateway_process.admin("POST", "/api/v1/integrations", json=body)
    assert response.status_code == 201, response.text


def change(gateway_process):
    body = (FIXTURES / "launchdarkly" / "flag-turned-on-production.json").read_bytes()
    response = gateway_process.post_webhook(body)
    assert response.status_code == 202, response.text
    return response.json()["event_id"]


def decision(gateway_process, event_id, status):
    def read():
        found = gateway_process.admin("GET", f"/api/v1/events/{event_id}").json()["decisions"]
        return found and found[0]["status"] == status and found[0]
    return wait_until(read, 15, message=f"decision {status}")


@pytest.mark.parametrize("tag, context", [("[CloudFoundry]space:shop", "CLOUD_FOUNDRY"),
                                          ("[GoogleCloud]zone:europe-west1", "GOOGLE_CLOUD"),
                                          ("[Kubernetes]app:checkout", "KUBERNETES")])
def test_a_context_is_sent_in_the_spelling_v1_takes(gateway_process, dynatrace, tag, context):
    add(gateway_process, dynatrace.url, tag)
    event_id = change(gateway_process)
    [request] = dynatrace.wait_for(1, V1_EVENTS)
    [rule] = request.json()["attachRules"]["tagRule"]
    key, _, value = tag.partition("]")[2].partition(":")
    assert rule["tags"][-1] == {"context": context, "key": key, "value": value}
    decision(gateway_process, event_id, "delivered")


def test_a_context_v1_does_not_take_is_skipped_naming_the_ones_it_does(gateway_process, dynatrace):
    add(gateway_process, dynatrace.url, "[OpenShift]app:checkout")
    event_id = change(gateway_process)
    skipped = decision(gateway_process, event_id, "skipped")
    assert "'[OpenShift]app:checkout' has the context [OpenShift], which Events API v1 does not take" in skipped["reason"]
    assert "CONTEXTLESS, AWS, AWS_GENERIC, AZURE, CLOUD_FOUNDRY, ENVIRONMENT, GOOGLE_CLOUD, KUBERNETES" in skipped["reason"]
    assert dynatrace.received(V1_EVENTS) == []
