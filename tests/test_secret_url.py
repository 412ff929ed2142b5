"""gateway.SecretURL: a URL that is a credential is validated as a target, and kept as a secret —
masked by the API, encrypted at rest, and in no recorded attempt, whatever the plugin adds to it."""

from __future__ import annotations

import json
from urllib.parse import quote

from marshmallow import Schema

from gateway import Delivered, IntegrationType, SecretURL, hookimpl
from gateway.host.state import get_state
from gateway.testing import FakeService, PluginHarness, Reply, check_plugin, make_event

from .conftest import AUTH

ALLOW = [{"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["*"]}]


class HookConfig(Schema):
    hook = SecretURL(required=True, metadata={"description": "the incoming-webhook URL"})


class Poster:
    @hookimpl
    def integration_type(self):
        return IntegrationType(key="poster", name="Poster", description="posts to a secret URL",
                               config_schema=HookConfig, default_policy=ALLOW)

    @hookimpl
    def deliver_event(self, config, http):
        response = http.post(config["hook"] + "&thread=flags", json={"text": "hi"})
        return Delivered(f"posted: {response.status_code}")


def test_a_secret_url_with_a_key_in_its_query_is_in_no_record():
    with FakeService(Reply(500, {"error": "boom"})) as service:
        secret_url = f"{service.url}/hooks/T0/B0?key=abc/def:ghi"  # re-encoded as abc%2Fdef%3Aghi in a record
        with PluginHarness(Poster(), name="poster", config={"hook": secret_url}) as harness:
            attempt = harness.deliver(make_event())
            [request] = service.received()
            assert request.path.startswith("/hooks/T0/B0?key=abc/def:ghi&thread=flags")
            recorded = attempt.recorded_text()
            assert "abc/def" not in recorded and "abc%2Fdef" not in recorded and "T0/B0" not in recorded
            assert attempt.http[0]["url"] == f"{service.url}/[redacted]"  # where it went: scheme, host, port


def test_a_secret_url_whose_path_the_target_echoes_is_in_no_record():
    path = "/hooks/T0AB12/B0CD34/XyZsecretPART9"
    echo = f"no such hook: {path} ({quote(path, safe='')}); token XyZsecretPART9"
    with FakeService(Reply(404, echo.encode(), headers={"Content-Type": "text/plain"})) as service:
        with PluginHarness(Poster(), name="poster", config={"hook": f"{service.url}{path}?v=1"}) as harness:
            attempt = harness.deliver(make_event())
            recorded = attempt.recorded_text()
            assert "XyZsecretPART9" not in recorded and "B0CD34" not in recorded, recorded
            assert attempt.http[0]["url"] == f"{service.url}/[redacted]"
            assert "[redacted]" in attempt.http[0]["excerpt"]


def test_a_refused_secret_url_is_not_echoed_by_the_api_nor_the_cli(make_app):
    app = make_app(plugins=(("poster", Poster()),))
    url = "https://chat.example.com:70000/hooks/T0/B0/XyZsecretPART9"
    refused = app.test_client().post("/api/v1/integrations", headers=AUTH, json={
        "plugin": "poster", "name": "p", "config": {"hook": url}})
    assert refused.status_code == 400
    [message] = refused.get_json()["errors"]["config.hook"]
    assert "XyZsecretPART9" not in message and "port" in message
    printed = app.test_cli_runner().invoke(args=["integrations", "add", "poster", "--name", "p",
                                                 "--config", json.dumps({"hook": url})])
    assert printed.exit_code != 0 and "config.hook" in printed.output
    assert "XyZsecretPART9" not in printed.output and "T0/B0" not in printed.output
    private = app.test_cli_runner().invoke(args=["integrations", "add", "poster", "--name", "p",
                                                 "--config", json.dumps({"hook": "http://127.0.0.1/x/XyZsecretPART9"})])
    assert private.exit_code != 0 and "config.hook" in private.output and "XyZsecretPART9" not in private.output


def test_the_api_masks_and_the_database_does_not_keep_it_in_the_clear(make_app):
    app = make_app({"GATEWAY_ALLOW_PRIVATE_TARGETS": "1"}, plugins=(("poster", Poster()),))
    url = "https://chat.example.com/hooks/T0/B0/XyZsecretPART"
    created = app.test_client().post("/api/v1/integrations", headers=AUTH,
                                     json={"plugin": "poster", "name": "p", "config": {"hook": url}})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["config"]["hook"] == "****PART"
    row = get_state(app).db.integrations.get(created.get_json()["id"])
    assert "XyZsecretPART" not in json.dumps(row.config) + (row.secrets or "")
    schema = app.test_client().get("/api/v1/plugins", headers=AUTH).get_json()["items"]
    [poster] = [i for i in schema if i["key"] == "poster"]
    assert poster["config_schema"]["properties"]["hook"] == {
        "type": "string", "format": "uri", "writeOnly": True, "description": "the incoming-webhook URL"}


def test_it_is_still_a_target_url(make_app):
    app = make_app(plugins=(("poster", Poster()),))
    refused = app.test_client().post("/api/v1/integrations", headers=AUTH, json={
        "plugin": "poster", "name": "p", "config": {"hook": "http://127.0.0.1/hooks/x"}})
    assert refused.status_code == 400 and "config.hook" in refused.get_json()["errors"]


def test_the_conformance_check_builds_a_secret_url_and_passes():
    report = check_plugin(Poster(), name="poster")
    assert report.passed, report.format()
