"""The real gateway (a subprocess, over HTTP) with a fake Dynatrace that checks the token's scope as
Dynatrace does (v2 ingest needs events.ingest, v1 events need DataExport, else 403) and answers the
token lookup: the default ``api_version: auto`` delivers with a DataExport-only token (the scope the
hosted integration's set-up page asks for), says which version it chose, and switches after a 403.
And a change to several environments names the ones the integration's policy allowed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gateway.testing import FakeService, GatewayProcess, Reply

from test_dynatrace_end_to_end import INGEST, OK, TOKEN, V1_EVENTS, V1_OK, add, wait_status

LOOKUP = "/api/v2/apiTokens/lookup"
DATA = Path(__file__).parent / "data"
TWO_ENVIRONMENTS = (DATA / "flag-created-test-and-production.json").read_bytes()
FORBIDDEN = {"error": {"code": 403, "message": "Token is missing required scope. Use one of: events.ingest (Ingest events)"}}


class ScopedDynatrace:
    """A fake Dynatrace environment whose token holds ``scopes`` (changeable)."""

    def __init__(self, scopes):
        self.scopes = list(scopes)
        self.service = FakeService(self._reply)

    def _reply(self, request):
        if request.path == LOOKUP:
            return Reply(200, {"id": "dt0c01.E2ETOKENID", "name": "launchdarkly", "enabled": True,
                               "expirationDate": None, "scopes": self.scopes})
        if request.path == INGEST:
            return Reply(201, OK) if "events.ingest" in self.scopes else Reply(403, FORBIDDEN)
        if request.path == V1_EVENTS:
            return Reply(200, V1_OK) if "DataExport" in self.scopes else Reply(403, FORBIDDEN)
        return Reply(404, {"error": {"code": 404, "message": "not found"}})

    def __enter__(self):
        self.service.__enter__()
        return self

    def __exit__(self, *exc):
        return self.service.__exit__(*exc)


@pytest.fixture
def gateway_process(tmp_path):
    env = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "dynatrace", "GATEWAY_WORKERS": "2",
           "GATEWAY_RETRY_SCHEDULE": "0,0.2,0.2"}
    with GatewayProcess(str(tmp_path), env=env) as process:
        yield process


@pytest.fixture
def one_worker(tmp_path):
    """One process with one worker: the token's scopes it keeps are those of the first delivery."""
    env = {"GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_PLUGINS": "dynatrace", "GATEWAY_WORKERS": "1",
           "GATEWAY_PROCESSES": "1",
           "GATEWAY_RETRY_SCHEDULE": "0,0.2,0.2"}
    with GatewayProcess(str(tmp_path), env=env) as process:
        yield process


def post(gateway_process, body: bytes):
    answer = gateway_process.post_webhook(body)
    assert answer.status_code == 202, answer.text
    return answer.json()


def delivery(gateway_process, event_id):
    [decision] = gateway_process.admin("GET", f"/api/v1/events/{event_id}").json()["decisions"]
    return gateway_process.admin("GET", f"/api/v1/deliveries/{decision['id']}").json()


def test_a_dataexport_token_delivers_with_the_default_settings(gateway_process):
    production_change = (Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "launchdarkly"
                         / "flag-turned-on-production.json").read_bytes()
    with ScopedDynatrace(["DataExport"]) as dynatrace:
        integration = add(gateway_process, dynatrace.service.url)
        assert integration["config"]["api_version"] == "auto"
        status = gateway_process.admin("GET", f"/api/v1/integrations/{integration['id']}/status").json()
        assert status["state"] == "ok", status
        assert "api_version auto sends to Events API v1" in status["checks"][0]["message"]
        answer = post(gateway_process, production_change)
        [request] = dynatrace.service.wait_for(1, V1_EVENTS)
        assert request.json()["customProperties"]["Environment key"] == "production"
        assert dynatrace.service.received(INGEST) == []
        [delivered] = wait_status(gateway_process, answer["event_id"], "delivered")
        shown = delivery(gateway_process, answer["event_id"])
        assert "api_version auto sent to Events API v1: the token has DataExport" in shown["attempt_log"][-1]["reason"]
        assert shown["details"]["api_chosen"] == "v1"
        assert TOKEN not in json.dumps(shown) and TOKEN not in gateway_process.log()


