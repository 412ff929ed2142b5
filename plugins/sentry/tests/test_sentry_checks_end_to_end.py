"""The real gateway (a subprocess, over HTTP) with a fake LaunchDarkly REST API and events API on
loopback: a mapping to a missing environment is reported by the checks, and an error imported where
no metric counts it is recorded as delivered with a warning naming the metric and the project,
shown by the API and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from gateway.kit.fake_flag_platform import FakeFlagPlatform
from gateway.testing import FakeService, GatewayProcess, Reply, wait_until

from sentry_helpers import ACCESS_TOKEN, CLIENT_SECRET
from test_sentry_end_to_end import IMPORT_PATH, MAPPING, decision, send

pytestmark = pytest.mark.end_to_end  # starts other processes: not in make test-quick


@pytest.fixture
def platform():
    with FakeFlagPlatform(ACCESS_TOKEN) as fake:
        fake.add_project("checkout", "Checkout", {"production": "Production"})
        yield fake


@pytest.fixture
def events_api():
    with FakeService(Reply(202, None)) as service:
        yield service


@pytest.fixture
def gateway_process(tmp_path):
    env = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "sentry", "GATEWAY_WORKERS": "2"}
    with GatewayProcess(str(tmp_path), env=env) as process:
        yield process


def add(gateway_process, platform, events_api, mappings):
    response = gateway_process.admin("POST", "/api/v1/integrations", json={
        "plugin": "sentry", "name": "Sentry checkout",
        "config": {"client_secret": CLIENT_SECRET, "access_token": ACCESS_TOKEN, "environment_mappings": mappings,
                   "events_url": events_api.url, "api_url": platform.url}})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_mapping_to_a_missing_environment_is_reported(gateway_process, platform, events_api):
    typo = {**MAPPING, "sentry_environment": "staging", "ld_environment": "prodution"}
    integration = add(gateway_process, platform, events_api, [MAPPING, typo])
    status = gateway_process.admin("GET", f"/api/v1/integrations/{integration['id']}/status").json()
    checks = {c["name"]: c for c in status["checks"]}
    missing = checks["LaunchDarkly environment for Sentry 4504123456789012/staging → LaunchDarkly checkout/prodution"]
    assert missing["state"] == "error"
    assert "has no environment prodution (did you mean production?)" in missing["message"]
    assert status["state"] == "error"


def test_an_import_without_a_metric_is_delivered_with_a_warning(gateway_process, platform, events_api):
    integration = add(gateway_process, platform, events_api, [MAPPING])
    answer = send(gateway_process, integration, "error-created-with-ld-context.json")
    [result] = answer.json()["events"]
    events_api.wait_for(1, IMPORT_PATH)
    delivered = decision(gateway_process, result["event_id"], "delivered")
    [warning] = delivered["warnings"]
    assert "no metric of LaunchDarkly project checkout counts event key 'sentry-errors'" in warning
    shown = gateway_process.admin("GET", f"/api/v1/deliveries/{delivered['id']}").json()
    assert shown["status"] == "delivered" and shown["warnings"] == [warning]
    cli = subprocess.run([sys.executable, "-m", "gateway", "deliveries", "show", delivered["id"]],
                         env=gateway_process.env, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["warnings"] == [warning]
    assert ACCESS_TOKEN not in json.dumps(shown)


def test_an_import_with_the_metric_has_no_warning(gateway_process, platform, events_api):
    platform.add_metric("checkout", "sentry-errors", "sentry-errors")
    integration = add(gateway_process, platform, events_api, [MAPPING])
    answer = send(gateway_process, integration, "error-created-with-ld-context.json")
    [result] = answer.json()["events"]
    delivered = decision(gateway_process, result["event_id"], "delivered")
    assert delivered["warnings"] == []
    wait_until(lambda: events_api.received(IMPORT_PATH), 10, message="the import")


def test_a_mapping_to_the_45th_environment_is_found_on_a_later_page(gateway_process, platform, events_api):
    """The flag platform gives a project's environments 20 at a time: every page is read."""
    environments = {f"env-{n:02d}": f"Environment {n}" for n in range(1, 45)}
    platform.add_project("checkout", "Checkout", {**environments, "production": "Production"})
    last = {**MAPPING, "sentry_environment": "staging", "ld_environment": "env-44"}
    integration = add(gateway_process, platform, events_api, [MAPPING, last])
    status = gateway_process.admin("GET", f"/api/v1/integrations/{integration['id']}/status").json()
    environment_checks = [c for c in status["checks"] if c["name"].startswith("LaunchDarkly environment for")]
    assert [c["state"] for c in environment_checks] == ["ok", "ok"], environment_checks
    assert "has project checkout with environment env-44" in environment_checks[1]["message"]
    pages = [r for r in platform.received() if r.path.startswith("/api/v2/projects/checkout/environments")]
    # (the background check may read the project too, at the same time)
    assert {r.path.split("?")[1] for r in pages} == {"limit=20&offset=20", "limit=20&offset=40"}
def test_saved_without_the_client_secret_it_shows_the_url_refuses_webhooks_and_is_red_until_set(
        gateway_process, platform, events_api):
    # Sentry shows the client secret only once it has the webhook URL: the integration comes first.
    response = gateway_process.admin("POST", "/api/v1/integrations", json={
        "plugin": "sentry", "name": "Sentry checkout",
        "config": {"access_token": ACCESS_TOKEN, "environment_mappings": [MAPPING],
                   "events_url": events_api.url, "api_url": platform.url}})
    assert response.status_code == 201, response.text
    integration = response.json()
    assert integration["webhook_url"].endswith(f"/webhooks/integrations/{integration['id']}")
    status = gateway_process.admin("GET", f"/api/v1/integrations/{integration['id']}/status?refresh=1").json()
    secret_check = {c["name"]: c for c in status["checks"]}["Sentry client secret"]
    assert secret_check["state"] == "error" and "client_secret is not set" in secret_check["message"]
    refused = send(gateway_process, integration, "error-created-with-ld-context.json")
    assert refused.status_code == 401 and "client_secret is not set" in refused.text
    assert gateway_process.admin("GET", "/api/v1/events").json()["items"] == []

    changed = gateway_process.admin("PATCH", f"/api/v1/integrations/{integration['id']}",
                                    json={"config": {"client_secret": CLIENT_SECRET}})
    assert changed.status_code == 200, changed.text
    status = gateway_process.admin("GET", f"/api/v1/integrations/{integration['id']}/status?refresh=1").json()
    assert {c["name"]: c for c in status["checks"]}["Sentry client secret"]["state"] == "ok"
    assert send(gateway_process, integration, "error-created-with-ld-context.json").status_code == 202
