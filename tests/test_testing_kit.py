"""gateway.testing for plugin authors: factories, the webhook parser, the offline HTTP client and the
in-process harness behave as the gateway does."""

from __future__ import annotations

import json
import socket

import pytest
import requests_mock as requests_mock_module

import gateway
import gateway.testing as testing
from gateway.testing import (
    FakeService,
    InvalidConfig,
    PluginHarness,
    PluginRefused,
    Reply,
    flag_webhook_body,
    http_client,
    make_delivery_ref,
    make_event,
    make_integration_ref,
    parse_flag_webhook,
)

from . import plugins_for_tests as p
from .conftest import fixture_bytes


def test_all_lists_every_public_name_and_nothing_missing():
    public = {name for name in dir(testing) if not name.startswith("_")}
    assert set(testing.__all__) <= public
    for name in testing.__all__:
        assert getattr(testing, name).__doc__, f"gateway.testing.{name} has no docstring"


def test_the_docs_name_everything_gateway_testing_offers():
    from .conftest import ROOT

    docs = (ROOT / "docs" / "writing-plugins.md").read_text()
    assert [name for name in testing.__all__ if f"`{name}" not in docs] == []


def test_parse_flag_webhook_is_the_gateway_reading(make_app):
    body = fixture_bytes("launchdarkly/flag-turned-on-production.json")
    event = parse_flag_webhook(body)
    app = make_app(plugins=())
    answer = app.test_client().post("/webhooks/launchdarkly", data=body, content_type="application/json")
    stored = app.test_client().get(f"/api/v1/events/{answer.get_json()['event_id']}",
                                   headers={"Authorization": "Bearer admin-token-for-tests-0123456789"}).get_json()
    mine = event.to_dict(include_raw=False)
    # stored with why its names are missing (no flag-platform connection here), the rest as read
    assert stored["event"]["names_unavailable"].startswith("no flag-platform connection")
    assert mine == {**stored["event"], "id": None, "names_unavailable": None}
    assert parse_flag_webhook(json.loads(body)) == event == parse_flag_webhook(body.decode())


def test_parse_flag_webhook_refuses_as_the_gateway_does():
    with pytest.raises(gateway.Rejected) as refused:
        parse_flag_webhook({"_id": "x"})
    assert refused.value.status == 400 and "accesses" in refused.value.message


def test_make_event_keeps_accesses_and_keys_together():
    event = make_event(project_key="shop", environment_key="staging", flag_key="search", action="updateRules")
    assert event.accesses == [gateway.Access("updateRules", "proj/shop:env/staging:flag/search")]
    assert event.source == "launchdarkly" and event.kind == "flag"
    assert make_event().source_id != make_event().source_id
    body = flag_webhook_body(project="shop", environment="staging", flag="search")
    assert parse_flag_webhook(body).accesses == [gateway.Access("updateOn", "proj/shop:env/staging:flag/search")]


def test_http_client_needs_no_dns_under_requests_mock(monkeypatch):
    def no_dns(*args, **kwargs):
        raise AssertionError("DNS was asked")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    client = http_client(secrets=["s3cret-value"])
    with requests_mock_module.Mocker() as mock:
        mock.post("https://hooks.example.com/x", status_code=429, headers={"Retry-After": "7"},
                  text="token s3cret-value refused")
        answer = client.post("https://hooks.example.com/x", json={"a": 1})
    assert answer.status_code == 429 and answer.retry_after == 7.0
    [exchange] = client.exchanges
    assert "s3cret-value" not in exchange.excerpt and "[redacted]" in exchange.excerpt


def test_the_core_client_would_have_resolved_the_host():
    client = gateway.HttpClient(requests_session(), allow_private=False)
    with requests_mock_module.Mocker() as mock:
        mock.post("https://no-such-host.invalid/x", status_code=200)
        with pytest.raises(gateway.TransportError, match="cannot resolve"):
            client.post("https://no-such-host.invalid/x")


def requests_session():
    import requests

    return requests.Session()