def test_an_explicit_version_is_kept(gateway_process):
    with ScopedDynatrace(["DataExport"]) as dynatrace:
        add(gateway_process, dynatrace.service.url, api_version="v2")
        answer = post(gateway_process, TWO_ENVIRONMENTS)
        dead = wait_status(gateway_process, answer["event_id"], "dead")
        assert "refused the token (403)" in json.dumps(dead)
        assert dynatrace.service.received(V1_EVENTS) == []


def test_a_403_while_the_token_holds_the_other_scope_switches_and_says_so(one_worker):
    gateway_process = one_worker
    with ScopedDynatrace(["events.ingest"]) as dynatrace:
        add(gateway_process, dynatrace.service.url)
        first = post(gateway_process, TWO_ENVIRONMENTS)
        dynatrace.service.wait_for(1, INGEST)
        wait_status(gateway_process, first["event_id"], "delivered")
        dynatrace.scopes = ["DataExport"]  # the token was changed in Dynatrace; the gateway kept its scopes
        second = json.loads(TWO_ENVIRONMENTS)
        second["_id"] = "6570a1b2c3d4e5f601234568"
        answer = post(gateway_process, json.dumps(second).encode())
        dynatrace.service.wait_for(1, V1_EVENTS)
        wait_status(gateway_process, answer["event_id"], "delivered")
        reason = delivery(gateway_process, answer["event_id"])["attempt_log"][-1]["reason"]
        assert "Events API v2 refused the token (403) and the token has DataExport" in reason
        assert len(dynatrace.service.received(INGEST)) == 2


def test_a_change_to_two_environments_names_the_one_the_policy_allowed(gateway_process):
    """No flag-platform connection: the names come from the webhook's ``_environmentName``."""
    with ScopedDynatrace(["events.ingest"]) as dynatrace:
        add(gateway_process, dynatrace.service.url, name="production only")
        answer = post(gateway_process, TWO_ENVIRONMENTS)
        [request] = dynatrace.service.wait_for(1, INGEST)
        properties = request.json()["properties"]
        assert properties["Environment key"] == "production"
        assert properties["Environment name"] == "Production"
        assert "Project name" not in properties
        wait_status(gateway_process, answer["event_id"], "delivered")


def test_every_allowed_environment_is_named(gateway_process):
    everywhere = [{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["*"]}]
    with ScopedDynatrace(["events.ingest"]) as dynatrace:
        add(gateway_process, dynatrace.service.url, name="everywhere", policy=everywhere)
        post(gateway_process, TWO_ENVIRONMENTS)
        unnamed = json.loads(TWO_ENVIRONMENTS)
        unnamed["_id"] = "6570a1b2c3d4e5f601234569"
        del unnamed["currentVersion"]["environments"]["production"]["_environmentName"]
        answer = post(gateway_process, json.dumps(unnamed).encode())
        sent = [request.json()["properties"] for request in dynatrace.service.wait_for(2, INGEST)]
        assert {p["Environment key"] for p in sent} == {"test, production"}
        assert sorted(p["Environment name"] for p in sent) == ["Test", "Test, Production"]
        [delivered] = wait_status(gateway_process, answer["event_id"], "delivered")
        shown = delivery(gateway_process, answer["event_id"])
        [warning] = shown["warnings"]
        assert "no name is known for environment production" in warning
        assert "the webhook names no environment production" in warning


def test_a_change_to_every_environment_says_all_environments(gateway_process):
    everywhere = json.loads(TWO_ENVIRONMENTS)
    everywhere["_id"] = "6570a1b2c3d4e5f60123456a"
    everywhere["accesses"] = [{"action": "updateName", "resource": "proj/checkout:env/*:flag/express-shipping"}]
    with ScopedDynatrace(["events.ingest"]) as dynatrace:
        add(gateway_process, dynatrace.service.url,
            policy=[{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["*"]}])
        post(gateway_process, json.dumps(everywhere).encode())
        [request] = dynatrace.service.wait_for(1, INGEST)
        assert request.json()["properties"]["Environment name"] == "All environments"
        assert request.json()["properties"]["Environment key"] == "*"
