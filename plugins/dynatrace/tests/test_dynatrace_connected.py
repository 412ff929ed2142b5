"""The real gateway (a subprocess, over HTTP) connected to a fake flag-platform API, with a fake
Dynatrace that answers the token lookup: names on the Dynatrace event, and checks run in the
background that catch a token Dynatrace would refuse."""

from __future__ import annotations

import gateway
import pytest
from gateway.kit.fake_flag_platform import FakeFlagPlatform
from gateway.testing import FakeService, GatewayProcess, Reply, wait_until

from test_dynatrace_end_to_end import INGEST, OK, TOKEN, add, webhook

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick

LD_TOKEN = "api-dynatrace-e2e-token-0123"
LOOKUP = "/api/v2/apiTokens/lookup"


def fake_dynatrace(scopes):
    def reply(request):
        if request.path == LOOKUP:
            return Reply(200, {"id": "dt0c01.E2ETOKENID", "name": "gateway", "enabled": True,
                               "expirationDate": None, "scopes": scopes})
        return Reply(201, OK)
    return FakeService(reply)


@pytest.fixture
def platform():
    with FakeFlagPlatform(LD_TOKEN) as fake:
        fake.add_project("checkout", "Checkout", {"production": "Production", "staging": "Staging"})
        yield fake


@pytest.fixture
def gateway_process(tmp_path):
    env = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "dynatrace", "GATEWAY_WORKERS": "2",
           "GATEWAY_RETRY_SCHEDULE": "0,0.2,0.2"}
    with GatewayProcess(str(tmp_path), env=env) as process:
        yield process


def test_dynatrace_events_carry_project_and_environment_names(gateway_process, platform):
    connected = gateway_process.admin("PUT", "/api/v1/connections/launchdarkly", json={
        "api_token": LD_TOKEN, "public_url": gateway_process.url, "api_url": platform.url})
    assert connected.status_code == 200, connected.text
    [hook] = platform.webhooks.values()
    assert hook["url"] == gateway_process.url + "/webhooks/launchdarkly"
    with fake_dynatrace(["events.ingest"]) as dynatrace:
        add(gateway_process, dynatrace.url)
        body = webhook("flag-turned-on-production")
        unsigned = gateway_process.post_webhook(body)
        assert unsigned.status_code == 401
        answer = gateway_process.post_webhook(
            body, headers={"X-LD-Signature": gateway.hmac_sha256_hex(hook["secret"], body)})
        assert answer.status_code == 202, answer.text
        [request] = dynatrace.wait_for(1, INGEST)
        properties = request.json()["properties"]
        assert properties["Project name"] == "Checkout" and properties["Environment name"] == "Production"
        assert properties["Project key"] == "checkout" and properties["Environment key"] == "production"


def test_a_v1_only_token_shows_as_an_error_without_anyone_asking(gateway_process):
    """With ``api_version: v2`` saved explicitly (the default, auto, would send to v1)."""
    with fake_dynatrace(["DataExport"]) as dynatrace:
        integration = add(gateway_process, dynatrace.url, api_version="v2")
        # the background checks run after the change: the metric appears without a status request
        wait_until(lambda: f'integration_id="{integration["id"]}"' in gateway_process.admin("GET", "/metrics").text,
                   15, message="the background check's metric")
        assert len(dynatrace.received(LOOKUP)) == 1
        metrics = gateway_process.admin("GET", "/metrics").text
        assert (f'gateway_check_state{{check="token",integration="Dynatrace",integration_id="{integration["id"]}",'
                f'plugin="dynatrace"}} 2.0') in metrics
        status = gateway_process.admin("GET", f"/api/v1/integrations/{integration['id']}/status").json()
        assert status["state"] == "error" and status["checked_at"]
        assert "Add events.ingest to the token, or set api_version v1" in status["checks"][0]["message"]
        assert len(dynatrace.received(LOOKUP)) == 1  # served from the stored result
        assert TOKEN not in gateway_process.log()
        assert "check 'token' of integration" in gateway_process.log()
        fixed = gateway_process.admin("PATCH", f"/api/v1/integrations/{integration['id']}",
                                      json={"config": {"api_version": "v1"}})
        assert fixed.status_code == 200
        wait_until(lambda: gateway_process.admin("GET", f"/api/v1/integrations/{integration['id']}/status")
                   .json()["state"] == "ok", 15, message="the check after the change")