def test_harness_validates_config_as_the_api_does():
    with pytest.raises(InvalidConfig) as invalid:
        PluginHarness(p.Recorder(), name="recorder", config={"url": "not a url"})
    assert set(invalid.value.errors) == {"config.token", "config.url"}


def test_harness_refuses_a_plugin_the_gateway_refuses():
    with pytest.raises(PluginRefused, match="bad-policy.*default_policy is invalid"):
        PluginHarness(p.BadPolicy(), name="bad-policy")


def test_harness_decides_with_policy_then_check_event(plugin_harness):
    harness = plugin_harness(p.Picky(), name="picky", config={"wanted_tag": "checkout"})
    skipped = harness.decide(make_event(flag_tags=["search"]))
    assert not skipped.queued and [s.name for s in skipped.stages] == ["policy", "plugin"]
    assert "add it to the flag" in skipped.reason
    assert harness.decide(make_event(flag_tags=["checkout"])).queued
    exploding = plugin_harness(p.Exploding(), name="exploding", config={})
    decision = exploding.decide(make_event())
    assert not decision.queued and "raised RuntimeError: boom in check_event" in decision.reason
    inbox = plugin_harness(p.Inbox(), name="inbox", config={"signing_secret": "x" * 8})
    assert not inbox.decide(make_event()).offered


def test_harness_delivers_and_records_as_a_worker_does(plugin_harness):
    harness = plugin_harness(p.Leaky(), name="leaky", config={"token": "leaky-token-1234"})
    attempt = harness.deliver(make_event())
    assert attempt.outcome == "retry" and attempt.status == "retrying" and attempt.number == 1
    assert "leaky-token-1234" not in attempt.recorded_text() and "[redacted]" in attempt.reason
    again = harness.attempt_again(attempt)
    assert again.number == 2 and again.delivery_id == attempt.delivery_id


def test_harness_delivers_to_a_fake_service_and_honours_retry_after():
    from gateway_webhook import plugin as webhook

    with FakeService(Reply(429, {"slow": "down"}, {"Retry-After": "90"})) as service, \
            PluginHarness(webhook, config={"url": service.url + "/in"}) as harness:
        attempt = harness.deliver(make_event())
        assert attempt.outcome == "retry" and attempt.retry_in >= 89
        service.reply = Reply(200, {})
        delivered = harness.attempt_again(attempt)
        assert delivered.status == "delivered" and delivered.number == 2
        first, second = service.received("/in")
        assert first.header("X-Gateway-Delivery") == second.header("X-Gateway-Delivery") == attempt.delivery_id


def test_harness_status_and_action_answer_as_the_api(plugin_harness):
    harness = plugin_harness(p.Picky(), name="picky", config={"wanted_tag": "missing"})
    assert harness.status()["state"] == "error"
    assert harness.action("set_up", {"tag": "missing"}) == "set up tag 'missing'"
    with pytest.raises(testing.ActionFailed) as failed:
        harness.action("nope")
    assert failed.value.status == 404


def test_harness_receives_inbound_webhooks(plugin_harness):
    harness = plugin_harness(p.Inbox(), name="inbox", config={"signing_secret": "inbox-secret"})
    body = json.dumps({"type": "items", "items": [{"id": 1, "wanted": True}]}).encode()
    with pytest.raises(gateway.Rejected):
        harness.receive(body)
    received = harness.receive(body, headers={"X-Signature": gateway.hmac_sha256_hex("inbox-secret", body)})
    [event] = received.events
    assert harness.decide(event, inbound=True).queued
    assert not harness.decide(event).offered


def test_harness_ignores_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path}/must-not-be-used.db")
    monkeypatch.setenv("GATEWAY_PLUGINS", "")
    with PluginHarness(p.Recorder(), name="recorder", config={"token": "abcdefgh"}) as harness:
        assert harness.deliver(make_event()).status == "delivered"
    assert not (tmp_path / "must-not-be-used.db").exists()


def test_factories_make_references():
    ref = make_integration_ref(plugin="chat")
    delivery = make_delivery_ref(integration=ref, attempt=3)
    assert delivery.integration.plugin == "chat" and delivery.attempt == 3 and len(delivery.id) == 36
